"""How similar are two maps? The three measures Adebayo et al. (NeurIPS 2018) report.

* **Spearman's rank correlation** rho: the Pearson correlation of the ranks of the cells. It
  only asks whether the two maps *order* the positions the same way (scale-free).
* The same on **absolute values**, rho(|a|, |b|): for maps with a sign (gradients, CAM before
  its ReLU) a map that flipped sign has rho = -1 but rho_abs = +1 (the same places stand out).
  For maps that are already non-negative (Grad-CAM, after its ReLU) the two are equal.
* **SSIM**, the structural similarity index (Wang et al., 2004), as scikit-image computes it, on
  the maps resized to the input image and scaled to [0, 1], i.e. on the maps as they are shown.

All three compare the maps image by image: (N, ...) and (N, ...) -> (N,).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..postprocess import normalize, upsample


def average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..P along the last dimension, tied values sharing their average rank.

    E.g. [10, 20, 20, 5] -> [2, 3.5, 3.5, 1]. This is how Spearman's correlation treats ties
    (and scipy.stats.rankdata's default). Ties matter for saliency maps: Grad-CAM's ReLU sets
    whole regions to exactly 0.

    Args:
        values: (..., P) tensor.

    Returns:
        (..., P) float64 tensor of ranks.
    """
    flat = values.reshape(-1, values.shape[-1])  # (B, P)
    n_rows, length = flat.shape
    sorted_values, order = flat.sort(dim=1, stable=True)
    # A new group of equal values starts wherever the sorted value changes.
    starts_group = torch.ones_like(sorted_values, dtype=torch.bool)
    starts_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    group = starts_group.long().cumsum(dim=1) - 1  # (B, P): group id of each sorted position
    positions = torch.arange(1, length + 1, dtype=torch.float64, device=values.device).expand(n_rows, length)
    # Average position within each group = sum of positions / group size.
    position_sums = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(1, group, positions)
    group_sizes = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(
        1, group, torch.ones_like(positions)
    )
    sorted_ranks = position_sums.gather(1, group) / group_sizes.gather(1, group)  # (B, P)
    ranks = torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)  # back to input order
    return ranks.reshape(values.shape)


def _check_same_shape(first: Tensor, second: Tensor) -> None:
    if first.shape != second.shape:
        raise ValueError(f"Maps to compare must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}.")


def spearman_correlation(first: Tensor, second: Tensor, absolute: bool = False) -> Tensor:
    """Spearman's rank correlation between the maps of ``first`` and ``second``, image by image.

    rho = Pearson correlation of the average ranks (ties get their mean rank), computed on the
    flattened maps. A constant map has no ranking: its correlation is NaN (as in scipy).

    Args:
        first, second: (N, ...) tensors of the same shape; everything after dim 0 is flattened.
        absolute: rank |first| and |second| instead (Adebayo et al.'s "ABS" variant).

    Returns:
        (N,) float64 tensor in [-1, 1] (or NaN).
    """
    _check_same_shape(first, second)
    if absolute:
        first, second = first.abs(), second.abs()
    ranks_a = average_ranks(first.reshape(first.shape[0], -1).double())  # (N, P)
    ranks_b = average_ranks(second.reshape(second.shape[0], -1).double())
    centred_a = ranks_a - ranks_a.mean(dim=1, keepdim=True)
    centred_b = ranks_b - ranks_b.mean(dim=1, keepdim=True)
    covariance = (centred_a * centred_b).sum(dim=1)
    scale = torch.sqrt((centred_a**2).sum(dim=1) * (centred_b**2).sum(dim=1))
    return torch.where(scale > 0, covariance / scale, torch.full_like(scale, math.nan))


def map_ssim(first: Tensor, second: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """SSIM between the maps of ``first`` and ``second``, image by image, as the maps are shown.

    Each map is resized bilinearly to ``size`` (e.g. the input's H x W; None keeps its size) and
    min-max normalised to [0, 1] (a constant map becomes 0); then scikit-image's
    ``structural_similarity`` compares them (7 x 7 uniform window, data range 1). SSIM is 1 for
    identical maps, about 0 for unrelated ones, and can be negative.

    Args:
        first, second: (N, h, w) maps of the same shape.
        size: (H, W) to compare at; at least 7 x 7.

    Returns:
        (N,) float64 tensor.
    """
    from skimage.metrics import structural_similarity  # imported on first use (it is slow to import)

    _check_same_shape(first, second)
    if first.dim() != 3:
        raise ValueError(f"map_ssim compares (N, h, w) maps, got shape {tuple(first.shape)}.")
    if size is not None:
        first, second = upsample(first.float(), size), upsample(second.float(), size)
    if min(first.shape[1:]) < 7:
        raise ValueError(f"SSIM uses a 7 x 7 window: maps of {tuple(first.shape[1:])} are too small; pass size=(H, W).")
    first_np = normalize(first.detach().float()).cpu().numpy().astype(np.float64)  # (N, H, W) in [0, 1]
    second_np = normalize(second.detach().float()).cpu().numpy().astype(np.float64)
    values = [structural_similarity(a, b, data_range=1.0) for a, b in zip(first_np, second_np)]
    return torch.tensor(values, dtype=torch.float64)

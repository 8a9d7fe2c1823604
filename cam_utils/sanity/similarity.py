"""How similar are two maps? The four measures Adebayo et al. (NeurIPS 2018) report.

* **Spearman's rank correlation** rho: the Pearson correlation of the ranks of the cells. It
  only asks whether the two maps *order* the positions the same way (scale-free).
* The same on **absolute values**, rho(|a|, |b|): for maps with a sign (gradients, CAM before
  its ReLU) a map that flipped sign has rho = -1 but rho_abs = +1 (the same places stand out).
  For maps that are already non-negative (Grad-CAM, after its ReLU) the two are equal.
* **SSIM**, the structural similarity index (Wang et al., 2004), as scikit-image computes it, on
  the maps resized to the input image and scaled to [0, 1], i.e. on the maps as they are shown.
* The **Pearson correlation of HOG features** (histograms of oriented gradients, Dalal & Triggs,
  2005), as scikit-image computes them with its defaults, on the same shown maps: do the two maps
  have their edges in the same places and directions?

All four compare the maps image by image: (N, ...) and (N, ...) -> (N,).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._checks import check_finite_maps
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
    flat = values.reshape(-1, values.shape[-1])  # (B, P), sorted in its own dtype (exact)
    n_rows, length = flat.shape
    sorted_values, order = flat.sort(dim=1)  # the order among tied values does not matter
    # A new group of equal values starts wherever the sorted value changes.
    starts_group = torch.ones_like(sorted_values, dtype=torch.bool)
    starts_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    group = starts_group.long().cumsum(dim=1) - 1  # (B, P): group id of each sorted position
    positions = torch.arange(1, length + 1, dtype=torch.float64, device=values.device).expand(n_rows, length)
    # Average position within each group = sum of positions / group size.
    position_sums = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(
        1, group, positions
    )
    group_sizes = torch.zeros(n_rows, length, dtype=torch.float64, device=values.device).scatter_add_(
        1, group, torch.ones_like(positions)
    )
    sorted_ranks = position_sums.gather(1, group) / group_sizes.gather(1, group)  # (B, P)
    ranks = torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)  # back to input order
    return ranks.reshape(values.shape)


def _check_same_shape(first: Tensor, second: Tensor) -> None:
    """Two maps of one shape, without NaN or infinite values (the same check as the other metrics)."""
    if first.shape != second.shape:
        raise ValueError(
            f"Maps to compare must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}."
        )
    check_finite_maps(first, "the first map", "comparing maps")
    check_finite_maps(second, "the second map", "comparing maps")


def centred_ranks(maps: Tensor, absolute: bool = False) -> Tensor:
    """(N, ...) maps -> (N, P) average ranks of the flattened maps minus their mean (float64).

    The part of Spearman's correlation that depends on one map only: compute it once for a map
    that is compared many times (the sanity check compares every stage with the same original).
    """
    flat = maps.detach().reshape(maps.shape[0], -1)  # (N, P)
    ranks = average_ranks(flat.abs() if absolute else flat)
    return ranks - ranks.mean(dim=1, keepdim=True)


def correlation_of_ranks(centred_a: Tensor, centred_b: Tensor) -> Tensor:
    """Pearson correlation of two (N, P) centred rank tensors, row by row; NaN where a row is constant."""
    covariance = (centred_a * centred_b).sum(dim=1)
    scale = torch.sqrt((centred_a**2).sum(dim=1) * (centred_b**2).sum(dim=1))
    return torch.where(scale > 0, covariance / scale, torch.full_like(scale, math.nan))


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
    return correlation_of_ranks(centred_ranks(first, absolute), centred_ranks(second, absolute))


def _shown(maps: Tensor, size: tuple[int, int] | None) -> np.ndarray:
    """(N, h, w) maps as they are shown: resized bilinearly to ``size``, min-max scaled to [0, 1]; float64 numpy."""
    if size is not None:
        maps = upsample(maps.float(), size)
    return normalize(maps.detach().float()).cpu().numpy().astype(np.float64)


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
    if min(size or first.shape[1:]) < 7:
        raise ValueError(f"SSIM uses a 7 x 7 window: maps of {tuple(first.shape[1:])} are too small; pass size=(H, W).")
    first_np, second_np = _shown(first, size), _shown(second, size)  # (N, H, W) in [0, 1]
    values = [structural_similarity(a, b, data_range=1.0) for a, b in zip(first_np, second_np, strict=True)]
    return torch.tensor(values, dtype=torch.float64)


def hog_correlation(first: Tensor, second: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Pearson correlation of the HOG features of the maps of ``first`` and ``second``, image by image.

    Each map is shown as for :func:`map_ssim` (resized bilinearly to ``size``, min-max scaled to
    [0, 1]); scikit-image's ``hog`` with its defaults (9 orientations, 8 x 8-pixel cells, 3 x 3-cell
    blocks, L2-Hys) turns it into a vector, and the two vectors are correlated. 1: the same edges in
    the same places and directions. A constant map has no gradient: its correlation is NaN.

    Args:
        first, second: (N, h, w) maps of the same shape.
        size: (H, W) to compare at, e.g. the input's; at least 24 x 24 (one HOG block).

    Returns:
        (N,) float64 tensor in [-1, 1] (or NaN).
    """
    from skimage.feature import hog  # imported on first use (scikit-image is slow to import)

    _check_same_shape(first, second)
    if first.dim() != 3:
        raise ValueError(f"hog_correlation compares (N, h, w) maps, got shape {tuple(first.shape)}.")
    if min(size or first.shape[1:]) < 24:
        raise ValueError(
            f"HOG uses 24 x 24-pixel blocks: maps of {tuple(first.shape[1:])} are too small; pass size=(H, W)."
        )
    first_np, second_np = _shown(first, size), _shown(second, size)
    features = torch.stack(
        [torch.from_numpy(np.stack([hog(a), hog(b)])) for a, b in zip(first_np, second_np, strict=True)]
    )
    centred = features - features.mean(dim=2, keepdim=True)  # (N, 2, F)
    covariance = (centred[:, 0] * centred[:, 1]).sum(dim=1)
    scale = torch.sqrt((centred[:, 0] ** 2).sum(dim=1) * (centred[:, 1] ** 2).sum(dim=1))
    return torch.where(scale > 0, covariance / scale.clamp(min=1e-300), torch.full_like(scale, math.nan))

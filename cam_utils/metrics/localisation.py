"""Localisation: compare a saliency map with a ground-truth mask of the object.

:func:`pointing_game`, :func:`energy_share` and :func:`mask_iou` are pure tensor functions (no
model); each upsamples the (N, h, w) maps bilinearly to the masks' (N, H, W) size.
:func:`paper_tolerance` is the pointing game's default tolerance (Zhang et al.'s 15 px at 224 px).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._maps import _check_maps, _resize


def _check_masks(masks: Tensor, saliency: Tensor) -> Tensor:
    """Check that ``masks`` is an (N, H, W) tensor matching the batch of ``saliency``; return bool."""
    if not isinstance(masks, Tensor) or masks.dim() != 3:
        shape = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ValueError(f"masks must be an (N, H, W) tensor, got {shape}; for one mask use mask[None].")
    if masks.shape[0] != saliency.shape[0]:
        raise ValueError(
            f"masks has {masks.shape[0]} masks but saliency has {saliency.shape[0]} maps; pass one mask per map."
        )
    return masks.to(device=saliency.device) > 0


#: Zhang et al. (ECCV 2016) count a hit within 15 pixels of the object on images of about 224 x 224.
PAPER_TOLERANCE_PX = 15.0
PAPER_IMAGE_SIZE = 224


def paper_tolerance(height: int, width: int) -> float:
    """Zhang et al.'s 15-pixel tolerance scaled to a (height, width) mask: 15 x min(height, width) / 224.

    E.g. 15.0 px at 224 x 224, about 4.29 px at 64 x 64.
    """
    return PAPER_TOLERANCE_PX * min(height, width) / PAPER_IMAGE_SIZE


def pointing_game(saliency: Tensor, masks: Tensor, tolerance: float | None = None) -> Tensor:
    """Is the map's maximum on the object? (Zhang et al., ECCV 2016.)

    The map is upsampled (bilinear) to the mask size; its maximum is a *hit* when a mask pixel
    lies within ``tolerance`` pixels (Euclidean distance) of it.

    * **Tolerance.** None (default) is the paper's: 15 px at 224 x 224, scaled to the masks'
      shorter side (:func:`paper_tolerance`; 4.29 px at 64 x 64). ``tolerance=0`` asks for the
      maximum to lie on the mask itself.
    * **Ties.** If several pixels share the maximum, the first one in row-major order counts
      (``torch.argmax``); after bilinear upsampling tied pixels are neighbours, and near-ties can
      change with the rounding of another machine (one shapes image in 100 flips at 4.29 px). A constant map
      (e.g. an all-zero Grad-CAM map) has no maximum to point with: it is a miss.

    Args:
        saliency: (N, h, w) maps.
        masks: (N, H, W) ground-truth masks (bool, or numbers where > 0 means object).
        tolerance: distance in pixels of the mask's resolution; None for the paper's, scaled.

    Returns:
        (N,) bool tensor, True for a hit. ``.float().mean()`` is the pointing-game accuracy.
    """
    saliency = _check_maps(saliency)
    masks = _check_masks(masks, saliency)
    _, height, width = masks.shape
    if tolerance is None:
        tolerance = paper_tolerance(height, width)
    if tolerance < 0:
        raise ValueError(f"tolerance is a distance in pixels and must be >= 0, got {tolerance}.")
    maps = _resize(saliency, (height, width)).flatten(1)  # (N, H * W)
    peak = maps.argmax(dim=1)  # (N,) the first maximum in row-major order
    peak_y, peak_x = peak // width, peak % width
    rows = torch.arange(height, device=maps.device)[None, :, None]
    cols = torch.arange(width, device=maps.device)[None, None, :]
    distance_sq = (rows - peak_y[:, None, None]) ** 2 + (cols - peak_x[:, None, None]) ** 2  # (N, H, W)
    near_peak = distance_sq <= tolerance**2
    points = maps.amax(dim=1) > maps.amin(dim=1)  # (N,) False for a constant map
    return (near_peak & masks).flatten(1).any(dim=1) & points


def energy_share(saliency: Tensor, masks: Tensor) -> Tensor:
    """Fraction of the map's energy that falls on the object (Score-CAM's "energy-based pointing game").

    share = sum_{ij in mask} L+_ij / sum_ij L+_ij, with L+ = max(L, 0) the map's non-negative
    part, upsampled (bilinear) to the mask size. A uniform map scores the mask's area fraction;
    a map with no positive value puts no energy anywhere and scores 0.

    Args:
        saliency: (N, h, w) maps.
        masks: (N, H, W) ground-truth masks.

    Returns:
        (N,) float tensor in [0, 1].
    """
    saliency = _check_maps(saliency)
    masks = _check_masks(masks, saliency)
    energy = _resize(saliency.clamp(min=0), tuple(masks.shape[-2:]))  # (N, H, W), >= 0
    inside = (energy * masks).flatten(1).sum(dim=1)  # (N,)
    total = energy.flatten(1).sum(dim=1)  # (N,)
    return torch.where(total > 0, inside / total.clamp(min=torch.finfo(total.dtype).tiny), torch.zeros_like(total))


def mask_iou(saliency: Tensor, masks: Tensor, threshold: float = 0.5) -> Tensor:
    """Intersection over union of the thresholded map with the object mask.

    The map is upsampled (bilinear) to the mask size and binarised relative to its own maximum:
    region = {ij : L_ij >= threshold * max(L)}. The default 0.5 keeps the pixels with at least
    half the peak value (CAM's original paper used 0.2 to draw bounding boxes). A map whose
    maximum is <= 0 has an empty region. IoU = |region ∩ mask| / |region ∪ mask|, and 1 when
    both are empty.

    Args:
        saliency: (N, h, w) maps.
        masks: (N, H, W) ground-truth masks.
        threshold: fraction of each map's maximum, in (0, 1].

    Returns:
        (N,) float tensor in [0, 1].
    """
    saliency = _check_maps(saliency)
    masks = _check_masks(masks, saliency)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold is a fraction of the map's maximum and must be in (0, 1], got {threshold}.")
    maps = _resize(saliency, tuple(masks.shape[-2:]))  # (N, H, W)
    peak = maps.flatten(1).amax(dim=1)[:, None, None]  # (N, 1, 1)
    region = (maps >= threshold * peak) & (peak > 0)  # (N, H, W) bool
    intersection = (region & masks).flatten(1).sum(dim=1).float()
    union = (region | masks).flatten(1).sum(dim=1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))

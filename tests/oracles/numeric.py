"""scipy, scikit-image and plain NumPy references for cam_utils' post-processing, similarity measures and metrics.

Each reference is written from the definition (the paper's, or the one cam_utils' docstring states), with scipy or
scikit-image where they have the operation (resize: ``skimage.transform.resize``; ranks: ``scipy.stats``; the
pointing game's distance: ``scipy.ndimage.distance_transform_edt``; the RISE blur: ``scipy.ndimage``), and NumPy
loops elsewhere. Inputs are small and seeded.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tests.libraries import require_library

from .compare import as_float64


def random_maps(count: int, size: tuple[int, int], seed: int, relu: bool = True) -> torch.Tensor:
    """(count, h, w) float32 maps; with ``relu`` about half of each map is exactly 0 (ties, as after Grad-CAM)."""
    maps = torch.randn((count, *size), generator=torch.Generator().manual_seed(seed))
    return maps.clamp(min=0) if relu else maps


def random_masks(count: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    """(count, H, W) bool masks: one axis-aligned rectangle each, of random place and size (some tiny)."""
    rng = np.random.default_rng(seed)
    height, width = size
    masks = np.zeros((count, height, width), dtype=bool)
    for mask in masks:
        top, left = rng.integers(0, height - 2), rng.integers(0, width - 2)
        mask[top : top + rng.integers(1, height // 2), left : left + rng.integers(1, width // 2)] = True
    return torch.from_numpy(masks)


def skimage_resize(maps: torch.Tensor | np.ndarray, size: tuple[int, int], order: int = 1) -> np.ndarray:
    """(N, h, w) -> (N, H, W) float64 with scikit-image: ``order`` 1 bilinear, 0 nearest; pixel centres aligned and
    the edge repeated beyond the outer centres (torch's ``align_corners=False`` defines the same), no anti-aliasing
    (upsampling)."""
    transform = require_library("skimage.transform")
    return np.stack(
        [
            transform.resize(one, size, order=order, mode="edge", anti_aliasing=False, preserve_range=True)
            for one in as_float64(maps)
        ]
    )


def min_max(maps: np.ndarray) -> np.ndarray:
    """Each (h, w) map to [0, 1]; a constant map to 0."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0)


def spearman(first: torch.Tensor, second: torch.Tensor, absolute: bool = False) -> np.ndarray:
    """scipy.stats.spearmanr of each pair of flattened maps (ties: average ranks)."""
    stats = require_library("scipy.stats")
    a, b = as_float64(first), as_float64(second)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    return np.array([stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b, strict=True)])


def ssim_skimage(first: torch.Tensor, second: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """skimage.metrics.structural_similarity of the maps as shown (skimage-resized, min-max), cam_utils' settings:
    7 x 7 uniform window, data range 1, sample covariance."""
    metrics = require_library("skimage.metrics")
    a, b = min_max(skimage_resize(first, size)), min_max(skimage_resize(second, size))
    return np.array(
        [metrics.structural_similarity(x, y, data_range=1.0, win_size=7) for x, y in zip(a, b, strict=True)]
    )


def ssim_formula(first: torch.Tensor, second: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """SSIM from its definition (Wang et al., IEEE TIP 2004, eq. 13) with scipy's 7 x 7 box filter: local means,
    variances and covariance (sample-corrected by 49/48), C1 = (0.01 L)², C2 = (0.03 L)², L = 1; averaged over the
    positions whose window lies inside the map (3 pixels cropped on each side)."""
    ndimage = require_library("scipy.ndimage")
    a, b = min_max(skimage_resize(first, size)), min_max(skimage_resize(second, size))
    values = []
    for x, y in zip(a, b, strict=True):
        mean = lambda image: ndimage.uniform_filter(image, size=7)  # noqa: E731
        mx, my = mean(x), mean(y)
        vx, vy, cxy = (
            49 / 48 * (mean(p * q) - m * n) for p, q, m, n in ((x, x, mx, mx), (y, y, my, my), (x, y, mx, my))
        )
        c1, c2 = 0.01**2, 0.03**2
        local = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(local[3:-3, 3:-3].mean())
    return np.array(values)


def pointing_hits(saliency: torch.Tensor, masks: torch.Tensor, tolerance: float) -> np.ndarray:
    """Zhang et al.'s pointing game: a hit when the distance from the (skimage-resized) map's first maximum to the
    nearest mask pixel, scipy's exact Euclidean distance transform, is at most ``tolerance``; no hit for a flat map."""
    ndimage = require_library("scipy.ndimage")
    mask_np = masks.numpy().astype(bool)
    maps = skimage_resize(saliency, mask_np.shape[1:])
    hits = []
    for one, mask in zip(maps, mask_np, strict=True):
        distance_to_object = ndimage.distance_transform_edt(~mask)  # 0 on the object
        hits.append(bool(distance_to_object.flat[np.argmax(one)] <= tolerance) and one.max() > one.min())
    return np.array(hits)


def energy_share(saliency: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Σ_mask L+ / Σ L+ with L+ = max(L, 0) resized bilinearly; 0 when the map has no positive value."""
    energy = skimage_resize(np.maximum(as_float64(saliency), 0), tuple(masks.shape[1:]))
    total = energy.sum(axis=(1, 2))
    inside = (energy * masks.numpy()).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0)


def mask_iou(saliency: torch.Tensor, masks: torch.Tensor, threshold: float) -> np.ndarray:
    """|region ∩ mask| / |region ∪ mask| with region = {L >= threshold · max L} (empty when max L <= 0); 1 if both
    are empty."""
    maps, mask_np = skimage_resize(saliency, tuple(masks.shape[1:])), masks.numpy().astype(bool)
    peak = maps.max(axis=(1, 2), keepdims=True)
    region = (maps >= threshold * peak) & (peak > 0)
    union = (region | mask_np).sum(axis=(1, 2))
    return np.where(union > 0, (region & mask_np).sum(axis=(1, 2)) / np.maximum(union, 1), 1.0)


def _class_probabilities(model: nn.Module, images: np.ndarray, class_index: int) -> np.ndarray:
    """softmax(model(images))[:, class_index], the softmax in float64 by scipy."""
    special = require_library("scipy.special")
    with torch.no_grad():
        logits = model(torch.from_numpy(images).float()).double().numpy()
    return special.softmax(logits, axis=1)[:, class_index]


def rise_blur(x: np.ndarray, kernel_size: int = 11, sigma: float = 5.0) -> np.ndarray:
    """RISE's insertion start (eclique/RISE evaluation.py): its kernel is scipy's gaussian_filter of a centred 1,
    applied per channel with zero padding (a cross-correlation; the kernel is symmetric)."""
    ndimage = require_library("scipy.ndimage")
    delta = np.zeros((kernel_size, kernel_size))
    delta[kernel_size // 2, kernel_size // 2] = 1
    kernel = ndimage.gaussian_filter(delta, sigma)
    return np.stack(
        [[ndimage.correlate(channel, kernel, mode="constant", cval=0.0) for channel in image] for image in x]
    )


def perturbation_curve(
    model: nn.Module, start: np.ndarray, final: np.ndarray, saliency: np.ndarray, class_index: int, pixels_per_step: int
) -> tuple[np.ndarray, float]:
    """RISE's deletion/insertion protocol for one image (3, H, W): rank the pixels by the map (H, W, most salient
    first, ties in row-major order), after step s show ``final`` at the s·pixels_per_step first ones and ``start``
    elsewhere; the class probability at each step and the trapezoid AUC over the fraction switched."""
    height, width = saliency.shape
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.minimum(np.arange(-(-height * width // pixels_per_step) + 1) * pixels_per_step, height * width)
    images = []
    for count in counts:
        switched = np.zeros(height * width, dtype=bool)
        switched[order[:count]] = True
        images.append(np.where(switched.reshape(1, height, width), final, start))
    scores = _class_probabilities(model, np.stack(images), class_index)
    fractions = counts / (height * width)
    # The trapezoid rule written out: np.trapezoid is NumPy >= 2.0 only (the oldest set has 1.24).
    area = np.sum((scores[1:] + scores[:-1]) / 2 * np.diff(fractions))
    return scores, float(area)


def average_drop(
    model: nn.Module,
    x: np.ndarray,
    saliency: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    classes: list[int],
) -> tuple[float, np.ndarray]:
    """Average Drop % (Chattopadhay et al.): E = image ⊙ min-max(resized map) in pixel space, then
    100 · mean_i max(0, Y_i - O_i) / Y_i. Returns it and the O_i."""
    mean_np, std_np = np.array(mean)[:, None, None], np.array(std)[:, None, None]
    maps = min_max(skimage_resize(saliency, x.shape[2:]))
    explained = ((x * std_np + mean_np) * maps[:, None] - mean_np) / std_np
    drops, kept_scores = [], []
    for i, class_index in enumerate(classes):
        original, kept = _class_probabilities(model, np.stack([x[i], explained[i]]), class_index)
        drops.append(max(0.0, original - kept) / original)
        kept_scores.append(kept)
    return 100 * float(np.mean(drops)), np.array(kept_scores)


def rollout(attentions: list[np.ndarray]) -> np.ndarray:
    """Abnar & Zuidema's rollout as a direct product: Ã_l = (mean_heads A_l + I) / row sums, R = Ã_L ··· Ã_1;
    the class token's row on the patch columns: (N, T - 1)."""
    tokens = attentions[0].shape[-1]
    result = np.broadcast_to(np.eye(tokens), (attentions[0].shape[0], tokens, tokens))
    for attention in attentions:
        mixed = attention.mean(axis=1) + np.eye(tokens)
        result = (mixed / mixed.sum(axis=-1, keepdims=True)) @ result
    return result[:, 0, 1:]

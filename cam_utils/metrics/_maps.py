"""Helpers shared by both metric families: validate (N, h, w) maps, resize them bilinearly."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from cam_utils._checks import check_finite_maps
from cam_utils.postprocess import upsample


def _check_maps(saliency: Tensor, name: str = "saliency") -> Tensor:
    """Check that ``saliency`` is an (N, h, w) floating tensor; return it as float."""
    if not isinstance(saliency, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, h, w), got {type(saliency).__name__}.")
    if saliency.dim() != 3:
        raise ValueError(
            f"{name} must have shape (N, h, w), got {tuple(saliency.shape)}; for a single map use saliency[None]."
        )
    check_finite_maps(saliency, name, "the metric")
    return saliency.float()


def _resize(saliency: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinearly resize (N, h, w) maps to ``size`` (H, W), e.g. ``masks.shape[-2:]``, with
    :func:`cam_utils.postprocess.upsample`."""
    height, width = size
    if tuple(saliency.shape[-2:]) == (height, width):
        return saliency
    return upsample(saliency, (height, width), mode="bilinear")

"""Two gradient variants of Grad-CAM, each with ``grad_cam``'s signature and guarantees.

Both combine the feature maps A^k of one layer (k = 1..C, each h×w) into one map;
they differ in how much each position counts (Score-CAM, the third variant of notebook 07,
needs no gradient: it lives in :mod:`cam_utils.scorecam`):

* **Grad-CAM++** (Chattopadhay et al., WACV 2018): like Grad-CAM, but each position's
  gradient gets its own weight α_k^{ij}, so several separate objects of the same class
  all show up (Grad-CAM's plain average favours the largest one).
* **HiResCAM** (Draelos & Carin, 2020): no averaging at all — multiply gradient and
  activation element-wise, position by position. On a GAP network this is exactly CAM/Z.
  If a single linear layer follows the layer, the map adds up to y^c − b_c, each position's
  exact share of the score (the paper's sense of "faithful"); deeper inside a network it is
  gradient × activation.

Conventions (as for ``grad_cam``):

* maps are (N, h, w) at the layer's resolution, on x's device, *not* normalised;
* y^c is the raw class score (logit); ``class_idx`` is None (top-1), an int or one per image;
* the model is left untouched, also from several threads (see :mod:`cam_utils.model_state`).

The gradient-based variants also come as ``*_from_forward(forward, class_idx)``: they reuse
a ``forward_with_features`` result, so switching class costs one backward pass only.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

import torch
from torch import nn

from ._checks import ClassIndex, resolve_class_idx
from .errors import CancelledMapWarning
from .gradcam import class_gradients
from .hooks import LayerForward, forward_with_features
from .tokens import Reshape

__all__ = [
    "grad_cam_plus_plus",
    "grad_cam_plus_plus_alpha",
    "grad_cam_plus_plus_from_forward",
    "hires_cam",
    "hires_cam_from_forward",
]


# --- Grad-CAM++ ----------------------------------------------------------------------------


def grad_cam_plus_plus_alpha(feature_maps: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s per-position weights α_k^{ij} (eq. 19 of the paper): (N, C, h, w).

    With Y^c = exp(y^c) and g = ∂y^c/∂A^k_ij, the chain rule gives
    ∂²Y^c/∂A² = exp(y^c)·(g² + ∂²y^c/∂A²) and ∂³Y^c/∂A³ = exp(y^c)·(g³ + 3g·∂²y^c/∂A² + ∂³y^c/∂A³).
    The paper's closed form assumes y^c is piecewise linear in A (the higher derivatives are 0
    wherever they exist). That is exact when only convolutions, eval-mode BatchNorm, ReLU/ReLU6,
    pooling and linear layers follow A (Lite0 after ``bn2`` or any block, ResNet, VGG,
    MobileNetV2), and an approximation after SiLU/GELU. Then the derivatives are exp(y^c)·g² and
    exp(y^c)·g³, the factor exp(y^c) cancels, and eq. 19 becomes

        α_k^{ij} = g_ij² / (2·g_ij² + Σ_ab A^k_ab · g_ij³)

    and α = 0 wherever this denominator is 0 (at g = 0 it is 0/0; pytorch-grad-cam does the same where g = 0; the paper's text was not checked).

    How it is computed: where g ≠ 0, dividing top and bottom by g² gives the same value,

        α_k^{ij} = 1 / (2 + g_ij · Σ_ab A^k_ab),

    which cannot underflow (g³ of a small float32 gradient, e.g. 1e-13, is already below
    float32's normal range). The zero cases are selected with ``torch.where``; no epsilon is
    added, so tiny gradients give exactly the paper's α. pytorch-grad-cam adds 1e-6 to the
    denominator, which dominates when g² is around 1e-6 or smaller: at Lite0's ``bn2``, where
    g = w_k^c / 49 is about 1e-3, it changes α (notebook 07 measures by how much).

    Args:
        feature_maps: (N, C, h, w) A.
        gradients: (N, C, h, w) g = ∂y^c/∂A.
    """
    activation_sums = feature_maps.sum(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): Σ_ab A^k_ab
    # The paper's denominator is g² · (2 + g·ΣA); it is 0 where g = 0 or 2 + g·ΣA = 0.
    reduced_denominator = 2 + gradients * activation_sums  # (N, C, h, w)
    defined = (gradients != 0) & (reduced_denominator != 0)
    safe_denominator = torch.where(defined, reduced_denominator, torch.ones_like(reduced_denominator))
    return torch.where(defined, 1 / safe_denominator, torch.zeros_like(reduced_denominator))


def grad_cam_plus_plus_from_forward(forward: LayerForward, class_idx: ClassIndex = None) -> torch.Tensor:
    """Grad-CAM++ from an existing ``forward_with_features`` result: (N, h, w).

        w_k^c = Σ_ij α_k^{ij} · ReLU(∂y^c/∂A^k_ij)        (α from ``grad_cam_plus_plus_alpha``)
        L^c   = ReLU(Σ_k w_k^c A^k)

    The paper's weights use ReLU(∂Y^c/∂A) with Y^c = exp(y^c), i.e. exp(y^c)·ReLU(g): one
    positive factor per image. It is left out here (it would overflow for large scores), so
    the map is exp(y^c) times smaller than the paper's; after ``normalize`` they are equal.

    Args:
        forward: the result of ``forward_with_features(model, x, target_layer)``.
        class_idx: None (each image's top-1), an int, or one index per image.
    """
    class_idx = resolve_class_idx(class_idx, forward.logits)  # (N,)
    gradients = class_gradients(forward, class_idx)  # (N, C, h, w), g = ∂y^c/∂A
    feature_maps = forward.feature_maps.detach()  # (N, C, h, w), A
    alpha = grad_cam_plus_plus_alpha(feature_maps, gradients)  # (N, C, h, w)
    # w_k^c = Σ_ij α_k^{ij} · ReLU(g_ij)
    channel_weights = (alpha * torch.relu(gradients)).sum(dim=(2, 3))  # (N, C)
    # L^c = ReLU(Σ_k w_k^c A^k)
    weighted_sum = torch.einsum("nc,nchw->nhw", channel_weights, feature_maps)  # (N, h, w)
    return torch.relu(weighted_sum)


def grad_cam_plus_plus(
    model: nn.Module,
    x: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: ClassIndex = None,
    *,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """Grad-CAM++ maps at ``target_layer``: (N, h, w) at the layer's resolution, on x's device.

    L^c = ReLU(Σ_k w_k^c A^k), w_k^c = Σ_ij α_k^{ij} · ReLU(∂y^c/∂A^k_ij), with α from the
    paper's eq. 19 (see ``grad_cam_plus_plus_alpha``). Not normalised or resized.

    Args:
        model, x, target_layer, class_idx, reshape: as for :func:`~cam_utils.gradcam.grad_cam`.

    The model is left untouched (see :mod:`cam_utils.model_state`).
    """
    forward = forward_with_features(model, x, target_layer, reshape)
    return grad_cam_plus_plus_from_forward(forward, class_idx=class_idx)


# --- HiResCAM ------------------------------------------------------------------------------


def hires_cam_from_forward(forward: LayerForward, class_idx: ClassIndex = None, relu: bool = False) -> torch.Tensor:
    """HiResCAM from an existing ``forward_with_features`` result: (N, h, w).

        map_ij = Σ_k ∂y^c/∂A^k_ij · A^k_ij          (element-wise, then summed over channels)

    Args:
        forward: the result of ``forward_with_features(model, x, target_layer)``.
        class_idx: None (each image's top-1), an int, or one index per image.
        relu: apply ReLU to the map (keep only what raises y^c). Default False: the map keeps its
            sign (see ``hires_cam``).
    """
    class_idx = resolve_class_idx(class_idx, forward.logits)  # (N,)
    gradients = class_gradients(forward, class_idx)  # (N, C, h, w)
    feature_maps = forward.feature_maps.detach()  # (N, C, h, w), A
    # Σ_k g ⊙ A^k : multiply position by position, then add the channels.
    terms = gradients * feature_maps  # (N, C, h, w), one term per channel and position
    hires_map = terms.sum(dim=1)  # (N, h, w)
    _warn_if_cancelled(hires_map, terms)
    return torch.relu(hires_map) if relu else hires_map


#: A map whose total size is below this fraction of the total size of its terms is numerical noise.
_CANCELLED = 1e-4


def _first_frame_outside_this_module() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller point at the first line outside this module:
    the user's call of ``hires_cam`` or of ``hires_cam_from_forward``, however deep inside this module it warns."""
    level = 1  # level 1: the frame that calls warnings.warn (our caller)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level, frame = level + 1, frame.f_back
    return level


def _warn_if_cancelled(hires_map: torch.Tensor, terms: torch.Tensor) -> None:
    """Warn when HiResCAM's channel sums cancel to noise for some image.

    Σ_k ∂y^c/∂A^k_ij · A^k_ij is the rate at which y^c changes when the features at position ij
    are all scaled by the same factor. If y^c ignores that scale, the sum is zero whatever the
    terms: this happens at a transformer block's output, whose patch tokens reach the class
    token only through the next block's LayerNorm (LN(s·a) = LN(a)). What is left is float noise
    and LayerNorm's epsilon, not an explanation.
    """
    term_size = terms.abs().sum(dim=(1, 2, 3))  # (N,) Σ_kij |g A|
    map_size = hires_map.abs().sum(dim=(1, 2))  # (N,) Σ_ij |Σ_k g A|
    cancelled = (map_size < _CANCELLED * term_size) & (term_size > 0)  # (N,)
    if bool(cancelled.any()):
        ratio = float((map_size[cancelled] / term_size[cancelled]).max())
        warnings.warn(
            CancelledMapWarning(
                f"HiResCAM cancels at this layer for {int(cancelled.sum())} of {len(cancelled)} images: "
                f"Σ_k ∂y^c/∂A^k · A^k is at most {ratio:.0e} of the size of its terms, numerical noise. "
                "The class score ignores the scale of the features here (e.g. a transformer block's output, "
                "read only through the next block's LayerNorm).",
                value=int(cancelled.sum()),
                suggestion="Explain the normalisation's output instead (e.g. 'blocks.3.norm1' rather than "
                "'blocks.2'), or use grad_cam at this layer.",
            ),
            stacklevel=_first_frame_outside_this_module(),
        )


def hires_cam(
    model: nn.Module,
    x: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: ClassIndex = None,
    relu: bool = False,
    *,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """HiResCAM maps at ``target_layer``: Σ_k ∂y^c/∂A^k ⊙ A^k, (N, h, w), on x's device.

    Grad-CAM first averages each gradient map to one number α_k^c; HiResCAM keeps the
    gradient at every position. On a network that ends in global average pooling + a linear
    layer, ∂y^c/∂A^k_ij = w_k^c / Z everywhere, so HiResCAM = CAM / Z exactly (Z = h·w).

    The map keeps its sign by default, a choice of this library: negative values mark positions
    that lower y^c, and only the signed map adds up to y^c − b_c where a single linear layer follows
    (the paper's sense of faithful). The authors' reference code (github.com/rachellea/hirescam,
    ``clip_and_norm_volume``) and pytorch-grad-cam (``BaseCAM``) clip HiResCAM, like Grad-CAM, with a
    ReLU before normalising; ``relu=True`` gives their map. Not normalised or resized.

    Args:
        model, x, target_layer, class_idx, reshape: as for :func:`~cam_utils.gradcam.grad_cam`.
        relu: apply ReLU to the map.

    The model is left untouched (see :mod:`cam_utils.model_state`).
    """
    forward = forward_with_features(model, x, target_layer, reshape)
    return hires_cam_from_forward(forward, class_idx=class_idx, relu=relu)

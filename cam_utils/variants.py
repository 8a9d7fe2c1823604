"""Three variants of Grad-CAM, each with ``grad_cam``'s signature and guarantees.

All three combine the feature maps A^k of one layer (k = 1..C, each h×w) into one map;
they differ in how much each channel, or each position, counts:

* **Grad-CAM++** (Chattopadhyay et al., WACV 2018): like Grad-CAM, but each position's
  gradient gets its own weight α_k^{ij}, so several separate objects of the same class
  all show up (Grad-CAM's plain average favours the largest one).
* **HiResCAM** (Draelos & Carin, 2020): no averaging at all — multiply gradient and
  activation element-wise, position by position. On a GAP network this is exactly CAM/Z.
* **Score-CAM** (Wang et al., CVPR-W 2020): no gradients. Each channel is used as a mask
  on the input; the class probability of the masked image is the channel's weight.

Conventions (as for ``grad_cam``):

* maps are (N, h, w) at the layer's resolution, on x's device, *not* normalised;
* y^c is the raw class score (logit); ``class_idx`` is None (top-1), an int or one per image;
* the model is left untouched (weights, buffers, train/eval flags, hooks, ``.grad``,
  ``requires_grad``, grad mode), also when an error is raised.
* safe to call from several threads on one model (a per-model lock: the calls take turns).

The gradient-based variants also come as ``*_from_forward(forward, class_idx)``: they reuse
a ``forward_with_features`` result, so switching class costs one backward pass only.
"""
from __future__ import annotations

import numbers
import sys
import time
from typing import TextIO

import torch
from torch import nn

from ._checks import ClassIndex, resolve_class_idx
from ._layers import unwrap_compiled_layer
from .gradcam import class_gradients
from .hooks import LayerForward, forward_recording, forward_with_features
from .model_state import eval_behaviour
from .postprocess import normalize, upsample
from .tokens import Reshape

__all__ = [
    "grad_cam_plus_plus",
    "grad_cam_plus_plus_alpha",
    "grad_cam_plus_plus_from_forward",
    "hires_cam",
    "hires_cam_from_forward",
    "score_cam",
]

#: ``score_cam(progress=None)`` shows progress only when there are more batches than this.
PROGRESS_AUTO_MIN_BATCHES = 20


# --- Grad-CAM++ ----------------------------------------------------------------------------


def grad_cam_plus_plus_alpha(feature_maps: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s per-position weights α_k^{ij} (eq. 19 of the paper): (N, C, h, w).

    With the class score passed through an exponential, Y^c = exp(y^c), the second and third
    derivatives of Y^c are exp(y^c)·g² and exp(y^c)·g³, where g = ∂y^c/∂A^k_ij. The factor
    exp(y^c) cancels and eq. 19 becomes

        α_k^{ij} = g_ij² / (2·g_ij² + Σ_ab A^k_ab · g_ij³)

    and α = 0 wherever this denominator is 0 (the paper's convention; at g = 0 it is 0/0).

    How it is computed: where g ≠ 0, dividing top and bottom by g² gives the same value,

        α_k^{ij} = 1 / (2 + g_ij · Σ_ab A^k_ab),

    which cannot underflow (g³ of a small float32 gradient, e.g. 1e-13, is already below
    float32's normal range). The zero cases are selected with ``torch.where``; no epsilon is
    added, so tiny gradients give exactly the paper's α (an epsilon of 1e-6 in the
    denominator, as some libraries add, dominates when g² is around 1e-6 or smaller).

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
        model: an image classifier returning raw class scores (N, num_classes).
        x: (N, 3, H, W) float batch, preprocessed, on the model's device.
        target_layer: a convolutional layer of ``model`` or its dotted name, e.g. ``"layer4"``.
        class_idx: None (each image's top-1), an int (same class for all images),
            or a sequence / 1-D tensor with one class per image.
        reshape: for a layer that outputs tokens (a vision transformer): a callable to
            (N, C, h, w), e.g. ``vit_reshape``; see ``grad_cam``.

    The model is left untouched; it is explained at inference behaviour (eval).
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
        relu: apply ReLU to the map (keep only what raises y^c). Default False, as in the
            HiResCAM paper: the raw map is signed.
    """
    class_idx = resolve_class_idx(class_idx, forward.logits)  # (N,)
    gradients = class_gradients(forward, class_idx)  # (N, C, h, w)
    feature_maps = forward.feature_maps.detach()  # (N, C, h, w), A
    # Σ_k g ⊙ A^k : multiply position by position, then add the channels.
    hires_map = (gradients * feature_maps).sum(dim=1)  # (N, h, w)
    return torch.relu(hires_map) if relu else hires_map


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

    The raw map is signed (no ReLU, as in the HiResCAM paper): negative values mark positions
    that lower y^c. Pass ``relu=True`` to keep only the positive evidence, like Grad-CAM.
    Not normalised or resized.

    Args:
        model: an image classifier returning raw class scores (N, num_classes).
        x: (N, 3, H, W) float batch, preprocessed, on the model's device.
        target_layer: a convolutional layer of ``model`` or its dotted name.
        class_idx: None (each image's top-1), an int, or one index per image.
        relu: apply ReLU to the map.
        reshape: for a layer that outputs tokens (a vision transformer): a callable to
            (N, C, h, w), e.g. ``vit_reshape``; see ``grad_cam``.

    The model is left untouched; it is explained at inference behaviour (eval).
    """
    forward = forward_with_features(model, x, target_layer, reshape)
    return hires_cam_from_forward(forward, class_idx=class_idx, relu=relu)


# --- Score-CAM -----------------------------------------------------------------------------


class _Progress:
    """A one-line progress report on a text stream: ``Score-CAM: 12/40 batches, 3 s left``."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.start = total, stream, time.perf_counter()

    def update(self, done: int) -> None:
        elapsed = time.perf_counter() - self.start
        remaining = elapsed / done * (self.total - done)
        end = "\n" if done == self.total else ""
        self.stream.write(f"\rScore-CAM: {done}/{self.total} batches, {elapsed:.0f} s elapsed, ~{remaining:.0f} s left{end}")
        self.stream.flush()


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer (masked images per forward pass), got {batch_size!r}. "
            "Use e.g. batch_size=64; lower it if you run out of memory."
        )
    return int(batch_size)


def score_cam(
    model: nn.Module,
    x: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: ClassIndex = None,
    batch_size: int = 64,
    progress: bool | None = False,
    *,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """Score-CAM maps at ``target_layer``: (N, h, w) at the layer's resolution, on x's device.

    No gradients. For every image and every channel k of A (shape (C, h, w)):

    1. H^k = normalize(upsample(A^k, (H, W))): the channel as a mask in [0, 1] at input size
       (bilinear upsampling, then min-max);
    2. the masked input x ⊙ H^k goes through the model; its softmax probability of class c is
       the channel's weight  α_k^c = softmax(model(x ⊙ H^k))_c ;
    3. L^c = ReLU(Σ_k α_k^c A^k).

    Choices, following the authors' released code (the paper defines the weight as an
    "increase of confidence" f(x ⊙ H^k) − f(x_b) against a baseline image x_b):

    * no baseline is subtracted, and the probabilities are used as they are (no second
      softmax across channels; pytorch-grad-cam differs here: it takes a softmax over the
      channels of the masked *logits*);
    * the mask multiplies the *normalised* input (the tensor the model receives), so a
      masked-out pixel becomes 0 in normalised space, i.e. the dataset's mean colour for
      ImageNet-normalised models;
    * a channel whose map is constant carries no spatial information (its mask would be all
      zeros) and gets weight 0.

    Cost: C forward passes per image (1280 for EfficientNet-Lite0's last layer), run in
    batches of ``batch_size`` masked images under ``torch.no_grad()`` at inference behaviour.

    Args:
        model: an image classifier returning raw class scores (N, num_classes).
        x: (N, 3, H, W) float batch, preprocessed, on the model's device.
        target_layer: a convolutional layer of ``model`` or its dotted name.
        class_idx: None (each image's top-1), an int, or one index per image.
        batch_size: masked images per forward pass (memory vs speed; the result is the same).
        progress: True prints a one-line progress report to stderr; None prints it only when
            there are more than ``PROGRESS_AUTO_MIN_BATCHES`` batches; False (default) is silent.
        reshape: for a layer that outputs tokens (a vision transformer): a callable to
            (N, C, h, w), e.g. ``vit_reshape``; see ``grad_cam``.

    The model is left untouched (weights, BatchNorm statistics, flags, hooks, ``.grad``).
    """
    batch_size = _check_batch_size(batch_size)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (automatic), got {progress!r}.")
    model, target_layer = unwrap_compiled_layer(model, target_layer)  # torch.compile: the original module
    feature_maps, logits = forward_recording(model, x, target_layer, reshape)  # (N, C, h, w), (N, classes)
    class_idx = resolve_class_idx(class_idx, logits)  # (N,)
    num_images, num_channels = feature_maps.shape[:2]
    input_size = tuple(x.shape[2:])  # (H, W)

    batches_per_image = -(-num_channels // batch_size)  # ceil(C / batch_size)
    total_batches = num_images * batches_per_image
    show_progress = progress if progress is not None else total_batches > PROGRESS_AUTO_MIN_BATCHES
    reporter = _Progress(total_batches, sys.stderr) if show_progress else None

    channel_weights = torch.zeros(num_images, num_channels, dtype=feature_maps.dtype, device=feature_maps.device)
    batches_done = 0
    with eval_behaviour(model), torch.no_grad():
        for image in range(num_images):
            channels = feature_maps[image]  # (C, h, w)
            # A constant channel has no contrast: no mask, weight 0.
            informative = channels.amax(dim=(1, 2)) > channels.amin(dim=(1, 2))  # (C,)
            for start in range(0, num_channels, batch_size):
                stop = min(start + batch_size, num_channels)
                # H^k = normalize(upsample(A^k)), one mask per channel of this batch
                masks = normalize(upsample(channels[start:stop], input_size))  # (B, H, W) in [0, 1]
                masked_inputs = x[image] * masks[:, None]  # (B, 3, H, W): x ⊙ H^k
                probabilities = torch.softmax(model(masked_inputs), dim=1)  # (B, classes)
                # α_k^c = softmax(model(x ⊙ H^k))_c
                channel_weights[image, start:stop] = probabilities[:, class_idx[image]].to(channel_weights.dtype)
                batches_done += 1
                if reporter is not None:
                    reporter.update(batches_done)
            channel_weights[image] = torch.where(informative, channel_weights[image], torch.zeros_like(channel_weights[image]))

    # L^c = ReLU(Σ_k α_k^c A^k)
    weighted_sum = torch.einsum("nc,nchw->nhw", channel_weights, feature_maps)  # (N, h, w)
    return torch.relu(weighted_sum)

"""Faithfulness: does the model's score depend on the pixels the map points at?

* :func:`deletion_curve` / :func:`insertion_curve` (RISE, Petsiuk et al., BMVC 2018): switch the
  pixels in the order the map ranks them and record the class probability; insertion starts from
  :func:`rise_blur`, the blur of RISE's evaluation code;
* :func:`average_drop_increase` (Grad-CAM++, Chattopadhay et al., WACV 2018): one explanation
  image per photo, the photo dimmed by the map.

The model runs at inference behaviour without gradients; its weights and flags are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cam_utils._checks import ClassIndex, resolve_class_idx
from cam_utils.model_state import explaining

from ._maps import _check_maps, _resize


@dataclass
class Curve:
    """A deletion or insertion curve of one image.

    Attributes:
        fractions: (S+1,) fraction of the pixels deleted (or inserted) so far, 0 -> 1.
        scores: (S+1,) softmax probability of the explained class at each step.
        auc: area under ``scores`` over ``fractions`` (trapezoid rule), in [0, 1].
            Deletion: lower is better. Insertion: higher is better.
    """

    fractions: Tensor
    scores: Tensor
    auc: float


def _classes_and_scores(
    model: torch.nn.Module, x: Tensor, class_idx: ClassIndex, batch_size: int
) -> tuple[Tensor, Tensor]:
    """(N,) class indices (class_idx resolved against the model's logits, None -> top-1) and
    (N,) softmax probabilities of those classes on x itself."""
    logits = torch.cat([model(x[start : start + batch_size]) for start in range(0, x.shape[0], batch_size)])
    classes = resolve_class_idx(class_idx, logits)  # (N,)
    probabilities = torch.softmax(logits.float(), dim=1)  # (N, num_classes)
    return classes, probabilities[torch.arange(x.shape[0], device=logits.device), classes]


def _check_batch(x: Tensor, saliency: Tensor, batch_size: int, pixels_per_step: int = 1) -> Tensor:
    """Validate x (N, C, H, W), saliency (N, h, w), batch_size and pixels_per_step; return saliency on x's device."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W), got {shape}; for one image use x[None].")
    saliency = _check_maps(saliency)
    if saliency.shape[0] != x.shape[0]:
        raise ValueError(
            f"x has {x.shape[0]} images but saliency has {saliency.shape[0]} maps; pass one map per image."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if isinstance(pixels_per_step, bool) or not isinstance(pixels_per_step, int) or pixels_per_step < 1:
        raise ValueError(f"pixels_per_step must be a positive integer, got {pixels_per_step!r}.")
    return saliency.to(x.device)


def _perturbation_curves(
    model: torch.nn.Module,
    start_images: Tensor,
    final_images: Tensor,
    saliency: Tensor,
    classes: Tensor,
    pixels_per_step: int,
    batch_size: int,
    original_scores: Tensor,
    original_step: int,
) -> list[Curve]:
    """Shared engine of deletion and insertion; call it in eval behaviour under no_grad.

    Pixels are ranked by the saliency map, most salient first (ties keep row-major order:
    a stable sort). After step s the s * ``pixels_per_step`` top-ranked pixels (all channels)
    show ``final_images``, the others ``start_images``. The perturbed images of one curve go
    through the model ``batch_size`` at a time, except at ``original_step`` (0 for deletion,
    the last step for insertion), whose image is the unmodified x: its score is
    ``original_scores``, already computed, so the curve costs S forward passes, not S + 1.
    """
    n, _, height, width = start_images.shape
    n_pixels = height * width
    n_steps = -(-n_pixels // pixels_per_step)  # ceil: the last step may switch fewer pixels
    switched_counts = (torch.arange(n_steps + 1, device=start_images.device) * pixels_per_step).clamp(max=n_pixels)
    fractions = switched_counts.float() / n_pixels  # (S+1,)
    maps = _resize(saliency, (height, width)).flatten(1)  # (N, H*W)
    steps_to_run = [step for step in range(n_steps + 1) if step != original_step]  # S steps

    curves = []
    for i in range(n):
        order = maps[i].argsort(descending=True, stable=True)  # pixel indices, most salient first
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n_pixels, device=order.device)  # rank[p]: position of pixel p
        curve_scores = torch.empty(n_steps + 1, device=start_images.device)  # (S+1,)
        curve_scores[original_step] = original_scores[i]
        for first in range(0, len(steps_to_run), batch_size):
            steps = torch.tensor(steps_to_run[first : first + batch_size], device=start_images.device)  # (B,)
            counts = switched_counts[steps]  # (B,) pixels switched at these steps
            switched = (rank[None, :] < counts[:, None]).view(-1, 1, height, width)  # (B, 1, H, W)
            images = torch.where(switched, final_images[i], start_images[i])  # (B, C, H, W)
            probabilities = torch.softmax(model(images).float(), dim=1)  # (B, num_classes)
            curve_scores[steps] = probabilities[:, classes[i]]
        auc = torch.trapezoid(curve_scores, fractions).item()
        curves.append(Curve(fractions=fractions.clone(), scores=curve_scores, auc=auc))
    return curves


def deletion_curve(
    model: torch.nn.Module,
    x: Tensor,
    saliency: Tensor,
    class_idx: ClassIndex = None,
    pixels_per_step: int = 224,
    batch_size: int = 32,
) -> list[Curve]:
    """Deletion curves (RISE, Petsiuk et al. 2018): remove the most salient pixels first.

    The map is upsampled (bilinear) to x's size and its pixels ranked. Step by step,
    ``pixels_per_step`` more of the top-ranked pixels are set to 0 *in normalised input
    space* (as RISE's code does), and the softmax probability of the class is recorded. A
    faithful map makes the probability fall fast: a low AUC.

    What 0 in normalised space looks like depends on the model's normalisation
    x = (pixel - mean) / std: a deleted pixel is the colour ``mean``. For EfficientNet-Lite0
    (mean = std = 0.5) that is mid-grey (0.5, 0.5, 0.5); for a model normalised with
    ImageNet's statistics (the torchvision models, RISE's ResNet-50) it is ImageNet's mean
    colour (0.485, 0.456, 0.406).

    With the RISE setting, 224 pixels per step on a 224x224 image, a curve has 224 steps
    (225 points, fraction 0 to 1). The model runs N * (S + 1) forward passes in all: one per
    image for x itself (the score at fraction 0, shared with the class choice) and S per curve.

    Args:
        model: classifier returning logits (N, num_classes).
        x: (N, C, H, W) normalised images (one curve per image).
        saliency: (N, h, w) maps, any resolution.
        class_idx: None (each image's top-1 on x), an int, or one index per image.
        pixels_per_step: pixels switched per step.
        batch_size: perturbed images per forward pass.

    Returns:
        One :class:`Curve` per image; ``sum(c.auc for c in curves) / len(curves)`` is the mean AUC.

    The model is run at eval behaviour without gradients; its flags and weights are untouched.
    """
    saliency = _check_batch(x, saliency, batch_size, pixels_per_step)
    with explaining(model), torch.no_grad():
        classes, original_scores = _classes_and_scores(model, x, class_idx, batch_size)
        deleted = torch.zeros_like(x)  # 0 in normalised space: the colour `mean` (mid-grey for Lite0)
        return _perturbation_curves(
            model, x, deleted, saliency, classes, pixels_per_step, batch_size, original_scores, original_step=0
        )


def rise_blur_kernel(kernel_size: int = 11, sigma: float = 5.0, truncate: float = 4.0) -> Tensor:
    """RISE's blur kernel, built the way RISE's evaluation code builds it: (kernel_size, kernel_size), float64.

    RISE (``gkern`` in ``evaluation.py`` of github.com/eclique/RISE) puts a single 1 in the centre of a
    ``kernel_size`` x ``kernel_size`` array of zeros and smooths it with ``scipy.ndimage.gaussian_filter(sigma)``.
    That filter is a Gaussian truncated at ``radius = int(truncate * sigma + 0.5)`` (20 for sigma 5), applied
    along each axis with scipy's ``'reflect'`` boundary (``d c b a | a b c d | d c b a``). With a radius larger
    than the array, the Gaussian's tails fold back into it, several times over, so the kernel is much flatter
    than a Gaussian sampled on 11 x 11 points: for 11 x 11 and sigma 5 the edge of its middle row is 0.94 of
    its centre, against exp(-25 / 50) = 0.61 for ``torchvision``'s ``gaussian_blur`` kernel. It still sums to 1.

    The same computation without scipy: along one axis, output position ``i`` collects the Gaussian weight of
    every offset ``d`` (``|d| <= radius``) whose reflected source position ``i + d`` is the centre; the 2-D
    kernel is the outer product of that 1-D kernel with itself (the filter and the single 1 are separable).
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"blur_kernel_size must be a positive odd integer, got {kernel_size!r}.")
    if not sigma > 0:
        raise ValueError(f"blur_sigma must be positive, got {sigma!r}.")
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1)  # (2r+1,)
    weights = torch.exp(-0.5 * (offsets.double() / sigma) ** 2)
    weights = weights / weights.sum()  # the truncated, normalised Gaussian
    period = 2 * kernel_size  # 'reflect' repeats with period 2n: a b c d | d c b a | a b c d ...
    source = (torch.arange(kernel_size)[:, None] + offsets[None, :]) % period  # (n, 2r+1)
    source = torch.where(source >= kernel_size, period - 1 - source, source)  # fold back into 0 .. n-1
    kernel_1d = (weights[None, :] * (source == kernel_size // 2)).sum(dim=1)  # (n,)
    return torch.outer(kernel_1d, kernel_1d)  # (n, n)


def rise_blur(x: Tensor, kernel_size: int = 11, sigma: float = 5.0) -> Tensor:
    """Blur a batch (N, C, H, W) as RISE's insertion metric does: (N, C, H, W).

    Each channel is convolved with :func:`rise_blur_kernel` (``conv2d(x, kern, padding=klen // 2)`` in RISE's
    code: zero padding, so the border is pulled towards 0, the colour ``mean`` in normalised space). Apply it to
    the normalised image, as RISE does.
    """
    channels = x.shape[1]
    kernel = rise_blur_kernel(kernel_size, sigma).to(dtype=x.dtype, device=x.device)
    weight = kernel.expand(channels, 1, kernel_size, kernel_size)  # one kernel per channel, no mixing
    return F.conv2d(x, weight, padding=kernel_size // 2, groups=channels)


def insertion_curve(
    model: torch.nn.Module,
    x: Tensor,
    saliency: Tensor,
    class_idx: ClassIndex = None,
    pixels_per_step: int = 224,
    batch_size: int = 32,
    blur_kernel_size: int = 11,
    blur_sigma: float = 5.0,
) -> list[Curve]:
    """Insertion curves (RISE, Petsiuk et al. 2018): reveal the most salient pixels first.

    Start from a blurred copy of x: the normalised image blurred as in RISE's code, an 11x11 kernel
    built from a Gaussian of sigma 5 the way RISE builds it and a zero-padded convolution
    (:func:`rise_blur`; the kernel is much flatter than a Gaussian sampled on 11x11 points, see
    :func:`rise_blur_kernel`). Step by step,
    ``pixels_per_step`` more of the top-ranked original pixels are put back, and the softmax
    probability of the class is recorded. A faithful map makes it rise fast: a high AUC.
    The last point is x itself, whose score is computed once with the class choice: S forward
    passes per curve for S steps.

    Args:
        model: classifier returning logits (N, num_classes).
        x: (N, C, H, W) normalised images (one curve per image).
        saliency: (N, h, w) maps, any resolution.
        class_idx: None (each image's top-1 on x), an int, or one index per image.
        pixels_per_step: pixels switched per step.
        batch_size: perturbed images per forward pass.
        blur_kernel_size: odd side of RISE's blur kernel.
        blur_sigma: standard deviation of the Gaussian that RISE's kernel is built from, in pixels.

    Returns:
        One :class:`Curve` per image.

    The model is run at eval behaviour without gradients; its flags and weights are untouched.
    """
    saliency = _check_batch(x, saliency, batch_size, pixels_per_step)
    rise_blur_kernel(blur_kernel_size, blur_sigma)  # validates both before the model runs
    with explaining(model), torch.no_grad():
        classes, original_scores = _classes_and_scores(model, x, class_idx, batch_size)
        blurred = rise_blur(x, blur_kernel_size, blur_sigma)  # (N, C, H, W)
        n_steps = -(-x.shape[2] * x.shape[3] // pixels_per_step)
        return _perturbation_curves(
            model, blurred, x, saliency, classes, pixels_per_step, batch_size, original_scores, original_step=n_steps
        )


@dataclass
class ConfidenceChange:
    """Average drop and increase in confidence (Chattopadhay et al., Grad-CAM++, WACV 2018).

    Attributes:
        average_drop: mean over images of max(0, Y_c - O_c) / Y_c, in percent (lower is better).
        increase_in_confidence: percentage of images with O_c > Y_c (higher is better).
        original_scores: (N,) Y_c, softmax probability of the class on the image.
        explanation_scores: (N,) O_c, the same on the explanation image E = image * map.
    """

    average_drop: float
    increase_in_confidence: float
    original_scores: Tensor
    explanation_scores: Tensor


def average_drop_increase(
    model: torch.nn.Module,
    x: Tensor,
    saliency: Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    class_idx: ClassIndex = None,
    batch_size: int = 32,
) -> ConfidenceChange:
    """Average Drop % and Increase in Confidence % of saliency maps.

    The explanation image keeps each pixel in proportion to the map: E = image * L, with L
    upsampled (bilinear) to the image size and min-max normalised to [0, 1] per image (a
    constant map becomes 0: it shows nothing). The product is taken in *pixel* space, not in
    normalised space, where multiplying by 0 would give the colour ``mean`` (mid-grey for
    EfficientNet-Lite0) instead of black:

        pixels = x * std + mean;   E = pixels * L;   x_E = (E - mean) / std.

    Y_c and O_c are the softmax probabilities of the class on x and on x_E. Average drop counts only
    losses: an image whose explanation is *more* convincing (O_c > Y_c) adds 0, however large the gain,
    so report the raw changes ``explanation_scores - original_scores`` next to it. The Grad-CAM++ paper
    writes E = L ∘ I (whether it names the space was not checked); pytorch-grad-cam multiplies the *normalised* tensor
    instead (a 0 of the map becomes the colour ``mean``), which gives other numbers (notebook 08).

    Args:
        model: classifier returning logits (N, num_classes).
        x: (N, C, H, W) normalised images.
        saliency: (N, h, w) maps, any resolution.
        mean, std: per-channel normalisation of x, e.g. (0.5,)*3 and (0.5,)*3 for
            EfficientNet-Lite0, ImageNet's (0.485, 0.456, 0.406) and (0.229, 0.224, 0.225)
            for the torchvision models.
        class_idx: None (each image's top-1 on x), an int, or one index per image.
        batch_size: images per forward pass.

    The model is run at eval behaviour without gradients; its flags and weights are untouched.
    """
    saliency = _check_batch(x, saliency, batch_size)
    channels = x.shape[1]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}.")
    if any(s <= 0 for s in std):
        raise ValueError(f"std values must be positive, got {tuple(std)}.")
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]

    maps = _resize(saliency, tuple(x.shape[-2:]))  # (N, H, W)
    low = maps.flatten(1).amin(dim=1)[:, None, None]
    high = maps.flatten(1).amax(dim=1)[:, None, None]
    spread = high - low
    maps = torch.where(
        spread > 0, (maps - low) / spread.clamp(min=torch.finfo(maps.dtype).tiny), torch.zeros_like(maps)
    )
    pixels = x * std_t + mean_t  # (N, C, H, W) in pixel space
    explanation = (pixels * maps[:, None].to(x.dtype) - mean_t) / std_t  # x_E, normalised again

    with explaining(model), torch.no_grad():
        classes, original = _classes_and_scores(model, x, class_idx, batch_size)  # Y_c: (N,)
        _, explained = _classes_and_scores(model, explanation, classes, batch_size)  # O_c: (N,)
    drop = (original - explained).clamp(min=0) / original.clamp(min=torch.finfo(original.dtype).tiny)
    return ConfidenceChange(
        average_drop=100 * drop.mean().item(),
        increase_in_confidence=100 * (explained > original).float().mean().item(),
        original_scores=original,
        explanation_scores=explained,
    )

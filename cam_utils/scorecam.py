"""Score-CAM (Wang et al., CVPR-W 2020): each channel as a mask on the input, no gradients.

Its one home (``from cam_utils import score_cam`` or ``cam_utils.scorecam``). The masked forward
passes dominate the cost (one per channel: 1280 for EfficientNet-Lite0's last layer), so they
run in the configuration that ``benchmarks/bench_scorecam.py`` found fastest on a 2-core CPU
with the same maps, bit for bit (see ``ScoreCamSettings``).
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ._checks import ClassIndex, resolve_class_idx
from ._layers import unwrap_compiled_layer
from .errors import ComputationCancelledError
from .hooks import forward_recording
from .model_state import explaining
from .postprocess import normalize, upsample
from .tokens import Reshape

__all__ = ["PROGRESS_AUTO_MIN_BATCHES", "Progress", "ProgressCallback", "ScoreCamSettings", "score_cam"]

#: ``score_cam(progress=None)`` shows progress only when there are more batches than this.
PROGRESS_AUTO_MIN_BATCHES = 20

#: ``progress(done, total)``: called with 0 before the first masked forward pass and after each batch,
#: ``done`` and ``total`` counting the channels that get a forward pass. Returning False stops the
#: computation (:class:`~cam_utils.errors.ComputationCancelledError`); None or True goes on.
ProgressCallback = Callable[[int, int], bool | None]
#: What ``progress=`` takes: True (a text bar on stderr), False (silent), None (a bar only for long runs),
#: or a :data:`ProgressCallback`.
Progress = bool | None | ProgressCallback


@dataclass(frozen=True)
class ScoreCamSettings:
    """How the masked forward passes run; none of these changes the maps (the benchmark checks it).

    Attributes:
        inference_mode: run them under ``torch.inference_mode()`` (no autograd bookkeeping at all)
            rather than ``torch.no_grad()``.
        channels_last: hand the masked batch to the model in channels-last memory format.
        skip_constant: no forward pass for a channel whose map is constant: its weight is 0 anyway.
    """

    inference_mode: bool = True
    channels_last: bool = False
    skip_constant: bool = True


#: The configuration score_cam uses (the fastest exact one in benchmarks/bench_scorecam.py).
DEFAULT_SETTINGS = ScoreCamSettings()


def _check_progress(progress: object) -> None:
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(
            f"progress must be True, False, None (automatic) or a function progress(done, total), got {progress!r}."
        )


def _text_bar(total: int) -> Any:
    """A tqdm bar on stderr: ``Score-CAM:  40%|████      | 512/1280 channels [00:20 elapsed, 00:30 left]``."""
    return tqdm(
        total=total,
        desc="Score-CAM",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} channels [{elapsed} elapsed, {remaining} left]",
    )


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer (masked images per forward pass), got {batch_size!r}. "
            "Use e.g. batch_size=4 (64 on a GPU); lower it if you run out of memory."
        )
    return int(batch_size)


def score_cam(
    model: nn.Module,
    x: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: ClassIndex = None,
    batch_size: int = 4,
    progress: Progress = False,
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

    The weights are those of the authors' released code (``cam/scorecam.py`` of haofanwang/Score-CAM):
    α_k^c = softmax(model(x ⊙ H^k))_c, the class probability of the masked image, with no baseline
    and no normalisation across channels. Where this function differs from the paper and from that code:

    * the paper (Wang et al., CVPR-W 2020) defines the weight as an increase of confidence over a
      baseline image x_b, f_c(x ⊙ H^k) − f_c(x_b) (its Definition 2). One baseline gives every channel
      the same f_c(x_b) = p_b, so without further normalisation that map is ReLU(Σ_k α_k^c A^k − p_b Σ_k A^k):
      it agrees with this one when p_b is small (notebook 07 measures p_b). The paper's Algorithm 1 then
      normalises the channel scores with a softmax over the channels, which removes p_b exactly (a softmax
      does not change when the same number is subtracted from all its inputs) but reshapes the weights;
      pytorch-grad-cam and torchcam take that softmax over the masked images' *logits*. This function
      takes no softmax over the channels;
    * the released code adds score × the *upsampled raw* A^k at input resolution, then applies the ReLU
      and min-max normalises. This function applies the ReLU at the layer's resolution and returns that
      map; the maps agree up to the order of ReLU and bilinear upsampling (the weighted sum commutes with
      the upsampling, the ReLU does not): after ``normalize(upsample(...))`` they differ by up to 0.34 at
      Lite0's ``blocks.2`` on the cat-and-coffee photo (0.015 on average; notebook 07). The map at the
      layer's resolution keeps ``score_cam``'s signature and contract the same as ``grad_cam``'s;
    * the mask multiplies the *normalised* input (the tensor the model receives), so a
      masked-out pixel becomes 0 in normalised space, the colour ``mean`` of the model's
      normalisation: mid-grey for EfficientNet-Lite0 (mean = std = 0.5), ImageNet's mean colour
      for ImageNet-normalised models;
    * a channel whose map is constant carries no spatial information (its mask would be all
      zeros) and gets weight 0, without a forward pass.

    Cost: one forward pass per non-constant channel (up to 1280 per image for EfficientNet-Lite0's
    last layer), in batches of ``batch_size`` masked images under ``torch.inference_mode()`` at
    inference behaviour.

    Args:
        model, x, target_layer, class_idx, reshape: as for :func:`~cam_utils.gradcam.grad_cam`.
        batch_size: masked images per forward pass (the result is the same). 4 is the fastest on
            a 2-core CPU: a batch of 4 masked images keeps the activations of one layer within the
            caches, and a forward pass costs half as much per image as in batches of 16
            (benchmarks/bench_scorecam.py); raise it on a GPU (e.g. 64).
        progress: True shows a text progress bar (tqdm) on stderr, channels done and time left; None
            shows it only when there are more than ``PROGRESS_AUTO_MIN_BATCHES`` batches; False (default)
            is silent; a function ``progress(done, total)`` (:data:`ProgressCallback`) is called with the
            channels done instead, and stops the computation by returning False.

    Raises:
        ComputationCancelledError (a RuntimeError): the progress function returned False. Its ``value`` is
        ``(done, total)``; the model is as before the call.

    The model is left untouched, also when stopped or interrupted (Ctrl-C), and also from several threads
    (see :mod:`cam_utils.model_state`): the model's lock is taken batch by batch, so another thread's
    explaining call on the same model (the explorer's Grad-CAM) runs between two batches rather than
    after the last one.
    """
    batch_size = _check_batch_size(batch_size)
    _check_progress(progress)
    model, target_layer = unwrap_compiled_layer(model, target_layer)  # torch.compile: the original module
    feature_maps, logits = forward_recording(model, x, target_layer, reshape)  # (N, C, h, w), (N, classes)
    class_idx = resolve_class_idx(class_idx, logits)  # (N,)
    channel_weights = masked_scores(model, x, feature_maps, class_idx, batch_size, progress)  # (N, C)
    # L^c = ReLU(Σ_k α_k^c A^k)
    weighted_sum = torch.einsum("nc,nchw->nhw", channel_weights, feature_maps)  # (N, h, w)
    return torch.relu(weighted_sum)


def masked_scores(
    model: nn.Module,
    x: torch.Tensor,
    feature_maps: torch.Tensor,
    class_idx: torch.Tensor,
    batch_size: int,
    progress: Progress = False,
    settings: ScoreCamSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """Score-CAM's channel weights α_k^c = softmax(model(x ⊙ H^k))_c, 0 for constant channels: (N, C).

    Internal (the benchmark calls it with other ``settings``); ``score_cam`` is the public entry.
    """
    num_images, num_channels = feature_maps.shape[:2]
    # Every forward pass gets the same batch shape, min(batch_size, C) images, as when every channel is
    # sent: a shorter batch may take other kernels in PyTorch, with other roundings. So a short batch is
    # padded with zero images; skipping constant channels then changes no other channel's weight.
    full_batch = min(batch_size, num_channels)
    # A constant channel has no contrast: no mask, weight 0.
    informative = feature_maps.amax(dim=(2, 3)) > feature_maps.amin(dim=(2, 3))  # (N, C)
    if settings.skip_constant:
        channel_lists = [informative[image].nonzero().squeeze(1) for image in range(num_images)]
    else:
        channel_lists = [torch.arange(num_channels, device=x.device) for _ in range(num_images)]
    total_batches = sum(-(-len(channels) // batch_size) for channels in channel_lists)  # Σ ceil(C' / batch_size)
    total = sum(len(channels) for channels in channel_lists)  # the channels that get a forward pass
    show_bar = progress if isinstance(progress, bool) or progress is None else False
    if show_bar is None:
        show_bar = total_batches > PROGRESS_AUTO_MIN_BATCHES
    callback = None if isinstance(progress, bool) or progress is None else progress

    channel_weights = torch.zeros(num_images, num_channels, dtype=feature_maps.dtype, device=feature_maps.device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    done, bar = 0, None
    try:
        bar = _text_bar(total) if show_bar and total else None  # drawn at once: the last step before the loop
        if callback is not None and callback(0, total) is False:
            raise _cancelled(0, total)
        for image, channels in enumerate(channel_lists):
            for start in range(0, len(channels), batch_size):
                batch = channels[start : start + batch_size]  # (B,) channel indices
                probabilities = _masked_probabilities(
                    model, x[image], feature_maps[image, batch], full_batch, memory_format, settings
                )  # (B, classes)
                # α_k^c = softmax(model(x ⊙ H^k))_c
                channel_weights[image, batch] = probabilities[:, class_idx[image]].to(channel_weights.dtype)
                done += len(batch)
                if bar is not None:
                    bar.update(len(batch))
                if callback is not None and callback(done, total) is False and done < total:
                    raise _cancelled(done, total)
    except BaseException:
        if bar is not None:
            bar.leave = False  # stopped (Ctrl-C, an error): the bar goes, the caller's one message stays
        raise
    finally:
        if bar is not None:
            bar.close()
    return torch.where(informative, channel_weights, torch.zeros_like(channel_weights))


def _masked_probabilities(
    model: nn.Module,
    image: torch.Tensor,
    feature_maps: torch.Tensor,
    full_batch: int,
    memory_format: torch.memory_format,
    settings: ScoreCamSettings,
) -> torch.Tensor:
    """softmax(model(x ⊙ H^k)) for the B channels ``feature_maps`` (B, h, w) of one image (3, H, W): (B, classes).

    The model's lock is held for this one forward pass (inside ``explaining``), not for the whole run.
    """
    grad_context = torch.inference_mode() if settings.inference_mode else torch.no_grad()
    with grad_context:
        # H^k = normalize(upsample(A^k)), one mask per channel of this batch
        masks = normalize(upsample(feature_maps, (int(image.shape[1]), int(image.shape[2]))))  # (B, H, W) in [0, 1]
        masked_inputs = image * masks[:, None]  # (B, 3, H, W)
        if len(masks) < full_batch:  # pad to (full_batch, 3, H, W) with zero images
            padding = masked_inputs.new_zeros(full_batch - len(masks), *masked_inputs.shape[1:])
            masked_inputs = torch.cat([masked_inputs, padding])
        masked_inputs = masked_inputs.contiguous(memory_format=memory_format)
        with explaining(model, report_mode_change=True):
            logits = model(masked_inputs)  # (full_batch, classes)
        return torch.softmax(logits, dim=1)[: len(masks)]


def _cancelled(done: int, total: int) -> ComputationCancelledError:
    return ComputationCancelledError(
        f"Score-CAM was stopped after {done} of {total} channels.",
        value=(done, total),
        suggestion="Nothing was kept: call it again to compute the map.",
    )

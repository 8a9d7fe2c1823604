"""Re-initialising part of a network so that it still computes something: the randomisation itself.

A sanity check that replaces learned weights by random ones must leave a network whose
activations are *alive*: if they shrink to almost nothing, every later map is computed from
numerical dust and the check no longer tests the method. Two things keep them alive:

1. **Each layer at its proper scale.** :func:`randomize_parameters` re-initialises weights with
   He et al.'s (2015, "Kaiming") forward rule: a weight tensor with fan_in inputs per output gets
   N(0, 2 / fan_in), which keeps the second moment of the activations constant through a
   convolution followed by a ReLU. Biases start at 0, normalisation layers at scale 1 and shift 0.
   This is one rule for every architecture, not each model's own initialisation: timm, for
   example, initialises EfficientNet's convolutions with N(0, 2 / fan_out) and its classifier
   with U(+-1/sqrt(outputs)). Before a BatchNorm layer whose statistics are re-estimated, a
   convolution's scale divides out, so fan_in or fan_out gives the same maps (Lite0 at ``bn2``:
   rank correlation >= 0.97 at every stage of the cascade).
2. **BatchNorm statistics that match the weights.** A BatchNorm layer divides by the running
   standard deviation it saw *in training*. With new weights before it, those statistics are
   wrong, and through a deep network the error compounds (scale collapse). So the running
   statistics of every BatchNorm layer whose input changed are re-estimated on the images
   (:func:`reestimate_batchnorm`; :func:`estimating_batchnorm` does it inside the forward pass
   that explains them, at no extra cost).

:func:`feature_scale` measures the result: the per-channel spatial standard deviation of a
feature map, averaged over channels. Print it next to every correlation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..model_state import explaining

# Normalisation layers: weight (scale) 1 and bias (shift) 0 at initialisation.
_NORMALISATION_LAYERS = (_BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)


def randomize_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every parameter of ``module`` (in place!) with Kaiming's rule, from ``generator``.

    * weights with 2 or more dimensions (convolutions, linear layers, embeddings):
      N(0, std^2) with std = sqrt(2 / fan_in), fan_in = inputs per output unit (He/Kaiming normal;
      for a depthwise 3x3 convolution fan_in = 9);
    * biases and other 1-D parameters: 0;
    * normalisation layers (BatchNorm, GroupNorm, LayerNorm): scale 1, shift 0; a BatchNorm's
      running statistics are reset to mean 0, variance 1 (re-estimate them with
      :func:`reestimate_batchnorm`).

    Use only on a copy of a model. Deterministic given the generator's state.
    """
    with torch.no_grad():
        for layer in module.modules():
            for name, parameter in layer.named_parameters(recurse=False):
                if isinstance(layer, _NORMALISATION_LAYERS):
                    parameter.fill_(1.0 if name == "weight" else 0.0)
                elif parameter.dim() >= 2:
                    fan_in = parameter[0].numel()
                    std = math.sqrt(2.0 / fan_in)  # Kaiming: Var(w) = 2 / fan_in
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
                else:
                    parameter.zero_()
            if isinstance(layer, _BatchNorm) and layer.track_running_stats:
                layer.reset_running_stats()


def batchnorm_layers(module: nn.Module) -> list[_BatchNorm]:
    """Every BatchNorm layer inside ``module`` (itself included) that keeps running statistics."""
    return [layer for layer in module.modules() if isinstance(layer, _BatchNorm) and layer.track_running_stats]


def _set_statistics_from_input(layer: _BatchNorm, inputs: Tensor) -> None:
    """running_mean, running_var <- mean and unbiased variance of ``inputs`` per channel."""
    values_per_channel = inputs.numel() // inputs.shape[1]
    if values_per_channel < 2:
        raise ValueError(
            "Cannot re-estimate BatchNorm statistics: a layer sees only one value per channel. "
            "Pass more images (or larger ones), or reestimate_batchnorm=False."
        )
    with torch.no_grad():
        # A training-mode batch norm with momentum 1 sets running_mean to the batch mean and running_var
        # to the unbiased batch variance (PyTorch's fast kernel; the normalised output is not needed).
        F.batch_norm(inputs.detach(), layer.running_mean, layer.running_var, training=True, momentum=1.0)


@contextmanager
def estimating_batchnorm(model: nn.Module, layers: Sequence[_BatchNorm], x: Tensor) -> Iterator[None]:
    """Inside the block, the first forward pass of ``model`` re-estimates the statistics of ``layers`` on ``x``.

    Each layer, when it runs, first sets its running mean and variance to the mean and (unbiased)
    variance of its own input over the images and the positions, then normalises with them in
    eval mode. The layers run in forward order, so each one sees inputs already normalised by the
    re-estimated layers before it. This costs nothing extra when that forward pass is on ``x``
    itself (an explanation of ``x`` runs one anyway); if the first forward pass is on another
    input, or a submodule runs on its own, a forward pass of the model on ``x`` runs first.
    After that the statistics stay fixed.
    """
    if not layers:  # nothing to estimate: no hooks, no extra forward pass
        yield
        return
    state = {"active": False, "done": False}

    def estimate_now() -> None:
        state["active"] = True
        try:
            with torch.no_grad():
                model(x)  # re-enters the hooks below, which estimate layer by layer
        finally:
            state["active"], state["done"] = False, True

    def start(module: nn.Module, args: tuple[Any, ...]) -> None:
        if state["done"] or state["active"]:
            return
        if args and args[0] is x:
            state["active"] = True  # this very forward pass estimates, as it goes
        else:
            estimate_now()  # another input: estimate on x first

    def finish(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if state["active"]:
            state["active"], state["done"] = False, True

    def estimate(layer: _BatchNorm, args: tuple[Any, ...]) -> None:
        if state["active"]:
            _set_statistics_from_input(layer, args[0])
        elif not state["done"]:
            estimate_now()  # a submodule called on its own (not through model.forward)

    handles = [model.register_forward_pre_hook(start), model.register_forward_hook(finish)]
    handles += [layer.register_forward_pre_hook(estimate) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def reestimate_batchnorm(model: nn.Module, layers: Sequence[_BatchNorm], x: Tensor) -> None:
    """Replace the running statistics of ``layers`` (in place!) by those of their inputs on the images ``x``.

    One forward pass of ``x`` at inference behaviour (:func:`estimating_batchnorm`): each layer's
    running mean and variance become the mean and unbiased variance of its input over the batch
    and the positions, after the layers before it have been re-estimated.

    Raises:
        ValueError: a layer sees a single value per channel (one image, 1 x 1 map); pass more images.
    """
    with estimating_batchnorm(model, layers, x), explaining(model), torch.no_grad():
        model(x)


def feature_scale(feature_maps: Tensor) -> Tensor:
    """The scale of a feature map, image by image: (N, C, h, w) -> (N,).

    scale_n = (1/C) sum_k std_ij(A^k_ij): the spatial standard deviation of each channel, averaged
    over the channels. It is what a map built from A can vary by; when a randomised network's
    activations collapse, it falls towards 0.
    """
    if feature_maps.dim() != 4:
        raise ValueError(f"feature_scale expects (N, C, h, w) feature maps, got shape {tuple(feature_maps.shape)}.")
    return feature_maps.detach().double().std(dim=(2, 3)).mean(dim=1)  # (N,)

"""Captum, pytorch-grad-cam and torchcam run on a model, with what they computed on the way captured.

pytorch-grad-cam returns min-max normalised maps resized to the input; torchcam applies its ReLU before returning.
To compare the definitions rather than the presentation, the runs here also capture each library's raw map at the
layer's resolution, its channel weights, and the activations and gradients it read (by wrapping the library's own
methods on the instance; nothing is copied from the libraries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tests.libraries import require_library


def captum_grad_cam(model: nn.Module, x: torch.Tensor, layer: str, classes: list[int]) -> torch.Tensor:
    """Captum's ``LayerGradCam`` with its ReLU: (N, h, w), the layer's resolution."""
    attr = require_library("captum.attr")
    maps = attr.LayerGradCam(model, model.get_submodule(layer)).attribute(x, target=classes, relu_attributions=True)
    return maps[:, 0].detach()  # (N, 1, h, w) -> (N, h, w)


def captum_gradient_x_activation(
    model: nn.Module, x: torch.Tensor, layer: str, classes: list[int], multiply: bool = True
) -> torch.Tensor:
    """Captum's ``LayerGradientXActivation``: ∂y^c/∂A ⊙ A, or ∂y^c/∂A alone with ``multiply=False``: (N, C, h, w)."""
    attr = require_library("captum.attr")
    method = attr.LayerGradientXActivation(model, model.get_submodule(layer), multiply_by_inputs=multiply)
    return method.attribute(x, target=classes).detach()


@dataclass
class LibraryRun:
    """What one library computed for one batch.

    Attributes:
        output: what the library returns (pytorch-grad-cam: (N, H, W) normalised and resized; torchcam: (N, h, w)).
        raw_map: (N, h, w) Σ_k w_k A^k (or the element-wise sum) before any ReLU or normalisation.
        weights: (N, C) the channel weights, None for HiResCAM.
        activations: (N, C, h, w) the layer output the library used as A.
        gradients: (N, C, h, w) the gradients it used, None for Score-CAM.
    """

    output: torch.Tensor
    raw_map: torch.Tensor
    weights: torch.Tensor | None
    activations: torch.Tensor
    gradients: torch.Tensor | None


def _tensor(values: Any) -> torch.Tensor:
    return torch.as_tensor(values).detach().clone()


def _capture(instance: Any, method_name: str, into: dict[str, torch.Tensor], key: str) -> None:
    """Wrap ``instance.method_name`` so that its (first) return value is kept in ``into[key]``."""
    original: Callable[..., Any] = getattr(instance, method_name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        into[key] = _tensor(result[0] if isinstance(result, list) else result)
        return result

    setattr(instance, method_name, wrapper)


def pytorch_grad_cam_run(
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    classes: list[int],
    softmax_target: bool = False,
) -> LibraryRun:
    """pytorch-grad-cam's ``method`` ("GradCAM", "GradCAMPlusPlus", "HiResCAM", "ScoreCAM") for ``classes``.

    ``softmax_target``: explain the softmax probability (``ClassifierOutputSoftmaxTarget``) instead of the logit,
    as cam_utils' Score-CAM does.
    """
    library = require_library("pytorch_grad_cam")
    targets_module = require_library("pytorch_grad_cam.utils.model_targets")
    target_type = (
        targets_module.ClassifierOutputSoftmaxTarget if softmax_target else targets_module.ClassifierOutputTarget
    )
    cam = getattr(library, method)(model=model, target_layers=[model.get_submodule(layer)])
    captured: dict[str, torch.Tensor] = {}
    _capture(cam, "get_cam_image", captured, "raw_map")
    if method != "HiResCAM":  # HiResCAM's get_cam_image has no channel weights
        _capture(cam, "get_cam_weights", captured, "weights")
    try:
        output = cam(input_tensor=x, targets=[target_type(c) for c in classes])
        recorded = cam.activations_and_grads
        gradients = _tensor(recorded.gradients[0]) if recorded.gradients else None
        activations = _tensor(recorded.activations[0])
    finally:
        cam.activations_and_grads.release()  # the hooks go
    return LibraryRun(_tensor(output), captured["raw_map"], captured.get("weights"), activations, gradients)


def torchcam_run(
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    classes: list[int],
    targets: list[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    **options: Any,
) -> LibraryRun:
    """torchcam's ``method`` ("GradCAM", "GradCAMpp", "ScoreCAM"), unnormalised, for ``classes`` (or ``targets``:
    one function of an image's logits per image)."""
    methods = require_library("torchcam.methods")
    captured: dict[str, torch.Tensor] = {}
    with getattr(methods, method)(model, layer, input_shape=tuple(x.shape[1:]), **options) as extractor:
        _capture(extractor, "_get_weights", captured, "weights")
        scores = model(x)
        selection: dict[str, Any] = {"class_idx": classes} if targets is None else {"targets": targets}
        (output,) = extractor(scores=scores, normalized=False, **selection)
        activations = _tensor(extractor.hook_a[0])
        hooked_gradients = getattr(extractor, "hook_g", [None])[0]
    gradients = None if hooked_gradients is None else _tensor(hooked_gradients)
    weights = captured["weights"]
    raw_map = torch.einsum("nc,nchw->nhw", weights, activations)  # torchcam's own sum, before its ReLU
    return LibraryRun(_tensor(output), raw_map, weights, activations, gradients)

"""The explorer's method menu: a registry name -> :class:`Method`; adding a variant is one entry.

A method receives a :class:`MapRequest` (the model, the image, the layer, the cached forward pass
split at that layer, the class) and returns the raw map (1, h, w) at that layer, before any
normalisation. Methods computed from the cached forward (``*_from_forward``) answer as fast as
Grad-CAM: no forward pass of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from cam_utils.cam import cam_from_features
from cam_utils.gradcam import grad_cam_from_forward
from cam_utils.hooks import LayerForward
from cam_utils.models import LoadedModel
from cam_utils.variants import (
    grad_cam_plus_plus_from_forward,
    hires_cam_from_forward,
    score_cam,
)

__all__ = ["METHODS", "MapRequest", "Method"]


@dataclass(frozen=True)
class MapRequest:
    """Everything a method may use to compute one map.

    Attributes:
        net: the loaded model.
        x: (1, 3, H, W) the preprocessed image.
        layer: dotted name of the layer the map lives at.
        forward: the cached forward pass split at ``layer`` (A and the logits, graph kept).
        class_idx: the class c to explain.
    """

    net: LoadedModel
    x: torch.Tensor
    layer: str
    forward: LayerForward
    class_idx: int


@dataclass(frozen=True)
class Method:
    """One entry of the method menu.

    Attributes:
        compute: MapRequest -> raw map (1, h, w) at the request's layer (not normalised).
        feature_layer_only: True when the method only exists at the model's feature layer, and only for a
            network with a GAP head (CAM: its class weights act on that layer's channels).
        slow: True for methods that run their own forward passes (Score-CAM: one per channel),
            which take seconds rather than milliseconds at deep layers. The explorer says so
            while it computes.
    """

    compute: Callable[[MapRequest], torch.Tensor]
    feature_layer_only: bool = False
    slow: bool = False


def _cam(request: MapRequest) -> torch.Tensor:
    """CAM on the cached feature maps: M_c = Σ_k w_k^c A^k (no forward, no gradient)."""
    feature_maps = request.forward.feature_maps.detach()  # (1, C, h, w), A
    class_weights = request.net.classifier.weight.detach()[request.class_idx].unsqueeze(0)  # (1, C), w^c
    return cam_from_features(feature_maps, class_weights)  # (1, h, w)


def _grad_cam(request: MapRequest) -> torch.Tensor:
    """Grad-CAM on the cached forward: one backward pass from y^c to A."""
    return grad_cam_from_forward(request.forward, class_idx=request.class_idx)  # (1, h, w)


def _counterfactual_grad_cam(request: MapRequest) -> torch.Tensor:
    """Grad-CAM with negated gradients: where the evidence *against* class c lies."""
    return grad_cam_from_forward(request.forward, class_idx=request.class_idx, counterfactual=True)


#: The method menu, in display order: name -> Method. A variant is one line. A function with
#: grad_cam's signature also works, e.g. ``Method(lambda r: my_cam(r.net.model, r.x, r.layer, r.class_idx))``,
#: at the price of its own forward pass(es). Score-CAM is such a method: it needs one forward
#: pass per channel of the layer (seconds at Lite0's 1280-channel bn2), so it is marked slow;
#: its maps are cached like the others, so a second visit is instant.
METHODS: dict[str, Method] = {
    "CAM": Method(_cam, feature_layer_only=True),
    "Grad-CAM": Method(_grad_cam),
    "Counterfactual Grad-CAM": Method(_counterfactual_grad_cam),
    "Grad-CAM++": Method(lambda request: grad_cam_plus_plus_from_forward(request.forward, request.class_idx)),
    "HiResCAM": Method(lambda request: hires_cam_from_forward(request.forward, request.class_idx)),
    "Score-CAM": Method(
        lambda request: score_cam(
            request.net.model, request.x, request.layer, request.class_idx, reshape=request.net.reshape
        ),
        slow=True,
    ),
}

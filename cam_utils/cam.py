"""CAM: Class Activation Mapping (Zhou et al., CVPR 2016), step by step.

Some networks end like this: the last convolutional layer gives C feature maps
A^1..A^C of size h×w; global average pooling (GAP) turns each map into one number;
one linear layer turns those C numbers into class scores:

    y^c = Σ_k w_k^c · (1/Z) Σ_ij A^k_ij + b_c            (Z = h·w)

Swap the two sums and the score becomes the average of one map:

    M_c(i, j) = Σ_k w_k^c A^k_ij          (the class activation map)
    y^c       = (1/Z) Σ_ij M_c(i, j) + b_c = mean(M_c) + b_c

So M_c says, position by position, how much that part of the image adds to the
score of class c. This is exact, with no approximation — but only for networks that
end in GAP + one linear layer. For the others use ``grad_cam``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ._checks import ClassIndex, resolve_class_idx, resolve_layer
from ._layers import unwrap_compiled_layer
from .errors import NotGapNetworkError
from .hooks import forward_recording
from .tokens import Reshape


def cam_from_features(
    feature_maps: torch.Tensor, class_weights: torch.Tensor, *, reshape: Reshape | None = None
) -> torch.Tensor:
    """M_c = Σ_k w_k^c A^k for one class per image: (N, C, h, w) × (N, C) -> (N, h, w).

    ``class_weights[n]`` is the row of the linear layer's weight for image n's class.
    Used by the explorer to recompute a map for a new class without a forward pass.
    ``reshape``: applied to ``feature_maps`` first, for a transformer's tokens (N, tokens, C)
    (e.g. ``vit_reshape``).
    """
    if reshape is not None:
        feature_maps = reshape(feature_maps)  # (N, tokens, C) -> (N, C, h, w)
    if feature_maps.dim() != 4 or class_weights.dim() != 2 or class_weights.shape != feature_maps.shape[:2]:
        raise ValueError(
            f"feature_maps must be (N, C, h, w) and class_weights (N, C); got "
            f"{tuple(feature_maps.shape)} and {tuple(class_weights.shape)}. Pick the weight rows "
            "with classifier.weight[class_idx]."
        )
    # M_c(i, j) = Σ_k w_k^c A^k_ij
    return torch.einsum("nchw,nc->nhw", feature_maps, class_weights)


def _check_gap_classifier(
    classifier: nn.Linear,
    classifier_name: str,
    feature_maps: torch.Tensor,
    logits: torch.Tensor,
) -> None:
    """Check that ``logits == GAP(A) · Wᵀ + b``, i.e. that CAM is exact for this model."""

    def not_gap(problem: str) -> NotGapNetworkError:
        return NotGapNetworkError(
            f"{problem} CAM needs a network whose feature layer is followed by global average pooling and "
            "one linear layer (the classifier).",
            value=classifier_name,
            suggestion="Use grad_cam(model, x, target_layer) for other networks.",
        )

    num_channels = feature_maps.shape[1]
    if classifier.in_features != num_channels:
        raise not_gap(
            f"Classifier '{classifier_name}' takes {classifier.in_features} inputs but the feature "
            f"layer has {num_channels} channels."
        )
    if classifier.out_features != logits.shape[1]:
        raise not_gap(
            f"Classifier '{classifier_name}' has {classifier.out_features} outputs but the model "
            f"returns {logits.shape[1]} class scores."
        )
    # One small matmul: y ≈ GAP(A) · Wᵀ + b ?
    pooled = feature_maps.mean(dim=(2, 3))  # (N, C)
    bias = None if classifier.bias is None else classifier.bias.detach()
    reconstructed = nn.functional.linear(pooled, classifier.weight.detach(), bias)  # (N, classes)
    eps = torch.finfo(logits.dtype).eps
    tolerance = 1e4 * eps * (1.0 + float(logits.abs().max()))  # float32: ~1e-3 relative
    if float((reconstructed - logits).abs().max()) > tolerance:
        raise not_gap(
            f"The model's class scores are not GAP(feature maps) passed through classifier '{classifier_name}'."
        )


def class_activation_map(
    model: nn.Module,
    x: torch.Tensor,
    feature_layer: nn.Module | str,
    classifier: nn.Linear | str,
    class_idx: ClassIndex | Literal["all"] = None,
    *,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """Raw class activation maps M_c = Σ_k w_k^c A^k (no ReLU, no normalisation).

    Args:
        model: a network ending in global average pooling + one linear layer.
        x, reshape: as for :func:`~cam_utils.gradcam.grad_cam`. CAM is exact for a ViT that
            averages its patch tokens into the classifier (``global_pool="avg"``).
        feature_layer: the last convolutional layer (module or dotted name), whose output A
            is average-pooled into the classifier.
        classifier: the ``nn.Linear`` after the pooling (module or dotted name).
        class_idx: as for ``grad_cam``, or ``"all"``.

    Returns:
        (N, h, w) on x's device; for ``class_idx="all"`` (N, num_classes, h, w), computed from
        one forward pass. Identity: ``y^c = M_c.mean() + b_c``.

    The model is left untouched, also from several threads (see :mod:`cam_utils.model_state`).

    Raises:
        NotGapNetworkError (a ValueError): if ``classifier`` is not the linear layer applied to GAP(A)
            (checked numerically); use ``grad_cam`` for such networks.
    """
    if isinstance(class_idx, str) and class_idx != "all":
        raise ValueError(
            f'class_idx={class_idx!r} is not a class: the only text class_activation_map accepts is "all" '
            "(lower case), for the maps of every class at once; otherwise an int, one per image, or None."
        )
    model, classifier_layer = unwrap_compiled_layer(model, classifier)  # torch.compile: the original module
    classifier_module, classifier_name = resolve_layer(model, classifier_layer)
    if not isinstance(classifier_module, nn.Linear):
        raise TypeError(
            f"classifier '{classifier_name}' is a {type(classifier_module).__name__}, but CAM reads "
            "the weights of the nn.Linear layer that follows global average pooling "
            "(e.g. 'fc' for a ResNet, 'classifier' for EfficientNet-Lite0)."
        )
    feature_maps, logits = forward_recording(model, x, feature_layer, reshape)  # (N, C, h, w), (N, classes)
    _check_gap_classifier(classifier_module, classifier_name, feature_maps, logits)

    weight = classifier_module.weight.detach()  # (num_classes, C): row c holds w^c
    if isinstance(class_idx, str) and class_idx == "all":
        # M_c for every class at once: (N, C, h, w) × (classes, C) -> (N, classes, h, w)
        return torch.einsum("nchw,kc->nkhw", feature_maps, weight)
    class_idx = resolve_class_idx(class_idx, logits)  # (N,)
    class_weights = weight[class_idx]  # (N, C): w^c for each image's class
    return cam_from_features(feature_maps, class_weights)  # (N, h, w)

"""Grad-CAM (Selvaraju et al., ICCV 2017), step by step.

CAM needs a network that ends in global average pooling + one linear layer, because
it reads the weights w_k^c of that layer. Grad-CAM replaces those weights by the
average gradient of the class score with respect to each feature map:

    α_k^c = (1/Z) Σ_ij ∂y^c / ∂A^k_ij          (Z = h·w, the number of positions)
    L^c   = ReLU( Σ_k α_k^c A^k )

* y^c is the raw class score (the logit, before softmax), as in the paper.
* A^k is channel k of the target layer's output, shape (h, w).
* ReLU keeps the positions that push the class score *up*.
* ``counterfactual=True`` negates the gradients: the map then shows what pushes
  the score *down* ("what would make the network more confident if removed").

On a GAP network y^c = Σ_k w_k^c · (1/Z) Σ_ij A^k_ij + b_c, so ∂y^c/∂A^k_ij = w_k^c / Z
everywhere and α_k^c = w_k^c / Z: Grad-CAM = ReLU(CAM) / Z. The tests check this.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import ClassIndex, resolve_class_idx
from .hooks import LayerForward, forward_with_features, gradient_path_cut
from .tokens import Reshape


def class_gradients(forward: LayerForward, class_idx: torch.Tensor) -> torch.Tensor:
    """∂y^c/∂A for each image's class: (N, C, h, w).

    Uses ``torch.autograd.grad`` with respect to ``forward.feature_maps`` only: no
    parameter ``.grad`` is written, and the graph is kept (``retain_graph=True``) so the
    same forward can be differentiated again for another class.

    Args:
        forward: the result of ``forward_with_features``.
        class_idx: (N,) class per image (anything ``class_idx`` accepts is validated).
    """
    return _gradients_of_scores(forward, resolve_class_idx(class_idx, forward.logits))


def _gradients_of_scores(forward: LayerForward, class_idx: torch.Tensor, retain_graph: bool = True) -> torch.Tensor:
    """∂y^c/∂A for an already validated (N,) LongTensor of classes.

    ``retain_graph=False`` frees the graph (a forward made for one map only: a little faster).
    """
    # enable_grad: the caller may be inside torch.no_grad() (e.g. an explorer callback);
    # picking y^c out of the logits must still be part of the graph.
    with torch.enable_grad():
        # y^c for each image: pick column class_idx[n] of row n.  (N, 1)
        class_scores = forward.logits.gather(1, class_idx.unsqueeze(1))
        # Summing over the batch is safe: image n's score depends only on image n's maps
        # (at inference behaviour), so ∂(Σ_n y_n)/∂A_n = ∂y_n/∂A_n.
        try:
            (gradients,) = torch.autograd.grad(class_scores.sum(), forward.feature_maps, retain_graph=retain_graph)
        except RuntimeError as error:
            if "not have been used in the graph" not in str(error):
                raise
            raise gradient_path_cut(forward.layer_name) from None
    return gradients  # (N, C, h, w)


def grad_cam_from_forward(
    forward: LayerForward, class_idx: ClassIndex = None, counterfactual: bool = False
) -> torch.Tensor:
    """Grad-CAM from an existing forward pass: (N, h, w), no new forward needed.

    Switching class (e.g. in an interactive explorer) only costs one backward pass
    through the layers after the target layer. For a transformer, give ``reshape=`` to
    ``forward_with_features``: the forward then holds the reshaped maps, and every
    ``*_from_forward`` function works on them unchanged.

    Args:
        forward: the result of ``forward_with_features(model, x, target_layer)``.
        class_idx: None (each image's top-1), an int, or one index per image.
        counterfactual: negate the gradients to show what lowers the class score.
    """
    return _grad_cam_from_forward(forward, class_idx, counterfactual, retain_graph=True)


def _grad_cam_from_forward(
    forward: LayerForward, class_idx: ClassIndex, counterfactual: bool, retain_graph: bool
) -> torch.Tensor:
    """``grad_cam_from_forward``; ``retain_graph=False`` when the forward serves this one map only."""
    class_idx = resolve_class_idx(class_idx, forward.logits)  # (N,)
    gradients = _gradients_of_scores(forward, class_idx, retain_graph)  # (N, C, h, w): ∂y^c/∂A
    if counterfactual:
        gradients = -gradients
    feature_maps = forward.feature_maps.detach()  # (N, C, h, w), A
    # α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij : global average pooling of the gradients.
    alpha = gradients.mean(dim=(2, 3))  # (N, C)
    # L^c = ReLU(Σ_k α_k^c A^k)
    weighted_sum = torch.einsum("nc,nchw->nhw", alpha, feature_maps)  # (N, h, w)
    return torch.relu(weighted_sum)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: ClassIndex = None,
    counterfactual: bool = False,
    *,
    reshape: Reshape | None = None,
) -> torch.Tensor:
    """Grad-CAM maps at ``target_layer``: (N, h, w) at the layer's resolution, on x's device.

    L^c = ReLU(Σ_k α_k^c A^k) with α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij. The map is *not*
    normalised or resized: use ``normalize`` and ``upsample`` to display it.

    Args:
        model: an image classifier returning raw class scores (N, num_classes).
        x: (N, 3, H, W) float batch, preprocessed, on the model's device.
        target_layer: a convolutional layer of ``model`` or its dotted name, e.g. ``"layer4"``.
        class_idx: None (each image's top-1), an int (same class for all images),
            or a sequence / 1-D tensor with one class per image.
        counterfactual: negate the gradients (what lowers y^c).
        reshape: for a layer that outputs tokens (a vision transformer, (N, tokens, C)): a
            callable to (N, C, h, w) that selects and rearranges entries, e.g. ``vit_reshape``
            (drops the class token, folds the patch tokens onto their grid); see ``cam_utils.tokens``.

    The other explaining functions take these arguments too and refer to this list. The model is left
    untouched, also from several threads (see :mod:`cam_utils.model_state`).
    """
    forward = forward_with_features(model, x, target_layer, reshape)
    return _grad_cam_from_forward(forward, class_idx, counterfactual, retain_graph=False)  # one map: free the graph

"""Self-check for the coding exercise of notebook 06 (the interactive explorer).

The exercise asks for ``signed_grad_cam(request)``, a new explorer method: Σ_k α_k^c A^k,
Grad-CAM before its ReLU, computed from the cached forward pass of a ``MapRequest``. The check
runs it on photos, layers and classes the notebook does not use, twice on the same forward
pass (as the explorer does when the class changes), and names the typical mistakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from cam_utils.gradcam import grad_cam_from_forward
from cam_utils.hooks import LayerForward, forward_with_features
from cam_utils.images import sample_image
from cam_utils.models import LoadedModel

from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

if TYPE_CHECKING:  # the explorer (ipywidgets) is imported only when the check runs
    from cam_utils.course.explorer.methods import MapRequest

# (photo, layer, class name): none of them is the exercise's own example.
_HIDDEN_CASES = (("coffee", "blocks.4", "coffee mug"), ("rocket", "blocks.6", "missile"))


def _typical_mistakes(forward: LayerForward, class_idx: int) -> dict[str, torch.Tensor]:
    """What the usual wrong answers compute on this forward: {hint: their map (1, h, w)}."""
    feature_maps = forward.feature_maps.detach()  # (1, C, h, w)
    (gradients,) = torch.autograd.grad(forward.logits[0, class_idx], forward.feature_maps, retain_graph=True)
    p_c = forward.logits.softmax(dim=1).select(1, class_idx).sum()  # one image: its probability of the class
    (probability_gradients,) = torch.autograd.grad(p_c, forward.feature_maps, retain_graph=True)
    alpha_from_probability = probability_gradients.mean(dim=(2, 3))  # (1, C)
    return {
        "you multiplied gradient and activation position by position (that is HiResCAM); Grad-CAM first "
        "averages the gradient over the positions, one α per channel.": (gradients * feature_maps).sum(dim=1),
        "you differentiated the probability (after softmax); Grad-CAM differentiates the raw class score "
        "y^c, the logit.": torch.einsum("nc,nchw->nhw", alpha_from_probability, feature_maps),
    }


def check_signed_grad_cam(function: Callable[[MapRequest], torch.Tensor], loaded: LoadedModel) -> CheckResult:
    """Coding exercise 1: ``function(request)`` returns Σ_k α_k^c A^k with its signs, shape (1, h, w).

    Runs ``function`` on two hidden (photo, layer, class) cases, each time for two classes from one
    cached forward pass, and prints ✓ or a hint (a ReLU, a sum instead of a mean, the probability
    instead of the logit, gradient × activation, a graph not kept for the next class, a shape).
    """
    from cam_utils.course.explorer.methods import MapRequest

    for photo, layer, class_name in _HIDDEN_CASES:
        x = loaded.preprocess(sample_image(photo))  # (1, 3, 224, 224)
        forward = forward_with_features(loaded.model, x, layer)
        top_class = int(forward.logits[0].argmax())
        classes = (loaded.categories.index(class_name), top_class)
        # Every reference first: a learner's function that frees the graph must not break the check.
        # Grad-CAM keeps the positive part of the signed map, counterfactual Grad-CAM the negative part.
        signed_maps = [
            grad_cam_from_forward(forward, c) - grad_cam_from_forward(forward, c, counterfactual=True)  # (1, h, w)
            for c in classes
        ]
        mistakes = [_typical_mistakes(forward, c) for c in classes]
        for class_idx, signed, class_mistakes in zip(classes, signed_maps, mistakes, strict=True):
            request = MapRequest(loaded, x, layer, forward, class_idx=class_idx)
            yours, problem = call_student(function, request, name="signed_grad_cam")
            if problem is not None:
                if "backward through the graph a second time" in problem:
                    problem = (
                        "your function works once, but the explorer reuses the same forward pass for the next "
                        "class: ask torch.autograd.grad to retain the graph, so that the next call can use it."
                    )
                return report(problem, "")
            problem = known_mistake(yours, class_mistakes) or diagnose_tensor(
                yours, signed, name="your map", axis_names=("image", "row", "column")
            )
            if problem is not None:
                return report(problem, "")
    return report(
        None,
        "your map is Σ_k α_k^c A^k with its signs, for every photo, layer and class tried: ReLU of it is Grad-CAM.",
    )

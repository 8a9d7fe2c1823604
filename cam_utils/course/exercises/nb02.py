"""Self-checks for notebook 02 (CAM on a GAP network).

* :func:`check_channel_contributions` -- coding exercise 1: the K terms w_k^c F^k of one class score.
* :func:`check_batch_cam` -- coding exercise 2: M_c = Σ_k w_k^c A^k for a batch, one class per image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

__all__ = ["check_batch_cam", "check_channel_contributions"]


def _hidden_feature_maps(*shape: int) -> torch.Tensor:
    """Non-negative feature maps (like after a ReLU) of the given shape, the same on every call."""
    generator = torch.Generator().manual_seed(2)
    return torch.relu(torch.randn(*shape, generator=generator)) + 0.1


def _hidden_weights(*shape: int) -> torch.Tensor:
    """Classifier weights of both signs, so that maps have negative cells too."""
    generator = torch.Generator().manual_seed(3)
    return torch.randn(*shape, generator=generator)


def check_channel_contributions(
    channel_contributions: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """Run ``channel_contributions(feature_maps, class_weights)`` on hidden inputs; print ✓ or a hint.

    Inputs: feature maps A of one image, K x h x w, and the class's weights w^c, shape K.
    The right answer: F^k = (1/Z) Σ_ij A^k_ij (GAP, Z = h·w), then w_k^c F^k, shape K.
    """
    feature_maps = _hidden_feature_maps(6, 3, 4)  # K x h x w
    class_weights = _hidden_weights(6)  # K
    result, problem = call_student(
        channel_contributions, feature_maps.clone(), class_weights.clone(), name="channel_contributions"
    )
    if problem is None:
        pooled = feature_maps.mean(dim=(1, 2))  # F: K
        reference = class_weights * pooled  # w_k^c F^k: K
        problem = diagnose_tensor(result, reference, name="your vector of contributions", axis_names=("channel",))
        if problem is not None:
            problem = (
                known_mistake(
                    result,
                    {
                        "you summed each map over its positions; global average pooling takes the mean "
                        "(the sum divided by Z = h·w).": class_weights * feature_maps.sum(dim=(1, 2)),
                        "these are the pooled features F^k alone: multiply each by its weight w_k^c.": pooled,
                        "these are the weights w_k^c alone: multiply each by the pooled feature F^k.": class_weights,
                        "you weighted each map but did not pool it: average each weighted map over its positions "
                        "(dim=(1, 2)), or pool first and then weight.": class_weights[:, None, None] * feature_maps,
                        "you took the maximum of each map (global max pooling); this network averages.": class_weights
                        * feature_maps.amax(dim=(1, 2)),
                    },
                )
                or problem
            )
    return report(problem, "channel_contributions returns w_k^c F^k for every channel k.")


def check_batch_cam(batch_cam: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Run ``batch_cam(feature_maps, weight, class_idx)`` on hidden inputs; print ✓ or a hint.

    Inputs: A of shape N x K x h x w, the classifier weight W (classes x K) and one class index
    per image (shape N). The right answer: M[n] = Σ_k W[class_idx[n], k] A[n, k], shape N x h x w,
    raw (no ReLU, no normalisation).
    """
    feature_maps = _hidden_feature_maps(3, 5, 3, 4)  # N x K x h x w
    weight = _hidden_weights(6, 5)  # classes x K
    class_idx = torch.tensor([4, 1, 3])  # N
    result, problem = call_student(batch_cam, feature_maps.clone(), weight.clone(), class_idx.clone(), name="batch_cam")
    if problem is None:
        reference = torch.einsum("nkhw,nk->nhw", feature_maps, weight[class_idx])  # N x h x w
        problem = diagnose_tensor(result, reference, name="your maps", axis_names=("image", "row", "column"))
        if problem is not None:
            problem = (
                known_mistake(
                    result,
                    {
                        "every image got the map of the first image's class: pick one row of W per image, "
                        "weight[class_idx] (N x K).": torch.einsum("nkhw,k->nhw", feature_maps, weight[class_idx[0]]),
                        "you added up the maps of all classes: select the rows of W for the requested classes first.": torch.einsum(
                            "nkhw,ck->nhw", feature_maps, weight
                        ),
                        "the maps are normalised; CAM itself returns the raw weighted sum (normalising is only for "
                        "drawing).": _min_max(reference),
                        "you averaged over the channels: M_c is the weighted *sum* Σ_k w_k^c A^k.": reference / 5,
                    },
                )
                or problem
            )
    return report(problem, "batch_cam gives each image the map of its own class, M_c = Σ_k w_k^c A^k.")


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map (N x h x w) scaled to [0, 1] on its own."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)

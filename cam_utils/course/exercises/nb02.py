"""Self-checks for notebook 02 (CAM on a GAP network).

* :func:`check_channel_contributions` -- coding exercise 1: the K terms w_k^c F^k of one class score.
* :func:`check_batch_cam` -- coding exercise 2: M_c = Σ_k w_k^c A^k for a batch, one class per image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cam_utils.cam import cam_from_features

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
                        "(rows and columns), or pool first and then weight.": class_weights[:, None, None]
                        * feature_maps,
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
    per image (shape N). The right answer: image n's map is the sum over channels k of A[n, k]
    weighted by W's entry for image n's class and channel k, shape N x h x w, raw (no ReLU, no
    normalisation). The reference is the library's ``cam_from_features``.
    """
    feature_maps = _hidden_feature_maps(3, 5, 3, 4)  # N x K x h x w
    weight = _hidden_weights(6, 5)  # classes x K
    class_idx = torch.tensor([4, 1, 3])  # N
    result, problem = call_student(batch_cam, feature_maps.clone(), weight.clone(), class_idx.clone(), name="batch_cam")
    if problem is not None and not isinstance(batch_cam, torch.Tensor):
        problem = _columns_of_w(batch_cam) or problem
    if problem is None:
        reference = _cam(feature_maps, weight, class_idx)  # N x h x w
        problem = _batch_cam_mistake(result, reference, feature_maps, weight, class_idx)
    return report(problem, "batch_cam gives each image the map of its own class, M_c = Σ_k w_k^c A^k.")


def _cam(feature_maps: torch.Tensor, weight: torch.Tensor, class_idx: torch.Tensor) -> torch.Tensor:
    """The reference: the library's CAM from features, with one row of W per image."""
    return cam_from_features(feature_maps, weight.index_select(0, class_idx))


_NO_RELU_NO_NORMALISING = (
    "batch_cam returns the raw weighted sum: no ReLU and no normalising (both are for drawing a map, and "
    "the identity mean(M_c) + b_c = y^c holds only for the raw map)."
)


def _batch_cam_mistake(
    result: object, reference: torch.Tensor, feature_maps: torch.Tensor, weight: torch.Tensor, class_idx: torch.Tensor
) -> str | None:
    """None when ``result`` is right, else the hint of the first typical mistake it reproduces."""
    clipped = torch.relu(reference)
    clipped_over_max = clipped / clipped.amax(dim=(1, 2), keepdim=True)  # NaN for a map with no positive cell
    if isinstance(result, torch.Tensor) and not torch.isfinite(result.detach()).all():
        got = result.detach().to(torch.float64)
        for variant in (clipped_over_max, _min_max(clipped)):
            if got.shape == variant.shape and torch.allclose(got, variant.double(), atol=1e-5, equal_nan=True):
                return (
                    "your maps have NaN: a map with no positive cell became 0 / 0 when divided by its maximum. "
                    + _NO_RELU_NO_NORMALISING
                )
        return "your maps have NaN or infinite values: a division by zero? " + _NO_RELU_NO_NORMALISING
    problem = diagnose_tensor(result, reference, name="your maps", axis_names=("image", "row", "column"))
    if problem is None:
        return None
    mistakes = {
        "every image got the map of the first image's class: each image needs the weights of its own class, "
        "one row of W per image (N x K).": torch.einsum("nkhw,k->nhw", feature_maps, weight[class_idx[0]]),
        "you added up the maps of all classes: select the rows of W for the requested classes first.": torch.einsum(
            "nkhw,ck->nhw", feature_maps, weight
        ),
        "the maps went through a ReLU and were divided by their maximum. " + _NO_RELU_NO_NORMALISING: torch.nan_to_num(
            clipped_over_max, nan=0.0
        ),
        "the maps are normalised; CAM itself returns the raw weighted sum (normalising is only for drawing).": _min_max(
            reference
        ),
        "you averaged over the channels: M_c is the weighted *sum* Σ_k w_k^c A^k.": reference / 5,
    }
    return known_mistake(result, mistakes) or problem


def _columns_of_w(batch_cam: object) -> str | None:
    """When ``batch_cam`` raised: the hint for columns of W taken as the classes' weights, if that is what it does.

    W is classes x K, so picking columns by class index fails on the hidden inputs (classes != K, N != K).
    The function is run again on square inputs (classes = K = N), where that mistake runs, and compared.
    """
    feature_maps = _hidden_feature_maps(5, 5, 3, 4)
    weight = _hidden_weights(5, 5)
    class_idx = torch.tensor([4, 1, 3, 0, 2])
    result, problem = call_student(batch_cam, feature_maps.clone(), weight.clone(), class_idx.clone(), name="batch_cam")
    if problem is not None:
        return None
    columns = weight.t().index_select(0, class_idx)  # row n: column class_idx[n] of W
    as_rows = weight.index_select(1, class_idx)  # the K x N block of columns, read with its axes swapped
    wrong = [cam_from_features(feature_maps, columns), torch.einsum("nkhw,nk->nhw", feature_maps, as_rows)]
    if known_mistake(result, {"columns": wrong[0], "columns, axes swapped": wrong[1]}) is None:
        return None
    return (
        "you picked columns of W by class index. W has one row per class and one column per channel "
        "(classes x K): the weights of class c are its row c."
    )


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map (N x h x w) scaled to [0, 1] on its own."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)

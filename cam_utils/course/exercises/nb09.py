"""Self-checks for the coding exercise of notebook 09 (sanity checks and ground truth).

The exercise asks for a function ``independent_test(model, x, layer, stages, reference)`` that runs
Adebayo et al.'s *independent* randomisation test for Grad-CAM at ``layer``: each stage randomised
alone, every other stage trained, BatchNorm statistics re-estimated on the separate images
``reference``, the feature-map scale at ``layer`` recorded. The check runs it on a small network
the learner has not seen (with BatchNorm, so the statistics matter) and compares every row with
a reference computed here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from cam_utils.gradcam import grad_cam
from cam_utils.sanity import SanityStage, cascading_randomization, reestimate_batchnorm

from .feedback import CheckResult, diagnose_tensor, report

IndependentTest = Callable[[nn.Module, torch.Tensor, str, Sequence[str], torch.Tensor], list[SanityStage]]

_LAYER = "block2"  # the explained layer of the hidden network
_STAGES = ("fc", "block1", "block2")  # deliberately not in the forward order


def _hidden_network() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small GAP classifier with BatchNorm, its input (3, 3, 12, 12) and 4 reference images, without the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        model = nn.Sequential(
            OrderedDict(
                block1=nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()),
                block2=nn.Sequential(
                    nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU()
                ),  # A: 8 x 6 x 6
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(),
                fc=nn.Linear(8, 4),
            )
        ).eval()
        x = torch.randn(3, 3, 12, 12)
        reference = torch.randn(4, 3, 12, 12) + 0.5  # other images, with other statistics
    # Statistics that match the weights, as in a trained network.
    reestimate_batchnorm(model, [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)], x)
    return model, x, reference


def _reference(model: nn.Module, x: torch.Tensor, reference: torch.Tensor) -> list[SanityStage]:
    return cascading_randomization(
        model,
        x,
        lambda network, images, c: grad_cam(network, images, _LAYER, c),
        stages=list(_STAGES),
        cascade=False,
        feature_layer=_LAYER,
        batchnorm_images=reference,
    )


def _problem(result: object, reference: list[SanityStage], on_x: list[SanityStage]) -> str | None:
    """A hint for the first thing that differs from the reference, or None."""
    if not isinstance(result, list) or not all(isinstance(row, SanityStage) for row in result):
        return (
            f"your function returned {type(result).__name__}; return the list of rows that "
            "sanity.cascading_randomization gives."
        )
    names, expected = [row.stage for row in result], [row.stage for row in reference]
    if names != expected:
        return f"your rows are {names}; expected the trained model, then the stages in the order given: {expected}."
    if any(len(row.randomised) > 1 for row in result):
        return (
            "some rows have several stages random at once: that is the cascading test. The independent test "
            "randomises each stage alone, the others keeping their trained weights."
        )
    if result[0].feature_scale.isnan().any():
        return (
            "the feature-map scale was not recorded: tell cascading_randomization which layer is explained, so "
            "that it measures that layer's features."
        )
    problem = diagnose_tensor(result[0].maps, reference[0].maps, name="the trained model's maps", atol=1e-5, rtol=1e-4)
    if problem is not None:
        return f"{problem} They should be Grad-CAM at `layer` for each image's top-1 class."
    if all(torch.allclose(row.maps, other.maps, atol=1e-5, rtol=1e-4) for row, other in zip(result, on_x, strict=True)):
        return (
            "your BatchNorm statistics were re-estimated on the explained images themselves: estimate them on "
            "the separate reference images you were given, which the maps do not explain."
        )
    for row, want in zip(result[1:], reference[1:], strict=True):
        if not torch.allclose(row.maps, want.maps, atol=1e-5, rtol=1e-4):
            return (
                f"after randomising {row.stage!r} your maps differ from the reference: keep the default "
                "randomisation (seed 0, BatchNorm statistics re-estimated)."
            )
    return None


def check_independent_test(function: IndependentTest) -> CheckResult:
    """Coding exercise 1: ``function(model, x, layer, stages, reference)`` runs the independent randomisation test.

    Prints ✓ or a hint; returns whether the answer is right.
    """
    if not callable(function):
        return report(
            f"pass your function itself (check_independent_test(independent_test)), not a {type(function).__name__}.",
            "",
        )
    model, x, reference = _hidden_network()
    try:
        result = function(model, x, _LAYER, list(_STAGES), reference)
    except Exception as error:  # noqa: BLE001 - the learner's code: any error becomes a hint
        return report(
            f"your function raised {type(error).__name__} on the test network: {error}. It is called as "
            f'f(model, x, layer, stages, reference) with a layer name such as "{_LAYER}".',
            "",
        )
    on_x = cascading_randomization(
        model,
        x,
        lambda network, images, c: grad_cam(network, images, _LAYER, c),
        stages=list(_STAGES),
        cascade=False,
        feature_layer=_LAYER,
    )
    return report(
        _problem(result, _reference(model, x, reference), on_x),
        "independent test: one stage random at a time, Grad-CAM at the layer, scale recorded, maps as expected.",
    )

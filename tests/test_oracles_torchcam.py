"""cam_utils against torchcam (issue 23) where torchcam is right, and its known deviations.

Agreement (float32 tolerances of tests/oracles/compare.py): Grad-CAM at the layers whose output nothing
overwrites; Score-CAM's masked scores before its softmax across channels.

Deviations, each asserted in a test named for it:
* at a layer followed by an in-place operation it keeps a reference to the output, read after the operation
  overwrote it, and differentiates that overwritten tensor: its map is Grad-CAM of the *next* module's output;
* Grad-CAM++ never applies its per-position weights α: ``alpha[idx][mask].div_(...)`` divides a copy (indexing
  with a boolean mask copies), so its channel weights are Σ_ij g² · ReLU(g).
"""

from __future__ import annotations

import pytest
import torch

from cam_utils import grad_cam, grad_cam_plus_plus, normalize
from cam_utils.gradcam import class_gradients
from cam_utils.hooks import forward_with_features
from tests.libraries import require_library
from tests.oracles import gradient_comparisons as compare
from tests.oracles.compare import assert_agrees, difference
from tests.oracles.gradient_libraries import torchcam_run
from tests.oracles.models import (
    CASES,
    CLEAN_CASES,
    INPLACE_CASES,
    LITE0_BN2,
    Case,
    model_and_input,
    outputs_around_the_inplace_op,
    top_classes,
)

require_library("torchcam.methods")


@pytest.mark.parametrize("case", CLEAN_CASES, ids=lambda case: case.label)
def test_grad_cam_is_torchcams(case: Case):
    compare.grad_cam_vs_torchcam(case).assert_agrees(case.label)


def test_score_cam_masked_scores_are_torchcams_before_its_softmax():
    compare.score_cam_scores("torchcam").assert_agrees()


@pytest.mark.parametrize("case", INPLACE_CASES, ids=lambda case: case.label)
def test_torchcam_bug_explains_the_overwritten_output_after_an_inplace_op(case: Case):
    model, x = model_and_input(case.model)
    classes = top_classes(model, x)
    run = torchcam_run("GradCAM", model, x, case.layer, classes)
    layer_output, overwritten = outputs_around_the_inplace_op(model, x, case)
    assert torch.equal(run.activations, overwritten)  # what the in-place operation left
    assert difference(run.activations, layer_output).max_rel > 0.5
    # ... and its gradients are those of the overwritten tensor: the map is the next module's Grad-CAM.
    assert_agrees(run.output, grad_cam(model, x, case.overwritten_by, classes), what="next module's Grad-CAM")
    assert difference(run.output, grad_cam(model, x, case.layer, classes)).max_rel > 1e-3


@pytest.mark.parametrize("case", [CASES[0], LITE0_BN2], ids=lambda case: case.label)
def test_torchcam_bug_gradcampp_never_applies_alpha(case: Case):
    model, x = model_and_input(case.model)
    classes = top_classes(model, x)
    run = torchcam_run("GradCAMpp", model, x, case.layer, classes)
    g = class_gradients(forward_with_features(model, x, case.layer), torch.tensor(classes))
    assert run.weights is not None
    assert_agrees(run.weights, (g**2 * g.clamp(min=0)).sum(dim=(2, 3)), what="Σ g² ReLU(g): α left out")
    ours = normalize(grad_cam_plus_plus(model, x, case.layer, classes))
    assert difference(normalize(run.output), ours).max_rel > 0.05  # 12 % at Lite0's bn2

"""cam_utils against pytorch-grad-cam configured to the same definitions (issue 23), and its known deviations.

Agreement (float32 tolerances of tests/oracles/compare.py), at the layers whose output nothing overwrites:
Grad-CAM; HiResCAM before the library's clip; Grad-CAM++ on logits scaled so that the library's epsilon is
negligible; Score-CAM's masked scores before the library's softmax across channels.

Deviations, each asserted in a test named for it, so that a release that changes it is noticed:
* at a layer followed by an in-place operation it reads the overwritten output (on the CPU, where ``.cpu()`` is no
  copy) with the gradient of the layer's own output: a map of neither layer;
* Grad-CAM++: 1e-6 added to α's denominator, which dominates where the gradients are small (Lite0's bn2);
* HiResCAM is clipped at zero; Score-CAM's weights are a softmax across channels.
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
from tests.oracles.gradient_libraries import pytorch_grad_cam_run
from tests.oracles.models import (
    CLEAN_CASES,
    INPLACE_CASES,
    LITE0_BN2,
    Case,
    model_and_input,
    outputs_around_the_inplace_op,
    top_classes,
)

require_library("pytorch_grad_cam")

clean = pytest.mark.parametrize("case", CLEAN_CASES, ids=lambda case: case.label)
#: pytorch-grad-cam's epsilon in GradCAMPlusPlus.get_cam_weights.
LIBRARY_EPSILON = 1e-6


@clean
def test_grad_cam_is_pytorch_grad_cams(case: Case):
    compare.grad_cam_vs_pytorch_grad_cam(case).assert_agrees(case.label)


@clean
def test_hires_cam_is_pytorch_grad_cams_before_its_clip(case: Case):
    compare.hires_cam_vs_pytorch_grad_cam(case).assert_agrees(case.label)


@clean
def test_grad_cam_plus_plus_is_pytorch_grad_cams_where_its_epsilon_is_negligible(case: Case):
    compare.grad_cam_plus_plus_vs_pytorch_grad_cam(case).assert_agrees(case.label)


def test_score_cam_masked_scores_are_pytorch_grad_cams_before_its_softmax():
    compare.score_cam_scores("pytorch-grad-cam").assert_agrees()


def test_pytorch_grad_cam_score_cam_weights_are_a_softmax_across_channels():
    """Not the authors' weights (the masked image's probability, unnormalised): they sum to 1 over the channels."""
    model, x = model_and_input("same_resolution_gapnet")
    run = pytorch_grad_cam_run("ScoreCAM", model, x, "features", top_classes(model, x))
    assert run.weights is not None
    torch.testing.assert_close(run.weights.sum(dim=1), torch.ones(len(x)), rtol=0, atol=1e-6)


def test_pytorch_grad_cam_clips_hires_cam_at_zero():
    """Its HiResCAM is ReLU'd before normalising (as the authors' code); cam_utils keeps the sign by default."""
    model, x = model_and_input("resnet18")
    run = pytorch_grad_cam_run("HiResCAM", model, x, "layer4", top_classes(model, x))
    assert float(run.raw_map.min()) < 0  # the signed map has negative values...
    assert float(run.output.min()) >= 0  # ...which the returned map does not show (min-max of the clipped map)


@pytest.mark.parametrize("case", INPLACE_CASES, ids=lambda case: case.label)
def test_pytorch_grad_cam_bug_reads_the_overwritten_output_after_an_inplace_op_on_cpu(case: Case):
    """Its forward hook keeps ``output.cpu().detach()``: on the CPU the same storage, which the in-place operation
    after the layer overwrites. Its gradient hook, registered before, gets ∂y/∂A of the true output. So the map is
    Σ_k mean(∂y/∂A^k) · B^k with B the *next* module's output: no layer's Grad-CAM."""
    model, x = model_and_input(case.model)
    classes = top_classes(model, x)
    run = pytorch_grad_cam_run("GradCAM", model, x, case.layer, classes)
    layer_output, overwritten = outputs_around_the_inplace_op(model, x, case)
    assert torch.equal(run.activations, overwritten)  # what the in-place operation left
    assert difference(run.activations, layer_output).max_rel > 0.5  # not the layer's output
    true_gradients = class_gradients(forward_with_features(model, x, case.layer), torch.tensor(classes))
    assert run.gradients is not None
    assert_agrees(run.gradients, true_gradients, what="its gradients are the true layer's")
    found = difference(run.raw_map.clamp(min=0), grad_cam(model, x, case.layer, classes))
    assert found.max_rel > 1e-3  # 0.28 % (mobilenet_v2, untrained) to 150 % of the true map's peak here


def test_pytorch_grad_cam_gradcampp_epsilon_dominates_small_gradients():
    """Lite0's bn2 (g = ∂y^c/∂A about 1e-3, g² about 1e-6): α = g²/(g²(2 + g·ΣA) + 1e-6) is not the paper's
    1/(2 + g·ΣA). Its weights are exactly that formula, and the normalised map is off by percents."""
    model, x = model_and_input(LITE0_BN2.model)
    classes = top_classes(model, x)
    run = pytorch_grad_cam_run("GradCAMPlusPlus", model, x, LITE0_BN2.layer, classes)
    forward = forward_with_features(model, x, LITE0_BN2.layer)
    g = class_gradients(forward, torch.tensor(classes)).double()
    activation_sums = forward.feature_maps.detach().double().sum(dim=(2, 3), keepdim=True)
    alpha_with_epsilon = g**2 / (g**2 * (2 + g * activation_sums) + LIBRARY_EPSILON)
    expected_weights = (torch.where(g != 0, alpha_with_epsilon, 0) * g.clamp(min=0)).sum(dim=(2, 3))
    assert run.weights is not None
    assert_agrees(run.weights, expected_weights, rtol=1e-4, peak_atol=1e-5, what="weights with the epsilon")
    ours = normalize(grad_cam_plus_plus(model, x, LITE0_BN2.layer, classes))
    assert difference(normalize(run.raw_map.clamp(min=0)), ours).max_rel > 0.01  # 4 % of the peak on the photo

"""cam_utils against Captum (issue 23): Grad-CAM, HiResCAM, gradient × activation and the gradients themselves, on
ten layers of four architectures, three of them followed by an in-place operation (tests/oracles/models.py).

Captum stores a copy of the layer's output, so it must agree with cam_utils everywhere, also where
pytorch-grad-cam and torchcam read an overwritten tensor (tests/test_oracles_pytorch_grad_cam.py). Tolerances:
tests/oracles/compare.py (float32: 1e-5 element-wise and 1e-5 of the map's peak).
"""

from __future__ import annotations

import pytest

from tests.libraries import require_library
from tests.oracles import gradient_comparisons as compare
from tests.oracles.models import CASES, Case

require_library("captum.attr")

by_case = pytest.mark.parametrize("case", CASES, ids=lambda case: case.label)


@by_case
def test_grad_cam_is_captum_layer_grad_cam(case: Case):
    compare.grad_cam_vs_captum(case).assert_agrees(case.label)


@by_case
def test_hires_cam_is_captum_gradient_x_activation_summed_over_channels(case: Case):
    compare.hires_cam_vs_captum(case).assert_agrees(case.label)


@by_case
def test_gradient_x_activation_and_gradients_are_captums(case: Case):
    compare.gradient_x_activation_vs_captum(case).assert_agrees(f"{case.label}: ∂y^c/∂A ⊙ A")
    compare.gradients_vs_captum(case).assert_agrees(f"{case.label}: ∂y^c/∂A")

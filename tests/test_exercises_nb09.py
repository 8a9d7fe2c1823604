"""The self-check of notebook 09's coding exercise: a right answer passes, typical wrong ones get a hint."""

from __future__ import annotations

import pytest

from cam_utils import grad_cam
from cam_utils.course.exercises import check_independent_test
from cam_utils.sanity import cascading_randomization


def right(model, x, layer, stages, reference):
    return cascading_randomization(
        model,
        x,
        lambda m, images, c: grad_cam(m, images, layer, c),
        stages=stages,
        cascade=False,
        feature_layer=layer,
        batchnorm_images=reference,
    )


def cascading(model, x, layer, stages, reference):  # forgot cascade=False
    return cascading_randomization(
        model,
        x,
        lambda m, images, c: grad_cam(m, images, layer, c),
        stages=stages,
        feature_layer=layer,
        batchnorm_images=reference,
    )


def no_scale(model, x, layer, stages, reference):  # forgot feature_layer
    return cascading_randomization(
        model,
        x,
        lambda m, images, c: grad_cam(m, images, layer, c),
        stages=stages,
        cascade=False,
        batchnorm_images=reference,
    )


def statistics_on_x(model, x, layer, stages, reference):  # forgot batchnorm_images
    return cascading_randomization(
        model, x, lambda m, images, c: grad_cam(m, images, layer, c), stages=stages, cascade=False, feature_layer=layer
    )


def other_layer(model, x, layer, stages, reference):  # explains a fixed, wrong layer
    return cascading_randomization(
        model,
        x,
        lambda m, images, c: grad_cam(m, images, "block1", c),
        stages=stages,
        cascade=False,
        feature_layer=layer,
        batchnorm_images=reference,
    )


def other_seed(model, x, layer, stages, reference):
    return cascading_randomization(
        model,
        x,
        lambda m, images, c: grad_cam(m, images, layer, c),
        stages=stages,
        cascade=False,
        feature_layer=layer,
        batchnorm_images=reference,
        seed=1,
    )


def sorted_stages(model, x, layer, stages, reference):
    return right(model, x, layer, sorted(stages, reverse=True), reference)


def test_right_answer_passes(capsys):
    assert check_independent_test(right).passed is True
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (cascading, "randomises each stage alone"),
        (no_scale, "which layer is explained"),
        (statistics_on_x, "separate reference images"),
        (other_layer, "Grad-CAM at `layer`"),
        (other_seed, "seed 0"),
        (sorted_stages, "in the order given"),
        (lambda model, x, layer, stages, reference: right(model, x, layer, stages, reference)[0], "return the list"),
        (lambda model, x, layer, stages: None, "raised TypeError"),
        ("not a function", "pass your function itself"),
    ],
)
def test_typical_mistakes_get_a_hint(capsys, answer, hint):
    assert check_independent_test(answer).passed is False
    printed = capsys.readouterr().out
    assert printed.startswith("✗ Not yet") and hint in printed

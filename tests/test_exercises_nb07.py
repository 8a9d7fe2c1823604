"""Notebook 07's self-check: the right answer passes, each typical wrong answer gets its own hint."""

from __future__ import annotations

import pytest
import torch

from cam_utils import normalize, upsample
from cam_utils.course.exercises import check_increase_of_confidence


def _run(check, *answer, capsys) -> tuple[bool, str]:
    passed = check(*answer)
    return passed, capsys.readouterr().out


def _increase(
    model,
    image,
    feature_maps,
    class_idx,
    baseline,
    *,
    mode="bilinear",
    normalise=True,
    probabilities=True,
    subtract=True,
    channel_softmax=False,
):
    """A learner's answer, with the typical mistakes as switches."""
    masks = upsample(feature_maps, tuple(image.shape[-2:]), mode=mode)
    if normalise:
        masks = normalize(masks)
    with torch.no_grad():
        masked, base = model(image * masks[:, None]), model(baseline)
    if probabilities:
        masked, base = torch.softmax(masked, dim=1), torch.softmax(base, dim=1)
    weights = masked[:, class_idx] - (base[0, class_idx] if subtract else 0.0)
    return torch.softmax(weights, dim=0) if channel_softmax else weights


def _one_by_one(model, image, feature_maps, class_idx, baseline):
    """Right too: one masked image at a time, the mask normalised by hand."""
    with torch.no_grad():
        base = torch.softmax(model(baseline), dim=1)[0, class_idx]
        weights = []
        for channel in feature_maps:
            mask = torch.nn.functional.interpolate(
                channel[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False
            )[0, 0]
            mask = (mask - mask.min()) / (mask.max() - mask.min())
            weights.append(torch.softmax(model(image * mask), dim=1)[0, class_idx] - base)
    return torch.stack(weights)


@pytest.mark.parametrize("answer", [_increase, _one_by_one])
def test_increase_of_confidence_right_answers_pass(answer, capsys):
    passed, out = _run(check_increase_of_confidence, answer, capsys=capsys)
    assert passed and out.startswith("✓"), out


def _top1(model, image, feature_maps, class_idx, baseline):
    with torch.no_grad():
        top = int(model(image).argmax())
    return _increase(model, image, feature_maps, top, baseline)


def _normalised_first(model, image, feature_maps, class_idx, baseline):
    masks = upsample(normalize(feature_maps), tuple(image.shape[-2:]))
    with torch.no_grad():
        masked = torch.softmax(model(image * masks[:, None]), dim=1)[:, class_idx]
        return masked - torch.softmax(model(baseline), dim=1)[0, class_idx]


def _not_written(model, image, feature_maps, class_idx, baseline):
    raise NotImplementedError


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, subtract=False), "did not subtract the baseline"),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, probabilities=False), "differences of logits"),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, normalise=False), "min-max normalise each channel"),
        (_normalised_first, "after upsampling"),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, mode="nearest"), "nearest neighbours"),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, channel_softmax=True), "Algorithm 1"),
        (_top1, "top-1 class"),
        (lambda m, i, f, c, b: -_increase(m, i, f, c, b), "sign"),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b).sum(), "shape"),
        (_not_written, "not written yet"),
    ],
)
def test_increase_of_confidence_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_increase_of_confidence, answer, capsys=capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out, out


def test_increase_of_confidence_wants_the_function_not_its_result(capsys):
    passed, out = _run(check_increase_of_confidence, torch.zeros(5), capsys=capsys)
    assert not passed and "pass the function itself" in out


def test_hints_never_contain_the_expected_weights(capsys):
    from cam_utils.course.exercises.nb07 import _CLASS, _hidden_inputs, _weights

    model, image, feature_maps, baseline = _hidden_inputs()
    expected = _weights(model, image, feature_maps, _CLASS, baseline)
    for answer in (lambda m, i, f, c, b: torch.rand(5), lambda m, i, f, c, b: torch.rand(4)):
        _, out = _run(check_increase_of_confidence, answer, capsys=capsys)
        assert all(f"{value:.3f}" not in out for value in expected.tolist())

"""The self-checks of notebook 05's coding exercises: a right answer passes, typical wrong ones get their hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cam_utils import model_view, sample_image
from cam_utils.course.exercises import check_crop_box, check_rank_and_probability
from cam_utils.course.exercises.nb05 import _crop_box_reference


def _rank_and_probability(logits, class_idx, off_by_one=False, ascending=False, softmax_dim=1, use_logit=False):
    """The exercise written as a learner would, with switches for the typical mistakes."""
    probabilities = torch.softmax(logits, dim=softmax_dim)[0]
    order = probabilities.argsort(descending=not ascending)
    rank = int((order == class_idx).nonzero()) + (0 if off_by_one else 1)
    value = logits[0, class_idx] if use_logit else probabilities[class_idx]
    return rank, value


def _crop_box(width, height, resize=True, swap=False, whole=False):
    if whole:
        return 0, 0, width, height
    if swap:  # the learner mixes up which size is x and which is y
        width, height = height, width
    side = 224 * min(width, height) / 256 if resize else 224
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def _run(check, function, capsys):
    passed = check(function)
    return passed, capsys.readouterr().out


def test_rank_and_probability_right_answers(capsys):
    passed, out = _run(check_rank_and_probability, _rank_and_probability, capsys)
    assert passed and out.startswith("✓")

    def with_tensors(logits, class_idx):  # tensors of one element are fine too
        probabilities = torch.softmax(logits[0], dim=0)
        return (probabilities > probabilities[class_idx]).sum() + 1, probabilities[class_idx]

    assert _run(check_rank_and_probability, with_tensors, capsys)[0]


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(off_by_one=True), "off by one"),
        (dict(ascending=True), "least probable"),
        (dict(softmax_dim=0), "dim=0"),
        (dict(use_logit=True), "that is the logit"),
    ],
)
def test_rank_and_probability_typical_mistakes(capsys, mistake, hint):
    wrong = lambda logits, c: _rank_and_probability(logits, c, **mistake)  # noqa: E731
    passed, out = _run(check_rank_and_probability, wrong, capsys)
    assert not passed and out.startswith("✗ Not yet:") and hint in out


def test_rank_and_probability_shape_of_the_answer(capsys):
    passed, out = _run(check_rank_and_probability, lambda logits, c: 3, capsys)
    assert not passed and "pair (rank, probability)" in out
    passed, out = _run(check_rank_and_probability, lambda logits, c: logits[c], capsys)  # IndexError
    assert not passed and "raised IndexError" in out


def test_crop_box_right_answer(capsys):
    passed, out = _run(check_crop_box, _crop_box, capsys)
    assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(resize=False), "measured after the resize"),
        (dict(whole=True), "whole photo"),
        (dict(swap=True), "swapped"),
    ],
)
def test_crop_box_typical_mistakes(capsys, mistake, hint):
    passed, out = _run(check_crop_box, lambda w, h: _crop_box(w, h, **mistake), capsys)
    assert not passed and out.startswith("✗ Not yet:") and hint in out


def test_crop_box_other_wrong_boxes(capsys):
    passed, out = _run(check_crop_box, lambda w, h: (0, 0, 10, 20), capsys)
    assert not passed and "not square" in out
    passed, out = _run(check_crop_box, lambda w, h: (0, 0, 5), capsys)
    assert not passed and "four numbers" in out
    passed, out = _run(check_crop_box, "box", capsys)
    assert not passed and "pass the function itself" in out


def test_hints_never_print_the_expected_box(capsys):
    out = _run(check_crop_box, lambda w, h: (1, 1, 2, 2), capsys)[1]
    assert "375" not in out and "262" not in out  # the first photo's crop: side 400, left 150


@pytest.mark.parametrize("name", ["rocket", "grace_hopper"])  # landscape and portrait
def test_crop_box_reference_is_the_models_own_crop(lite0, name):
    """The check's geometry (shorter side to 256, centre 224) is the one Lite0's preprocessing uses:
    the photo cut to the reference box and resized to 224 x 224 is the picture the network sees."""
    photo = sample_image(name)
    seen = np.asarray(model_view(lite0, lite0.preprocess(photo)), dtype=float)  # 224 x 224 x 3

    def difference(box):
        resized = photo.resize((224, 224), Image.Resampling.BICUBIC, box=box)
        return float(np.abs(np.asarray(resized, dtype=float) - seen).mean())  # on the 0..255 scale

    box = _crop_box_reference(*photo.size)
    assert difference(box) < 3
    assert difference((box[0] + 8, box[1], box[2] + 8, box[3])) > 5  # 8 photo pixels off: clearly worse

"""Notebook 02's self-checks: the right answer passes, each typical wrong answer gets its own hint."""

from __future__ import annotations

import pytest
import torch

from cam_utils.course.exercises import check_batch_cam, check_channel_contributions


def _run(check, answer, capsys) -> tuple[bool, str]:
    passed = check(answer)
    return passed, capsys.readouterr().out


def test_channel_contributions_right_answers_pass(capsys):
    answers = (
        lambda feature_maps, class_weights: class_weights * feature_maps.mean(dim=(1, 2)),
        lambda feature_maps, class_weights: (class_weights[:, None, None] * feature_maps).mean(dim=(1, 2)),
        lambda feature_maps, class_weights: (
            torch.einsum("k,khw->k", class_weights, feature_maps) / (feature_maps.shape[1] * feature_maps.shape[2])
        ),
    )
    for answer in answers:
        passed, out = _run(check_channel_contributions, answer, capsys)
        assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda feature_maps, class_weights: class_weights * feature_maps.sum(dim=(1, 2)), "takes the mean"),
        (lambda feature_maps, class_weights: feature_maps.mean(dim=(1, 2)), "multiply each by its weight"),
        (lambda feature_maps, class_weights: class_weights * feature_maps.amax(dim=(1, 2)), "global max pooling"),
        (lambda feature_maps, class_weights: class_weights * feature_maps[:, 0, 0], "different values"),
        (lambda feature_maps, class_weights: (class_weights * feature_maps.mean(dim=(1, 2))).sum(), "expected (6,)"),
        (lambda feature_maps, class_weights: class_weights[:, None, None] * feature_maps, "did not pool"),
        (lambda feature_maps, class_weights: -class_weights * feature_maps.mean(dim=(1, 2)), "opposite sign"),
    ],
)
def test_channel_contributions_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_channel_contributions, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_batch_cam_right_answers_pass(capsys):
    answers = (
        lambda feature_maps, weight, class_idx: torch.einsum("nkhw,nk->nhw", feature_maps, weight[class_idx]),
        lambda feature_maps, weight, class_idx: (weight[class_idx][:, :, None, None] * feature_maps).sum(dim=1),
    )
    for answer in answers:
        passed, out = _run(check_batch_cam, answer, capsys)
        assert passed and out.startswith("✓")


def _relu_over_max(A, W, idx, epsilon=0.0):
    """A typical wrong answer: ReLU, then each map divided by its maximum, as one would for drawing."""
    maps = torch.relu(torch.einsum("nkhw,nk->nhw", A, W[idx]))
    return maps / (maps.amax(dim=(1, 2), keepdim=True) + epsilon)


def _normalised(maps: torch.Tensor) -> torch.Tensor:
    low, high = maps.amin(dim=(1, 2), keepdim=True), maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda A, W, idx: torch.einsum("nkhw,k->nhw", A, W[idx[0]]), "first image's class"),
        (lambda A, W, idx: torch.einsum("nkhw,ck->nhw", A, W), "maps of all classes"),
        (lambda A, W, idx: torch.relu(torch.einsum("nkhw,nk->nhw", A, W[idx])), "drop the ReLU"),
        (lambda A, W, idx: _normalised(torch.einsum("nkhw,nk->nhw", A, W[idx])), "normalised"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nhw", A, W[idx]) / A.shape[1], "weighted *sum*"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nwh", A, W[idx]), "transpose"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->n", A, W[idx]), "expected (3, 3, 4)"),
        (lambda A, W, idx: torch.einsum("nkhw,kn->nhw", A, W[:, idx]), "picked columns of W"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nhw", A, W[:, idx]), "picked columns of W"),
        (lambda A, W, idx: (W[:, idx].T[:, :, None, None] * A).sum(dim=1), "picked columns of W"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nhw", A, W[idx]).flatten(1)[:, :5].sum(), "expected (3, 3, 4)"),
        (_relu_over_max, "no ReLU and no normalising"),
        (lambda A, W, idx: _relu_over_max(A, W, idx, epsilon=1e-8), "no ReLU and no normalising"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nhw", A, W[idx]) / 0.0, "division by zero"),
        (lambda A, W, idx: torch.einsum("nkhw,nk->nhw", A, W[idx.tolist()[::-1]]).transpose(0, 1), "shape"),
    ],
)
def test_batch_cam_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_batch_cam, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_batch_cam_nan_hint_names_the_relu_and_the_normalising(capsys):
    """The issue's case: ReLU then divide by the max gives NaN for a map with no positive cell; the hint says why."""
    passed, out = _run(check_batch_cam, _relu_over_max, capsys)
    assert not passed
    assert out.startswith("✗ Not yet: your maps have NaN: a map with no positive cell became 0 / 0")
    assert "maps contains" not in out and "weight[" not in out


def test_batch_cam_hints_do_not_give_the_indexing_away(capsys):
    passed, out = _run(check_batch_cam, lambda A, W, idx: torch.einsum("nkhw,k->nhw", A, W[idx[0]]), capsys)
    assert not passed and "own class" in out and "weight[class_idx]" not in out and "W[" not in out

"""Notebook 01's self-checks: the right answer passes, each typical wrong answer gets its own hint."""

from __future__ import annotations

import pytest
import torch

from cam_utils.course.exercises import check_flip_left_right, check_group_probability


def _run(check, answer, capsys) -> tuple[bool, str]:
    passed = check(answer)
    return passed, capsys.readouterr().out


def test_flip_left_right_right_answers_pass(capsys):
    for answer in (lambda batch: batch.flip(dims=[3]), lambda batch: torch.flip(batch, dims=[-1])):
        passed, out = _run(check_flip_left_right, answer, capsys)
        assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda batch: batch.flip(dims=[2]), "upside down"),
        (lambda batch: batch.flip(dims=[1]), "colour channels"),
        (lambda batch: batch.flip(dims=[0]), "order of the images"),
        (lambda batch: batch.flip(dims=[2, 3]), "180 degrees"),
        (lambda batch: batch.transpose(2, 3), "transpose"),
        (lambda batch: batch[0].flip(dims=[2]), "One dimension too few"),
        (lambda batch: batch.copy_(batch.flip(dims=[3])), "in place"),
        (lambda batch: batch.flip(dims=[3]).numpy(), "torch.Tensor"),
    ],
)
def test_flip_left_right_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_flip_left_right, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_unwritten_and_crashing_functions_get_hints(capsys):
    def unwritten(batch):
        raise NotImplementedError()

    passed, out = _run(check_flip_left_right, unwritten, capsys)
    assert not passed and "not written yet" in out
    passed, out = _run(check_flip_left_right, lambda batch: batch.flip(dims=[7]), capsys)
    assert not passed and "raised IndexError" in out
    passed, out = _run(check_flip_left_right, torch.zeros(1), capsys)
    assert not passed and "pass the function itself" in out


def test_group_probability_right_answers_pass(capsys):
    answers = (
        lambda logits, group: torch.softmax(logits, dim=1)[:, group].sum(dim=1),
        lambda logits, group: logits.softmax(dim=-1)[:, list(group)].sum(dim=-1),
        lambda logits, group: torch.exp(logits)[:, group].sum(1) / torch.exp(logits).sum(1),
    )
    for answer in answers:
        passed, out = _run(check_group_probability, answer, capsys)
        assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda logits, group: torch.softmax(logits, dim=0)[:, group].sum(dim=1), "wrong axis (dim=0"),
        (lambda logits, group: logits[:, group].sum(dim=1), "added up logits"),
        (lambda logits, group: torch.softmax(logits[:, group], dim=1).sum(dim=1), "group's own logits"),
        (lambda logits, group: torch.sigmoid(logits)[:, group].sum(dim=1), "sigmoid"),
        (lambda logits, group: torch.softmax(logits, dim=1)[:, group].mean(dim=1), "their sum"),
        (lambda logits, group: torch.softmax(logits, dim=1)[:, group].sum(dim=1, keepdim=True), "keepdim"),
        (lambda logits, group: torch.softmax(logits, dim=1)[:, group], "One dimension too few or too many"),
    ],
)
def test_group_probability_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_group_probability, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_hints_do_not_give_the_answer(capsys):
    logits = 3 * torch.randn(3, 10, generator=torch.Generator().manual_seed(1))
    reference = torch.softmax(logits, dim=1)[:, [1, 4, 7]].sum(dim=1)
    _, out = _run(check_group_probability, lambda logits, group: logits[:, group].sum(dim=1), capsys)
    assert all(f"{value:.3f}" not in out for value in reference.tolist())

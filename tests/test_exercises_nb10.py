"""The self-checks of notebook 10's coding exercises: right answers pass, typical wrong ones get a hint."""

from __future__ import annotations

import functools

import pytest
import torch

from cam_utils.course.exercises import check_tokens_to_maps, check_weighted_rollout

# --- exercise 1: tokens (N, P + h·w, C) -> maps (N, C, h, w) ---------------------------------------


def tokens_right(tokens, prefix_tokens, height, width):
    batch, _, channels = tokens.shape
    return tokens[:, prefix_tokens:].reshape(batch, height, width, channels).permute(0, 3, 1, 2)


def tokens_no_permute(tokens, prefix_tokens, height, width):  # the classic: reshape straight to (N, C, h, w)
    return tokens[:, prefix_tokens:].reshape(tokens.shape[0], tokens.shape[2], height, width)


def tokens_one_prefix_only(tokens, prefix_tokens, height, width):  # always drops the class token only
    return tokens_right(tokens, 1, height, width)


def tokens_swapped(tokens, prefix_tokens, height, width):
    return tokens_right(tokens, prefix_tokens, height, width).transpose(2, 3)


def tokens_width_first(tokens, prefix_tokens, height, width):
    return tokens_right(tokens, prefix_tokens, width, height)


def tokens_drop_last(tokens, prefix_tokens, height, width):
    return tokens_right(tokens[:, : tokens.shape[1] - prefix_tokens], 0, height, width)


def test_tokens_right_answers_pass(capsys):
    assert check_tokens_to_maps(tokens_right).passed is True
    assert check_tokens_to_maps(lambda t, p, h, w: t[:, p:].transpose(1, 2).unflatten(2, (h, w))).passed is True
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (tokens_no_permute, "Put the channels first"),
        (tokens_one_prefix_only, "Drop all the prefix tokens first"),
        (tokens_swapped, "rows and columns are swapped"),
        (tokens_width_first, "rows and columns are mixed up"),
        (tokens_drop_last, "the prefix tokens come *first*"),
        (lambda t, p, h, w: tokens_right(t, p, h, w)[0], "expected (2, 5, 3, 4)"),  # right for N = 1 only
        (lambda t, p, h, w: tokens_right(t, p, h, w) * 2, "constant factor"),
        (lambda tokens: tokens, "raised TypeError"),
        ("not a function", "pass your function itself"),
    ],
)
def test_tokens_typical_mistakes_get_a_hint(capsys, answer, hint):
    assert check_tokens_to_maps(answer).passed is False
    printed = capsys.readouterr().out
    assert printed.startswith("✗ Not yet") and hint in printed


# --- exercise 2: rollout with a residual weight -----------------------------------------------------------


def rollout_right(attentions, residual_weight):
    result = None
    for attention in attentions:
        identity = torch.eye(attention.shape[-1], dtype=attention.dtype)
        mixed = (1 - residual_weight) * attention.mean(dim=1) + residual_weight * identity
        result = mixed if result is None else mixed @ result
    return result


def rollout_renormalised(attentions, residual_weight):  # also right: the rows already sum to 1
    mixed = []
    for attention in attentions:
        with_residual = (1 - residual_weight) * attention.mean(dim=1) + residual_weight * torch.eye(attention.shape[-1])
        mixed.append(with_residual / with_residual.sum(dim=-1, keepdim=True))
    return functools.reduce(lambda result, layer: layer @ result, mixed[1:], mixed[0])


def test_rollout_right_answers_pass(capsys):
    assert check_weighted_rollout(rollout_right).passed is True
    assert check_weighted_rollout(rollout_renormalised).passed is True
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda attentions, weight: rollout_right(attentions, 1 - weight), "not the other way round"),
        (lambda attentions, weight: rollout_right(attentions, 0.5), "use λ instead of a fixed 0.5"),
        (lambda attentions, weight: rollout_right(attentions[::-1], weight), "wrong order"),
        (
            lambda attentions, weight: rollout_right([a.amax(1, keepdim=True) for a in attentions], weight),
            "average the heads",
        ),
        (
            lambda attentions, weight: functools.reduce(
                lambda result, a: (1 - weight) * a.mean(1) @ result,
                attentions[1:],
                (1 - weight) * attentions[0].mean(1),
            ),
            "the identity is missing",
        ),
        (lambda attentions, weight: rollout_right(attentions[-1:], weight), "multiply through every layer"),
        (lambda attentions, weight: rollout_right(attentions, weight)[:, 0], "expected (2, 5, 5)"),
        (lambda attentions: attentions, "raised TypeError"),
        (42, "pass your function itself"),
    ],
)
def test_rollout_typical_mistakes_get_a_hint(capsys, answer, hint):
    assert check_weighted_rollout(answer).passed is False
    printed = capsys.readouterr().out
    assert printed.startswith("✗ Not yet") and hint in printed

"""Self-checks for the coding exercises of notebook 10 (Grad-CAM on a vision transformer).

1. ``tokens_to_maps(tokens, prefix_tokens, height, width)``: transformer tokens (N, P + h·w, C),
   P prefix tokens first (class, distillation, register tokens), then the patches row by row, to
   feature maps (N, C, h, w). The notebook folds one class token on a square grid; the check uses
   grids and prefix counts the learner has not seen (1 and 2 prefix tokens, 3x4 and 2x5 grids).
2. ``weighted_rollout(attentions, residual_weight)``: attention rollout with the residual's
   share as a parameter λ: R = Ã_L ··· Ã_1 with Ã_l = (1 − λ) Ā_l + λ I (Ā_l: the heads' mean).
   λ = 0.5 is Abnar & Zuidema's rollout; the check uses λ = 0.5, 0.2 and 0.9 on random attentions.

Each check recognises the typical mistakes (a reshape without permute, rows and columns swapped,
the wrong or too few tokens dropped; λ on the wrong term or ignored, the layers multiplied in the
wrong order, the heads not averaged) and names them, never the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from cam_utils.attention import rollout
from cam_utils.tokens import vit_reshape

from .feedback import CheckResult, diagnose_tensor, report

TokensToMaps = Callable[[torch.Tensor, int, int, int], torch.Tensor]
WeightedRollout = Callable[[Sequence[torch.Tensor], float], torch.Tensor]


def _hidden_tokens() -> list[tuple[torch.Tensor, int, int, int]]:
    """(tokens (N, P + h·w, C), P, h, w) the learner has not seen: non-square grids, one and two prefix tokens."""
    generator = torch.Generator().manual_seed(9)
    return [
        (torch.randn(2, 1 + 3 * 4, 5, generator=generator), 1, 3, 4),
        (torch.randn(1, 2 + 2 * 5, 3, generator=generator), 2, 2, 5),  # DeiT-like: class + distillation token
    ]


def _fold(patches: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, h·w, C) patch tokens, row by row -> (N, C, h, w): the library's ``vit_reshape``, no prefix token."""
    return vit_reshape(patches, prefix_tokens=0, grid_size=(height, width))


def _tokens_problem(function: TokensToMaps, tokens: torch.Tensor, prefix: int, height: int, width: int) -> str | None:
    """A hint for the first mistake on this token batch, or None."""
    batch, _, channels = tokens.shape
    where = f"on tokens of shape {tuple(tokens.shape)} ({prefix} prefix token(s), a {height}x{width} grid)"
    try:
        value = function(tokens.clone(), prefix, height, width)
    except Exception as error:  # noqa: BLE001 - the learner's code: any error becomes a hint
        return (
            f"your function raised {type(error).__name__} {where}: {str(error).rstrip('.')}. Drop all the prefix "
            "tokens first (they are not patches: only the h·w patch tokens fold into the grid), and use height and "
            "width as given."
        )
    reference = _fold(tokens[:, prefix:], height, width)  # (N, C, h, w)
    if isinstance(value, torch.Tensor) and not (value.shape == reference.shape and torch.allclose(value, reference)):
        mistakes = {
            "right shape, wrong arrangement: reshaping (N, h·w, C) straight to (N, C, h, w) mixes channels and "
            "positions. Put the channels first (transpose or permute) before you fold the grid": tokens[
                :, prefix:
            ].reshape(batch, channels, height, width),
            "rows and columns are swapped: the patches come row by row, so fold them as (h, w) and keep that order": reference.transpose(
                2, 3
            ),
            "rows and columns are mixed up: the patches come row by row, so fold them as (h, w), not (w, h)": _fold(
                tokens[:, prefix:], width, height
            ),
            "the prefix tokens come *first*: drop the first prefix_tokens tokens, not the last ones": _fold(
                tokens[:, : tokens.shape[1] - prefix], height, width
            ),
        }
        for hint, wrong in mistakes.items():
            if value.shape == wrong.shape and torch.allclose(value, wrong):
                return f"{hint} ({where})."
    return diagnose_tensor(
        value, reference, name=f"your maps {where}", axis_names=("image", "channel", "row", "column")
    )


def check_tokens_to_maps(function: TokensToMaps) -> CheckResult:
    """Coding exercise 1: ``function(tokens, prefix_tokens, height, width)`` folds tokens (N, P + h·w, C) into (N, C, h, w).

    Prints ✓ or a hint; returns whether the answer is right.
    """
    if not callable(function):
        return report(
            f"pass your function itself (check_tokens_to_maps(tokens_to_maps)), not a {type(function).__name__}.", ""
        )
    for tokens, prefix, height, width in _hidden_tokens():
        problem = _tokens_problem(function, tokens, prefix, height, width)
        if problem is not None:
            return report(problem, "")
    return report(
        None,
        "tokens to maps: prefix tokens dropped, channels first, patches on their grid (1 and 2 prefix tokens, 3x4 and 2x5).",
    )


def _hidden_attentions() -> list[torch.Tensor]:
    """Three layers of random attention (2 images, 3 heads, 5 tokens), each row a probability vector."""
    generator = torch.Generator().manual_seed(90)
    return [(2.0 * torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)).softmax(dim=-1) for _ in range(3)]


def _product(layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """L_last ··· L_first for (N, T, T) matrices given first layer first."""
    result = layers[0]
    for layer in layers[1:]:
        result = layer @ result
    return result


def _weighted_rollout(attentions: Sequence[torch.Tensor], residual_weight: float) -> torch.Tensor:
    """R = Π_l ((1 − λ) Ā_l + λ I), the last layer on the left: (N, T, T), through the library.

    ``attention.rollout`` computes Π_l (B_l + I) / rowsum with B_l its heads' mean. Given one head
    B_l = (1 − λ) Ā_l + (λ − 1) I (rows summing to 0), B_l + I = (1 − λ) Ā_l + λ I has rows summing to 1,
    so the library's renormalisation leaves it as it is.
    """
    identity = torch.eye(attentions[0].shape[-1]).to(attentions[0])
    return rollout(
        [((1 - residual_weight) * a.mean(dim=1) + (residual_weight - 1) * identity)[:, None] for a in attentions]
    )


def _heads_maximum_rollout(attentions: Sequence[torch.Tensor], residual_weight: float) -> torch.Tensor:
    """A typical mistake: the heads' maximum instead of their mean, otherwise the weighted rollout."""
    identity = torch.eye(attentions[0].shape[-1]).to(attentions[0])
    return _product([(1 - residual_weight) * a.amax(dim=1) + residual_weight * identity for a in attentions])


def _rollout_mistakes(attentions: Sequence[torch.Tensor], residual_weight: float) -> dict[str, torch.Tensor]:
    """What the typical wrong answers give, by hint."""
    identity = torch.eye(attentions[0].shape[-1]).to(attentions[0])
    averaged = [a.mean(dim=1) for a in attentions]
    return {
        "λ weighs the identity (the residual connection) and 1 − λ the attention, not the other way round": _weighted_rollout(
            attentions, 1 - residual_weight
        ),
        "your rollout does not change with residual_weight: use λ instead of a fixed 0.5": _weighted_rollout(
            attentions, 0.5
        ),
        "the layers are multiplied in the wrong order: the later layer goes on the left, R = Ã_L ··· Ã_1": _weighted_rollout(
            list(attentions)[::-1], residual_weight
        ),
        "average the heads, do not take their maximum": _heads_maximum_rollout(attentions, residual_weight),
        "the identity is missing: Ã = (1 − λ) Ā + λ I": _product([(1 - residual_weight) * a for a in averaged]),
        "only the last layer is used: multiply through every layer": (1 - residual_weight) * averaged[-1]
        + residual_weight * identity,
    }


def check_weighted_rollout(function: WeightedRollout) -> CheckResult:
    """Coding exercise 2: ``function(attentions, residual_weight)``: rollout with Ã = (1 − λ) Ā + λ I, (N, T, T).

    Prints ✓ or a hint; returns whether the answer is right.
    """
    if not callable(function):
        return report(
            f"pass your function itself (check_weighted_rollout(weighted_rollout)), not a {type(function).__name__}.",
            "",
        )
    attentions = _hidden_attentions()
    for residual_weight in (0.2, 0.9, 0.5):
        try:
            value = function([a.clone() for a in attentions], residual_weight)
        except Exception as error:  # noqa: BLE001 - the learner's code: any error becomes a hint
            return report(
                f"your function raised {type(error).__name__} on 3 layers of attention (2 images, 3 heads, 5 tokens) "
                f"with residual_weight={residual_weight}: {error}. It receives a list of (N, heads, T, T) tensors, "
                "first layer first, and a float.",
                "",
            )
        reference = _weighted_rollout(attentions, residual_weight)  # (N, T, T)
        if isinstance(value, torch.Tensor) and value.shape == reference.shape:
            got = value.detach().to(torch.float64)
            if not torch.allclose(got, reference, atol=1e-6):
                for hint, wrong in _rollout_mistakes(attentions, residual_weight).items():
                    if torch.allclose(got, wrong, atol=1e-6):
                        return report(f"{hint} (tested with residual_weight={residual_weight}).", "")
        problem = diagnose_tensor(
            value,
            reference,
            name=f"your rollout (residual_weight={residual_weight})",
            atol=1e-6,
            axis_names=("image", "token", "token"),
        )
        if problem is not None:
            return report(problem, "")
    return report(
        None,
        "weighted rollout: heads averaged, (1 − λ) Ā + λ I, layers multiplied last on the left (λ = 0.2, 0.9, 0.5).",
    )

"""Self-checks for notebook 01 (what does the network look at?).

* :func:`check_flip_left_right` -- coding exercise 1: mirror a batch N x 3 x H x W left to right.
* :func:`check_group_probability` -- coding exercise 2: the probability of a group of classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

__all__ = ["check_flip_left_right", "check_group_probability"]

_BATCH_AXES = ("image", "colour channel", "row", "column")


def check_flip_left_right(flip_left_right: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Run ``flip_left_right(batch)`` on a hidden N x 3 x H x W batch; print ✓ or a hint.

    The right answer mirrors every image left to right: column j becomes column W - 1 - j
    (the last axis), the batch, colour and row order stay as they are.
    """
    batch = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # N x 3 x H x W, H != W
    untouched = batch.clone()
    result, problem = call_student(flip_left_right, batch, name="flip_left_right")
    if problem is None and not torch.equal(batch, untouched):
        problem = "flip_left_right changed its input batch in place: return a new tensor and leave the input as it is."
    if problem is None:
        reference = untouched.flip(dims=[3])  # N x 3 x H x W, columns reversed
        problem = diagnose_tensor(result, reference, name="the flipped batch", axis_names=_BATCH_AXES)
        if problem is not None:
            problem = (
                known_mistake(
                    result,
                    {
                        "the images are upside down: you reversed the rows (dim 2, the height). "
                        "Left to right means reversing the columns, the last axis.": untouched.flip(dims=[2]),
                        "you reversed the colour channels (dim 1: RGB became BGR), not the columns.": untouched.flip(
                            dims=[1]
                        ),
                        "you reversed the order of the images in the batch (dim 0), not the columns.": untouched.flip(
                            dims=[0]
                        ),
                        "the images are rotated by 180 degrees: you reversed rows and columns; only the columns "
                        "should be reversed.": untouched.flip(dims=[2, 3]),
                    },
                )
                or problem
            )
    return report(problem, "flip_left_right mirrors every image left to right, and only that.")


def check_group_probability(group_probability: Callable[[torch.Tensor, Sequence[int]], torch.Tensor]) -> CheckResult:
    """Run ``group_probability(logits, class_indices)`` on hidden logits; print ✓ or a hint.

    The right answer, for logits of shape N x classes: p = softmax(logits) over the classes
    (dim=1), then the sum of p over ``class_indices``, one number per image (shape N).
    """
    generator = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(3, 10, generator=generator)  # N x classes, hidden
    group = [1, 4, 7]
    result, problem = call_student(group_probability, logits.clone(), group, name="group_probability")
    if problem is None:
        reference = torch.softmax(logits, dim=1)[:, group].sum(dim=1)  # N
        problem = diagnose_tensor(result, reference, name="the group probabilities", axis_names=("image",))
        if problem is not None:
            problem = (
                known_mistake(
                    result,
                    {
                        "softmax ran over the wrong axis (dim=0, the images): each class's probabilities then sum "
                        "to 1 across the batch. Take it over the classes, the last axis.": torch.softmax(logits, dim=0)[
                            :, group
                        ].sum(dim=1),
                        "you added up logits: they are raw scores, not probabilities. Apply torch.softmax over all "
                        "the classes first.": logits[:, group].sum(dim=1),
                        "the softmax only saw the group's own logits, so the group always gets probability 1. Apply "
                        "softmax over all the classes, then pick the group.": torch.softmax(
                            logits[:, group], dim=1
                        ).sum(dim=1),
                        "torch.sigmoid scores each class on its own; softmax makes the classes share one unit of "
                        "probability.": torch.sigmoid(logits)[:, group].sum(dim=1),
                        "you averaged the group's probabilities: the probability of 'one of these classes' is their sum.": torch.softmax(
                            logits, dim=1
                        )[:, group].mean(dim=1),
                    },
                )
                or problem
            )
    return report(problem, "group_probability adds up the softmax probabilities of the group, per image.")

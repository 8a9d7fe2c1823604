"""Self-checks for the coding exercises of notebook 05 (Experiments).

Exercise 1 asks for ``rank_and_probability(logits, class_idx) -> (rank, probability)``;
exercise 2 for ``crop_box(width, height) -> (left, top, right, bottom)``, the part of a
photo that the network sees. The checks run them on inputs the learner has not seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._student_code import call_student
from .feedback import CheckResult, report

# EfficientNet-Lite0's preprocessing (``load_model().transform``): the shorter side is resized
# to 256 pixels, then the centre 224 x 224 is cut out.
RESIZE_SHORTER_SIDE = 256
CROP_SIZE = 224
_PHOTO_SIZES = ((900, 600), (300, 500), (512, 512), (1000, 260))  # (width, height), none of them the rocket's


def _hidden_logits() -> torch.Tensor:
    """Scores of one image over 12 classes (1, 12), all different, made without the global random state."""
    generator = torch.Generator().manual_seed(505)
    return 3.0 * torch.randn(1, 12, generator=generator)


def _number(value: object) -> float | None:
    """A Python number or a one-element tensor as a float; None for anything else."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def check_rank_and_probability(function: Callable[[torch.Tensor, int], tuple[int, float]]) -> CheckResult:
    """Coding exercise 1: ``function(logits, class_idx)`` returns (rank, probability) of one class.

    ``logits`` has shape (1, num_classes), as the model returns it; rank 1 is the most probable class.
    Prints ✓ or a hint (off by one, reversed order, the logit instead of p, a softmax over the wrong axis).
    """
    logits = _hidden_logits()  # 1 x C
    probabilities = torch.softmax(logits, dim=1)[0]  # C
    num_classes = probabilities.numel()
    middle = int(probabilities.argsort()[num_classes // 2])
    for class_idx in (int(probabilities.argmax()), middle, int(probabilities.argmin())):
        rank = _position_in_descending_order(probabilities, class_idx)  # 1 = most probable
        answer, problem = call_student(
            function,
            logits.clone(),
            class_idx,
            name="rank_and_probability",
            called_as="rank_and_probability(logits, class_idx)",
        )
        if problem is None:
            problem = _rank_hint(
                answer, rank, float(probabilities[class_idx]), float(logits[0, class_idx]), num_classes
            )
        if problem is not None:
            return report(problem, "")
    return report(None, "rank and probability are right for the most probable, a middle and the least probable class.")


def _rank_hint(answer: object, rank: int, probability: float, logit: float, num_classes: int) -> str | None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return "return a pair (rank, probability), e.g. `return rank, probability`."
    got_rank, got_probability = (_number(value) for value in answer)
    if got_rank is None or got_probability is None:
        return "rank and probability should each be a number (an int, a float or a one-element tensor)."
    if math.isclose(got_probability, 1.0) and not math.isclose(probability, 1.0):
        return "probability 1 for this class: a softmax over the batch axis (dim=0) of one image; use dim=1."
    if got_rank != rank:
        if got_rank == rank - 1:
            return "the rank is off by one: the most probable class has rank 1 (positions in argsort count from 0)."
        if got_rank == num_classes + 1 - rank:
            return "the rank counts from the least probable class: sort in descending order."
        return "the rank is wrong: count the classes whose probability is larger than this class's, then add 1."
    if math.isclose(got_probability, logit, rel_tol=1e-4):
        return "that is the logit (the raw score), not the probability: apply torch.softmax to the logits."
    if not math.isclose(got_probability, probability, rel_tol=1e-4, abs_tol=1e-7):
        return "the probability is wrong: p = softmax(logits) over the classes, then the entry of this class."
    return None


def _position_in_descending_order(probabilities: torch.Tensor, class_idx: int) -> int:
    """1 + where ``class_idx`` comes when the classes are sorted from the most to the least probable."""
    return int((probabilities.argsort(descending=True) == class_idx).nonzero()) + 1


def _crop_box_reference(width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in the photo's pixels of the centre crop the network sees.

    The crop's corners in the resized image, (resized size ∓ CROP_SIZE) / 2 on each axis, mapped back to the
    photo by the inverse of the resize.
    """
    to_resized = RESIZE_SHORTER_SIDE / min(width, height)
    corners = [(size * to_resized + sign * CROP_SIZE) / 2 / to_resized for sign in (-1, 1) for size in (width, height)]
    return corners[0], corners[1], corners[2], corners[3]


def check_crop_box(function: Callable[[int, int], tuple[float, float, float, float]]) -> CheckResult:
    """Coding exercise 2: ``function(width, height)`` returns the box the network sees, in photo pixels.

    Tried on landscape, portrait and square photo sizes; a box within 1.5 pixels is right.
    Prints ✓ or a hint (no resize, the whole photo, width and height swapped, not square).
    """
    for width, height in _PHOTO_SIZES:
        answer, problem = call_student(function, width, height, name="crop_box", called_as="crop_box(width, height)")
        if problem is None:
            problem = _crop_box_hint(answer, width, height)
        if problem is not None:
            return report(problem, "")
    return report(None, "your box is right for landscape, portrait and square photos.")


def _close_box(box: tuple[float, ...], reference: tuple[float, ...]) -> bool:
    return len(box) == len(reference) and all(abs(got - want) <= 1.5 for got, want in zip(box, reference, strict=True))


def _crop_box_hint(answer: object, width: int, height: int) -> str | None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 4:
        return "return four numbers (left, top, right, bottom)."
    box = tuple(number for number in (_number(value) for value in answer) if number is not None)
    if len(box) != 4:
        return "each of left, top, right, bottom should be a number."
    reference = _crop_box_reference(width, height)
    if _close_box(box, reference):
        return None
    size = f"For a {width} x {height} photo"
    if _close_box(box, (0, 0, width, height)):
        return f"{size} you return the whole photo: the centre crop cuts off part of the longer side."
    if _close_box(box, _crop_box_reference(height, width)):
        return f"{size} your box has width and height swapped: x runs along the width, y along the height."
    if abs((box[2] - box[0]) - CROP_SIZE) <= 1.5 and abs((box[3] - box[1]) - CROP_SIZE) <= 1.5:
        return (
            f"{size} your box is {CROP_SIZE} photo pixels wide, but {CROP_SIZE} is measured after the resize: "
            f"convert it to the photo's pixels (the resize multiplies sizes by {RESIZE_SHORTER_SIDE} / shorter side)."
        )
    if abs((box[2] - box[0]) - (box[3] - box[1])) > 1.5:
        return f"{size} your box is not square, but the network sees a square crop: right - left = bottom - top."
    return f"{size} the box is not where the crop is: a centred crop leaves the same margin on both sides."

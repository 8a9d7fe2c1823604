"""Self-checks for notebook 08 (faithfulness).

* :func:`check_deletion_scores` -- coding exercise 1: a deletion curve written from scratch,
  run on a small hidden classifier and compared with ``cam_utils.metrics.deletion_curve``.
* :func:`check_other_class_deletion` -- coding exercise 2: the class-discriminativeness control,
  the other object's probability deleted in the order of its own map and of the explained class's map.

Each check prints ✓ or a hint naming the kind of mistake, never the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from cam_utils.gradcam import grad_cam_from_forward
from cam_utils.hooks import forward_with_features
from cam_utils.metrics import deletion_curve
from cam_utils.models import LoadedModel
from cam_utils.postprocess import normalize, upsample

from ._hidden_classifier import IMAGE_SIZE, HiddenClassifier
from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

__all__ = ["check_deletion_scores", "check_other_class_deletion"]

# --- coding exercise 1: deletion scores from scratch -------------------------------------

_MAP_SIZE = 8  # hidden saliency: 8 x 8, upsampled x2 (no two pixels tie: every rank is defined)
_STEPS = 8  # 256 pixels, 32 per step
_CLASS = 2  # not the hidden model's top-1 class, so using the top-1 class is caught


def _hidden_inputs() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The hidden model, image (1, 3, 16, 16, normalised) and saliency map (8, 8), the same on every call."""
    generator = torch.Generator().manual_seed(11)
    image = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1
    saliency = torch.rand(_MAP_SIZE, _MAP_SIZE, generator=generator)
    return HiddenClassifier(seed=7, scale=0.5), image, saliency


def _curve_with_mistake(
    model: nn.Module,
    image: torch.Tensor,
    rank: torch.Tensor,
    class_idx: int,
    fill: float = 0.0,
    probabilities: bool = True,
) -> torch.Tensor:
    """What a typical mistake computes: (steps + 1,) scores, all the perturbed images in one batch.

    ``rank[p]`` is the step order of pixel p (0 first; a rank of H*W or more: never deleted). The right curve
    comes from the library (``deletion_curve``); this helper only replays mistakes, from the ranks they give.
    """
    height, width = image.shape[-2:]
    counts = torch.arange(_STEPS + 1) * (height * width // _STEPS)  # pixels deleted at each step
    deleted = (rank[None, :] < counts[:, None]).view(-1, 1, height, width)  # (steps + 1, 1, H, W)
    with torch.no_grad():
        outputs = model(torch.where(deleted, torch.full_like(image, fill), image))  # (steps + 1, classes)
    return (torch.softmax(outputs, dim=1) if probabilities else outputs)[:, class_idx]


def _ranks(values: torch.Tensor, n_pixels: int, descending: bool = True) -> torch.Tensor:
    """The rank of every pixel when ``values`` (one per pixel index, maybe fewer than ``n_pixels``) are sorted."""
    rank = torch.full((n_pixels,), n_pixels, dtype=torch.long)  # pixels without a value: never deleted
    rank[values.argsort(descending=descending, stable=True)] = torch.arange(values.numel())
    return rank


def check_deletion_scores(deletion_scores: Callable[..., torch.Tensor]) -> CheckResult:
    """Run ``deletion_scores(model, image, saliency, class_idx, steps)`` on hidden inputs; print ✓ or a hint.

    Hidden inputs: a small classifier, a 1 x 3 x 16 x 16 normalised image, an 8 x 8 map, a class
    that is not the model's top-1, 8 steps. The right answer is the deletion curve's scores,
    ``metrics.deletion_curve(model, image, saliency[None], class_idx, pixels_per_step=32)[0].scores``:
    9 softmax probabilities, the first on the untouched image.
    """
    model, image, saliency = _hidden_inputs()
    result, problem = call_student(
        deletion_scores,
        model,
        image.clone(),
        saliency.clone(),
        _CLASS,
        _STEPS,
        name="deletion_scores",
        called_as="deletion_scores(model, image, saliency, class_idx, steps)",
    )
    if problem is None:
        per_step = IMAGE_SIZE * IMAGE_SIZE // _STEPS
        reference = deletion_curve(model, image, saliency[None], _CLASS, pixels_per_step=per_step)[0].scores
        if isinstance(result, torch.Tensor) and result.dim() == 0:
            problem = "deletion_scores returned one number; it should return the whole curve, one probability per step."
        else:
            problem = _deletion_mistake(result, reference, model, image, saliency)
    return report(problem, "deletion_scores removes the most salient pixels first and records the class probability.")


def _deletion_mistake(
    result: object, reference: torch.Tensor, model: nn.Module, image: torch.Tensor, saliency: torch.Tensor
) -> str | None:
    """None when ``result`` is right, else the hint of the first typical mistake it reproduces."""
    problem = diagnose_tensor(result, reference, name="your curve", atol=1e-5, rtol=1e-4, axis_names=("step",))
    if problem is None:
        return None
    if not isinstance(result, torch.Tensor):
        return problem
    with torch.no_grad():
        top1 = int(model(image).argmax())
    n_pixels = image.shape[-1] * image.shape[-2]
    size = (int(image.shape[-2]), int(image.shape[-1]))
    bilinear = upsample(saliency, size).flatten()
    nearest = upsample(saliency, size, mode="nearest").flatten()
    first = _ranks(bilinear, n_pixels)
    mistakes = {
        "the curve must start at fraction 0 (the untouched image): steps + 1 values, not steps.": reference[1:],
        "you deleted the least salient pixels first: rank the map in descending order.": _curve_with_mistake(
            model, image, _ranks(bilinear, n_pixels, descending=False), _CLASS
        ),
        "these are logits; the curve records the softmax probability of the class.": _curve_with_mistake(
            model, image, first, _CLASS, probabilities=False
        ),
        "deleted pixels became black (-1 here); RISE's deletion sets them to 0 in normalised space "
        "(mid-grey for this normalisation).": _curve_with_mistake(model, image, first, _CLASS, fill=-1.0),
        "you ranked pixels on a nearest-neighbour upsampling; rank them on the bilinear upsampling of the map "
        "(cam_utils.upsample).": _curve_with_mistake(model, image, _ranks(nearest, n_pixels), _CLASS),
        "you ranked the map's cells as if they were the image's pixels: upsample the map to the image size "
        "first (cam_utils.upsample), then rank its pixels.": _curve_with_mistake(
            model, image, _ranks(saliency.flatten(), n_pixels), _CLASS
        ),
        "you followed the model's top-1 class; record the probability of class_idx.": _curve_with_mistake(
            model, image, first, top1
        ),
    }
    return known_mistake(result, mistakes) or problem


# --- coding exercise 2: a map for the other object ---------------------------------------


def _other_class_reference(net: LoadedModel, x: torch.Tensor, class_idx: int, other_idx: int) -> dict[str, Any]:
    """Grad-CAM at bn2 of both classes on ``x`` and their probabilities (one forward pass)."""
    forward = forward_with_features(net.model, x, net.feature_layer)
    probabilities = torch.softmax(forward.logits.detach(), dim=1)[0]  # (1000,)
    return {
        "model": net.model,
        "x": x,
        "other": other_idx,
        "other_map": grad_cam_from_forward(forward, other_idx).detach(),  # (1, 7, 7)
        "class_map": grad_cam_from_forward(forward, class_idx).detach(),  # (1, 7, 7)
        "p_other": float(probabilities[other_idx]),
        "p_class": float(probabilities[class_idx]),
        "top1": int(probabilities.argmax()),
    }


def _other_after_first_step(reference: dict[str, Any], saliency: torch.Tensor, pixels_per_step: int) -> float:
    """p(other class) after deleting the ``pixels_per_step`` pixels that ``saliency`` ranks highest (one forward)."""
    x = reference["x"]
    order = upsample(saliency, tuple(x.shape[-2:])).flatten().argsort(descending=True, stable=True)
    deleted = x.clone().flatten(2)  # (1, 3, H*W)
    deleted[:, :, order[:pixels_per_step]] = 0.0
    with torch.no_grad():
        return float(torch.softmax(reference["model"](deleted.view_as(x)), dim=1)[0, reference["other"]])


def _map_mistake(reference: dict[str, Any], other_map: object) -> str | None:
    """None when ``other_map`` is the other class's Grad-CAM map at bn2 (any positive scale), else a hint."""
    if not isinstance(other_map, torch.Tensor):
        return f"other_map should be a torch.Tensor, got {type(other_map).__name__}."
    got = other_map.detach().cpu().float()
    if got.shape != reference["other_map"].shape:
        hint = diagnose_tensor(got, reference["other_map"], name="other_map", axis_names=("image", "row", "column"))
        return f"{hint} Keep the 7 x 7 map at bn2; deletion_curve upsamples it itself."
    if torch.allclose(normalize(got), normalize(reference["class_map"]), atol=1e-4):
        return "other_map is the map of the explained class: explain the other object's class instead."
    if not torch.allclose(normalize(got), normalize(reference["other_map"]), atol=1e-4):
        return (
            "other_map is not Grad-CAM for the other class at bn2 (net.feature_layer); check the layer and the class."
        )
    return None


def _curve_mistake(
    reference: dict[str, Any], curve: object, name: str, right_map: str, wrong_map: str, pixels_per_step: int
) -> str | None:
    """None when ``curve`` is p(other class) deleted in the order of ``right_map``, else a hint."""
    if isinstance(curve, (list, tuple)):
        return f"{name} is a list: deletion_curve returns one Curve per image; keep the photo's own Curve."
    scores = getattr(curve, "scores", None)
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
        return f"{name} should be the Curve that metrics.deletion_curve returns (with .scores and .auc)."
    n_pixels = reference["x"].shape[-1] * reference["x"].shape[-2]
    if scores.shape[0] != -(-n_pixels // pixels_per_step) + 1:
        return f"{name} has {scores.shape[0]} points; delete as many pixels per step as the notebook's curves do (PIXELS_PER_STEP)."
    start = float(scores[0])
    if abs(start - reference["p_other"]) > 1e-4:
        if abs(start - reference["p_class"]) < 1e-4 or abs(start - _top1_probability(reference)) < 1e-4:
            return f"{name} follows the explained class's probability: record the other class's probability instead."
        return f"{name} does not start at p(other class) on the photo: check the image and the class."
    first_step = float(scores[1])
    if abs(first_step - _other_after_first_step(reference, reference[right_map], pixels_per_step)) < 1e-4:
        return None
    if abs(first_step - _other_after_first_step(reference, reference[wrong_map], pixels_per_step)) < 1e-4:
        other = "the explained class's map" if wrong_map == "class_map" else "the other class's map"
        return f"{name} deletes pixels in the order of {other}: swap the maps."
    return f"{name} does not delete the pixels in the order of the expected map (Grad-CAM at bn2)."


def _top1_probability(reference: dict[str, Any]) -> float:
    with torch.no_grad():
        return float(torch.softmax(reference["model"](reference["x"]), dim=1).max())


#: The names exercise 2 asks for, in the order the check looks at them.
ANSWER_NAMES = ("other_idx", "other_map", "own_curve", "class_map_curve")


def check_other_class_deletion(
    net: LoadedModel,
    x: torch.Tensor,
    class_idx: int,
    other_class: str,
    pixels_per_step: int,
    answers: Mapping[str, Any],
) -> CheckResult:
    """Check the other-class control of notebook 08; print ✓ or a hint.

    The learner's four values are looked up by name in ``answers`` (the notebook passes ``globals()``), so
    that the check prints a hint, not a NameError, when the cell above has not run or not defined one yet.

    Args:
        net: the loaded EfficientNet-Lite0 (``load_model()``), whose ``bn2`` maps are checked.
        x: the photo, (1, 3, 224, 224) normalised.
        class_idx: the explained class; ``other_class``: the other object's class name.
        pixels_per_step: the pixels deleted per step (the notebook's ``PIXELS_PER_STEP``).
        answers: a mapping with ``other_idx`` (the other class's index), ``other_map`` (Grad-CAM for it at
            bn2 on ``x``, (1, 7, 7)), ``own_curve`` (the deletion Curve of p(other) in the order of
            ``other_map``) and ``class_map_curve`` (the same in the order of the explained class's map).
    """
    missing = [name for name in ANSWER_NAMES if name not in answers]
    if missing:
        return report(
            f"{_listed(missing)} not defined yet: run your cell above, or compute "
            f"{'it' if len(missing) == 1 else 'them'} there under {'this name' if len(missing) == 1 else 'these names'}.",
            "",
        )
    other_idx = net.categories.index(other_class)
    problem = _index_mistake(answers["other_idx"], other_idx, int(class_idx))
    if problem is None:
        reference = _other_class_reference(net, x, int(class_idx), other_idx)
        problem = (
            _map_mistake(reference, answers["other_map"])
            or _curve_mistake(reference, answers["own_curve"], "own_curve", "other_map", "class_map", pixels_per_step)
            or _curve_mistake(
                reference, answers["class_map_curve"], "class_map_curve", "class_map", "other_map", pixels_per_step
            )
        )
    return report(problem, "both curves follow p(other class), each in the order of its own map.")


def _listed(names: list[str]) -> str:
    """``a is`` / ``a and b are`` / ``a, b and c are``."""
    if len(names) == 1:
        return f"{names[0]} is"
    return f"{', '.join(names[:-1])} and {names[-1]} are"


def _index_mistake(got: object, other_idx: int, class_idx: int) -> str | None:
    """None when ``got`` is the other class's index, else a hint."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int):
        return f"other_idx should be an int, the other class's position in the model's list of class names; got {type(got).__name__}."
    if got == class_idx:
        return "other_idx is the explained class: it should be the other object's class (OTHER_CLASS)."
    if got != other_idx:
        return "other_idx is not the index of OTHER_CLASS in the model's list of class names."
    return None

"""Self-checks for notebook 07 (variants).

* :func:`check_increase_of_confidence` -- coding exercise 1: Score-CAM's channel weights as the paper
  defines them (its Definition 2), p_c(x ⊙ H^k) - p_c(x_b), run on a small hidden classifier.

Each check prints ✓ or a hint naming the kind of mistake, never the expected numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cam_utils.postprocess import normalize, upsample
from cam_utils.scorecam import masked_scores

from ._hidden_classifier import IMAGE_SIZE, HiddenClassifier
from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

__all__ = ["check_increase_of_confidence"]

_CHANNELS = 5  # hidden feature maps: 5 x 4 x 4, upsampled x4
_MAP_SIZE = 4
_CLASS = 2  # not the hidden model's top-1 class, so using the top-1 class is caught


def _hidden_inputs() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The hidden model, image (1, 3, 16, 16), feature maps (5, 4, 4) and baseline (1, 3, 16, 16)."""
    generator = torch.Generator().manual_seed(23)
    image = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1
    feature_maps = torch.rand(_CHANNELS, _MAP_SIZE, _MAP_SIZE, generator=generator) * 3  # none constant
    baseline = 0.3 * torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) - 0.15  # a dim, noisy image
    return HiddenClassifier(seed=17, scale=0.8), image, feature_maps, baseline


def _weights(
    model: nn.Module,
    image: torch.Tensor,
    feature_maps: torch.Tensor,
    class_idx: int,
    baseline: torch.Tensor | None,
    mode: str = "bilinear",
    normalise: str = "after",
    score: str = "probability",
    channel_softmax: bool = False,
) -> torch.Tensor:
    """The weights with one typical mistake switched on: (C,). The right answer comes from :func:`_reference`."""
    height, width = image.shape[-2:]
    size = (height, width)
    if normalise == "after":
        masks = normalize(upsample(feature_maps, size, mode=mode))
    elif normalise == "before":
        masks = upsample(normalize(feature_maps), size, mode=mode)
    else:
        masks = upsample(feature_maps, size, mode=mode)  # raw channels as masks
    with torch.no_grad():
        masked, base = model(image * masks[:, None]), model(baseline if baseline is not None else image)
    if score == "probability":
        masked, base = torch.softmax(masked, dim=1), torch.softmax(base, dim=1)
    weights = masked[:, class_idx] - (base[0, class_idx] if baseline is not None else 0.0)
    return torch.softmax(weights, dim=0) if channel_softmax else weights


def _reference(
    model: nn.Module, image: torch.Tensor, feature_maps: torch.Tensor, baseline: torch.Tensor
) -> torch.Tensor:
    """The right weights through the library: Score-CAM's masked probabilities (the released code's weights,
    ``scorecam.masked_scores``) minus the baseline's probability of the class: (C,)."""
    masked = masked_scores(model, image, feature_maps[None], torch.tensor([_CLASS]), batch_size=_CHANNELS)[0]
    with torch.no_grad():
        return masked - torch.softmax(model(baseline), dim=1)[0, _CLASS]


def check_increase_of_confidence(increase_of_confidence: Callable[..., torch.Tensor]) -> CheckResult:
    """Run ``increase_of_confidence(model, image, feature_maps, class_idx, baseline)`` on hidden inputs.

    Hidden inputs: a small classifier, a 1 x 3 x 16 x 16 normalised image, 5 feature maps of 4 x 4, a class that is
    not the model's top-1, and a baseline image. The right answer is, for every channel k,
    ``softmax(model(image * H^k))[class] - softmax(model(baseline))[class]`` with
    ``H = normalize(upsample(feature_maps, (16, 16)))``. Prints ✓ or a hint.
    """
    model, image, feature_maps, baseline = _hidden_inputs()
    result, problem = call_student(
        increase_of_confidence,
        model,
        image.clone(),
        feature_maps.clone(),
        _CLASS,
        baseline.clone(),
        name="increase_of_confidence",
        called_as="increase_of_confidence(model, image, feature_maps, class_idx, baseline)",
    )
    if problem is None:
        reference = _reference(model, image, feature_maps, baseline)
        problem = _weights_mistake(result, reference, model, image, feature_maps, baseline)
    return report(problem, "increase_of_confidence masks with each normalised channel and subtracts the baseline.")


def _weights_mistake(
    result: object,
    reference: torch.Tensor,
    model: nn.Module,
    image: torch.Tensor,
    feature_maps: torch.Tensor,
    baseline: torch.Tensor,
) -> str | None:
    """None when ``result`` is right, else the hint of the first typical mistake it reproduces."""
    problem = diagnose_tensor(result, reference, name="your weights", atol=1e-6, rtol=1e-5, axis_names=("channel",))
    if problem is None:
        return None
    if not isinstance(result, torch.Tensor):
        return problem
    with torch.no_grad():
        top1 = int(model(image).argmax())
    mistakes = {
        "you did not subtract the baseline's probability: the paper's weight is an increase of confidence.": _weights(
            model, image, feature_maps, _CLASS, None
        ),
        "these are differences of logits; use the softmax probability of the class for both images.": _weights(
            model, image, feature_maps, _CLASS, baseline, score="logit"
        ),
        "the masks are the raw upsampled channels; min-max normalise each channel (cam_utils.normalize).": _weights(
            model, image, feature_maps, _CLASS, baseline, normalise="none"
        ),
        "normalise each channel after upsampling it, not before (the upsampled channel is the mask).": _weights(
            model, image, feature_maps, _CLASS, baseline, normalise="before"
        ),
        "you upsampled with nearest neighbours; Score-CAM's masks are upsampled bilinearly (cam_utils.upsample).": _weights(
            model, image, feature_maps, _CLASS, baseline, mode="nearest"
        ),
        "you passed the increases through a softmax over the channels (the paper's Algorithm 1); return the "
        "increases themselves.": _weights(model, image, feature_maps, _CLASS, baseline, channel_softmax=True),
        "you used the model's top-1 class; use class_idx.": _weights(model, image, feature_maps, top1, baseline),
    }
    return known_mistake(result, mistakes) or problem

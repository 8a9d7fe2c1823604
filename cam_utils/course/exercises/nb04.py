"""Self-checks for the coding exercises of notebook 04 (Grad-CAM step by step).

Both exercises ask for a function ``f(model, x, layer, class_idx) -> map (1, h, w)``. The
checks run it on a small network the learner has not seen, whose head has no global average
pooling (so the gradient varies over positions, and shortcuts that only hold on a GAP network
fail), and compare the result with a reference computed here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from cam_utils.gradcam import grad_cam
from cam_utils.hooks import forward_with_features

from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

MapFunction = Callable[[nn.Module, torch.Tensor, str, int], torch.Tensor]

_LAYER = "features"  # the explained layer of the hidden network
_AXES = ("image", "row", "column")


def _hidden_network() -> tuple[nn.Module, torch.Tensor]:
    """A small fixed classifier (conv, conv, flatten, linear: no GAP) and one input (1, 3, 6, 6).

    Built inside ``fork_rng`` with its own generator: the learner's random state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        generator = torch.Generator().manual_seed(1)
        conv = nn.Conv2d(3, 6, 3, padding=1)
        features = nn.Conv2d(6, 8, 3, padding=1)  # A: 1 x 8 x 6 x 6
        head = nn.Linear(8 * 6 * 6, 5)  # the score depends on *where* a feature is
        model = nn.Sequential(
            OrderedDict(
                conv=conv,
                relu=nn.ReLU(),
                features=features,
                act=nn.ReLU(inplace=True),
                flatten=nn.Flatten(),
                head=head,
            )
        )
        layers: tuple[nn.Conv2d | nn.Linear, ...] = (conv, features, head)
        with torch.no_grad():
            for module in layers:
                fan_in = module.weight[0].numel()  # scale 1/sqrt(fan_in): moderate logits, no saturated softmax
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in**0.5)
                if module.bias is not None:  # all three have one
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
        x = torch.randn(1, 3, 6, 6, generator=generator)
    return model.eval(), x


def _probability_grad_cam(model: nn.Module, x: torch.Tensor, class_idx: int) -> torch.Tensor:
    """Reference: Grad-CAM of p_c = softmax(y)_c, (1, h, w): the library's Grad-CAM of a model whose
    output is the softmax (the explained score is then the probability, not the logit)."""
    return grad_cam(nn.Sequential(model, nn.Softmax(dim=1)), x, model.get_submodule(_LAYER), class_idx=class_idx)


def _kept_output_map(model: nn.Module, x: torch.Tensor, class_idx: int, score: str = "logit") -> torch.Tensor:
    """A typical mistake: Grad-CAM on the tensor a forward hook kept, which the in-place ReLU after the
    layer then overwrote (notebook 03). ``score``: "logit" or "probability"."""
    kept: list[torch.Tensor] = []
    handle = model.get_submodule(_LAYER).register_forward_hook(lambda module, inputs, output: kept.append(output))
    try:
        with torch.enable_grad():
            logits = model(x)
    finally:
        handle.remove()
    target = logits[0, class_idx] if score == "logit" else torch.softmax(logits, dim=1)[0, class_idx]
    (gradients,) = torch.autograd.grad(target, kept[0])
    return torch.relu((gradients.mean(dim=(2, 3))[:, :, None, None] * kept[0]).sum(dim=1)).detach()


_OVERWRITTEN = (
    "the feature maps you weighted were overwritten: this network has an in-place ReLU right after the "
    "explained layer, which changed the very tensor your hook kept (notebook 03's pitfall). Weight a copy "
    "of the layer's output taken before that ReLU, as forward_with_features does."
)


def _usage_problem(model: nn.Module, result: object, name: str) -> str | None:
    """What the learner's function left behind: ``.grad`` on the parameters, a map still in the graph."""
    if any(parameter.grad is not None for parameter in model.parameters()):
        return (
            f"{name} wrote .grad on the model's parameters (backward() does that, as notebook 03 showed): "
            "use torch.autograd.grad, which returns the gradient and writes nothing."
        )
    if isinstance(result, torch.Tensor) and result.requires_grad:
        return (
            f"the map {name} returns still requires grad: it is part of autograd's graph, which it keeps "
            "alive. Weight the feature maps detached from the graph, so that the map is a plain tensor."
        )
    return None


def _diagnose(value: object, reference: torch.Tensor) -> str | None:
    """diagnose_tensor with a tolerance relative to the reference's size (these maps are small)."""
    atol = 1e-4 * max(float(reference.abs().max()), 1e-6)
    return diagnose_tensor(value, reference, name="your map", atol=atol, rtol=1e-3, axis_names=_AXES)


def _matches(value: object, reference: torch.Tensor) -> bool:
    return isinstance(value, torch.Tensor) and _diagnose(value, reference) is None


def _check_on_hidden_network(
    function: object,
    name: str,
    classes: tuple[int, ...],
    reference: Callable[[nn.Module, torch.Tensor, int], torch.Tensor],
    hint: Callable[[torch.Tensor, nn.Module, torch.Tensor, int], str | None],  # for a map of the right shape
    success: str,
) -> CheckResult:
    """Run ``function`` on the hidden network for each class; report ✓ or the first hint."""
    model, x = _hidden_network()
    for class_idx in classes:
        result, problem = call_student(
            function,
            model,
            x,
            _LAYER,
            class_idx,
            name=name,
            called_as=f'{name}(model, x, layer, class_idx) with a layer name such as "{_LAYER}"',
        )
        if problem is None:
            problem = _usage_problem(model, result, name)
        if problem is None:
            expected = reference(model, x, class_idx)  # 1 x h x w
            if not _matches(result, expected):
                same_shape = isinstance(result, torch.Tensor) and result.shape == expected.shape
                problem = (hint(result, model, x, class_idx) if same_shape else None) or _diagnose(result, expected)
        if problem is not None:
            return report(problem, "")
    return report(None, success)


def check_grad_cam_by_hand(function: MapFunction) -> CheckResult:
    """Coding exercise 2: ``function(model, x, layer, class_idx)`` computes Grad-CAM (1, h, w) by hand.

    Prints ✓ or a hint (shape, missing ReLU, sum instead of mean, gradient not averaged, ...).
    """
    return _check_on_hidden_network(
        function,
        "grad_cam_by_hand",
        (1, 3),
        lambda model, x, class_idx: grad_cam(model, x, _LAYER, class_idx=class_idx),
        _grad_cam_hint,
        "your Grad-CAM matches on a test network without GAP, for two classes.",
    )


def _known_map_mistake(result: torch.Tensor, mistakes: dict[str, torch.Tensor]) -> str | None:
    """known_mistake with a tolerance relative to the learner's map (these maps are small)."""
    atol = 1e-4 * max(float(result.detach().abs().max()), 1e-6)
    return known_mistake(result, mistakes, atol=atol, rtol=1e-3)


def _grad_cam_hint(result: torch.Tensor, model: nn.Module, x: torch.Tensor, class_idx: int) -> str | None:
    """A hint for the typical mistakes of Grad-CAM by hand that diagnose_tensor cannot name, else None."""
    forward = forward_with_features(model, x, _LAYER)
    (gradients,) = torch.autograd.grad(forward.logits[0, class_idx], forward.feature_maps)
    position_by_position = (gradients * forward.feature_maps.detach()).sum(dim=1)  # no averaging of the gradient
    not_averaged = (
        "you multiplied the gradient and A position by position. Grad-CAM first averages each "
        "channel's gradient over the positions (the row and column axes): one weight alpha_k per channel."
    )
    return _known_map_mistake(
        result,
        {
            not_averaged: torch.relu(position_by_position),
            not_averaged + " (Then the ReLU.)": position_by_position,
            "this is the map of the softmax probability: differentiate the raw class score (the logit).": _probability_grad_cam(
                model, x, class_idx
            ),
            _OVERWRITTEN: _kept_output_map(model, x, class_idx),
        },
    )


def check_probability_grad_cam(function: MapFunction) -> CheckResult:
    """Coding exercise 1: ``function(model, x, layer, class_idx)`` is Grad-CAM of the softmax probability p_c.

    Prints ✓ or a hint (the logit's map, a softmax over the wrong axis, missing ReLU, ...).
    """
    return _check_on_hidden_network(
        function,
        "probability_grad_cam",
        (0, 3),
        _probability_grad_cam,
        _probability_hint,
        "your map of the probability p_c matches on a test network, for two classes.",
    )


def _probability_hint(result: torch.Tensor, model: nn.Module, x: torch.Tensor, class_idx: int) -> str | None:
    """A hint for the typical mistakes of the probability's Grad-CAM that diagnose_tensor cannot name, else None.

    Besides the logit's map, two hand-made shortcuts for dp_c/dA are recognised: p_c times the logit's
    gradient, and the class's own term p_c (1 - p_c) times it (the competitors' term left out).
    """
    forward = forward_with_features(model, x, _LAYER)
    (gradients,) = torch.autograd.grad(forward.logits[0, class_idx], forward.feature_maps)
    signed_logit_map = torch.einsum("nk,nkhw->nhw", gradients.mean(dim=(2, 3)), forward.feature_maps.detach())
    p_c = float(torch.softmax(forward.logits.detach(), dim=1)[0, class_idx])
    let_autograd = " Let torch.autograd.grad differentiate p_c itself."
    hint = _known_map_mistake(
        result,
        {
            "you differentiated log p_c (a log-softmax): its gradient is (1 / p_c) times that of p_c, so your "
            "map is the probability's map divided by p_c. Differentiate the probability p_c itself.": (
                _probability_grad_cam(model, x, class_idx) / p_c
            ),
            _OVERWRITTEN: _kept_output_map(model, x, class_idx, score="probability"),
            "this is the map of the logit y^c: apply torch.softmax to the logits and differentiate p_c.": torch.relu(
                signed_logit_map
            ),
            "this is the logit's map times p_c. The softmax's gradient is p_c (grad y^c - sum_c' p_c' grad y^c'): "
            "the sum includes c itself, and the other classes' gradients are subtracted." + let_autograd: torch.relu(
                p_c * signed_logit_map
            ),
            "this is only the class's own term, p_c (1 - p_c) grad y^c. The softmax's gradient also subtracts "
            "p_c sum_{c' != c} p_c' grad y^c', the competing classes' gradients." + let_autograd: torch.relu(
                p_c * (1 - p_c) * signed_logit_map
            ),
        },
    )
    if hint is not None:
        return hint
    if not bool(result.detach().abs().max() > 0):
        return (
            "your map is zero everywhere. A softmax over the batch axis (dim=0) of a single image gives "
            "p = 1 for every class, whose gradient is 0: take the softmax over the classes (dim=1)."
        )
    return None

"""Self-check for the coding exercise of notebook 11 (from this course to the libraries).

``overwritten_in_place(model, layer, x)``: whether, during ``model(x)``, an operation after ``layer``
modifies ``layer``'s output in place (an in-place activation, ``out += identity``). That is the test a
learner runs before handing a layer to a library that keeps a reference to the output (the trap of
notebooks 03 and 11). The check runs the learner's function on small networks the notebook does not
show: an in-place ReLU after a convolution, the same with a ReLU that is not in place, a residual
``+=``, an in-place ReLU that leaves every value unchanged (the output is already positive), and the
last layer, whose output nothing overwrites. It also checks that no hook is left behind and that the
model's train/eval flags and its BatchNorm statistics are unchanged (some models come in train mode, where a
forward pass outside ``explaining`` updates the running statistics).

The typical mistakes it names: comparing values instead of asking whether the tensor was written (an
in-place operation may leave the values as they were), hooks left on the model, a model switched to
eval (or train) mode, a forward pass in train mode that updates the BatchNorm statistics, and an answer that is
not a bool.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .feedback import CheckResult, report

OverwrittenInPlace = Callable[[nn.Module, nn.Module, torch.Tensor], object]


class _ResidualBlock(nn.Module):
    """conv → BatchNorm → ``out += x`` → ReLU(inplace): the BatchNorm's output is overwritten by the ``+=``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        out += x  # in place: the BatchNorm's output tensor is written
        activated: torch.Tensor = self.relu(out)
        return activated


def _classifier(*features: nn.Module) -> nn.Sequential:
    """features → global average pooling → a linear layer to 3 classes (4 channels in)."""
    return nn.Sequential(*features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _hidden_cases() -> list[tuple[str, nn.Module, str, bool]]:
    """(description, model, layer name, expected answer), on networks the learner has not seen.

    The networks are initialised from seed 11 inside ``fork_rng``: the learner's global random state is put back
    afterwards, so a check does not change what their next ``torch.rand`` gives (tests/test_exercise_rng.py).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        return _seeded_hidden_cases()


def _seeded_hidden_cases() -> list[tuple[str, nn.Module, str, bool]]:
    positive = nn.Conv2d(3, 4, kernel_size=3, padding=1)
    with torch.no_grad():
        positive.weight.zero_()
        if positive.bias is not None:
            positive.bias.fill_(1.0)  # every output is 1: the in-place ReLU after it changes no value
    cases = [
        (
            "a convolution followed by an in-place ReLU",
            _classifier(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(True)),
            "0",
            True,
        ),
        (
            "a convolution followed by a ReLU that is not in place",
            _classifier(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),
            "0",
            False,
        ),
        (
            "the BatchNorm of a residual block with out += identity",
            _classifier(nn.Conv2d(3, 4, 1), _ResidualBlock(4)),
            "1.bn",
            True,
        ),
        (
            "a convolution whose outputs are all positive, followed by an in-place ReLU",
            _classifier(positive, nn.ReLU(True)),
            "0",
            True,
        ),
        (
            "the last layer (nothing runs after it)",
            _classifier(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(True)),
            "4",
            False,
        ),
    ]
    return [
        (description, model.train(index % 2 == 0), layer, answer)  # some in train mode: the flag must survive
        for index, (description, model, layer, answer) in enumerate(cases)
    ]


def _hooks_left(model: nn.Module) -> bool:
    return any(
        module._forward_hooks or module._forward_pre_hooks or module._backward_hooks for module in model.modules()
    )


def check_overwritten_in_place(function: OverwrittenInPlace) -> CheckResult:
    """Coding exercise 1: ``function(model, layer, x)`` says whether ``layer``'s output is modified in place.

    Prints ✓ or a hint; returns whether the answer is right.
    """
    if not callable(function):
        return report(
            f"pass your function itself (check_overwritten_in_place(overwritten_in_place)), not a "
            f"{type(function).__name__}.",
            "",
        )
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(111))
    for description, model, layer_name, expected in _hidden_cases():
        layer = model.get_submodule(layer_name)
        modes = [module.training for module in model.modules()]
        statistics = [buffer.clone() for buffer in model.buffers()]
        try:
            answer = function(model, layer, x.clone())
        except Exception as error:  # noqa: BLE001 - the learner's code: any error becomes a hint
            return report(
                f"your function raised {type(error).__name__} on {description}: {str(error).rstrip('.')}. It receives "
                "a model, one of its modules and an input batch.",
                "",
            )
        if _hooks_left(model):
            return report(
                f"a hook is left on the model after {description}: remove it, also when an error is raised.", ""
            )
        if [module.training for module in model.modules()] != modes:
            return report(
                f"the model's train/eval flags changed on {description}: a check must leave the model as it found it.",
                "",
            )
        if not all(torch.equal(before, after) for before, after in zip(statistics, model.buffers(), strict=True)):
            return report(
                f"the BatchNorm running statistics changed on {description}: a forward pass in train mode updates "
                "them. Run the model in eval behaviour and give every module its flag back (notebook 03).",
                "",
            )
        if not isinstance(answer, bool):
            return report(f"return True or False, not a {type(answer).__name__} ({description}).", "")
        if answer != expected:
            if expected and "all positive" in description:
                return report(
                    f"not on {description}: the in-place ReLU wrote the tensor without changing a value. Comparing "
                    "values misses it; ask the tensor itself whether it was modified in place.",
                    "",
                )
            said = "modified in place" if answer else "untouched"
            return report(f"your function says the output of {description} is {said}: it is not.", "")
    return report(
        None,
        "overwritten in place: in-place ReLU, residual +=, an in-place ReLU that changes no value; not after a plain "
        "ReLU or at the last layer; no hook left, modes and BatchNorm statistics kept.",
    )

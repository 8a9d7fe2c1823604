"""Self-checks for notebook 03 (hooks in PyTorch).

* :func:`check_record_stages` -- coding exercise 1: record several layers in one forward pass.
* :func:`check_gradients_for_classes` -- coding exercise 2: ∂y^c/∂A for several classes from one
  forward pass.

Both run the learner's function on a small hidden network with in-place ReLUs, count its forward
passes, and look for what the notebook's pitfalls leave behind: hooks still registered, a
recorded tensor overwritten in place, ``.grad`` written on the parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from cam_utils.gradcam import class_gradients
from cam_utils.hooks import forward_with_features

from ._student_code import call_student, known_mistake
from .feedback import CheckResult, diagnose_tensor, report

__all__ = ["check_gradients_for_classes", "check_record_stages"]


def _hidden_network() -> tuple[nn.Sequential, torch.Tensor]:
    """A small network without GAP (two convolutions, each followed by an in-place ReLU, then a
    linear layer) and its input, 1 x 3 x 4 x 4; the same on every call."""
    with torch.random.fork_rng(devices=[]):  # the same weights on every call; the learner's random state untouched
        torch.manual_seed(3)
        network = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(3, 4, kernel_size=3, padding=1)),
                    ("act1", nn.ReLU(inplace=True)),
                    ("conv2", nn.Conv2d(4, 5, kernel_size=3, padding=1)),
                    ("act2", nn.ReLU(inplace=True)),
                    ("flatten", nn.Flatten()),
                    ("classifier", nn.Linear(5 * 4 * 4, 6)),
                ]
            )
        ).eval()
        x = torch.randn(1, 3, 4, 4)
    return network, x


@contextmanager
def _counting_forwards(model: nn.Module) -> Iterator[list[int]]:
    """Count the calls of ``model.forward`` inside the block (the count is the list's length)."""
    calls: list[int] = []
    handle = model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def _hooks_left(model: nn.Module) -> int:
    """How many forward hooks, pre-hooks and backward hooks are registered on the model's modules."""
    return sum(
        len(module._forward_hooks) + len(module._forward_pre_hooks) + len(module._backward_hooks)
        for module in model.modules()
    )


#: How each exercise does with one forward pass, said after "one forward pass is enough".
_ONE_PASS = {
    "record_stages": "Register every layer's hook first, then run the model once (a context manager that holds "
    "several others keeps the hooks of all the layers open together).",
    "gradients_for_classes": "One pass gives the logits of every class: differentiate each class's score from "
    "that same graph, asking autograd to keep the graph between the calls (and to free it after the last).",
}


def _usage_problem(model: nn.Module, forward_calls: int, name: str) -> str | None:
    """Hints about *how* the learner's function used the model: passes, hooks, ``.grad``, mode."""
    if forward_calls == 0:
        return f"{name} never ran the model: call model(x) once, with your hooks registered."
    if forward_calls > 1:
        return f"{name} ran the model {forward_calls} times; one forward pass is enough. " + _ONE_PASS[name]
    if _hooks_left(model):
        return (
            f"{name} left {_hooks_left(model)} hook(s) on the model: remove every handle, in a `finally` "
            "clause or with a context manager such as record_output."
        )
    if any(parameter.grad is not None for parameter in model.parameters()):
        return (
            f"{name} wrote .grad on the model's parameters (backward() does that): use "
            "torch.autograd.grad, which returns the gradient and writes nothing."
        )
    if model.training:
        return f"{name} left the model in train mode: leave the user's train/eval flags as they were."
    return None


def check_record_stages(
    record_stages: Callable[[nn.Module, torch.Tensor, Sequence[str]], dict[str, torch.Tensor]],
) -> CheckResult:
    """Run ``record_stages(model, x, layer_names)`` on a hidden network; print ✓ or a hint.

    The right answer: a dict ``{name: output of that layer}`` for every name, recorded in ONE forward
    pass, each output the layer's true output (a copy: an in-place ReLU follows each layer), and no
    hook left on the model afterwards.
    """
    model, x = _hidden_network()
    names = ["conv1", "conv2"]
    with torch.no_grad():
        reference = {"conv1": model.get_submodule("conv1")(x)}  # 1 x 4 x 4 x 4, before the in-place ReLU
        reference["conv2"] = model.get_submodule("conv2")(torch.relu(reference["conv1"]))  # 1 x 5 x 4 x 4
    with _counting_forwards(model) as calls:
        result, problem = call_student(record_stages, model, x.clone(), list(names), name="record_stages")
    if problem is None:
        problem = _usage_problem(model, len(calls), "record_stages")
    if problem is None and not isinstance(result, dict):
        problem = f"record_stages should return a dict {{layer name: recorded output}}, got {type(result).__name__}."
    if problem is None and sorted(result) != sorted(names):
        problem = f"the dict's keys should be exactly the layer names you were given, {names}; got {sorted(result)}."
    for name in names if problem is None else []:
        problem = diagnose_tensor(result[name], reference[name], name=f"the output recorded for '{name}'")
        if problem is not None:
            problem = (
                known_mistake(
                    result[name],
                    {
                        f"the tensor recorded for '{name}' lost its negative values: the in-place ReLU after the "
                        "layer overwrote it. Store a copy, detached from the graph, as record_output does.": torch.relu(
                            reference[name]
                        ),
                    },
                )
                or problem
            )
            break
    return report(problem, "record_stages records every layer's true output in one forward pass and cleans up.")


def check_gradients_for_classes(
    gradients_for_classes: Callable[[nn.Module, torch.Tensor, nn.Module, Sequence[int]], torch.Tensor],
) -> CheckResult:
    """Run ``gradients_for_classes(model, x, layer, class_indices)`` on a hidden network; print ✓ or a hint.

    The right answer, for one image x (1 x 3 x H x W): one forward pass, then ∂y^c/∂A of the raw
    score (logit) of every class c in ``class_indices``, stacked in that order into a tensor of shape
    len(class_indices) x C x h x w; no ``.grad`` written, no hook left.
    """
    model, x = _hidden_network()
    layer = model.get_submodule("conv2")
    classes = [2, 5]
    # the library's gradients: of the logits, and of the probabilities (a model whose output is the softmax)
    of_logits = forward_with_features(model, x, layer)
    reference = torch.cat([class_gradients(of_logits, torch.tensor([c])) for c in classes])  # 2 x C x h x w
    of_probabilities = forward_with_features(nn.Sequential(model, nn.Softmax(dim=1)), x, layer)
    of_probability = torch.cat([class_gradients(of_probabilities, torch.tensor([c])) for c in classes])
    with _counting_forwards(model) as calls:
        result, problem = call_student(
            gradients_for_classes, model, x.clone(), layer, list(classes), name="gradients_for_classes"
        )
    if problem is not None and "second time" in problem:
        problem = (
            "the first torch.autograd.grad freed the graph, so the second one could not use it: ask every "
            "call but the last to retain the graph."
        )
    if problem is None:
        problem = _usage_problem(model, len(calls), "gradients_for_classes")
    if problem is None:
        problem = diagnose_tensor(
            result, reference, name="your gradients", axis_names=("class", "channel", "row", "column")
        )
        if problem is not None:
            problem = (
                known_mistake(
                    result,
                    {
                        "you differentiated the probabilities (after softmax); Grad-CAM differentiates the raw "
                        "class score y^c, the logit.": of_probability,
                        "the classes are in the wrong order: stack the gradients in the order of class_indices.": reference.flip(
                            dims=[0]
                        ),
                        "every row holds the gradient of the same class: differentiate y^c of each class in turn.": reference[
                            :1
                        ].expand_as(reference),
                    },
                )
                or problem
            )
    return report(problem, "gradients_for_classes returns ∂y^c/∂A for every class, from one forward pass.")

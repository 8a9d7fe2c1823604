"""The self-check of notebook 11's coding exercise: right answers pass, typical wrong ones get a hint."""

from __future__ import annotations

import torch

from cam_utils import explaining
from cam_utils.course.exercises import check_overwritten_in_place


def by_version_counter(model, layer, x):
    """Right: the tensor's version counter grows with every in-place write."""
    seen = {}
    handle = layer.register_forward_hook(
        lambda module, inputs, output: seen.update(output=output, version=output._version)
    )
    try:
        with explaining(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["output"]._version != seen["version"]


def in_the_models_own_mode(model, layer, x):
    """Wrong: a model in train mode updates its BatchNorm statistics during the forward pass."""
    seen = {}
    handle = layer.register_forward_hook(
        lambda module, inputs, output: seen.update(output=output, version=output._version)
    )
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["output"]._version != seen["version"]


def by_values(model, layer, x):
    """Wrong: compares values, so an in-place ReLU that changes none goes unseen."""
    seen = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.update(output=output, copy=output.clone()))
    try:
        with explaining(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return not torch.equal(seen["output"], seen["copy"])


def hook_left_behind(model, layer, x):
    seen = {}
    layer.register_forward_hook(lambda module, inputs, output: seen.update(output=output, version=output._version))
    with explaining(model), torch.no_grad():
        model(x)
    return seen["output"]._version != seen["version"]


def switches_to_eval(model, layer, x):
    model.eval()
    return by_version_counter(model, layer, x)


def test_right_answer_passes(capsys):
    assert check_overwritten_in_place(by_version_counter).passed is True
    assert capsys.readouterr().out.startswith("✓")


def test_the_model_is_checked_in_train_mode_too():
    modes = []
    check_overwritten_in_place(
        lambda model, layer, x: modes.append(model.training) or by_version_counter(model, layer, x)
    )
    assert set(modes) == {True, False}


def test_the_statistics_check_can_fail():
    """The hidden residual block is in train mode: a forward pass there moves its BatchNorm statistics."""
    modes_and_moved = []

    def spy(model, layer, x):
        before = [buffer.clone() for buffer in model.buffers()]
        answer = in_the_models_own_mode(model, layer, x)
        moved = any(not torch.equal(b, a) for b, a in zip(before, model.buffers(), strict=True))
        modes_and_moved.append((model.training, moved))
        return answer

    assert check_overwritten_in_place(spy).passed is False
    assert (True, True) in modes_and_moved


def _hint(answer) -> None:
    assert check_overwritten_in_place(answer).passed is False


def test_typical_mistakes_get_a_hint(capsys):
    cases = [
        (by_values, "Comparing values misses it"),
        (hook_left_behind, "a hook is left on the model"),
        (switches_to_eval, "train/eval flags changed"),
        (in_the_models_own_mode, "BatchNorm running statistics changed"),
        (lambda model, layer, x: torch.tensor(True), "return True or False, not a Tensor"),
        (lambda model, layer, x: True, "is modified in place: it is not"),
        (lambda model, layer, x: False, "is untouched: it is not"),
        (lambda model, layer: True, "raised TypeError"),
        ("not a function", "pass your function itself"),
    ]
    for answer, hint in cases:
        _hint(answer)
        printed = capsys.readouterr().out
        assert printed.startswith("✗ Not yet") and hint in printed, (hint, printed)

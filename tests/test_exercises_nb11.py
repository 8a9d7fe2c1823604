"""The self-check of notebook 11's coding exercise: right answers pass, typical wrong ones get a hint."""

from __future__ import annotations

import torch

from cam_utils.course.exercises import check_overwritten_in_place


def by_version_counter(model, layer, x):
    """Right: the tensor's version counter grows with every in-place write."""
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
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return not torch.equal(seen["output"], seen["copy"])


def hook_left_behind(model, layer, x):
    seen = {}
    layer.register_forward_hook(lambda module, inputs, output: seen.update(output=output, version=output._version))
    with torch.no_grad():
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


def _hint(answer) -> str:
    result = check_overwritten_in_place(answer)
    assert result.passed is False
    return result


def test_typical_mistakes_get_a_hint(capsys):
    cases = [
        (by_values, "Comparing values misses it"),
        (hook_left_behind, "a hook is left on the model"),
        (switches_to_eval, "train/eval flags changed"),
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

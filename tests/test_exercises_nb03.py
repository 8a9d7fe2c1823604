"""Notebook 03's self-checks: the right answer passes, each typical wrong answer gets its own hint."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
import torch

from cam_utils import forward_with_features, record_output
from cam_utils.course.exercises import check_gradients_for_classes, check_record_stages


def _run(check, answer, capsys) -> tuple[bool, str]:
    passed = check(answer)
    return passed, capsys.readouterr().out


# --- coding exercise 1: record several layers in one forward pass ---------------------------------


def record_with_exit_stack(model, x, layer_names):
    with ExitStack() as stack, torch.no_grad():
        recordings = {name: stack.enter_context(record_output(model.get_submodule(name))) for name in layer_names}
        model(x)
    return {name: recording.output for name, recording in recordings.items()}


def record_with_own_hooks(model, x, layer_names):
    outputs, handles = {}, []
    for name in layer_names:

        def keep(module, inputs, output, name=name):
            outputs[name] = output.detach().clone()

        handles.append(model.get_submodule(name).register_forward_hook(keep))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def one_pass_per_layer(model, x, layer_names):
    outputs = {}
    for name in layer_names:
        with record_output(model.get_submodule(name)) as recording, torch.no_grad():
            model(x)
        outputs[name] = recording.output
    return outputs


def keeps_references(model, x, layer_names):
    outputs, handles = {}, []
    for name in layer_names:

        def keep(module, inputs, output, name=name):
            outputs[name] = output  # no copy: the in-place ReLU after the layer overwrites it

        handles.append(model.get_submodule(name).register_forward_hook(keep))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return outputs


def forgets_to_remove(model, x, layer_names):
    outputs = {}
    for name in layer_names:
        model.get_submodule(name).register_forward_hook(
            lambda module, inputs, output, name=name: outputs.__setitem__(name, output.detach().clone())
        )
    with torch.no_grad():
        model(x)
    return outputs


def returns_a_list(model, x, layer_names):
    return list(record_with_exit_stack(model, x, layer_names).values())


def wrong_keys(model, x, layer_names):
    recorded = record_with_exit_stack(model, x, layer_names)
    return {f"layer {index}": output for index, output in enumerate(recorded.values())}


def test_record_stages_right_answers_pass(capsys):
    for answer in (record_with_exit_stack, record_with_own_hooks):
        passed, out = _run(check_record_stages, answer, capsys)
        assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (one_pass_per_layer, "ran the model 2 times"),
        (keeps_references, "lost its negative values"),
        (forgets_to_remove, "left 2 hook(s)"),
        (returns_a_list, "should return a dict"),
        (wrong_keys, "exactly the layer names"),
        (lambda model, x, layer_names: {}, "never ran the model"),
    ],
)
def test_record_stages_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_record_stages, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


# --- coding exercise 2: gradients for several classes, one forward pass ---------------------------


def gradients_retaining_the_graph(model, x, layer, class_indices):
    split = forward_with_features(model, x, layer)
    gradients = [
        torch.autograd.grad(split.logits[0, c], split.feature_maps, retain_graph=True)[0][0] for c in class_indices
    ]
    return torch.stack(gradients)


def gradients_freeing_the_graph(model, x, layer, class_indices):
    split = forward_with_features(model, x, layer)
    return torch.stack([torch.autograd.grad(split.logits[0, c], split.feature_maps)[0][0] for c in class_indices])


def gradients_one_pass_per_class(model, x, layer, class_indices):
    gradients = []
    for c in class_indices:
        split = forward_with_features(model, x, layer)
        gradients.append(torch.autograd.grad(split.logits[0, c], split.feature_maps)[0][0])
    return torch.stack(gradients)


def gradients_of_probabilities(model, x, layer, class_indices):
    split = forward_with_features(model, x, layer)
    probabilities = torch.softmax(split.logits[0], dim=0)
    return torch.stack(
        [torch.autograd.grad(probabilities[c], split.feature_maps, retain_graph=True)[0][0] for c in class_indices]
    )


def gradients_by_backward(model, x, layer, class_indices):
    kept = {}

    def keep(module, inputs, output):
        output.retain_grad()
        kept["A"] = output

    handle = layer.register_forward_hook(keep)
    try:
        logits = model(x)
    finally:
        handle.remove()
    gradients = []
    for c in class_indices:
        kept["A"].grad = None
        logits[0, c].backward(retain_graph=True)
        gradients.append(kept["A"].grad[0].clone())
    return torch.stack(gradients)


def gradients_in_reverse_order(model, x, layer, class_indices):
    return gradients_retaining_the_graph(model, x, layer, list(reversed(class_indices)))


def gradient_of_the_sum(model, x, layer, class_indices):
    split = forward_with_features(model, x, layer)
    return torch.autograd.grad(split.logits[0, class_indices].sum(), split.feature_maps)[0]


def test_gradients_for_classes_right_answer_passes(capsys):
    passed, out = _run(check_gradients_for_classes, gradients_retaining_the_graph, capsys)
    assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (gradients_freeing_the_graph, "retain the graph"),
        (gradients_one_pass_per_class, "differentiate each class's score from that same graph"),
        (gradients_of_probabilities, "differentiated the probabilities"),
        (gradients_by_backward, "wrote .grad"),
        (gradients_in_reverse_order, "wrong order"),
        (gradient_of_the_sum, "shape (1, 5, 4, 4)"),
    ],
)
def test_gradients_for_classes_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_gradients_for_classes, answer, capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_record_stages(record_with_exit_stack)
    check_gradients_for_classes(gradients_retaining_the_graph)
    torch.testing.assert_close(torch.rand(3), expected)


def test_one_forward_per_class_gets_its_own_hint_not_exercise_1s(capsys):
    """Issue 21: a forward pass per class got exercise 1's hint about registering hooks (ExitStack)."""
    passed, out = _run(check_gradients_for_classes, gradients_one_pass_per_class, capsys)
    assert not passed and "ran the model 2 times" in out
    assert "ExitStack" not in out and "hook" not in out and "keep the graph" in out

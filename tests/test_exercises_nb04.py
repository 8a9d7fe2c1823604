"""The self-checks of notebook 04's coding exercises: a right answer passes, typical wrong ones get their hint."""

from __future__ import annotations

import pytest
import torch

from cam_utils import forward_with_features
from cam_utils.course.exercises import check_grad_cam_by_hand, check_probability_grad_cam


def _grad_cam(model, x, layer, class_idx, score="logit", pool=True, relu=True, softmax_dim=1, reduce="mean"):
    """Grad-CAM written as a learner would, with switches for the typical mistakes."""
    forward = forward_with_features(model, x, layer)
    if score == "logit":
        target = forward.logits[0, class_idx]
    elif score in ("p_times_logit", "self_term"):  # hand-made shortcuts for dp_c/dA
        p_c = torch.softmax(forward.logits, dim=1)[0, class_idx].detach()
        target = (p_c if score == "p_times_logit" else p_c * (1 - p_c)) * forward.logits[0, class_idx]
    else:
        target = torch.softmax(forward.logits, dim=softmax_dim)[0, class_idx]
    (gradients,) = torch.autograd.grad(target, forward.feature_maps)
    feature_maps = forward.feature_maps.detach()
    if not pool:
        weighted = (gradients * feature_maps).sum(dim=1)
    else:
        alpha = gradients.mean(dim=(2, 3)) if reduce == "mean" else gradients.sum(dim=(2, 3))
        weighted = torch.einsum("nk,nkhw->nhw", alpha, feature_maps)
    return torch.relu(weighted) if relu else weighted


def _passes(check, function, capsys) -> tuple[bool, str]:
    result = check(function)
    return result, capsys.readouterr().out


def test_grad_cam_by_hand_right_answer(capsys):
    passed, out = _passes(check_grad_cam_by_hand, _grad_cam, capsys)
    assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(relu=False), "ReLU is missing"),
        (dict(reduce="sum"), "constant factor of about 36"),
        (dict(pool=False), "position by position"),
        (dict(score="probability"), "softmax probability"),
    ],
)
def test_grad_cam_by_hand_typical_mistakes(capsys, mistake, hint):
    passed, out = _passes(check_grad_cam_by_hand, lambda *args: _grad_cam(*args, **mistake), capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_grad_cam_by_hand_wrong_axis_and_errors(capsys):
    def channel_mean(model, x, layer, class_idx):
        return _grad_cam(model, x, layer, class_idx)[:, :, 0]  # a row instead of the map

    passed, out = _passes(check_grad_cam_by_hand, channel_mean, capsys)
    assert not passed and "shape" in out and "image x row x column" in out

    def broken(model, x, layer, class_idx):
        raise KeyError("bn2")

    passed, out = _passes(check_grad_cam_by_hand, broken, capsys)
    assert not passed and "raised KeyError" in out
    passed, out = _passes(check_grad_cam_by_hand, torch.zeros(1, 6, 6), capsys)
    assert not passed and "pass the function itself" in out


def test_probability_grad_cam_right_answer(capsys):
    passed, out = _passes(check_probability_grad_cam, lambda *args: _grad_cam(*args, score="probability"), capsys)
    assert passed and out.startswith("✓")


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(score="logit"), "map of the logit"),
        (dict(score="probability", softmax_dim=0), "zero everywhere"),
        (dict(score="probability", relu=False), "ReLU is missing"),
        (dict(score="p_times_logit"), "logit's map times p_c"),
        (dict(score="self_term"), "only the class's own term"),
    ],
)
def test_probability_grad_cam_typical_mistakes(capsys, mistake, hint):
    passed, out = _passes(check_probability_grad_cam, lambda *args: _grad_cam(*args, **mistake), capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_checks_leave_the_random_state_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_grad_cam_by_hand(_grad_cam)
    check_probability_grad_cam(lambda *args: _grad_cam(*args, score="probability"))
    assert torch.equal(torch.rand(3), expected)


def test_hints_do_not_print_the_answer(capsys):
    out = _passes(check_grad_cam_by_hand, lambda *args: _grad_cam(*args) + 0.5, capsys)[1]
    assert "tensor(" not in out and "[[" not in out


def _backward_without_detach(model, x, layer, class_idx):
    """A learner's probability map through .backward() and .grad, the feature maps never detached."""
    forward = forward_with_features(model, x, layer)
    torch.softmax(forward.logits, dim=1)[0, class_idx].backward()
    alpha = forward.feature_maps.grad.mean(dim=(2, 3))
    return torch.relu(torch.einsum("nk,nkhw->nhw", alpha, forward.feature_maps))


def _autograd_without_detach(model, x, layer, class_idx):
    forward = forward_with_features(model, x, layer)
    (gradients,) = torch.autograd.grad(torch.softmax(forward.logits, dim=1)[0, class_idx], forward.feature_maps)
    return torch.relu(torch.einsum("nk,nkhw->nhw", gradients.mean(dim=(2, 3)), forward.feature_maps))


def _log_softmax(model, x, layer, class_idx):
    forward = forward_with_features(model, x, layer)
    log_p = torch.log_softmax(forward.logits, dim=1)[0, class_idx]
    (gradients,) = torch.autograd.grad(log_p, forward.feature_maps)
    return torch.relu(torch.einsum("nk,nkhw->nhw", gradients.mean(dim=(2, 3)), forward.feature_maps.detach()))


def plain_grad_cam(model, layer, x, class_idx, probability=False):
    """Notebook 04's own plain_grad_cam (a forward hook keeps the layer's output), reused as is."""
    kept = {}

    def keep_output(module, inputs, output):
        kept["A"] = output

    handle = layer.register_forward_hook(keep_output)
    try:
        with torch.enable_grad():
            logits = model(x)
    finally:
        handle.remove()
    A = kept["A"]
    score = torch.softmax(logits, dim=1)[0, class_idx] if probability else logits[0, class_idx]
    (dy_dA,) = torch.autograd.grad(score, A)
    weights = dy_dA.mean(dim=(2, 3))
    return torch.relu((weights[:, :, None, None] * A).sum(dim=1)).detach()


@pytest.mark.parametrize("check", [check_probability_grad_cam, check_grad_cam_by_hand])
def test_backward_and_grad_fail_with_notebook_03s_lesson(check, capsys):
    """Issue 21: .backward() + .grad passed, though it writes .grad on the parameters and returns a map in the graph."""
    passed, out = _passes(check, _backward_without_detach, capsys)
    assert not passed and out.startswith(
        "✗ Not yet: probability_grad_cam wrote .grad"
        if check is check_probability_grad_cam
        else "✗ Not yet: grad_cam_by_hand wrote .grad"
    )
    assert "torch.autograd.grad" in out and "notebook 03" in out


def test_a_map_still_in_the_graph_fails(capsys):
    passed, out = _passes(check_probability_grad_cam, _autograd_without_detach, capsys)
    assert not passed and "still requires grad" in out


def test_log_softmax_gets_the_one_over_p_hint(capsys):
    passed, out = _passes(check_probability_grad_cam, _log_softmax, capsys)
    assert not passed and "log p_c" in out and "divided by p_c" in out
    assert "a mean where a sum belongs" not in out


def test_reusing_plain_grad_cam_names_the_in_place_relu(capsys):
    """The hidden network has ReLU(inplace=True) after the hooked layer: the kept tensor is overwritten."""

    def by_hand(model, x, layer, class_idx):
        return plain_grad_cam(model, model.get_submodule(layer), x, class_idx)

    def of_probability(model, x, layer, class_idx):
        return plain_grad_cam(model, model.get_submodule(layer), x, class_idx, probability=True)

    for check, answer in ((check_grad_cam_by_hand, by_hand), (check_probability_grad_cam, of_probability)):
        passed, out = _passes(check, answer, capsys)
        assert not passed and "in-place ReLU" in out and "notebook 03" in out, out
        assert "Re-read the equation" not in out


def test_the_reference_does_not_ship_the_solution():
    """`??` on the check module shows no solution of exercise 1: the reference goes through the library."""
    import inspect

    from cam_utils.course.exercises import nb04

    source = inspect.getsource(nb04._probability_grad_cam)
    assert "torch.autograd.grad" not in source and "einsum" not in source and "grad_cam(" in source

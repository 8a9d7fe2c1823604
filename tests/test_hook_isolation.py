"""The explaining functions' hook acts only for the call that installed it (issue 19, item 5).

A module's hooks are shared by every thread and copied by ``copy.deepcopy``. Before the fix, plain
inference in another thread ran into the library's "layer ran twice" error inside the user's own code,
a deep copy made during an explanation (EMA, checkpointing) carried the hook and could never be
explained again, and two models sharing a backbone could not be explained from two threads.
These tests make the other thread's forward and the copy happen *inside* the explaining forward, so
they hit the window every time instead of by chance.
"""

from __future__ import annotations

import copy
import io
import threading

import torch
from torch import nn

from cam_utils import grad_cam
from tests.helpers import held_by_another_thread, run_in_forked_child


class Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class During(nn.Module):
    """Runs ``action()`` in the middle of the forward pass, after the hooked layer."""

    def __init__(self) -> None:
        super().__init__()
        self.action = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.action is not None:
            self.action()
        return x


class Net(nn.Module):
    def __init__(self, backbone: Backbone | None = None) -> None:
        super().__init__()
        self.backbone = backbone or Backbone()
        self.during = During()
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.during(self.backbone(x)).mean(dim=(2, 3)))


def _net(seed: int = 0, backbone: Backbone | None = None) -> Net:
    torch.manual_seed(seed)
    return Net(backbone).eval()


X = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def _in_another_thread(work) -> list[BaseException]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join(30)
    return errors


def test_plain_inference_in_another_thread_is_untouched():
    model = _net()
    expected_map = grad_cam(model, X, "backbone.conv", 1)
    with torch.no_grad():
        expected_logits = model(X)
    seen: list[torch.Tensor] = []

    def infer() -> None:
        with torch.no_grad():
            seen.append(model.backbone(X))  # runs the hooked layer in another thread

    errors: list[BaseException] = []
    model.during.action = lambda: errors.extend(_in_another_thread(infer))
    heatmap = grad_cam(model, X, "backbone.conv", 1)
    model.during.action = None
    assert not errors, f"the other thread's forward failed: {errors[0]!r}"
    torch.testing.assert_close(heatmap, expected_map, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(model(X), expected_logits, rtol=0, atol=0)
    assert not seen[0].requires_grad, "the other thread's output is its own, not the explaining leaf"


def test_a_deep_copy_made_during_an_explanation_carries_no_working_hook():
    model = _net()
    copies: list[Net] = []
    model.during.action = lambda: copies.append(copy.deepcopy(model))
    grad_cam(model, X, "backbone.conv", 1)
    model.during.action = None
    (twin,) = copies
    twin.during.action = None
    assert not model.backbone.conv._forward_hooks, "the original keeps no hook"
    with torch.no_grad():
        torch.testing.assert_close(twin(X), model(X), rtol=0, atol=0)  # the copy's forward is the model's
    torch.testing.assert_close(
        grad_cam(twin, X, "backbone.conv", 1), grad_cam(model, X, "backbone.conv", 1), rtol=0, atol=0
    )
    buffer = io.BytesIO()
    torch.save(twin, buffer)  # a checkpoint of the copy pickles (the inert hook is a module-level function)


def test_two_models_sharing_a_backbone_explained_from_two_threads():
    shared = Backbone()
    first, second = _net(1, shared), _net(2, shared)
    expected = [grad_cam(first, X, "backbone.conv", 0), grad_cam(second, X, "backbone.conv", 2)]
    got: list[torch.Tensor] = []

    def explain_second() -> None:
        got.append(grad_cam(second, X, "backbone.conv", 2))

    errors: list[BaseException] = []
    first.during.action = lambda: errors.extend(_in_another_thread(explain_second))
    got.insert(0, grad_cam(first, X, "backbone.conv", 0))
    first.during.action = None
    assert not errors, f"the second model's explanation failed: {errors[0]!r}"
    for heatmap, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(heatmap, reference, rtol=0, atol=0)


def test_a_fork_while_another_thread_explains_does_not_hang_the_child():
    """DataLoader workers fork: a model lock held by another thread at that moment must not hang the child."""
    from cam_utils.model_state import model_lock

    model = _net()
    with held_by_another_thread(model_lock(model)):  # as a grad_cam in progress would
        exit_code = run_in_forked_child(
            lambda: (torch.set_num_threads(1), grad_cam(model, X, "backbone.conv", 1)), seconds=60
        )
    assert exit_code is not None, "the forked child hung on the model's lock"
    assert exit_code == 0


def test_a_train_call_from_another_thread_during_an_explanation_is_reported():
    """Issue 19, item 7: a model.train() landing mid-forward made every map wrong, silently."""
    import pytest

    model = _net()
    model.train()
    model.backbone.bn = nn.BatchNorm2d(8)  # something whose behaviour train() changes
    model.backbone.bn.train()

    def train_elsewhere() -> None:
        model.train()

    model.during.action = lambda: _in_another_thread(train_elsewhere)
    with pytest.raises(RuntimeError, match="switched to training mode"):
        grad_cam(model, X, "backbone.conv", 1)
    model.during.action = None
    assert all(module.training for module in model.modules()), "the other thread's train() stands"
    grad_cam(model, X, "backbone.conv", 1)  # without interference: fine, and the mode is kept
    assert all(module.training for module in model.modules())

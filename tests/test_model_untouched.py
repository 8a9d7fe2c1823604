"""Every explaining function leaves the model exactly as it was, on success and on error."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cam_utils.cam import class_activation_map
from cam_utils.gradcam import grad_cam, grad_cam_from_forward
from cam_utils.hooks import forward_with_features
from tests.helpers import ModelSnapshot, TinyGapNet, give_existing_grads, randomize_batchnorm


def busy_model() -> nn.Module:
    """A model as a user may hand it over: training, mixed flags, grads, a frozen layer, a hook."""
    torch.manual_seed(0)
    model = TinyGapNet().train()
    randomize_batchnorm(model)
    model.features[4].eval()  # one BatchNorm frozen
    model.features[0].weight.requires_grad_(False)  # one frozen weight
    give_existing_grads(model)
    model.features[0].weight.grad = None  # a frozen weight has no grad
    model.fc.register_forward_hook(lambda module, inputs, output: None)  # the user's own hook
    return model


CALLS = {
    "grad_cam": lambda model, x: grad_cam(model, x, "features", class_idx=[1, 2]),
    "grad_cam_counterfactual": lambda model, x: grad_cam(model, x, model.act, counterfactual=True),
    "grad_cam_from_forward": lambda model, x: grad_cam_from_forward(forward_with_features(model, x, "features"), 3),
    "cam": lambda model, x: class_activation_map(model, x, "act", "fc"),
    "cam_all": lambda model, x: class_activation_map(model, x, "act", model.fc, "all"),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("grad_mode", ["enabled", "no_grad"])
def test_successful_calls_leave_model_untouched(call, grad_mode):
    model = busy_model()
    x = torch.randn(2, 3, 16, 16)
    context = torch.no_grad() if grad_mode == "no_grad" else torch.enable_grad()
    with context:
        snapshot = ModelSnapshot.take(model)
        result = call(model, x)
        snapshot.assert_unchanged(model)
    assert torch.isfinite(result).all() and result.abs().sum() > 0


ERRORS = {
    "class out of range": lambda model, x: grad_cam(model, x, "features", class_idx=99),
    "wrong class count": lambda model, x: grad_cam(model, x, "features", class_idx=[1, 2, 3]),
    "layer is the classifier": lambda model, x: grad_cam(model, x, "fc"),
    "layer not in model": lambda model, x: grad_cam(model, x, "featurez"),
    "cam layer before the ReLU": lambda model, x: class_activation_map(model, x, "features", "fc"),
    "cam class out of range": lambda model, x: class_activation_map(model, x, "act", "fc", -1),
}


@pytest.mark.parametrize("call", ERRORS.values(), ids=ERRORS.keys())
def test_failing_calls_leave_model_untouched(call):
    model = busy_model()
    x = torch.randn(2, 3, 16, 16)
    snapshot = ModelSnapshot.take(model)
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        call(model, x)
    snapshot.assert_unchanged(model)


class SharedTwice(nn.Module):
    """Uses one convolution twice: its output is not one well-defined A."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shared(torch.relu(self.shared(self.bn(self.stem(x)))))
        return self.fc(x.mean(dim=(2, 3)))


def test_error_raised_inside_the_forward_restores_grad_mode_flags_and_hooks():
    torch.manual_seed(0)
    model = SharedTwice().train()
    give_existing_grads(model)
    for grad_enabled in (True, False):
        with torch.set_grad_enabled(grad_enabled):
            snapshot = ModelSnapshot.take(model)
            with pytest.raises(RuntimeError, match="'shared' ran twice"):
                grad_cam(model, torch.randn(1, 3, 8, 8), "shared")
            snapshot.assert_unchanged(model)
            assert torch.is_grad_enabled() == grad_enabled


def test_snapshot_detects_changes():
    """The helper itself must catch every kind of change it claims to check."""
    changes = {
        "state": lambda m: m.fc.weight.data.add_(1e-3),
        "bn stats": lambda m: m.features[1].running_mean.add_(1.0),
        "num_batches_tracked": lambda m: m.features[1].num_batches_tracked.add_(1),
        "training flag": lambda m: m.features[1].eval(),
        "hook": lambda m: m.features[2].register_forward_hook(lambda *a: None),
        "requires_grad": lambda m: m.fc.bias.requires_grad_(False),
        "grad values": lambda m: m.fc.weight.grad.add_(1.0),
        "grad replaced": lambda m: setattr(m.fc.bias, "grad", m.fc.bias.grad.clone()),
        "grad mode": lambda m: torch.set_grad_enabled(False),
    }
    for change in changes.values():
        model = busy_model()
        snapshot = ModelSnapshot.take(model)
        change(model)
        try:
            with pytest.raises(AssertionError):
                snapshot.assert_unchanged(model)
        finally:
            torch.set_grad_enabled(True)


def test_resnet_in_train_mode_keeps_bn_stats_and_gives_eval_maps():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).train()
    randomize_batchnorm(model)
    give_existing_grads(model)
    x = torch.randn(2, 3, 64, 64)
    snapshot = ModelSnapshot.take(model)
    train_maps = grad_cam(model, x, "layer4", class_idx=[0, 1])
    train_cams = class_activation_map(model, x, "layer4", "fc", class_idx=[0, 1])
    snapshot.assert_unchanged(model)
    model.eval()
    torch.testing.assert_close(train_maps, grad_cam(model, x, "layer4", class_idx=[0, 1]), rtol=0, atol=0)
    torch.testing.assert_close(train_cams, class_activation_map(model, x, "layer4", "fc", [0, 1]), rtol=0, atol=0)


def test_eval_model_with_a_dropout_in_train_mode_is_explained_deterministically():
    """MC-dropout style: model.eval(), then dropout switched back on. The one module walk per call finds it."""
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16)
    expected = grad_cam(model, x, "features", [1, 2])
    model.dropout.train()
    snapshot = ModelSnapshot.take(model)
    for _ in range(3):
        assert torch.equal(grad_cam(model, x, "features", [1, 2]), expected)  # dropout off during the call
    snapshot.assert_unchanged(model)  # and on again afterwards

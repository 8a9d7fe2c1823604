"""record_output, explaining and forward_with_features."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cam_utils.hooks import LayerForward, forward_with_features, record_output
from cam_utils.model_state import explaining
from tests.helpers import ModelSnapshot, TinyGapNet, randomize_batchnorm


def conv_then_inplace_relu() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1))


def test_record_output_keeps_values_before_inplace_relu():
    model = conv_then_inplace_relu()
    x = torch.randn(2, 3, 8, 8)
    with record_output(model[0]) as recording:
        model(x)
    expected = model[0](x).detach()
    assert recording.output is not None
    assert (expected < 0).any(), "the check needs negative values that ReLU would erase"
    torch.testing.assert_close(recording.output, expected, rtol=0, atol=0)
    assert not recording.output.requires_grad


def test_record_output_removes_hook_on_exit_and_on_exception():
    model = conv_then_inplace_relu()
    with record_output(model[0]):
        assert len(model[0]._forward_hooks) == 1
    assert len(model[0]._forward_hooks) == 0
    with pytest.raises(KeyError):
        with record_output(model[0]):
            raise KeyError("user error inside the block")
    assert len(model[0]._forward_hooks) == 0


def test_record_output_module_called_twice_raises_and_cleans_up():
    model = conv_then_inplace_relu()
    x = torch.randn(1, 3, 8, 8)
    # The error must leave the block: that its hook is removed on the way out is what is tested.
    with pytest.raises(RuntimeError, match="ran twice"):  # noqa: PT012
        with record_output(model[0]):
            model(x)
            model(x)
    assert len(model[0]._forward_hooks) == 0


class ReturnsPair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x * 2


def test_record_output_tuple_output_raises_type_error():
    block = ReturnsPair()
    with pytest.raises(TypeError, match="not a tensor"):
        with record_output(block):
            block(torch.randn(1, 3, 4, 4))
    assert len(block._forward_hooks) == 0


def test_explaining_switches_to_eval_and_restores_mixed_flags_even_on_error():
    model = TinyGapNet()
    model.train()
    model.features[1].eval()  # a mixed model: one BatchNorm frozen
    before = {name: module.training for name, module in model.named_modules()}
    with explaining(model):
        assert not any(module.training for module in model.modules())
    assert {name: module.training for name, module in model.named_modules()} == before
    with pytest.raises(ValueError, match="boom"):
        with explaining(model):
            raise ValueError("boom")
    assert {name: module.training for name, module in model.named_modules()} == before


def test_forward_with_features_in_place_activation_keeps_true_layer_output():
    torch.manual_seed(0)
    model = TinyGapNet(inplace=True).eval()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16)
    forward = forward_with_features(model, x, "features")
    assert isinstance(forward, LayerForward)
    with torch.no_grad():
        expected_features = model.features(x)  # before the in-place ReLU
        expected_logits = model(x)
    assert (expected_features < 0).any()
    torch.testing.assert_close(forward.feature_maps.detach(), expected_features)
    torch.testing.assert_close(forward.logits.detach(), expected_logits)
    assert forward.feature_maps.is_leaf and forward.feature_maps.requires_grad
    assert forward.feature_maps.shape == (2, 8, 4, 4)


def test_forward_with_features_builds_no_graph_before_the_layer_and_allows_several_backwards():
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    forward = forward_with_features(model, torch.randn(1, 3, 16, 16), model.features)
    first_conv, classifier = model.features[0].weight, model.fc.weight
    grads = torch.autograd.grad(
        forward.logits[0, 1], [first_conv, classifier, forward.feature_maps], allow_unused=True, retain_graph=True
    )
    assert grads[0] is None, "the layers before the target layer must not be in the graph"
    assert grads[1] is not None and grads[2] is not None
    # A second backward pass on the same forward works (graph kept).
    (again,) = torch.autograd.grad(forward.logits[0, 2], forward.feature_maps)
    assert again.shape == forward.feature_maps.shape
    assert all(p.grad is None for p in model.parameters())


def test_forward_with_features_leaves_model_untouched_in_train_mode():
    torch.manual_seed(0)
    model = TinyGapNet().train()
    randomize_batchnorm(model)
    snapshot = ModelSnapshot.take(model)
    x = torch.randn(3, 3, 16, 16)
    forward = forward_with_features(model, x, "features")
    snapshot.assert_unchanged(model)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(forward.logits.detach(), model(x))


def test_explaining_restores_flags_changed_inside_the_block():
    model = TinyGapNet().eval()
    with explaining(model):
        model.train()  # e.g. user code inside the block
    assert not any(module.training for module in model.modules())

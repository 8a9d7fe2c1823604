"""The one module walk (cam_utils._layers.walk_modules) and the one ``explaining`` context manager."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cam_utils._layers import resolve_layer, walk_modules
from cam_utils.gradcam import grad_cam
from cam_utils.model_state import explaining
from tests.helpers import TinyGapNet


def test_the_walk_gives_named_modules_breadth_first():
    model = TinyGapNet()
    walked = list(walk_modules(model))
    assert sorted(walked, key=lambda item: item[0]) == sorted(model.named_modules(), key=lambda item: item[0])
    depths = [name.count(".") + (name != "") for name, _ in walked]
    assert depths == sorted(depths), "breadth first: the top-level children before their own children"


def test_the_walk_survives_a_shared_module_a_cycle_and_an_empty_slot():
    model = TinyGapNet()
    model.features.add_module("again", model.act)  # one module under two names
    model.features.add_module("loop", model)  # the model inside itself
    model.register_module("empty", None)
    walked = list(walk_modules(model))
    assert len(walked) == len({id(module) for _, module in walked}) == len(list(TinyGapNet().modules()))
    assert dict((id(module), name) for name, module in walked)[id(model.act)] == "act", "the first name wins"
    assert resolve_layer(model, model.fc) == (model.fc, "fc")
    with explaining(model):  # the flags of every module once, and back
        assert not any(module.training for _, module in walk_modules(model))
    assert all(module.training for _, module in walk_modules(model))


def test_the_walk_stops_where_the_caller_stops():
    model = TinyGapNet()
    walk = walk_modules(model)
    assert next(walk) == ("", model)
    assert next(walk) == ("features", model.features)


def test_explaining_reports_a_mode_change_only_where_the_block_changes_no_flag():
    model = TinyGapNet().train()
    with explaining(model):  # the user's own block may change flags: restored, no error
        model.train()
    assert all(module.training for module in model.modules())
    with pytest.raises(RuntimeError, match="switched to training mode"):
        with explaining(model, report_mode_change=True):  # the explaining functions' blocks: someone else did it
            model.features.train()
    assert all(module.training for module in model.modules()), "flags restored before the error"

    def train_then_fail() -> None:
        with explaining(model, report_mode_change=True):
            model.train()
            raise KeyError("inside")

    with pytest.raises(KeyError):  # the block's own error is the one raised
        train_then_fail()


def test_every_explaining_function_runs_inside_explaining(monkeypatch):
    """One context manager: grad_cam's forward runs inside cam_utils.model_state.explaining."""
    import cam_utils.hooks as hooks

    entered = []
    real = hooks.explaining

    def spy(model: nn.Module, **options: bool):
        entered.append(options)
        return real(model, **options)

    monkeypatch.setattr(hooks, "explaining", spy)
    grad_cam(TinyGapNet().eval(), torch.randn(1, 3, 16, 16), "features", 0)
    assert entered == [{"report_mode_change": True}]

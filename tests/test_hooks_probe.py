"""cam_utils.probe: one forward-hook probe of a layer's output (the CLI's, the explorer's and the sanity check's)."""

from __future__ import annotations

import threading

import torch
from torch import nn

from cam_utils.probe import LayerProbe, probe_layers, probing
from cam_utils.tokens import vit_reshape
from tests.helpers import ModelSnapshot, TinyGapNet, randomize_batchnorm


class TwoOutputs(nn.Module):
    """A module whose output is a tuple: not feature maps."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


class WithSideModules(TinyGapNet):
    """TinyGapNet plus a tuple-returning module on the path and a module that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = TwoOutputs()
        self.unused = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.pair(x)
        return super().forward(x)


def test_probe_layers_gives_the_eval_logits_and_each_layers_output_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = WithSideModules().train()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16)
    before = ModelSnapshot.take(model)
    logits, seen = probe_layers(model, x, ["features", model.pair, "unused"])
    before.assert_unchanged(model)  # flags back in train mode, no hook left, statistics untouched
    with torch.no_grad():
        expected = model.eval()(x)
    torch.testing.assert_close(logits, expected)
    assert seen["features"] == LayerProbe("features", "Tensor", (2, 8, 4, 4), (2, 8, 4, 4))
    assert seen["pair"] == LayerProbe("pair", "tuple") and seen["pair"].ran
    assert seen["unused"] == LayerProbe("unused") and not seen["unused"].ran


def test_token_outputs_get_their_maps_shape_with_a_reshape():
    tokens = nn.Identity()
    model = nn.Sequential(tokens, nn.Flatten(1), nn.LazyLinear(3))
    x = torch.randn(1, 1 + 4 * 4, 5)  # a class token and a 4 x 4 grid of patch tokens, 5 channels
    _, plain = probe_layers(model, x, ["0"])
    _, as_maps = probe_layers(model, x, ["0"], reshape=vit_reshape)
    assert plain["0"].shape == (1, 17, 5) and plain["0"].maps_shape is None
    assert as_maps["0"].maps_shape == (1, 5, 4, 4)


def test_the_measurement_sees_the_output_before_an_in_place_activation():
    torch.manual_seed(0)
    model = TinyGapNet(inplace=True).eval()
    x = torch.randn(2, 3, 16, 16)
    with probing(model, ["features"], measure=lambda output: output.min().item()) as seen, torch.no_grad():
        model(x)
    with torch.no_grad():
        true_minimum = model.features(x).min().item()
    assert true_minimum < 0, "the in-place ReLU after the layer would have erased the negative values"
    assert seen["features"].measured == true_minimum


def test_on_input_watches_only_forwards_of_that_tensor_and_keeps_the_first():
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    x, other = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 32, 32)
    with probing(model, ["features"], on_input=x) as seen, torch.no_grad():
        model(other)  # e.g. Score-CAM's masked images: not measured
        assert "features" not in seen
        model(x)
        model(other)
    assert seen["features"].shape == (1, 8, 4, 4), "the forward on x, not the 32 x 32 one"


def test_another_threads_forward_is_not_seen():
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    small, large = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 32, 32)
    with probing(model, ["features"]) as seen, torch.no_grad():
        other = threading.Thread(target=lambda: model(large))  # plain inference elsewhere, no lock taken
        other.start()
        other.join()
        model(small)
    assert seen["features"].shape == (1, 8, 4, 4)
    assert not model.features._forward_hooks, "the hook is removed when the block ends"

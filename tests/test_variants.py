"""Grad-CAM++, HiResCAM and Score-CAM against float64 references written from the papers."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cam_utils
from cam_utils.cam import class_activation_map
from cam_utils.gradcam import grad_cam
from cam_utils.hooks import LayerForward, forward_with_features
from cam_utils.scorecam import score_cam
from cam_utils.variants import (
    grad_cam_plus_plus,
    grad_cam_plus_plus_alpha,
    grad_cam_plus_plus_from_forward,
    hires_cam,
    hires_cam_from_forward,
)
from tests.helpers import ModelSnapshot, TinyGapNet, give_existing_grads, randomize_batchnorm


class PositionNet(nn.Module):
    """A tiny CNN *without* global pooling: the gradient ∂y^c/∂A differs at every position.

    ``features`` outputs A of shape (N, channels, 4, 4) for a 16×16 input; ``head`` maps A to
    the class scores, which are multiplied by ``scale`` (a tiny scale gives tiny gradients).
    """

    def __init__(self, channels: int = 5, num_classes: int = 4, scale: float = 1.0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, stride=2, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Tanh(), nn.Flatten(), nn.Linear(channels * 16, num_classes))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)) * self.scale


def position_net(scale: float = 1.0, dtype: torch.dtype = torch.float64, seed: int = 0) -> PositionNet:
    torch.manual_seed(seed)
    model = PositionNet(scale=scale).to(dtype).eval()
    randomize_batchnorm(model, seed)
    return model


def random_input(batch: int = 2, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 16, 16, generator=generator).to(dtype)


# --- float64 references, written from the papers' definitions ----------------------------------


def reference_features_and_gradients(model: PositionNet, x: torch.Tensor, class_idx: list[int]):
    """A = features(x) and g = ∂y^c/∂A by plain autograd on the split model (no hooks)."""
    with torch.no_grad():
        feature_maps = model.features(x)
    feature_maps = feature_maps.clone().requires_grad_(True)
    logits = model.head(feature_maps) * model.scale
    scores = logits[torch.arange(len(class_idx)), torch.tensor(class_idx)]
    (gradients,) = torch.autograd.grad(scores.sum(), feature_maps)
    return feature_maps.detach(), gradients


def reference_alpha(feature_maps: torch.Tensor, gradients: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Eq. 19 of Grad-CAM++ with loops: α = g² / (2g² + Σ_ab A_ab g³), 0 where that is 0.

    ``eps`` reproduces the bug of adding a constant to the denominator (for the tests that
    prove the comparison would catch it).
    """
    alpha = torch.zeros_like(gradients)
    num_images, num_channels, height, width = gradients.shape
    for n in range(num_images):
        for k in range(num_channels):
            activation_sum = float(feature_maps[n, k].sum())
            for i in range(height):
                for j in range(width):
                    g = float(gradients[n, k, i, j])
                    denominator = 2 * g**2 + activation_sum * g**3 + eps
                    alpha[n, k, i, j] = g**2 / denominator if denominator != 0 else 0.0
    return alpha


def reference_grad_cam_plus_plus(model, x, class_idx, eps: float = 0.0) -> torch.Tensor:
    feature_maps, gradients = reference_features_and_gradients(model, x, class_idx)
    alpha = reference_alpha(feature_maps, gradients, eps)
    maps = torch.zeros(feature_maps.shape[0], *feature_maps.shape[2:], dtype=feature_maps.dtype)
    for n in range(feature_maps.shape[0]):
        for k in range(feature_maps.shape[1]):
            weight = (alpha[n, k] * gradients[n, k].clamp(min=0)).sum()  # Σ_ij α_ij ReLU(g_ij)
            maps[n] += weight * feature_maps[n, k]
    return maps.clamp(min=0)


def reference_hires_cam(model, x, class_idx) -> torch.Tensor:
    feature_maps, gradients = reference_features_and_gradients(model, x, class_idx)
    maps = torch.zeros(feature_maps.shape[0], *feature_maps.shape[2:], dtype=feature_maps.dtype)
    for k in range(feature_maps.shape[1]):
        maps += gradients[:, k] * feature_maps[:, k]
    return maps


def reference_score_cam(model: PositionNet, x: torch.Tensor, class_idx: list[int]) -> torch.Tensor:
    """One masked forward per (image, channel), as in the authors' released code."""
    with torch.no_grad():
        feature_maps = model.features(x)  # (N, C, 4, 4)
        maps = torch.zeros(feature_maps.shape[0], *feature_maps.shape[2:], dtype=feature_maps.dtype)
        for n in range(feature_maps.shape[0]):
            for k in range(feature_maps.shape[1]):
                channel = feature_maps[n, k][None, None]  # (1, 1, 4, 4)
                upsampled = F.interpolate(channel, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
                if upsampled.max() == upsampled.min():
                    continue  # constant channel: weight 0
                mask = (upsampled - upsampled.min()) / (upsampled.max() - upsampled.min())
                probability = torch.softmax(model(x[n : n + 1] * mask), dim=1)[0, class_idx[n]]
                maps[n] += probability * feature_maps[n, k]
    return maps.clamp(min=0)


# --- Grad-CAM++ ------------------------------------------------------------------------------------


def test_grad_cam_plus_plus_equals_float64_reference():
    model, x = position_net(), random_input()
    for class_idx in ([0, 3], [2, 2]):
        expected = reference_grad_cam_plus_plus(model, x, class_idx)
        result = grad_cam_plus_plus(model, x, "features", class_idx=class_idx)
        assert result.shape == (2, 4, 4) and result.dtype == torch.float64
        assert expected.max() > 0
        torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-13)


def test_grad_cam_plus_plus_alpha_equals_eq19():
    model, x = position_net(), random_input()
    feature_maps, gradients = reference_features_and_gradients(model, x, [1, 3])
    torch.testing.assert_close(
        grad_cam_plus_plus_alpha(feature_maps, gradients), reference_alpha(feature_maps, gradients), rtol=1e-12, atol=0
    )


def test_grad_cam_plus_plus_is_exact_for_tiny_gradients():
    """Logits × 1e-4 in float32: gradients ~1e-5, g² ~1e-10. No epsilon may change α."""
    scale = 1e-4
    model32 = position_net(scale=scale, dtype=torch.float32)
    x32 = random_input(dtype=torch.float32)
    model64, x64 = copy.deepcopy(model32).double(), x32.double()
    class_idx = [0, 3]

    _feature_maps, gradients = reference_features_and_gradients(model64, x64, class_idx)
    assert gradients.abs().max() < 1e-3  # the point of the test: tiny gradients
    expected = reference_grad_cam_plus_plus(model64, x64, class_idx)
    result = grad_cam_plus_plus(model32, x32, "features", class_idx=class_idx)
    normalised_result, normalised_expected = cam_utils.normalize(result.double()), cam_utils.normalize(expected)
    torch.testing.assert_close(normalised_result, normalised_expected, rtol=0, atol=1e-4)

    # The comparison is sharp enough: an epsilon of 1e-6 in the denominator would fail it.
    with_eps = cam_utils.normalize(reference_grad_cam_plus_plus(model64, x64, class_idx, eps=1e-6))
    assert (with_eps - normalised_expected).abs().max() > 1e-2


def _three_channel_forward() -> LayerForward:
    """A hand-built forward: y = Σ_k w_k mean(A^k) on A of shape (1, 3, 2, 2), Z = 4.

    g = w_k / 4 everywhere. Channel 0: w = -4, A = 0.5, so 2g² + ΣA·g³ = 2 - 2 = 0.
    Channel 1: w = 0, so g = 0 (0/0). Channel 2: an ordinary channel.
    """
    feature_maps = torch.tensor(
        [[[[0.5, 0.5], [0.5, 0.5]], [[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [2.0, 1.0]]]], dtype=torch.float64
    ).requires_grad_(True)
    class_weights = torch.tensor([-4.0, 0.0, 2.0], dtype=torch.float64)
    score = (feature_maps.mean(dim=(2, 3)) * class_weights).sum(dim=1)  # (1,)
    logits = torch.stack([score, -score], dim=1)  # (1, 2)
    return LayerForward(feature_maps=feature_maps, logits=logits)


def test_grad_cam_plus_plus_zero_denominator_gives_alpha_zero_not_nan():
    forward = _three_channel_forward()
    gradients = torch.tensor([-1.0, 0.0, 0.5], dtype=torch.float64)[None, :, None, None].expand(1, 3, 2, 2)
    alpha = grad_cam_plus_plus_alpha(forward.feature_maps.detach(), gradients)
    assert torch.isfinite(alpha).all()
    assert (alpha[0, 0] == 0).all() and (alpha[0, 1] == 0).all()
    # channel 2: g = 0.5, ΣA = 4 -> α = 0.25 / (0.5 + 4 · 0.125) = 0.25
    torch.testing.assert_close(alpha[0, 2], torch.full((2, 2), 0.25, dtype=torch.float64))

    cam = grad_cam_plus_plus_from_forward(forward, class_idx=0)
    assert torch.isfinite(cam).all()
    # Only channel 2 counts: w_2 = Σ_ij 0.25 · 0.5 = 0.5, map = 0.5 · A^2.
    torch.testing.assert_close(cam[0], 0.5 * forward.feature_maps.detach()[0, 2])


# --- HiResCAM --------------------------------------------------------------------------------------


def test_hires_cam_equals_float64_reference():
    model, x = position_net(), random_input()
    expected = reference_hires_cam(model, x, [1, 2])
    assert (expected < 0).any() and (expected > 0).any()  # a signed map: the ReLU option matters
    torch.testing.assert_close(hires_cam(model, x, "features", class_idx=[1, 2]), expected, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(
        hires_cam(model, x, "features", class_idx=[1, 2], relu=True), expected.clamp(min=0), rtol=1e-10, atol=1e-13
    )


def test_hires_cam_equals_cam_over_z_on_a_gap_network():
    torch.manual_seed(0)
    model = TinyGapNet(num_classes=5, channels=8).double().eval()
    randomize_batchnorm(model)
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    cam = class_activation_map(model, x, "act", "fc", class_idx=[0, 2, 4])  # (3, 4, 4)
    zones = cam.shape[1] * cam.shape[2]  # Z = h·w
    assert (cam < 0).any()  # the identity holds for the signed maps
    torch.testing.assert_close(hires_cam(model, x, "act", class_idx=[0, 2, 4]), cam / zones, rtol=1e-12, atol=1e-14)


# --- Score-CAM -------------------------------------------------------------------------------------


def score_cam_net() -> PositionNet:
    """PositionNet whose channel 1 is constant (0.7 everywhere): Score-CAM must give it weight 0."""
    model = position_net()
    with torch.no_grad():
        model.features[3].weight[1] = 0.0
        model.features[3].bias[1] = 0.7
    return model


def test_score_cam_equals_float64_reference():
    model, x = score_cam_net(), random_input()
    with torch.no_grad():
        assert (model.features(x)[:, 1] == 0.7).all()
    expected = reference_score_cam(model, x, [0, 3])
    assert expected.max() > 0
    result = score_cam(model, x, "features", class_idx=[0, 3])
    assert result.shape == (2, 4, 4) and result.dtype == torch.float64
    torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-13)


def test_score_cam_batch_size_does_not_change_the_result():
    model, x = score_cam_net(), random_input()
    results = [score_cam(model, x, "features", class_idx=[2, 1], batch_size=size) for size in (1, 2, 64)]
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(results[0], results[2], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8"])
def test_score_cam_rejects_bad_batch_size(batch_size):
    model, x = score_cam_net(), random_input(1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        score_cam(model, x, "features", batch_size=batch_size)


def test_score_cam_progress_only_when_asked(capsys):
    model, x = score_cam_net(), random_input(1)  # 5 channels, one constant: 4 masked images per image
    score_cam(model, x, "features")  # default: silent
    score_cam(model, x, "features", batch_size=1, progress=None)  # 4 batches: automatic stays silent
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""

    score_cam(model, x, "features", batch_size=3, progress=True)
    captured = capsys.readouterr()
    assert "Score-CAM: 100%" in captured.err and "4/4" in captured.err and captured.out == ""  # tqdm, channels

    many = random_input(6)  # 6 images × up to 4 informative channels, batch_size 1: more than 20 batches
    with torch.no_grad():
        feature_maps = model.features(many)
    informative = int((feature_maps.amax(dim=(2, 3)) > feature_maps.amin(dim=(2, 3))).sum())
    assert informative > 20
    score_cam(model, many, "features", batch_size=1, progress=None)
    assert f"{informative}/{informative} channels" in capsys.readouterr().err

    with pytest.raises(TypeError, match="progress must be"):
        score_cam(model, x, "features", progress="yes")


def test_score_cam_runs_no_forward_pass_for_a_constant_channel():
    model, x = score_cam_net(), random_input()  # channel 1 of 5 is constant
    calls = []
    handle = model.register_forward_pre_hook(lambda module, inputs: calls.append(inputs[0].shape[0]))
    try:
        result = score_cam(model, x, "features", class_idx=[0, 3], batch_size=1)
    finally:
        handle.remove()
    assert calls == [2] + [1] * 8  # the recording forward, then 2 images × 4 informative channels
    torch.testing.assert_close(result, reference_score_cam(model, x, [0, 3]), rtol=1e-10, atol=1e-13)
    assert not result.is_inference()  # the masked passes ran in inference mode; the map is a normal tensor


class FailsOnSecondCall(nn.Module):
    """Wraps a model; the second forward (Score-CAM's first masked batch) raises."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("simulated failure in a masked batch")
        return self.model(x)


def test_score_cam_leaves_model_untouched_when_a_masked_batch_fails():
    model = FailsOnSecondCall(position_net()).train()
    give_existing_grads(model)
    snapshot = ModelSnapshot.take(model)
    with pytest.raises(RuntimeError, match="simulated failure"):
        score_cam(model, random_input(), "model.features")
    snapshot.assert_unchanged(model)


# --- common guarantees of the three variants ------------------------------------------------------

METHODS = {
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "hires_cam": hires_cam,
    "hires_cam_relu": lambda model, x, layer, class_idx=None: hires_cam(model, x, layer, class_idx, relu=True),
    "score_cam": score_cam,
}
FROM_FORWARD = {
    "grad_cam_plus_plus": (grad_cam_plus_plus, grad_cam_plus_plus_from_forward),
    "hires_cam": (hires_cam, hires_cam_from_forward),
}


@pytest.mark.parametrize("name", METHODS)
def test_class_idx_forms(name):
    method = METHODS[name]
    model, x = position_net(), random_input(3)
    with torch.no_grad():
        top1 = model(x).argmax(dim=1)
    torch.testing.assert_close(method(model, x, "features"), method(model, x, "features", top1.tolist()))
    by_int = method(model, x, "features", 2)
    torch.testing.assert_close(by_int, method(model, x, "features", [2, 2, 2]))
    torch.testing.assert_close(by_int, method(model, x, "features", torch.tensor([2, 2, 2])))
    with pytest.raises(ValueError, match="class_idx has 2 entries but the batch has 3 images"):
        method(model, x, "features", [0, 1])
    with pytest.raises(ValueError, match="out of range"):
        method(model, x, "features", 4)
    with pytest.raises(TypeError, match="class_idx must be an integer"):
        method(model, x, "features", 1.0)


@pytest.mark.parametrize("name", METHODS)
def test_batch_equals_one_by_one(name):
    method = METHODS[name]
    model, x = position_net(), random_input(3)
    class_idx = [3, 0, 1]
    batch = method(model, x, "features", class_idx)
    single = torch.cat([method(model, x[i : i + 1], "features", [class_idx[i]]) for i in range(3)])
    assert batch.abs().max() > 0
    torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", METHODS)
def test_model_untouched_on_success_and_on_error(name):
    method = METHODS[name]
    torch.manual_seed(0)
    model = TinyGapNet().train()  # train mode, BatchNorm and Dropout: eval behaviour must be used
    randomize_batchnorm(model)
    give_existing_grads(model)
    model.fc.weight.requires_grad_(False)
    x = torch.randn(2, 3, 16, 16)
    snapshot = ModelSnapshot.take(model)

    with torch.no_grad():  # the caller's grad mode must survive too
        result = method(model, x, "features", [1, 2])
    snapshot.assert_unchanged(model)
    assert result.shape == (2, 4, 4) and result.device == x.device and result.dtype == x.dtype
    # computed at inference behaviour: the same as explaining an eval copy
    eval_copy = copy.deepcopy(model).eval()
    torch.testing.assert_close(result, method(eval_copy, x, "features", [1, 2]))

    for bad_call in (
        lambda: method(model, x, "features", [1, 99]),  # raises after the forward pass
        lambda: method(model, x, "no_such_layer"),
        lambda: method(model, x[0], "features"),
    ):
        with pytest.raises((ValueError, TypeError)):
            bad_call()
        snapshot.assert_unchanged(model)


@pytest.mark.parametrize("name", FROM_FORWARD)
def test_from_forward_equals_full_call(name):
    method, from_forward = FROM_FORWARD[name]
    model, x = position_net(), random_input()
    forward = forward_with_features(model, x, "features")
    for class_idx in (None, 1, [3, 0]):
        torch.testing.assert_close(
            from_forward(forward, class_idx), method(model, x, "features", class_idx), rtol=0, atol=0
        )


def test_variants_are_not_grad_cam_on_a_position_dependent_network():
    """On a non-GAP network the three variants give maps of their own (no silent fallback)."""
    model, x = position_net(), random_input()
    reference = cam_utils.normalize(grad_cam(model, x, "features", [0, 3]))
    for method in (grad_cam_plus_plus, hires_cam, score_cam):
        other = cam_utils.normalize(method(model, x, "features", [0, 3]))
        assert (other - reference).abs().max() > 1e-3


def test_public_names_are_exported():
    assert cam_utils.grad_cam_plus_plus is grad_cam_plus_plus
    assert cam_utils.hires_cam is hires_cam
    assert cam_utils.score_cam is score_cam

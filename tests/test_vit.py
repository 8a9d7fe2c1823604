"""The tiny shapes ViT: its shapes, its registry entry, the shipped weights (offline, weights_only,
accuracy), training, and Grad-CAM on its tokens against an independent plain-autograd reference."""

from __future__ import annotations

import socket
import warnings

import pytest
import torch

from cam_utils import grad_cam, hires_cam, vit_reshape
from cam_utils.course.shapes import (
    SHAPES_MODELS,
    accuracy,
    load_shapes_model,
    make_shapes,
    train_shapes_model,
)
from cam_utils.course.shapes.__main__ import main
from cam_utils.course.shapes.data import CLASS_NAMES
from cam_utils.course.shapes.vit import ShapesViT
from tests.helpers import ModelSnapshot, token_gradients

MAX_WEIGHTS_BYTES = 2_000_000


@pytest.fixture(scope="module")
def shipped():
    return load_shapes_model("vit")


@pytest.fixture(scope="module")
def test_images():
    return make_shapes(6, seed=77)


def test_tokens_have_the_shape_n_by_1_plus_hw_by_c():
    torch.manual_seed(0)
    model = ShapesViT().eval()
    x = make_shapes(2, seed=1).images
    outputs = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda module, inputs, output, name=name: outputs.__setitem__(name, output)
        )
        for name in ("patch_embed", "blocks.0", "blocks.3", "norm")
    ]
    with torch.no_grad():
        logits = model(x)
    for handle in handles:
        handle.remove()
    assert logits.shape == (2, len(CLASS_NAMES))
    assert outputs["patch_embed"].shape == (2, 64, 64)  # 8x8 patches, no class token yet
    for name in ("blocks.0", "blocks.3", "norm"):
        assert outputs[name].shape == (2, 1 + 8 * 8, 64)  # class token + 8x8 patches, width 64
    assert model.num_prefix_tokens == 1 and model.global_pool == "token"
    assert isinstance(model.head, torch.nn.Linear) and model.head.in_features == 64


def test_registry_entry():
    entry = SHAPES_MODELS["vit"]
    assert entry.build is ShapesViT and entry.weights_file == "shapes_vit.pt" and entry.reshape is vit_reshape
    model = entry.build()
    modules = dict(model.named_modules())
    assert entry.feature_layer == "blocks.2" and entry.feature_layer in modules
    assert all(stage in modules for stage in entry.stages)
    assert isinstance(modules[entry.classifier], torch.nn.Linear)
    assert 0 < entry.weights_path.stat().st_size <= MAX_WEIGHTS_BYTES


def test_shipped_weights_load_offline_with_weights_only(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access during loading")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    state = torch.load(SHAPES_MODELS["vit"].weights_path, map_location="cpu", weights_only=True)
    assert set(state) == set(ShapesViT().state_dict())
    loaded = load_shapes_model("vit")
    assert isinstance(loaded.model, ShapesViT) and loaded.name == "shapes_vit" and not loaded.model.training
    assert loaded.feature_layer is loaded.model.blocks[2] and loaded.classifier is loaded.model.head
    assert loaded.categories == list(CLASS_NAMES) and loaded.stages == list(SHAPES_MODELS["vit"].stages)
    torch.testing.assert_close(loaded.model.head.weight, state["head.weight"])
    # It loads like the CNNs and carries its own reshape, so callers need not know it outputs tokens.
    assert loaded.reshape is SHAPES_MODELS["vit"].reshape is not None
    assert load_shapes_model("gapnet").reshape is None


def test_shipped_weights_are_accurate_on_held_out_images(shipped):
    held_out = make_shapes(500, seed=31_337)  # a seed never used for training
    assert accuracy(shipped.model, held_out) >= 0.9


def test_short_training_learns_well_above_chance():
    model = train_shapes_model(n_train=768, epochs=4, batch_size=32, learning_rate=3e-3, seed=3, log=None, model="vit")
    assert isinstance(model, ShapesViT) and not model.training
    assert accuracy(model, make_shapes(300, seed=8)) > 0.33  # chance is 0.2; this run reaches about 0.42


def test_training_is_deterministic_and_the_command_writes_loadable_weights(tmp_path, capsys):
    first = train_shapes_model(n_train=64, epochs=1, seed=5, log=None, model="vit").state_dict()
    second = train_shapes_model(n_train=64, epochs=1, seed=5, log=None, model="vit").state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    out = tmp_path / "vit.pt"
    main(
        ["train", "--model", "vit", "--out", str(out), "--n-train", "64", "--epochs", "1", "--n-test", "16", "--force"]
    )
    printed = capsys.readouterr().out
    assert "vit: trained in" in printed and "held-out" in printed and "KiB" in printed
    loaded = load_shapes_model("vit", weights=out)
    torch.testing.assert_close(loaded.model.head.weight, torch.load(out, weights_only=True)["head.weight"])


# --- Grad-CAM on the tokens, against a plain-autograd reference ----------------------------------------


def reference_grad_cam(model, x, layer, class_idx):
    """Grad-CAM by hand: the layer's tokens and their gradients by plain autograd, fold (transpose + reshape), α, ReLU."""
    tokens, gradients, _ = token_gradients(model, x, layer, class_idx)  # (N, 65, C) each
    batch, _, channels = tokens.shape
    feature_maps = tokens[:, 1:].transpose(1, 2).reshape(batch, channels, 8, 8)  # (N, C, 8, 8)
    weights = gradients[:, 1:].transpose(1, 2).reshape(batch, channels, 8, 8).mean(dim=(2, 3))  # α: (N, C)
    return torch.relu((weights[:, :, None, None] * feature_maps).sum(dim=1)), gradients


@pytest.mark.parametrize("layer", ["blocks.0", "blocks.1", "blocks.2", "blocks.3.norm1"])
def test_grad_cam_on_tokens_matches_the_reference(shipped, test_images, layer):
    x, labels = test_images.images, test_images.labels
    snapshot = ModelSnapshot.take(shipped.model)
    maps = grad_cam(shipped.model, x, layer, class_idx=labels, reshape=vit_reshape)  # (N, 8, 8)
    snapshot.assert_unchanged(shipped.model)
    torch.testing.assert_close(grad_cam(shipped.model, x, layer, class_idx=labels, reshape=shipped.reshape), maps)
    expected, gradients = reference_grad_cam(shipped.model, x, layer, labels)
    assert maps.shape == (6, 8, 8) and float(expected.amax()) > 0
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert float(gradients[:, 1:].abs().amax()) > 0  # the patch tokens reach the class score


@pytest.mark.parametrize("layer", ["blocks.3", "blocks.3.attn", "blocks.3.norm2", "norm"])
def test_after_the_last_attention_the_patch_tokens_have_zero_gradient(shipped, test_images, layer):
    x, labels = test_images.images, test_images.labels
    _, gradients = reference_grad_cam(shipped.model, x, layer, labels)
    assert float(gradients[:, 0].abs().amax()) > 0  # the class token feeds the head
    assert torch.count_nonzero(gradients[:, 1:]) == 0  # exactly zero: no path from these patch tokens to y
    maps = grad_cam(shipped.model, x, layer, class_idx=labels, reshape=vit_reshape)
    assert torch.count_nonzero(maps) == 0  # a blank map


def test_hires_cam_cancels_at_a_block_output_and_says_so(shipped, test_images):
    """blocks.2's patch tokens reach the class score only through blocks.3.norm1, a LayerNorm, which ignores
    each token's scale: Σ_k ∂y/∂A^k · A^k = 0 at every position. HiResCAM warns there, not at the norm's output."""
    x, labels = test_images.images, test_images.labels
    with pytest.warns(RuntimeWarning, match=r"HiResCAM cancels at this layer for 6 of 6 images"):
        cancelled = hires_cam(shipped.model, x, "blocks.2", class_idx=labels, reshape=vit_reshape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at the normalised tokens
        kept = hires_cam(shipped.model, x, "blocks.3.norm1", class_idx=labels, reshape=vit_reshape)
    assert float(cancelled.abs().max()) < 1e-4 * float(kept.abs().max())

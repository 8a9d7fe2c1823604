"""Vision transformers: token outputs as feature maps (``reshape=``), against an independent reference.

The reference runs the whole model with autograd on a copy, keeps the chosen block's token output
with ``retain_grad``, calls ``backward`` and only then drops the prefix tokens and folds the grid
(with ``transpose`` + ``reshape``, not the library's code path). Random weights, no download.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import timm
import torch
import torch.nn.functional as F

from cam_utils import (
    class_activation_map,
    forward_with_features,
    grad_cam,
    grad_cam_plus_plus,
    hires_cam,
    score_cam,
    vit_reshape,
    vit_reshape_for,
)
from cam_utils.cam import cam_from_features
from cam_utils.variants import grad_cam_plus_plus_alpha
from tests.helpers import ModelSnapshot, give_existing_grads, token_gradients


def make_vit(name: str = "vit_tiny_patch16_224", **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs).eval()
    with torch.no_grad():  # a head that is not tiny, so that maps are well above rounding noise
        heads = model.get_classifier()  # DeiT distilled: (head, head_dist)
        for head in heads if isinstance(heads, tuple) else (heads,):
            head.weight.mul_(50)
    return model


@pytest.fixture(scope="module")
def vit():
    return make_vit()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def reference_tokens(model, x, module_name, prefix_tokens, class_idx):
    """(A, G): the block's patch tokens and ∂y^c/∂tokens, folded to (N, C, h, w) after a plain backward."""
    tokens, gradients, logits = token_gradients(model, x, module_name, class_idx)
    batch, num_tokens, channels = tokens.shape
    side = round((num_tokens - prefix_tokens) ** 0.5)

    def fold(values):  # (N, P + h·w, C) -> (N, C, h, w)
        return values[:, prefix_tokens:].transpose(1, 2).reshape(batch, channels, side, side)

    return fold(tokens), fold(gradients), logits


def assert_maps_close(actual, expected):
    scale = float(expected.abs().max())
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("layer", ["blocks.10", "blocks.11.norm1"])
def test_vit_gradient_maps_match_the_reference(vit, images, layer):
    classes = [3, 7]
    feature_maps, gradients, _ = reference_tokens(vit, images, layer, 1, classes)
    alpha = gradients.mean(dim=(2, 3))  # (N, C)
    expected_grad_cam = torch.relu(torch.einsum("nc,nchw->nhw", alpha, feature_maps))
    assert_maps_close(grad_cam(vit, images, layer, classes, reshape=vit_reshape), expected_grad_cam)
    expected_hires = (gradients * feature_maps).sum(dim=1)
    # A sum over channels with cancellation: its rounding error scales with Σ_k |g·A|, not with the result.
    uncancelled = float((gradients * feature_maps).abs().sum(dim=1).max())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hires = hires_cam(vit, images, layer, classes, reshape=vit_reshape)
    torch.testing.assert_close(hires, expected_hires, rtol=1e-4, atol=1e-5 * uncancelled)
    cancel_warnings = [w for w in caught if "HiResCAM cancels" in str(w.message)]
    if layer == "blocks.10":
        # A block output reaches the scores only through LayerNorms, which ignore the scale of each token:
        # the gradient is orthogonal to the token, Σ_k g_k A_k = 0. HiResCAM is blank there (rounding only),
        # and says so.
        assert float(hires.abs().max()) < 1e-5 * uncancelled
        assert len(cancel_warnings) == 1 and issubclass(cancel_warnings[0].category, RuntimeWarning)
        assert "2 of 2 images" in str(cancel_warnings[0].message) and "norm1" in str(cancel_warnings[0].message)
    else:
        assert float(hires.abs().max()) > 1e-2 * uncancelled
        assert not cancel_warnings
    weights = (grad_cam_plus_plus_alpha(feature_maps, gradients) * torch.relu(gradients)).sum(dim=(2, 3))
    expected_plus_plus = torch.relu(torch.einsum("nc,nchw->nhw", weights, feature_maps))
    assert_maps_close(grad_cam_plus_plus(vit, images, layer, classes, reshape=vit_reshape), expected_plus_plus)


def test_deit_distilled_has_two_prefix_tokens(images):
    deit = make_vit("deit_tiny_distilled_patch16_224")
    reshape = vit_reshape_for(deit)
    assert reshape.keywords == {"prefix_tokens": 2}
    feature_maps, gradients, _ = reference_tokens(deit, images, "blocks.10", 2, [5, 5])
    expected = torch.relu(torch.einsum("nc,nchw->nhw", gradients.mean(dim=(2, 3)), feature_maps))
    maps = grad_cam(deit, images, "blocks.10", 5, reshape=reshape)
    assert maps.shape == (2, 14, 14)
    assert_maps_close(maps, expected)
    with pytest.raises(ValueError, match=r"197 patch tokens remain, which is not a square grid.*vit_reshape_for"):
        grad_cam(deit, images, "blocks.10", reshape=vit_reshape)  # one prefix token assumed: wrong here


def test_gradients_flow_only_through_the_kept_tokens(vit, images):
    feature_maps, gradients, logits = reference_tokens(vit, images, "blocks.10", 1, [3, 7])
    forward = forward_with_features(vit, images, "blocks.10", reshape=vit_reshape)
    assert forward.feature_maps.is_leaf and forward.feature_maps.requires_grad
    assert torch.equal(forward.feature_maps.detach(), feature_maps)
    assert torch.equal(forward.logits.detach(), logits)  # the rebuilt tokens change nothing downstream
    scores = forward.logits[torch.arange(2), torch.tensor([3, 7])].sum()
    (through_maps,) = torch.autograd.grad(scores, forward.feature_maps, retain_graph=True)
    torch.testing.assert_close(through_maps, gradients, rtol=1e-4, atol=1e-6 * float(gradients.abs().max()))

    # Keep only the top-left 2×2 patches (tokens 1, 2, 15, 16): the map holds just those tokens, and
    # their gradients are the reference's for those tokens; every other token is a constant.
    def corner(tokens):
        patches = tokens[:, 1:].reshape(len(tokens), 14, 14, -1)[:, :2, :2]  # (N, 2, 2, C)
        return patches.permute(0, 3, 1, 2)

    cornered = forward_with_features(vit, images, "blocks.10", reshape=corner)
    assert cornered.feature_maps.shape == (2, 192, 2, 2)
    assert torch.equal(cornered.logits.detach(), logits)
    scores = cornered.logits[torch.arange(2), torch.tensor([3, 7])].sum()
    (corner_gradients,) = torch.autograd.grad(scores, cornered.feature_maps)
    torch.testing.assert_close(
        corner_gradients, gradients[:, :, :2, :2], rtol=1e-4, atol=1e-6 * float(gradients.abs().max())
    )
    assert not any(parameter.grad is not None for parameter in vit.parameters())


def test_blocks_output_without_reshape_explains_tokens(vit, images):
    with pytest.raises(ValueError, match=r"outputs shape \(2, 197, 192\): tokens.*reshape=vit_reshape.*14×14 grid"):
        grad_cam(vit, images, "blocks.10")
    with pytest.raises(ValueError, match=r"tokens.*reshape="):
        score_cam(vit, images, "blocks.10")


def test_cam_and_score_cam_on_a_small_vit():
    # global_pool="avg", fc_norm=False: y = W · mean(norm(patch tokens)) + b, so CAM is exact at "norm".
    vit = make_vit("vit_tiny_patch16_224", img_size=64, global_pool="avg", fc_norm=False)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    feature_maps, _, logits = reference_tokens(vit, x, "norm", 1, [0, 0])  # (2, 192, 4, 4)
    head = vit.get_classifier()
    maps = class_activation_map(vit, x, "norm", head, "all", reshape=vit_reshape)  # (2, classes, 4, 4)
    expected = torch.einsum("nchw,kc->nkhw", feature_maps, head.weight.detach())
    assert_maps_close(maps, expected)
    torch.testing.assert_close(maps.mean(dim=(2, 3)) + head.bias.detach(), logits, rtol=1e-4, atol=1e-4)
    tokens = torch.cat([torch.zeros(2, 1, 192), feature_maps.flatten(2).transpose(1, 2)], dim=1)
    class_weights = head.weight.detach()[[4, 9]]
    torch.testing.assert_close(
        cam_from_features(tokens, class_weights, reshape=vit_reshape), cam_from_features(feature_maps, class_weights)
    )

    # Score-CAM, one masked forward per channel, written as a plain loop.
    classes = logits.argmax(dim=1)
    weights = torch.zeros(2, 192)
    with torch.no_grad():
        for n in range(2):
            for k in range(192):
                channel = feature_maps[n, k]
                if channel.max() == channel.min():
                    continue
                mask = F.interpolate(channel[None, None], size=(64, 64), mode="bilinear", align_corners=False)[0, 0]
                mask = (mask - mask.min()) / (mask.max() - mask.min())
                weights[n, k] = torch.softmax(vit(x[n : n + 1] * mask), dim=1)[0, classes[n]]
    expected_score = torch.relu(torch.einsum("nc,nchw->nhw", weights, feature_maps))
    assert_maps_close(score_cam(vit, x, "norm", reshape=vit_reshape), expected_score)


def test_model_untouched_in_train_mode(images):
    vit = make_vit().train()
    give_existing_grads(vit)
    snapshot = ModelSnapshot.take(vit)
    grad_cam(vit, images[:1], "blocks.10", reshape=vit_reshape)
    with pytest.raises(ValueError, match="194 patch tokens remain, which is not a square grid"):
        grad_cam(vit, images[:1], "blocks.10", reshape=functools.partial(vit_reshape, prefix_tokens=3))
    snapshot.assert_unchanged(vit)


@pytest.mark.parametrize(
    "reshape, message",
    [
        (lambda t: F.layer_norm(vit_reshape(t), (14, 14)), "computes new values"),
        (lambda t: vit_reshape(t).repeat(1, 1, 1, 2), "one entry of image n's map"),  # a token used twice
        (lambda t: vit_reshape(t).flip(0), "one entry of image n's map"),  # image 1's tokens in image 0's map
        (lambda t: t[:, 1:], r"returned \(2, 196, 192\).*\(N, C, h, w\)"),
        (lambda t: 3, "returned int"),
    ],
    ids=["computes", "duplicates", "mixes-images", "3-D", "not-a-tensor"],
)
def test_a_reshape_that_does_more_than_rearrange_is_rejected(vit, images, reshape, message):
    with pytest.raises(ValueError, match=message):
        grad_cam(vit, images, "blocks.10", reshape=reshape)


def test_vit_reshape_checks_its_input():
    tokens = torch.randn(2, 1 + 6 * 4, 8)
    assert vit_reshape(tokens, grid_size=(6, 4)).shape == (2, 8, 6, 4)
    assert torch.equal(vit_reshape(tokens, grid_size=(6, 4))[1, :, 2, 3], tokens[1, 1 + 2 * 4 + 3])
    with pytest.raises(ValueError, match=r"24 patch tokens remain, which is not a square grid.*grid_size"):
        vit_reshape(tokens)
    with pytest.raises(ValueError, match=r"grid_size=\(5, 5\) holds 25 patches"):
        vit_reshape(tokens, grid_size=(5, 5))
    with pytest.raises(ValueError, match="prefix_tokens must be an integer"):
        vit_reshape(tokens, prefix_tokens=-1)
    with pytest.raises(ValueError, match=r"\(N, tokens, channels\), got \(2, 8, 5, 5\)"):
        vit_reshape(torch.randn(2, 8, 5, 5))


def test_vit_reshape_for_other_models():
    import torchvision

    torchvision_vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=16, num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=8
    )
    assert vit_reshape_for(torchvision_vit).keywords == {"prefix_tokens": 1}
    with pytest.raises(TypeError, match="prefix_tokens=P"):
        vit_reshape_for(torch.nn.Linear(2, 2))


def test_a_reshape_that_computes_values_out_of_range_is_named_as_such():
    """Issue 19, item 18: a reshape computing values (here a sum of tokens) gave a raw IndexError."""
    from cam_utils.tokens import TokenLayout

    output = torch.randn(2, 65, 16)

    def mixes_tokens(tokens: torch.Tensor) -> torch.Tensor:
        return (tokens[:, 1:] * 2 + tokens[:, :1]).transpose(1, 2).reshape(2, 16, 8, 8)

    with pytest.raises(ValueError, match="computes new values"):
        TokenLayout.of(output, mixes_tokens, "blocks.0")

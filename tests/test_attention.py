"""Attention maps and attention rollout, against independent references.

* ``rollout``: a tiny example whose attentions are known and whose result was computed by hand
  (fractions in the comments), including the identity for the residual and the renormalisation.
* ``attention_weights``: against timm's own non-fused attention path, read with a hook on
  ``attn_drop`` in a copy of the model (``fused_attn = False`` there only).
* The model is untouched: weights, flags, hooks, grads, grad mode; also when the forward raises.
"""

from __future__ import annotations

import copy

import pytest
import timm
import torch

from cam_utils.attention import (
    attention_layers,
    attention_map,
    attention_rollout,
    attention_weights,
    rollout,
)
from cam_utils.course.shapes import make_shapes
from cam_utils.course.shapes.vit import ShapesViT
from tests.helpers import ModelSnapshot, give_existing_grads


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return ShapesViT().eval()


@pytest.fixture(scope="module")
def images():
    return make_shapes(3, seed=5).images  # (3, 3, 64, 64)


def reference_attention(model, x):
    """timm's own attention probabilities: the non-fused path of a copy, read at attn_drop (identity in eval)."""
    model = copy.deepcopy(model).eval()
    stored = []
    for block in model.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda module, inputs, output: stored.append(output.detach()))
    with torch.no_grad():
        model(x)
    return stored  # one (N, heads, T, T) per block


# --- rollout, by hand --------------------------------------------------------------------------------


def test_rollout_of_a_hand_computed_example():
    # Layer 1: head a is the identity, head b a cyclic shift; their mean Ā1 = [[.5,.5,0],[0,.5,.5],[.5,0,.5]].
    identity = torch.eye(3)
    shift = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])
    layer1 = torch.stack([identity, shift])[None]  # (1, 2, 3, 3)
    # Layer 2: every token looks at token 0 (head a) or token 2 (head b): Ā2 rows = [.5, 0, .5].
    layer2 = torch.stack([torch.tensor([[1.0, 0, 0]] * 3), torch.tensor([[0.0, 0, 1]] * 3)])[None]
    # Ã = (Ā + I) / 2 (rows of Ā + I sum to 2):
    #   Ã1 = [[3,1,0],[0,3,1],[1,0,3]] / 4,   Ã2 = [[3,0,1],[1,2,1],[1,0,3]] / 4
    # R = Ã2 Ã1 = [[10,3,3],[4,7,5],[6,1,9]] / 16   (by hand, row by column)
    expected = torch.tensor([[10.0, 3, 3], [4, 7, 5], [6, 1, 9]])[None] / 16
    torch.testing.assert_close(rollout([layer1, layer2]), expected)
    # One layer: Ã1 itself; the rows of R always sum to 1.
    torch.testing.assert_close(rollout([layer1]), torch.tensor([[3.0, 1, 0], [0, 3, 1], [1, 0, 3]])[None] / 4)
    # The order matters (Ã1 Ã2 differs) and the identity matters (Ā2 Ā1 differs):
    assert not torch.allclose(rollout([layer2, layer1]), expected)
    assert not torch.allclose(layer2.mean(1) @ layer1.mean(1), expected)


def test_rollout_renormalises_rows_that_do_not_sum_to_one():
    attention = torch.tensor([[[[2.0, 0], [0, 0]]]])  # rows sum to 2 and 0
    # Ā + I = [[3, 0], [0, 1]] -> rows renormalised: the identity
    torch.testing.assert_close(rollout([attention]), torch.eye(2)[None])


def test_rollout_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one layer"):
        rollout([])
    with pytest.raises(ValueError, match=r"\(N, heads, T, T\)"):
        rollout([torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 4)])


# --- attention of a real ViT -------------------------------------------------------------------------


def test_attention_weights_match_timm_non_fused_path(vit, images):
    assert attention_layers(vit) == [f"blocks.{i}.attn" for i in range(4)]
    weights = attention_weights(vit, images)
    reference = reference_attention(vit, images)
    assert len(weights) == 4 and weights[0].shape == (3, 4, 65, 65)
    for ours, theirs in zip(weights, reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(3, 4, 65))
    last = attention_weights(vit, images, ["blocks.3.attn"])
    torch.testing.assert_close(last[0], weights[3])


def test_attention_weights_with_qk_norm_and_another_width():
    torch.manual_seed(1)
    model = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=8,
        depth=2,
        num_heads=2,
        embed_dim=16,
        qk_norm=True,
        num_classes=3,
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    for ours, theirs in zip(attention_weights(model, x), reference_attention(model, x), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_attention_map_and_rollout_read_the_class_token_row(vit, images):
    reference = reference_attention(vit, images)
    mean_last = reference[-1].mean(dim=1)  # (N, 65, 65)
    expected_map = mean_last[:, 0, 1:].reshape(3, 8, 8)  # class token's row, patch columns, row by row
    torch.testing.assert_close(attention_map(vit, images), expected_map, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        attention_map(vit, images, "blocks.1.attn"),
        reference[1].mean(1)[:, 0, 1:].reshape(3, 8, 8),
        rtol=1e-5,
        atol=1e-7,
    )

    result = torch.eye(65).expand(3, 65, 65)
    for attention in reference:  # independent: 0.5·Ā + 0.5·I (rows of Ā sum to 1)
        result = (0.5 * attention.mean(1) + 0.5 * torch.eye(65)) @ result
    torch.testing.assert_close(attention_rollout(vit, images), result[:, 0, 1:].reshape(3, 8, 8), rtol=1e-5, atol=1e-7)


def test_the_model_is_untouched_also_when_the_forward_raises(images):
    torch.manual_seed(0)
    model = ShapesViT().train()  # train mode: the call must switch to eval and back
    give_existing_grads(model)
    snapshot = ModelSnapshot.take(model)
    with torch.no_grad():
        attention_rollout(model, images)
        attention_map(model, images)
    snapshot.assert_unchanged(model)
    with pytest.raises(Exception, match="doesn't match model"):  # timm refuses a 32x32 image inside forward
        attention_weights(model, images[:, :, :32, :32])
    snapshot.assert_unchanged(model)


def test_clear_errors(vit, images):
    with pytest.raises(ValueError, match=r"not a self-attention module.*blocks.0.attn"):
        attention_weights(vit, images, ["blocks.0.mlp"])
    with pytest.raises(ValueError, match="no self-attention module"):
        attention_rollout(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), images)
    with pytest.raises(ValueError, match="batch"):
        attention_map(vit, images[0])


def test_one_layer_name_as_a_string_is_one_layer(vit, images):
    """Issue 19, item 18: layers="blocks.0.attn" was read letter by letter ("'b' is not a self-attention module")."""
    (as_string,) = attention_weights(vit, images, "blocks.0.attn")
    (as_list,) = attention_weights(vit, images, ["blocks.0.attn"])
    torch.testing.assert_close(as_string, as_list, rtol=0, atol=0)
    torch.testing.assert_close(
        attention_rollout(vit, images, layers="blocks.0.attn"),
        attention_rollout(vit, images, layers=["blocks.0.attn"]),
        rtol=0,
        atol=0,
    )

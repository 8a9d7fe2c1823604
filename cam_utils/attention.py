"""Attention as an explanation: a ViT's attention maps and attention rollout.

In a transformer block, self-attention mixes the tokens. Token i's output is a weighted average
of the value vectors of all tokens j, with weights, per head h (queries q, keys k, head width d):

    A^h_ij = softmax_j( q^h_i · k^h_j / √d )          (N, heads, T, T); every row sums to 1

Two ways to turn these weights into a map over the image (class-agnostic: no class c appears):

* **Attention map** (:func:`attention_map`): the row of the class token in one block (usually
  the last), averaged over the heads, read on the patch columns: how much the class token takes
  from each patch in that block.
* **Attention rollout** (Abnar & Zuidema, ACL 2020, https://arxiv.org/abs/2005.00928,
  :func:`attention_rollout`): a block adds the attention's output to its input (the residual
  connection), and rollout *models* this by adding the identity to each layer's attention and
  renormalising the rows, so that in every layer half of each token comes through the residual
  path and half through attention. That half is rollout's assumption, not a property of the
  network: the MLP branch and the actual sizes of the two branches are ignored. With Ā_l the
  heads' average,

      Ã_l = (Ā_l + I) / rowsum(Ā_l + I) = ½ Ā_l + ½ I     the modelled residual, rows renormalised
      R   = Ã_L · Ã_{L-1} · … · Ã_1                how the last tokens draw on the input tokens

  and the map is the class token's row of R on the patch columns.

The attention weights are not stored by the model (timm computes them inside a fused kernel), so
:func:`attention_weights` recomputes them from each attention module's input with the module's own
projections. Nothing of the model changes: eval behaviour during the call, hooks removed after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeGuard

import torch
from torch import Tensor, nn

from ._checks import check_input
from .model_state import explaining
from .tokens import Reshape, vit_reshape_for

__all__ = ["attention_layers", "attention_map", "attention_rollout", "attention_weights", "rollout"]


def attention_layers(model: nn.Module) -> list[str]:
    """Dotted names of the model's self-attention modules (timm's ``Attention``: ``qkv``, ``num_heads``,
    ``scale``), in the order they are defined (the forward order for a ViT: ``blocks.0.attn``, …)."""
    return [name for name, module in model.named_modules() if _is_attention(module)]


class _TimmAttention(Protocol):
    """What :func:`attention_weights` reads of a timm ``Attention`` module (``q_norm``/``k_norm``: if present)."""

    qkv: nn.Linear
    num_heads: int
    scale: float


def _is_attention(module: nn.Module) -> TypeGuard[_TimmAttention]:
    return (
        isinstance(getattr(module, "qkv", None), nn.Linear)
        and hasattr(module, "num_heads")
        and hasattr(module, "scale")
    )


def _weights_from_input(attention: _TimmAttention, tokens: Tensor) -> Tensor:
    """A = softmax(q kᵀ · scale) of a timm ``Attention`` module for its input ``tokens`` (N, T, C): (N, heads, T, T)."""
    batch, num_tokens, _ = tokens.shape
    heads = attention.num_heads
    head_width = attention.qkv.out_features // (3 * heads)
    qkv = attention.qkv(tokens)  # (N, T, 3·heads·d)
    qkv = qkv.reshape(batch, num_tokens, 3, heads, head_width).permute(2, 0, 3, 1, 4)  # (3, N, heads, T, d)
    q_norm, k_norm = getattr(attention, "q_norm", None), getattr(attention, "k_norm", None)
    queries = qkv[0] if q_norm is None else q_norm(qkv[0])  # (N, heads, T, d)
    keys = qkv[1] if k_norm is None else k_norm(qkv[1])
    # A^h_ij = softmax_j(q^h_i · k^h_j / √d)   (timm's scale is 1/√d)
    return (queries @ keys.transpose(-2, -1) * attention.scale).softmax(dim=-1)  # (N, heads, T, T)


def attention_weights(model: nn.Module, x: Tensor, layers: Sequence[str] | None = None) -> list[Tensor]:
    """The attention probabilities of each attention layer for the images ``x``: [(N, heads, T, T), …].

    One forward pass of the model (eval behaviour, no gradients). A forward pre-hook on each
    attention module takes its input tokens (after the block's ``norm1``) and recomputes
    A = softmax(q kᵀ / √d) with the module's own ``qkv`` projection (and ``q_norm``/``k_norm``).

    Args:
        model: a timm vision transformer (or any model whose attention modules have timm's
            ``qkv`` / ``num_heads`` / ``scale``).
        x: (N, 3, H, W) input batch.
        layers: dotted names of attention modules (e.g. ``["blocks.3.attn"]``, or one name as a string);
            None: all of them, in forward order (:func:`attention_layers`).

    Returns:
        One (N, heads, T, T) tensor per layer, in the order of ``layers``; row i holds how token i
        weighs every token j (each row sums to 1). T = prefix tokens + h·w patches.

    Raises:
        ValueError: the model has no such attention module, or a layer did not run.
    """
    check_input(x, model)
    if isinstance(layers, str):
        layers = [layers]  # one name, not its characters
    names = attention_layers(model) if layers is None else list(layers)
    modules = dict(model.named_modules())
    attentions: dict[str, _TimmAttention] = {}
    for name in names:
        module = modules.get(name)
        if module is None or not _is_attention(module):
            raise ValueError(
                f"{name!r} is not a self-attention module of this model (one with qkv, num_heads and scale, as timm's "
                f"Attention). Its attention modules: {attention_layers(model)[:4]}… (attention_layers(model))."
            )
        attentions[name] = module
    if not names:
        raise ValueError("The model has no self-attention module with qkv, num_heads and scale (timm's Attention).")
    recorded: dict[str, Tensor] = {}

    def recorder(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            recorded[name] = _weights_from_input(attentions[name], args[0])  # attentions[name] is module

        return record

    with explaining(model), torch.no_grad():
        handles = [modules[name].register_forward_pre_hook(recorder(name)) for name in names]
        try:
            model(x)
        finally:
            for handle in handles:
                handle.remove()
    missing = [name for name in names if name not in recorded]
    if missing:
        raise ValueError(f"The attention layer {missing[0]!r} did not run in the forward pass of x.")
    return [recorded[name] for name in names]


def _class_token_row(matrix: Tensor, reshape: Reshape) -> Tensor:
    """Row 0 (the class token) of (N, T, T), on the patch columns, as maps (N, h, w)."""
    row = matrix[:, 0, :]  # (N, T): how the class token draws on every token
    # reshape drops the prefix columns and folds the patches: (N, T, 1) -> (N, 1, h, w)
    return reshape(row[:, :, None])[:, 0]


def attention_map(model: nn.Module, x: Tensor, layer: str | None = None, reshape: Reshape | None = None) -> Tensor:
    """The class token's attention to the patches in one layer, averaged over heads: (N, h, w).

    map_ij = (1/heads) Σ_h A^h_{0, p(i,j)}, with p(i, j) the token of patch (i, j).

    Args:
        model: a timm ViT with its class token first.
        x: (N, 3, H, W) input batch.
        layer: the attention module (default: the last one, e.g. ``"blocks.3.attn"``).
        reshape: tokens (N, T, C) -> (N, C, h, w), as for Grad-CAM; default
            ``vit_reshape_for(model)`` (drops the prefix tokens, folds the square grid).
    """
    weights = attention_weights(model, x, None if layer is None else [layer])[-1]  # (N, heads, T, T), last layer
    reshape = vit_reshape_for(model) if reshape is None else reshape
    return _class_token_row(weights.mean(dim=1), reshape)  # (N, h, w)


def rollout(attentions: Sequence[Tensor]) -> Tensor:
    """Attention rollout R = Ã_L ··· Ã_1 of per-layer attentions [(N, heads, T, T)] in forward order: (N, T, T).

    Each layer: average the heads, add the identity (rollout's model of the residual connection),
    renormalise the rows so that they sum to 1 again (Ã_l = ½ Ā_l + ½ I); then multiply the
    layers, the last one on the left.
    """
    if not attentions:
        raise ValueError("rollout needs the attention of at least one layer: [(N, heads, T, T), ...].")
    batch, _, num_tokens, _ = attentions[0].shape
    identity = torch.eye(num_tokens, dtype=attentions[0].dtype, device=attentions[0].device)  # (T, T)
    result = identity.expand(batch, num_tokens, num_tokens)  # R = I before the first layer
    for attention in attentions:
        if attention.dim() != 4 or attention.shape[-2:] != (num_tokens, num_tokens):
            raise ValueError(
                f"Every attention must be (N, heads, T, T) with T = {num_tokens}; got {tuple(attention.shape)}."
            )
        with_residual = attention.mean(dim=1) + identity  # Ā_l + I   (N, T, T)
        # Ã_l = (Ā_l + I) / rowsum: each row sums to 1 again
        with_residual = with_residual / with_residual.sum(dim=-1, keepdim=True)
        result = with_residual @ result  # R <- Ã_l · R
    return result


def attention_rollout(
    model: nn.Module, x: Tensor, layers: Sequence[str] | None = None, reshape: Reshape | None = None
) -> Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): the class token's row of R = Ã_L ··· Ã_1 on the patches: (N, h, w).

    Args:
        model: a timm ViT with its class token first.
        x: (N, 3, H, W) input batch.
        layers: the attention modules to roll out, in forward order (default: all; one name may be a string).
        reshape: tokens (N, T, C) -> (N, C, h, w); default ``vit_reshape_for(model)``.
    """
    rolled_out = rollout(attention_weights(model, x, layers))  # (N, T, T)
    reshape = vit_reshape_for(model) if reshape is None else reshape
    return _class_token_row(rolled_out, reshape)  # (N, h, w)

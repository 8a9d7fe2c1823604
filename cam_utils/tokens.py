"""Vision transformers: their tokens laid out as feature maps, so that every CAM method applies.

A CNN layer outputs feature maps A of shape (N, C, h, w). A vision transformer (ViT, DeiT, ...)
cuts the image into h×w patches and its blocks output **tokens** of shape (N, P + h·w, C):
P *prefix* tokens first (the class token; DeiT's distillation token; register tokens), then one
token per patch, row by row. Drop the prefix tokens and fold the h·w patch tokens back onto their
grid, and the tokens *are* feature maps: channel k at patch (i, j) is A^k_ij. (Unlike a CNN's
position, a token may carry information from every patch once attention has mixed them; its place
on the grid is its own patch's.)

Every explaining function takes ``reshape=``, a callable from the layer's output to (N, C, h, w)::

    from cam_utils import grad_cam, vit_reshape
    maps = grad_cam(vit, x, "blocks.10", reshape=vit_reshape)           # (N, 14, 14) for 224×224
    maps = grad_cam(deit, x, "blocks.10", reshape=vit_reshape_for(deit))  # 2 prefix tokens (timm)

Which layer: one *before the last attention*: the second-to-last block's output (``blocks.10``
of 12) or the last block's ``norm1``. The last attention is the last place where the patch tokens
reach the class token, which the classifier reads; from its output on (the last block's ``attn``,
``norm2``, the block's output, the final ``norm``) the patch tokens have zero gradient and every
gradient map is blank.

What a ``reshape`` may do: only **select and rearrange** entries (index, slice, reshape, permute,
transpose), never compute new values, because the map's entries must *be* the layer's entries.
This is checked on every call: the callable is applied once more to a tensor of positions, which
says where each map entry comes from.

How gradients flow (``forward_with_features``): A = reshape(tokens) becomes a fresh leaf, and the
network continues with the tokens rebuilt from it: the kept entries are A's (equal in value), the
dropped ones (class token, registers) are constants. So ∂y^c/∂A is the gradient with respect to the
kept patch tokens only, and the logits are exactly those of the unchanged network.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TokenLayout", "Reshape", "vit_reshape", "vit_reshape_for"]

#: A layer output -> (N, C, h, w) feature maps, selecting and rearranging entries only.
Reshape = Callable[[torch.Tensor], torch.Tensor]


def vit_reshape(tokens: torch.Tensor, prefix_tokens: int = 1, grid_size: tuple[int, int] | None = None) -> torch.Tensor:
    """ViT tokens (N, P + h·w, C) -> feature maps (N, C, h, w): drop the P prefix tokens, fold the grid.

    Pass it as ``reshape=vit_reshape`` for a ViT with one class token (timm's and torchvision's
    ViTs, DeiT without distillation); use :func:`vit_reshape_for` (reads the model) or
    ``functools.partial(vit_reshape, prefix_tokens=P)`` for other prefix counts.

    Args:
        tokens: (N, P + h·w, C), batch first, prefix tokens first, patches row by row.
        prefix_tokens: P, the class/distillation/register tokens before the patch tokens.
        grid_size: (h, w) of the patch grid; default: the square grid h = w = √(number of patches).

    Raises:
        ValueError: not 3-D, or the patch tokens do not fill the (square) grid.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(
            f"vit_reshape expects tokens of shape (N, tokens, channels), got {shape}. Use it only for "
            "layers that output tokens (transformer blocks), e.g. 'blocks.10' of a timm ViT."
        )
    if (
        isinstance(prefix_tokens, bool)
        or not isinstance(prefix_tokens, int)
        or not 0 <= prefix_tokens < tokens.shape[1]
    ):
        raise ValueError(
            f"prefix_tokens must be an integer from 0 to {tokens.shape[1] - 1} (the class, distillation and "
            f"register tokens before the patches), got {prefix_tokens!r}."
        )
    batch_size, num_tokens, channels = tokens.shape
    num_patches = num_tokens - prefix_tokens
    if grid_size is None:
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f"After dropping {prefix_tokens} prefix token(s), {num_patches} patch tokens remain, which is not a "
                f"square grid ({side}² = {side * side}, {side + 1}² = {(side + 1) ** 2}). Set prefix_tokens to the "
                "model's number of class/distillation/register tokens (vit_reshape_for(model) reads it from a timm "
                "model), or pass grid_size=(h, w) for a non-square input."
            )
        grid_size = (side, side)
    height, width = grid_size
    if height * width != num_patches:
        raise ValueError(
            f"grid_size={tuple(grid_size)} holds {height * width} patches, but {num_patches} patch tokens remain "
            f"after dropping {prefix_tokens} prefix token(s). Give the patch grid of this input (H/patch, W/patch)."
        )
    patches = tokens[:, prefix_tokens:]  # (N, h·w, C), row by row
    # (N, h·w, C) -> (N, h, w, C) -> (N, C, h, w): channel k at patch (i, j) is A^k_ij
    return patches.reshape(batch_size, height, width, channels).permute(0, 3, 1, 2)


def vit_reshape_for(model: nn.Module) -> Reshape:
    """``vit_reshape`` with the prefix-token count of ``model``: timm's ``num_prefix_tokens``, or 1 for a
    model with a ``class_token`` (torchvision's ViT).

    Example: ``grad_cam(deit, x, "blocks.10", reshape=vit_reshape_for(deit))`` (DeiT distilled: P = 2).
    """
    prefix_tokens = getattr(model, "num_prefix_tokens", None)
    if prefix_tokens is None and isinstance(getattr(model, "class_token", None), torch.Tensor):
        prefix_tokens = 1
    if not isinstance(prefix_tokens, int):
        raise TypeError(
            f"Cannot tell how many prefix tokens {type(model).__name__} puts before its patch tokens (no "
            "num_prefix_tokens attribute). Give it yourself: reshape=functools.partial(vit_reshape, prefix_tokens=P)."
        )
    return functools.partial(vit_reshape, prefix_tokens=prefix_tokens)


# --- internal: the layout behind reshape= ---------------------------------------------------


@dataclass
class TokenLayout:
    """Where each entry of the feature maps comes from in the layer's output.

    Attributes:
        feature_maps: (N, C, h, w) A = reshape(output), a fresh tensor (not a view of the output).
        positions: (N, C, h, w) int64, the flat index in the output of each entry of A.
        output: the layer's output, detached (its shape is restored by ``tokens_from``).
    """

    feature_maps: torch.Tensor
    positions: torch.Tensor
    output: torch.Tensor

    @classmethod
    def of(cls, output: torch.Tensor, reshape: Reshape, layer_name: str) -> TokenLayout:
        """Apply ``reshape`` to a layer's output and check that it only selects and rearranges entries."""
        output = output.detach()
        where = f"reshape (for layer '{layer_name}', output {tuple(output.shape)})"
        rule = "It must only select and rearrange entries (index, reshape, permute), one map entry per kept entry."
        feature_maps = reshape(output)
        if (
            not isinstance(feature_maps, torch.Tensor)
            or feature_maps.dim() != 4
            or feature_maps.shape[0] != output.shape[0]
        ):
            shape = tuple(feature_maps.shape) if isinstance(feature_maps, torch.Tensor) else type(feature_maps).__name__
            raise ValueError(
                f"{where} returned {shape}, but feature maps (N, C, h, w) with the batch size "
                f"N = {output.shape[0]} first are needed. For ViT tokens use reshape=vit_reshape."
            )
        # The same callable on a tensor of positions tells where each map entry comes from. float64 counts exactly
        # to 2**53 (float32 only to 2**24), and on the CPU: not every device has float64 (Apple's MPS has none).
        index = torch.arange(output.numel(), dtype=torch.float64).view(output.shape)
        try:
            positions = reshape(index)
        except Exception as error:
            raise ValueError(f"{where} failed on a tensor of positions ({error}). {rule}") from error
        per_image = output.numel() // output.shape[0]
        if (
            not isinstance(positions, torch.Tensor)
            or positions.shape != feature_maps.shape
            or not bool((positions == positions.round()).all())
            or not bool(((positions >= 0) & (positions < output.numel())).all())  # no position outside the output
        ):
            raise ValueError(f"{where} computes new values instead of selecting entries of the output. {rule}")
        positions = positions.long().to(output.device)  # (N, C, h, w)
        images = torch.arange(output.shape[0], device=output.device).view(-1, 1, 1, 1)
        selected = output.reshape(-1)[positions]  # (N, C, h, w): the entries the positions name
        same = (selected == feature_maps) | (selected.isnan() & feature_maps.isnan())
        if (
            not bool(same.all())
            or not bool((positions // per_image == images).all())  # image n's map from image n's tokens
            or torch.unique(positions).numel() != positions.numel()  # no entry used twice
        ):
            raise ValueError(f"{where} does not map each kept entry of image n to one entry of image n's map. {rule}")
        return cls(feature_maps=selected, positions=positions, output=output)

    def tokens_from(self, feature_maps: torch.Tensor) -> torch.Tensor:
        """The layer's output rebuilt with the kept entries taken from ``feature_maps`` (same values).

        Differentiable with respect to ``feature_maps`` only: the dropped entries are constants.
        """
        flat = self.output.reshape(-1).scatter(0, self.positions.reshape(-1), feature_maps.reshape(-1))
        return flat.view(self.output.shape)  # e.g. (N, P + h·w, C)

"""Input validation shared by every explaining function.

Each check turns a common mistake into an exception whose message says what went
wrong *and* how to fix it, before any computation starts. The checks are cheap
(no copies, no extra forward passes), so they run on every call.

Internal module: the public functions in ``hooks``, ``cam`` and ``gradcam`` call
these; learners can skip it on a first reading.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

# Re-exported: the class index and layer checks live in their own modules.
from ._classes import ClassIndex, resolve_class_idx
from ._layers import resolve_layer

__all__ = [
    "ClassIndex",
    "check_feature_maps",
    "check_finite",
    "check_finite_maps",
    "check_input",
    "check_layer_tensor",
    "check_logits",
    "resolve_class_idx",
    "resolve_layer",
]


def check_input(x: Any, model: nn.Module) -> None:
    """Check that ``x`` is a float batch N×3×H×W on the model's device and dtype.

    Raises:
        TypeError: ``x`` is not a tensor, not floating point, or has another dtype than the model.
        ValueError: ``x`` is not 4-D, is empty, lives on another device than the model, or holds NaN or inf.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape N×3×H×W, got {type(x).__name__}. "
            "Convert a PIL image with the model's preprocessing, e.g. "
            "x = loaded.preprocess(image), which returns a batch of one (1×3×H×W)."
        )
    if not x.is_floating_point():
        raise TypeError(
            f"x has dtype {x.dtype}, but the model expects a normalised float tensor. "
            "Apply the model's preprocessing (e.g. loaded.preprocess(image)), which converts "
            "0..255 pixels to normalised floats."
        )
    if x.dim() == 3:
        raise ValueError(
            f"x has shape {tuple(x.shape)}: a single image without a batch dimension. "
            "Models expect a batch N×3×H×W: use x.unsqueeze(0)."
        )
    if x.dim() != 4:
        raise ValueError(
            f"x has shape {tuple(x.shape)}, but a batch of images N×3×H×W (4 dimensions) is "
            "expected. Build it with the model's preprocessing and torch.stack / unsqueeze(0)."
        )
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (N = 0): pass at least one image.")
    # The first convolution says how many colour channels the model reads (3 for RGB).
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is not None and x.shape[1] != first_conv.in_channels:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {tuple(x.shape)}), but the model's first "
            f"convolution reads {first_conv.in_channels}. Pass RGB images as N×3×H×W "
            "(channels first: x.permute(0, 3, 1, 2) turns N×H×W×3 into N×3×H×W)."
        )

    # The first parameter (or buffer) tells where the model lives.
    reference = next(itertools.chain(model.parameters(), model.buffers()), None)
    if reference is None:
        check_finite(x)
        return
    if reference.device != x.device:
        raise ValueError(
            f"x is on device '{x.device}' but the model is on '{reference.device}'. "
            f"Move them to the same device, e.g. x = x.to('{reference.device}')."
        )
    if reference.is_floating_point() and reference.dtype != x.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the model's parameters are {reference.dtype}. "
            f"Convert one of them, e.g. x = x.to({reference.dtype})."
        )
    check_finite(x)


def check_finite(x: torch.Tensor) -> None:
    """Refuse NaN or infinite values in x: every map computed from them would be NaN (ValueError)."""
    if x.device.type == "meta":
        return  # a meta tensor has a shape but no values
    # One reduction on the fast path: the sum is finite when every value is (unless it overflows,
    # which the exact test then tells apart).
    # detach(): an input that requires grad must not make float() warn ("-W error" would turn it into an error).
    x = x.detach()
    if not math.isfinite(float(x.sum())) and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"x contains {bad:,} NaN or infinite value(s) out of {x.numel():,}, so every map would be NaN. "
            "Check how x was made: e.g. a division by a zero standard deviation when normalising, or an "
            "overflow in float16; use torch.nan_to_num(x) only if you know why they are there."
        )


def check_finite_maps(maps: torch.Tensor, name: str, where: str) -> None:
    """Refuse NaN or infinite values in maps given to a metric, as the explaining functions refuse them in x:
    a metric of a NaN map is not a number, and a silent 0 or a finite score would hide it (ValueError)."""
    if maps.device.type == "meta" or not maps.is_floating_point():
        return
    maps = maps.detach()
    if not bool(torch.isfinite(maps).all()):
        bad = int((~torch.isfinite(maps)).sum())
        raise ValueError(
            f"{where}: {name} contains {bad:,} NaN or infinite value(s) out of {maps.numel():,}, so the result "
            "would not be a number. Check how the map was made (the explaining functions never return NaN; a "
            "normalisation of your own may divide by zero), or replace them with torch.nan_to_num if you know why."
        )


def check_layer_tensor(output: Any, layer_name: str) -> None:
    """Check that a layer's output is one floating-point tensor (not a tuple, list or other object).

    Raises:
        TypeError: the output is a tuple, a list, anything else than one tensor, or not floating point.
    """
    if isinstance(output, (tuple, list)):
        raise TypeError(
            f"Layer '{layer_name}' returns a {type(output).__name__} of {len(output)} items, "
            "not one tensor. Choose a submodule that returns a single N×C×H×W feature map "
            "(for example the last convolution block)."
        )
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"Layer '{layer_name}' returns {type(output).__name__}, not a tensor. "
            "Choose a submodule that returns a single N×C×H×W feature map."
        )
    if not output.is_floating_point():
        raise TypeError(
            f"Layer '{layer_name}' outputs dtype {output.dtype}; gradients need floating point "
            "feature maps. Choose a layer of a float (not quantised) model."
        )


def check_feature_maps(output: Any, layer_name: str) -> None:
    """Check that a layer's output is one float tensor of shape N×C×H×W.

    Raises:
        TypeError: the output is a tuple, a list or anything else than one float tensor.
        ValueError: the output tensor does not have 4 dimensions (3: tokens, see ``reshape=``).
    """
    check_layer_tensor(output, layer_name)
    if output.dim() == 3:
        raise ValueError(_tokens_message(tuple(output.shape), layer_name))
    if output.dim() != 4:
        raise ValueError(
            f"Layer '{layer_name}' outputs shape {tuple(output.shape)}, but CAM methods need a "
            "convolutional feature map N×C×H×W. Choose a layer before global pooling and "
            "flattening, such as the last convolution block (e.g. 'layer4' of a ResNet)."
        )


def _tokens_message(shape: tuple[int, ...], layer_name: str) -> str:
    """The error for a 3-D layer output: tokens (N, tokens, C), and how ``reshape=`` turns them into maps."""
    num_tokens = shape[1]
    side = math.isqrt(max(num_tokens - 1, 0))
    grid = (
        f" (vit_reshape drops the class token and folds the {num_tokens - 1} patch tokens onto their {side}×{side} grid)"
        if side > 0 and side * side == num_tokens - 1
        else ""
    )
    return (
        f"Layer '{layer_name}' outputs shape {shape}: tokens (N, tokens, channels), as the blocks of a vision "
        "transformer do, not a feature map N×C×H×W. Say how the tokens lie on the image grid with reshape=, "
        f"e.g. grad_cam(model, x, '{layer_name}', reshape=vit_reshape){grid}; from cam_utils import vit_reshape. "
        "Other prefix tokens (distillation, registers): reshape=vit_reshape_for(model)."
    )


def check_logits(logits: Any) -> None:
    """Check that the model returned raw class scores of shape N×num_classes."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(
            f"The model returned {shape}, but raw class scores of shape N×num_classes are "
            "needed. Wrap the model so that forward returns only the logits."
        )

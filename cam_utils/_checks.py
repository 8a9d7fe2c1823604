"""Input validation shared by every explaining function.

Each check turns a common mistake into an exception whose message says what went
wrong *and* how to fix it, before any computation starts. The checks are cheap
(no copies, no extra forward passes), so they run on every call.

Internal module: the public functions in ``hooks``, ``cam`` and ``gradcam`` call
these; learners can skip it on a first reading.
"""
from __future__ import annotations

import difflib
import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any, Union

import torch
from torch import nn

# What a user may pass as ``class_idx`` (see ``resolve_class_idx``).
ClassIndex = Union[None, int, Sequence[int], torch.Tensor]


def check_input(x: Any, model: nn.Module) -> None:
    """Check that ``x`` is a float batch N×3×H×W on the model's device and dtype.

    Raises:
        TypeError: ``x`` is not a tensor, not floating point, or has another dtype than the model.
        ValueError: ``x`` is not 4-D, is empty, or lives on another device than the model.
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


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, str]:
    """Return ``(module, dotted_name)`` for a layer given as a module or as its dotted name.

    A name is looked up with ``model.get_submodule``; an unknown name raises a
    ``ValueError`` that suggests the closest existing names.
    """
    if isinstance(layer, str):
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
            hint = (
                f"Did you mean {', '.join(repr(name) for name in close)}?"
                if close
                else "List the names with [name for name, _ in model.named_modules()]."
            )
            raise ValueError(f"The model has no layer named {layer!r}. {hint}") from None
        return module, layer
    if isinstance(layer, nn.Module):
        name = _name_of(model, layer)
        if name is not None:
            return layer, name or "<the model itself>"
        raise ValueError(
            f"The layer {type(layer).__name__} is not a submodule of the model. "
            "Pass a module taken from this model (e.g. model.layer4) or its dotted name (e.g. 'layer4')."
        )
    raise TypeError(
        f"layer must be an nn.Module of the model or its dotted name (str), got {type(layer).__name__}."
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


def _name_of(model: nn.Module, layer: nn.Module) -> str | None:
    """The dotted name of ``layer`` inside ``model`` ("" for the model itself), None if absent.

    Breadth first, stopping at the match: a feature layer is usually near the top of the tree
    (``layer4``, ``bn2``), so this is much cheaper than walking ``named_modules()`` to the end.
    """
    queue: list[tuple[str, nn.Module]] = [("", model)]
    seen = {id(model)}
    for prefix, module in queue:  # the list grows while it is read
        if module is layer:
            return prefix
        for child_name, child in module._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                queue.append((f"{prefix}.{child_name}" if prefix else child_name, child))
    return None


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


def _as_index_list(class_idx: Any, batch_size: int) -> list[int] | None:
    """Turn an int or a sequence of ints into a list of length N; ``None`` for a tensor."""
    if isinstance(class_idx, (bool, float)) or (
        isinstance(class_idx, numbers.Number) and not isinstance(class_idx, numbers.Integral)
    ):
        raise TypeError(
            f"class_idx must be an integer class index, got {type(class_idx).__name__} "
            f"{class_idx!r}. Use e.g. class_idx=243."
        )
    if isinstance(class_idx, numbers.Integral):
        return [int(class_idx)] * batch_size
    if isinstance(class_idx, torch.Tensor):
        return None
    if isinstance(class_idx, (str, bytes)) or not hasattr(class_idx, "__len__"):
        raise TypeError(
            f"class_idx must be None, an int, or a sequence of N ints, got {type(class_idx).__name__}."
        )
    indices = list(class_idx)
    for item in indices:
        if isinstance(item, (bool, float)) or not isinstance(item, numbers.Integral):
            raise TypeError(
                f"class_idx contains {item!r} ({type(item).__name__}); every entry must be an "
                "integer class index."
            )
    if len(indices) != batch_size:
        raise ValueError(
            f"class_idx has {len(indices)} entries but the batch has {batch_size} images. "
            "Give one class per image, a single int for all images, or None for each image's top-1."
        )
    return [int(item) for item in indices]


def resolve_class_idx(class_idx: ClassIndex, logits: torch.Tensor) -> torch.Tensor:
    """Turn ``class_idx`` into a LongTensor of shape (N,) on the logits' device.

    * ``None``: each image's top-1 class, ``argmax_c y^c``;
    * an ``int``: the same class for every image;
    * a sequence or 1-D tensor of length N: one class per image.

    Raises ``TypeError`` for bool/float/other types and ``ValueError`` for a wrong
    length or an index outside ``0 .. num_classes - 1``.
    """
    batch_size, num_classes = logits.shape
    if class_idx is None:
        return logits.detach().argmax(dim=1)  # (N,)

    indices = _as_index_list(class_idx, batch_size)
    if indices is not None:
        bad = [index for index in indices if not 0 <= index < num_classes]
        if bad:
            raise ValueError(_out_of_range_message(bad[0], num_classes))
        return torch.tensor(indices, dtype=torch.long, device=logits.device)

    # A tensor: integer dtype, 0-D (same class for all) or 1-D of length N.
    if class_idx.dtype == torch.bool or class_idx.is_floating_point() or class_idx.is_complex():
        raise TypeError(
            f"class_idx has dtype {class_idx.dtype}; it must hold integer class indices "
            "(e.g. torch.tensor([243, 281]))."
        )
    if class_idx.dim() == 0:
        class_idx = class_idx.expand(batch_size)
    elif class_idx.dim() != 1 or class_idx.shape[0] != batch_size:
        raise ValueError(
            f"class_idx has shape {tuple(class_idx.shape)} but the batch has {batch_size} images. "
            "Give a 1-D tensor with one class per image, a single int, or None."
        )
    class_idx = class_idx.to(device=logits.device, dtype=torch.long)
    if class_idx.device.type == "meta":
        return class_idx  # a meta tensor has a shape but no values to check
    outside = (class_idx < 0) | (class_idx >= num_classes)
    if bool(outside.any()):
        raise ValueError(_out_of_range_message(int(class_idx[outside][0]), num_classes))
    return class_idx


def _out_of_range_message(index: int, num_classes: int) -> str:
    if index < 0:
        return (
            f"class_idx {index} is negative. Class indices count from 0 to {num_classes - 1}; "
            f"for the last class use {num_classes - 1}."
        )
    return (
        f"class_idx {index} is out of range: the model has {num_classes} classes "
        f"(valid indices 0 to {num_classes - 1})."
    )

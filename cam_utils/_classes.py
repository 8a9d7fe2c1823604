"""Validation of ``class_idx``, shared by every explaining function (internal).

``resolve_class_idx`` turns what a user passes (None, an int, one index per image) into a
LongTensor (N,), with a message naming the fix for every mistake.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

# What a user may pass as ``class_idx`` (see ``resolve_class_idx``).
ClassIndex = None | int | Sequence[int] | torch.Tensor


def _as_index_list(class_idx: Any, batch_size: int) -> list[int]:
    """Turn an int or a sequence of ints (anything but a tensor) into a list of length N."""
    if isinstance(class_idx, (bool, float)) or (
        isinstance(class_idx, numbers.Number) and not isinstance(class_idx, numbers.Integral)
    ):
        raise TypeError(
            f"class_idx must be an integer class index, got {type(class_idx).__name__} "
            f"{class_idx!r}. Use e.g. class_idx=243."
        )
    if isinstance(class_idx, numbers.Integral):
        return [int(class_idx)] * batch_size
    if isinstance(class_idx, (str, bytes)) or not hasattr(class_idx, "__len__"):
        raise TypeError(f"class_idx must be None, an int, or a sequence of N ints, got {type(class_idx).__name__}.")
    indices = list(class_idx)
    for item in indices:
        if isinstance(item, (bool, float)) or not isinstance(item, numbers.Integral):
            raise TypeError(
                f"class_idx contains {item!r} ({type(item).__name__}); every entry must be an integer class index."
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

    if not isinstance(class_idx, torch.Tensor):
        indices = _as_index_list(class_idx, batch_size)
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

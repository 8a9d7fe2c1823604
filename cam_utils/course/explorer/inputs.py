"""What the explorer prepares before it draws: pictures at the right size, and each layer's map shape.

Small helpers of :class:`cam_utils.course.explorer.Explorer`, in their own file so that the widget's file
holds the widget only.
"""

from __future__ import annotations

import io
import math

import torch
from PIL import Image

from cam_utils.models import LoadedModel
from cam_utils.probe import probe_layers

#: Uploaded (or passed) photos are shrunk so that their longer side is at most this many pixels.
MAX_IMAGE_SIDE = 1024
#: Pictures smaller than this (the 64 x 64 shapes) are enlarged for display.
MIN_PICTURE_SIDE = 224


def downscaled(image: Image.Image, max_side: int = MAX_IMAGE_SIDE) -> Image.Image:
    """An RGB copy whose longer side is at most ``max_side`` pixels (aspect ratio kept)."""
    image = image.convert("RGB")  # convert() always returns a copy: the caller's image is untouched
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG bytes, for ``ipywidgets.Image``."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless; level 1 is the fastest
    return buffer.getvalue()


def layer_shapes(net: LoadedModel, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """(C, h, w) of every stage's feature map, from one gradient-free forward pass (:func:`~cam_utils.probe.probe_layers`).

    A transformer's stages output tokens: ``net.reshape`` lays them out as maps first.
    """
    _, seen = probe_layers(net.model, x, net.stages, reshape=net.reshape)
    shapes = {}
    for name, probe in seen.items():
        if probe.maps_shape is None:
            raise ValueError(
                f"Stage {name!r} of {net.name} output {probe.shape or probe.output_type or 'nothing'}, not feature "
                "maps (N, C, h, w): list layers that output maps (or tokens, with a reshape) as its stages."
            )
        shapes[name] = probe.maps_shape[1:]
    return shapes


def display_size(picture: Image.Image, min_side: int = MIN_PICTURE_SIDE) -> Image.Image:
    """The picture enlarged by a whole factor (nearest neighbour) until its shorter side is at least ``min_side``.

    The synthetic-shapes models see 64 x 64 pictures: shown as they are, the map would be a blur of
    a few pixels. Nearest-neighbour enlargement keeps every pixel a sharp square.
    """
    factor = math.ceil(min_side / min(picture.size))
    if factor <= 1:
        return picture
    return picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)

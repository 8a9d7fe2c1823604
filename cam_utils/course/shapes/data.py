"""The synthetic shapes: 64x64 images with one class object each, and its exact mask.

:func:`make_shapes` draws one *class object* (circle, square, triangle, cross or ring) per image,
on a cluttered background with distractors (lines, dots, thin ellipses, in the same colours as the
object). Only the shape tells the class, and we know the exact pixels of the object: its mask.

Everything is generated from a seed with a private ``torch.Generator``: the same seed gives the
same images on every run, and the global random state is never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:  # only for type hints
    from PIL import Image

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
"""The five classes; the label of an image is the index of its object's shape here."""

IMAGE_SIZE = 64
"""Side of the square images, in pixels."""

SHAPES_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
SHAPES_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)
"""Normalisation: x = (pixel - 0.5) / 0.5, so pixels in [0, 1] become values in [-1, 1]."""

# Object sizes, in pixels: the "radius" is half the side of the shape's bounding box.
_MIN_RADIUS, _MAX_RADIUS = 8, 15
# Distractors are thinner or smaller than any class object.
_N_DISTRACTORS = (3, 7)  # inclusive range of distractors per image


@dataclass
class ShapesData:
    """A batch of synthetic images with their labels and exact object masks.

    Attributes:
        images: (N, 3, H, W) float tensor, normalised with SHAPES_MEAN / SHAPES_STD.
        labels: (N,) int64 tensor, an index into CLASS_NAMES.
        masks:  (N, H, W) bool tensor, True exactly on the visible pixels of the class object.
    """

    images: Tensor
    labels: Tensor
    masks: Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]


# ----------------------------------------------------------------------------------------------
# Drawing: every shape is a boolean function of pixel coordinates, evaluated for N images at once
# ----------------------------------------------------------------------------------------------


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> Tensor:
    """(n,) floats drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand(n, generator=generator)


def _shape_masks(kind: Tensor, dy: Tensor, dx: Tensor, radius: Tensor, angle: Tensor) -> Tensor:
    """Boolean masks of each image's shape.

    Args:
        kind: (N,) class index into CLASS_NAMES.
        dy, dx: (N, H, W) pixel-centre offsets from the shape's centre.
        radius: (N,) half-size of the shape, in pixels.
        angle: (N,) rotation in radians (circles and rings ignore it).

    Returns:
        (N, H, W) bool: True inside the shape.
    """
    r = radius[:, None, None]
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    u = cos * dx + sin * dy  # coordinates in the shape's own (rotated) frame
    v = -sin * dx + cos * dy
    distance = torch.sqrt(dx**2 + dy**2)

    circle = distance <= r
    square = (u.abs() <= 0.8 * r) & (v.abs() <= 0.8 * r)  # 0.8: same area scale as the circle
    # Equilateral triangle with circumradius r, one vertex pointing "up" in the rotated frame:
    # inside when on the inner side of its three edges (each at distance r/2 from the centre).
    edges = [(0.0, 1.0), (math.sqrt(3) / 2, -0.5), (-math.sqrt(3) / 2, -0.5)]
    triangle = torch.ones_like(circle)
    for normal_u, normal_v in edges:
        triangle &= (normal_u * u + normal_v * v) <= r / 2
    arm = 0.3 * r  # half-width of the cross's arms
    cross = ((u.abs() <= arm) & (v.abs() <= r)) | ((v.abs() <= arm) & (u.abs() <= r))
    ring = (distance <= r) & (distance >= 0.55 * r)

    by_kind = torch.stack([circle, square, triangle, cross, ring])  # (5, N, H, W)
    return by_kind[kind, torch.arange(kind.shape[0])]


def _distractor_masks(generator: torch.Generator, dy: Tensor, dx: Tensor) -> Tensor:
    """(N, H, W) bool masks of one distractor per image: a line, a dot or a thin ellipse.

    ``dy, dx`` are (N, H, W) pixel coordinates relative to the image origin.
    """
    n, height, width = dy.shape
    centre_y = _uniform(generator, n, 0, height)[:, None, None]
    centre_x = _uniform(generator, n, 0, width)[:, None, None]
    angle = _uniform(generator, n, 0, math.pi)[:, None, None]
    y, x = dy - centre_y, dx - centre_x
    u = torch.cos(angle) * x + torch.sin(angle) * y
    v = -torch.sin(angle) * x + torch.cos(angle) * y

    half_length = _uniform(generator, n, 6, 20)[:, None, None]
    line = (u.abs() <= half_length) & (v.abs() <= _uniform(generator, n, 0.5, 1.2)[:, None, None])
    dot = (x**2 + y**2) <= _uniform(generator, n, 1.5, 3.5)[:, None, None] ** 2
    ellipse_a = _uniform(generator, n, 6, 12)[:, None, None]
    ellipse = (u / ellipse_a) ** 2 + (v / (ellipse_a / 4)) ** 2 <= 1  # aspect ratio 4:1

    kind = torch.randint(0, 3, (n,), generator=generator)
    by_kind = torch.stack([line, dot, ellipse])  # (3, N, H, W)
    return by_kind[kind, torch.arange(n)]


def _contrasting_colour(generator: torch.Generator, local_background: Tensor) -> Tensor:
    """(N, 3) colours that differ from the local background colour by 0.3-0.5 per channel.

    The object could otherwise vanish into the background; with a contrast on every channel,
    colour says nothing about the class (distractors get colours from the same rule).
    """
    n = local_background.shape[0]
    offset = 0.3 + 0.2 * torch.rand(n, 3, generator=generator)
    sign = torch.where(local_background > 0.5, -1.0, 1.0)  # move away from the background
    return (local_background + sign * offset).clamp(0, 1)


def make_shapes(n: int, seed: int = 0, size: int = IMAGE_SIZE) -> ShapesData:
    """Draw ``n`` synthetic images, deterministic given ``seed``.

    Each image: a smooth random background with pixel noise, 3-7 distractors (lines, dots,
    4:1 ellipses), then one class object (circle, square, triangle, cross or ring; radius 8-15
    px at size 64, random position fully inside the image, random rotation) drawn on top. The
    mask is exactly the object's pixels (a ring's hole is not part of it).

    Args:
        n: number of images.
        seed: seed of the private torch.Generator; the global random state is not used.
        size: side of the images in pixels (object sizes scale with it).

    Returns:
        ShapesData with images (n, 3, size, size) normalised, labels (n,), masks (n, size, size).
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}.")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels for the shapes to be drawable, got {size}.")
    generator = torch.Generator().manual_seed(seed)
    scale = size / IMAGE_SIZE

    # Pixel-centre coordinates, broadcast to (n, size, size).
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    grid_y = coords[None, :, None].expand(n, size, size)
    grid_x = coords[None, None, :].expand(n, size, size)

    # Background: a smooth colour field (4x4 noise, bilinearly upsampled) plus fine pixel noise.
    coarse = 0.25 + 0.5 * torch.rand(n, 3, 4, 4, generator=generator)
    pixels = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    pixels = pixels + 0.06 * torch.randn(n, 3, size, size, generator=generator)  # (n, 3, size, size)

    # Distractors, each in a colour contrasting with the background around it.
    counts = torch.randint(_N_DISTRACTORS[0], _N_DISTRACTORS[1] + 1, (n,), generator=generator)
    for index in range(_N_DISTRACTORS[1]):
        drawn = _distractor_masks(generator, grid_y, grid_x) & (index < counts)[:, None, None]
        colour = _contrasting_colour(generator, pixels.mean(dim=(2, 3)))
        pixels = torch.where(drawn[:, None], colour[:, :, None, None], pixels)

    # The class object, fully inside the image.
    labels = torch.randint(0, len(CLASS_NAMES), (n,), generator=generator)
    radius = _uniform(generator, n, _MIN_RADIUS * scale, _MAX_RADIUS * scale)
    centre_y = radius + 1 + (size - 2 * radius - 2) * torch.rand(n, generator=generator)
    centre_x = radius + 1 + (size - 2 * radius - 2) * torch.rand(n, generator=generator)
    angle = _uniform(generator, n, 0, 2 * math.pi)
    masks = _shape_masks(
        labels, grid_y - centre_y[:, None, None], grid_x - centre_x[:, None, None], radius, angle
    )  # (n, size, size) bool
    local_background = (pixels * masks[:, None]).sum(dim=(2, 3)) / masks.sum(dim=(1, 2))[:, None]
    colour = _contrasting_colour(generator, local_background)
    pixels = torch.where(masks[:, None], colour[:, :, None, None], pixels).clamp(0, 1)

    mean = torch.tensor(SHAPES_MEAN)[None, :, None, None]
    std = torch.tensor(SHAPES_STD)[None, :, None, None]
    images = (pixels - mean) / std
    return ShapesData(images=images, labels=labels, masks=masks)


def denormalize_shapes(images: Tensor) -> Tensor:
    """Undo the normalisation: (N, 3, H, W) model inputs -> pixels in [0, 1], for display."""
    mean = torch.tensor(SHAPES_MEAN, device=images.device)[None, :, None, None]
    std = torch.tensor(SHAPES_STD, device=images.device)[None, :, None, None]
    return (images * std + mean).clamp(0, 1)


def shape_samples(seed: int = 2024) -> dict[str, Image.Image]:
    """One picture per class, as 64x64 PIL images named after their class: {"circle": ..., ...}.

    The first image of each class in ``make_shapes(50, seed)``, for the explorer's picture menu
    (the default seed is the test seed of the benchmark, never used for training).
    """
    from PIL import Image

    data = make_shapes(50, seed=seed)
    pixels = (denormalize_shapes(data.images) * 255).round().to(torch.uint8)  # (50, 3, 64, 64)
    samples = {}
    for class_idx, name in enumerate(CLASS_NAMES):
        first = int((data.labels == class_idx).nonzero()[0])
        samples[name] = Image.fromarray(pixels[first].permute(1, 2, 0).numpy())
    return samples

"""Figures: the article's four steps, and maps side by side.

``plot_steps`` draws what happens between a raw map and the picture people share:
original image → raw heatmap at the feature resolution (drawn with nearest
interpolation, so you see the real grid, e.g. 7×7) → heatmap resized to the image
→ overlay.

The figures are built with ``matplotlib.figure.Figure`` directly, not with pyplot:
nothing is shown or kept in pyplot's global list. In a notebook, a figure that is the
last value of a cell is displayed; otherwise use ``display(fig)`` or ``fig.savefig(path)``.
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from .postprocess import _image_to_rgb_array, normalize, overlay, upsample


def _single_map(cam: torch.Tensor | np.ndarray) -> torch.Tensor:
    """One map as a (h, w) float tensor on the CPU (plotting needs CPU data)."""
    cam = torch.as_tensor(cam).detach().to("cpu", torch.float32)
    if cam.dim() == 3 and cam.shape[0] == 1:
        cam = cam[0]
    if cam.dim() != 2:
        raise ValueError(f"Expected one map (h, w) or (1, h, w), got shape {tuple(cam.shape)}; select one image, e.g. cam[0].")
    return cam


def plot_steps(
    image: Image.Image | np.ndarray,
    cam: torch.Tensor | np.ndarray,
    title: str | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
) -> Figure:
    """The four panels: original, raw heatmap (feature resolution), resized heatmap, overlay.

    Args:
        image: the original photo (PIL image or (H, W, 3) array).
        cam: one raw map (h, w) or (1, h, w), e.g. ``grad_cam(...)[0]``; it is normalised here.
        title: optional title above the four panels.
        cmap, alpha: colormap and heatmap weight of the overlay.

    Returns:
        The matplotlib Figure (4 axes). Nothing is shown by this function.
    """
    rgb = _image_to_rgb_array(image)  # (H, W, 3) uint8
    height, width = rgb.shape[:2]
    raw = _single_map(cam)  # (h, w)
    normalised = normalize(raw)  # (h, w) in [0, 1]
    resized = upsample(normalised, (height, width), mode="bilinear")  # (H, W)

    figure = Figure(figsize=(13, 3.6), layout="constrained")
    axes = figure.subplots(1, 4)
    axes[0].imshow(rgb)
    axes[0].set_title(f"1. image {width}×{height}")
    axes[1].imshow(normalised.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title(f"2. raw heatmap {raw.shape[1]}×{raw.shape[0]}")
    axes[2].imshow(resized.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[2].set_title(f"3. resized to {width}×{height}")
    axes[3].imshow(overlay(rgb, resized, alpha=alpha, cmap=cmap))
    axes[3].set_title("4. overlay")
    for axis in axes:
        axis.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure


def show_maps(
    image: Image.Image | np.ndarray,
    maps: dict[str, torch.Tensor | np.ndarray],
    alpha: float = 0.5,
    cmap: str = "jet",
    panel_size: float = 3.2,
) -> Figure:
    """A row of overlays, one per named map, to compare classes, methods or layers.

    Args:
        image: the original photo.
        maps: ``{title: map}``; each map (h, w) or (1, h, w) is normalised and resized here.
        alpha, cmap: overlay settings.
        panel_size: width and height of each panel in inches.

    Returns:
        A Figure with ``len(maps)`` axes.
    """
    if not maps:
        raise ValueError("show_maps needs at least one map, e.g. {'Grad-CAM': cam[0]}.")
    rgb = _image_to_rgb_array(image)
    figure = Figure(figsize=(panel_size * len(maps), panel_size), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(maps)))
    for axis, (name, cam) in zip(axes, maps.items()):
        axis.imshow(overlay(rgb, normalize(_single_map(cam)), alpha=alpha, cmap=cmap))
        axis.set_title(name)
        axis.set_axis_off()
    return figure

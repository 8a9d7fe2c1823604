"""Figures: the article's experiment panels (image, raw map, resized map, overlay), and maps side by side.

``plot_steps`` draws what happens between a raw map and the picture people share:
original image → raw heatmap at the feature resolution (drawn with nearest
interpolation, so you see the real grid, e.g. 7×7) → heatmap resized to the image
→ overlay.

**Colour scales.** By default (``scale="own"``) every map is min-max normalised to
[0, 1] *on its own*, and the figure says so: colours then compare places within one
map, never values across maps (a map whose largest value is 0.01 looks as hot as one
whose largest value is 10). To compare magnitudes, put the maps on one scale:
``show_maps(..., scale="shared")`` uses one range for all its panels, and
``plot_steps(..., scale=(low, high))`` uses a range that several figures can share
(``shared_scale(*maps)`` computes one); both draw a colorbar in the maps' own units.

The figures are built with ``matplotlib.figure.Figure`` directly, not with pyplot:
nothing is shown or kept in pyplot's global list. In a notebook, a figure that is the
last value of a cell is displayed; otherwise use ``display(fig)`` or ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from .postprocess import _image_to_rgb_array, normalize, overlay, upsample

# "own" (each map min-max normalised on its own), "shared" (one range for all maps), or (low, high).
Scale = str | Sequence[float]

_OWN_SCALE_NOTE = "Each map is min-max normalised to [0, 1] on its own (0 = its minimum, 1 = its maximum)."


def _single_map(cam: torch.Tensor | np.ndarray) -> torch.Tensor:
    """One map as a (h, w) float tensor on the CPU (plotting needs CPU data)."""
    cam = torch.as_tensor(cam).detach().to("cpu", torch.float32)
    if cam.dim() == 3 and cam.shape[0] == 1:
        cam = cam[0]
    if cam.dim() != 2:
        raise ValueError(
            f"Expected one map (h, w) or (1, h, w), got shape {tuple(cam.shape)}; select one image, e.g. cam[0]."
        )
    return cam


def shared_scale(*maps: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """One colour range (low, high) for several maps, to compare their magnitudes.

    low = min(0, smallest value), high = max(0, largest value): zero is the bottom of the
    scale for non-negative maps (Grad-CAM), so a weak map looks weak. Pass the result as
    ``scale=`` to ``plot_steps`` or ``show_maps``.
    """
    if not maps:
        raise ValueError("shared_scale needs at least one map, e.g. shared_scale(cam_a[0], cam_b[0]).")
    values = [_single_map(cam) for cam in maps]
    if not all(bool(torch.isfinite(cam).all()) for cam in values):
        raise ValueError("shared_scale got a map with NaN or infinite values; check the model's output.")
    low = min(0.0, min(float(cam.min()) for cam in values))
    high = max(0.0, max(float(cam.max()) for cam in values))
    if high == low:  # every map is all zeros: any range shows them as the bottom colour
        high = low + 1.0
    return low, high


def _resolve_scale(scale: Scale, maps: Sequence[torch.Tensor]) -> tuple[float, float] | None:
    """None for "own"; the (low, high) range for "shared" or an explicit pair (validated)."""
    if isinstance(scale, str):
        if scale == "own":
            return None
        if scale == "shared":
            return shared_scale(*maps)
    elif isinstance(scale, Sequence) and len(scale) == 2:
        low, high = (float(value) for value in scale)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"scale=(low, high) needs finite numbers with low < high, got {tuple(scale)!r}.")
        return low, high
    raise ValueError(
        f'scale must be "own" (each map normalised on its own), "shared" (one range for all maps) '
        f"or a pair (low, high), e.g. shared_scale(*maps); got {scale!r}."
    )


def _to_unit_range(cam: torch.Tensor, value_range: tuple[float, float] | None) -> torch.Tensor:
    """The map in [0, 1]: min-max on its own (range None), else (M - low) / (high - low), clipped."""
    if value_range is None:
        return normalize(cam)
    low, high = value_range
    return ((cam - low) / (high - low)).clamp(0.0, 1.0)


def _hide_axis(axis: Axes) -> None:
    """No frame, no ticks. Emptying the tick lists first makes drawing much faster: matplotlib
    otherwise still builds tick labels to place the title, even on an axis that is switched off."""
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_axis_off()


def _note_own_scale(figure: Figure, width_inches: float) -> None:
    """Say on the figure that each map has its own colour scale."""
    characters_per_line = max(30, int(width_inches * 14))
    figure.supxlabel(textwrap.fill(_OWN_SCALE_NOTE, characters_per_line), fontsize="small")


def _colorbar(figure: Figure, axes: Iterable[Axes], value_range: tuple[float, float], cmap: str, label: str) -> None:
    """A colorbar in the maps' own units, for panels drawn on one scale."""
    mappable = ScalarMappable(norm=Normalize(*value_range), cmap=cmap)
    figure.colorbar(mappable, ax=axes, shrink=0.85, label=label)


def plot_steps(
    image: Image.Image | np.ndarray,
    cam: torch.Tensor | np.ndarray,
    title: str | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    scale: Scale = "own",
) -> Figure:
    """The four panels: original, raw heatmap (feature resolution), resized heatmap, overlay.

    Args:
        image: the original photo (PIL image or (H, W, 3) array).
        cam: one raw map (h, w) or (1, h, w), e.g. ``grad_cam(...)[0]``.
        title: optional title above the four panels.
        cmap, alpha: colormap and heatmap weight of the overlay.
        scale: ``"own"`` (default): the map is min-max normalised to [0, 1] on its own, and the
            figure says so. ``(low, high)``: a fixed range in the map's units, e.g. from
            ``shared_scale(*maps)`` so that several figures share it; ``"shared"``: the range
            ``shared_scale(cam)`` of this map alone. Both draw a colorbar.

    Returns:
        The matplotlib Figure (4 axes, plus a colorbar unless ``scale="own"``). Nothing is shown.
    """
    rgb = _image_to_rgb_array(image)  # (H, W, 3) uint8
    height, width = rgb.shape[:2]
    raw = _single_map(cam)  # (h, w)
    value_range = _resolve_scale(scale, [raw])
    scaled = _to_unit_range(raw, value_range)  # (h, w) in [0, 1]
    resized = upsample(scaled, (height, width), mode="bilinear")  # (H, W)

    figure = Figure(figsize=(13, 3.6), layout="constrained")
    axes = figure.subplots(1, 4)
    axes[0].imshow(rgb)
    axes[0].set_title(f"1. image {width}×{height}")
    axes[1].imshow(scaled.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title(f"2. raw heatmap {raw.shape[1]}×{raw.shape[0]}")
    axes[2].imshow(resized.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[2].set_title(f"3. resized to {width}×{height}")
    axes[3].imshow(overlay(rgb, resized, alpha=alpha, cmap=cmap))
    axes[3].set_title("4. overlay")
    for axis in axes:
        _hide_axis(axis)
    if value_range is None:
        _note_own_scale(figure, 13)
    else:
        _colorbar(figure, axes, value_range, cmap, "map value")
    if title:
        figure.suptitle(title)
    return figure


def show_maps(
    image: Image.Image | np.ndarray,
    maps: dict[str, torch.Tensor | np.ndarray],
    alpha: float = 0.5,
    cmap: str = "jet",
    panel_size: float = 3.2,
    scale: Scale = "own",
) -> Figure:
    """A row of overlays, one per named map, to compare classes, methods or layers.

    Args:
        image: the original photo.
        maps: ``{title: map}``; each map (h, w) or (1, h, w) is resized here.
        alpha, cmap: overlay settings.
        panel_size: width and height of each panel in inches.
        scale: ``"own"`` (default): each map min-max normalised to [0, 1] on its own (the figure
            says so): it compares *where*, not *how much*. ``"shared"``: one range
            ``shared_scale(*maps)`` for all panels, with a colorbar: a weak map looks weak.
            ``(low, high)``: a given range in the maps' units, with a colorbar.

    Returns:
        A Figure with ``len(maps)`` axes (plus a colorbar unless ``scale="own"``).
    """
    if not maps:
        raise ValueError("show_maps needs at least one map, e.g. {'Grad-CAM': cam[0]}.")
    rgb = _image_to_rgb_array(image)
    cams = {name: _single_map(cam) for name, cam in maps.items()}  # each (h, w)
    value_range = _resolve_scale(scale, list(cams.values()))
    figure = Figure(figsize=(panel_size * len(maps), panel_size), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(maps)))
    for axis, (name, cam) in zip(axes, cams.items(), strict=True):
        axis.imshow(overlay(rgb, _to_unit_range(cam, value_range), alpha=alpha, cmap=cmap))
        axis.set_title(name)
        _hide_axis(axis)
    if value_range is None:
        _note_own_scale(figure, panel_size * len(maps))
    else:
        _colorbar(figure, list(axes), value_range, cmap, "map value (one scale for all panels)")
    return figure

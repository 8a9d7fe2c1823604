"""From a small map to a picture: resize, normalise, colour, blend.

A CAM or Grad-CAM map has the resolution of the feature layer (7×7 for a 224×224
image in most ImageNet networks). To show it on the photo:

1. ``upsample`` it to the image size (bilinear by default; ``"nearest"`` shows the
   raw grid of cells honestly);
2. ``normalize`` it to [0, 1] per image (min-max), so colours are comparable;
3. ``overlay`` it: map values to colours with a colormap and blend with the photo.

``upsample`` and ``normalize`` stay in torch, on the map's device. ``overlay`` makes a
picture, so it works in numpy/PIL on the CPU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")


def _check_map(cam: torch.Tensor, function: str) -> None:
    if not isinstance(cam, torch.Tensor):
        raise TypeError(f"{function} expects a torch.Tensor map, got {type(cam).__name__}; use torch.as_tensor(cam).")
    if cam.dim() not in (2, 3):
        raise ValueError(
            f"{function} expects a map of shape (h, w) or (N, h, w), got {tuple(cam.shape)}. "
            "For (N, classes, h, w) maps, select one class first, e.g. maps[:, c]."
        )
    if not cam.is_floating_point():
        raise TypeError(f"{function} expects a float map, got {cam.dtype}; use cam.float().")


def upsample(cam: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize maps (N, h, w) -> (N, H, W), or (h, w) -> (H, W).

    ``align_corners=False``: pixel centres line up, as when resizing images. Bicubic
    interpolation overshoots (values above the max, below the min), so bilinear and
    bicubic outputs are clamped to each input map's own [min, max]. ``"nearest"``
    repeats each cell, showing the raw feature grid.

    Args:
        cam: (N, h, w) or (h, w) float map.
        size: H = W = size, or (H, W).
        mode: "bilinear" (default), "bicubic" or "nearest".
    """
    _check_map(cam, "upsample")
    if mode not in _UPSAMPLE_MODES:
        raise ValueError(f"mode must be one of {_UPSAMPLE_MODES}, got {mode!r}.")
    if isinstance(size, int):
        size = (size, size)
    single = cam.dim() == 2
    maps = cam[None] if single else cam  # (N, h, w)
    if mode == "nearest":
        # "nearest-exact": output pixel i takes the cell under its centre, floor((i + 0.5) * h / H). torch's legacy
        # "nearest" uses floor(i * h / H), which shifts cells by up to one pixel when H is not a multiple of h.
        resized = F.interpolate(maps[:, None], size=tuple(size), mode="nearest-exact")[:, 0]  # (N, H, W)
    else:
        resized = F.interpolate(maps[:, None], size=tuple(size), mode=mode, align_corners=False)[:, 0]
        low = maps.amin(dim=(1, 2))[:, None, None]  # (N, 1, 1)
        high = maps.amax(dim=(1, 2))[:, None, None]
        resized = torch.clamp(resized, low, high)  # no overshoot beyond the input's range
    return resized[0] if single else resized


def normalize(cam: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map to [0, 1]: (M - min M) / (max M - min M).

    Works on (N, h, w) (each image on its own) or (h, w). A constant map has no
    contrast and becomes all zeros (never NaN). Non-finite values raise ``ValueError``.
    """
    _check_map(cam, "normalize")
    if not bool(torch.isfinite(cam).all()):
        raise ValueError("normalize got a map with NaN or infinite values; check the model's output.")
    single = cam.dim() == 2
    maps = cam[None] if single else cam  # (N, h, w)
    # In float32 at least: in float16 a span above 65504 overflows to inf, and inf / inf is NaN.
    work = maps.float() if maps.dtype in (torch.float16, torch.bfloat16) else maps
    low = work.amin(dim=(1, 2), keepdim=True)  # (N, 1, 1)
    span = work.amax(dim=(1, 2), keepdim=True) - low  # (N, 1, 1)
    safe_span = torch.where(span > 0, span, torch.ones_like(span))
    normalised = torch.where(span > 0, (work - low) / safe_span, torch.zeros_like(work)).to(maps.dtype)
    return normalised[0] if single else normalised


@lru_cache(maxsize=16)
def _colormap_lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 RGB colours of a matplotlib colormap, computed once per name."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(
            f"Unknown colormap {cmap!r}; use a matplotlib name such as 'jet', 'viridis' or 'inferno'."
        ) from None
    rgba = colormap(np.linspace(0.0, 1.0, 256))  # (256, 4) floats in [0, 1], RGB order
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def _image_to_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB array from a PIL image or an array (uint8 0..255 or float 0..1)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"image array must be (H, W), (H, W, 3) or (H, W, 4), got {array.shape}.")
        array = array[:, :, :3]
        if array.dtype != np.uint8:
            if np.issubdtype(array.dtype, np.floating) and array.min() >= 0 and array.max() <= 1:
                array = np.round(array * 255).astype(np.uint8)
            else:
                raise ValueError(f"image array of dtype {array.dtype} must be uint8 (0..255) or float in [0, 1].")
        return array
    raise TypeError(
        f"image must be a PIL image or a numpy array, got {type(image).__name__}. "
        "(A normalised model input is not an image: pass the original photo.)"
    )


def _map_to_array(cam: torch.Tensor | np.ndarray) -> np.ndarray:
    """(h, w) float32 numpy array from a (h, w) or (1, h, w) map with values in [0, 1]."""
    if isinstance(cam, torch.Tensor):
        cam = cam.detach().to("cpu", torch.float32).numpy()
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim == 3 and cam.shape[0] == 1:
        cam = cam[0]
    if cam.ndim != 2:
        raise ValueError(
            f"overlay expects one map of shape (h, w) or (1, h, w), got {cam.shape}; select one image, e.g. cam[0]."
        )
    if not np.isfinite(cam).all():
        raise ValueError("overlay got a map with NaN or infinite values.")
    tolerance = 1e-4
    if cam.min() < -tolerance or cam.max() > 1 + tolerance:
        raise ValueError(
            f"overlay expects map values in [0, 1], got [{cam.min():.4g}, {cam.max():.4g}]. Call normalize(cam) first."
        )
    return np.clip(cam, 0.0, 1.0)


def overlay(
    image: Image.Image | np.ndarray,
    cam: torch.Tensor | np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> Image.Image:
    """Colour a map and blend it onto the image: ``(1 - alpha) · image + alpha · colour(cam)``.

    Args:
        image: the original photo (PIL image, or array (H, W, 3) uint8 / float in [0, 1]).
        cam: one map (h, w) or (1, h, w) with values in [0, 1] — call ``normalize`` first;
            values outside [0, 1] raise ``ValueError``. It is resized to the image size
            (bilinear) here, so a raw 7×7 map is fine.
        alpha: weight of the heatmap, 0 (photo only) to 1 (heatmap only).
        cmap: a matplotlib colormap name; colours are RGB (never OpenCV's BGR).

    Returns:
        An RGB PIL image of the same size as ``image``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}.")
    rgb = _image_to_rgb_array(image)  # (H, W, 3) uint8
    height, width = rgb.shape[:2]
    heat = _map_to_array(cam)  # (h, w) float32 in [0, 1]
    if heat.shape != (height, width):
        # PIL's float ("F") bilinear resize: pixel-centre aligned, never leaves [min, max].
        heat = np.asarray(Image.fromarray(heat).resize((width, height), Image.Resampling.BILINEAR))
    # Colour lookup: value in [0, 1] -> index 0..255 -> RGB colour.
    indices = np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)  # (H, W)
    colours = _colormap_lut(cmap)[indices]  # (H, W, 3) uint8
    blended = (1.0 - alpha) * rgb + alpha * colours  # (H, W, 3) float
    return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))

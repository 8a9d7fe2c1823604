"""What the explorer draws: the heatmap on the picture, the readout line, the status line and its notes.

Pure functions of the explorer's state (no widget is read or changed here), so each step of the picture
is the library's own: ``normalize`` → ``upsample`` → ``overlay``.
"""

from __future__ import annotations

import html

import torch
from PIL import Image

from cam_utils.postprocess import normalize, overlay, upsample

__all__ = ["cam_elsewhere_note", "computing_note", "heatmap_picture", "map_note", "readout_html", "status_html"]


def heatmap_picture(shown: Image.Image, raw_map: torch.Tensor, mode: str, opacity: float, cmap: str) -> Image.Image:
    """``raw_map`` (h, w) min-max normalised, upsampled to ``shown``'s size with ``mode`` and overlaid on it."""
    # Normalise the small map first (cheap); upsampling keeps values in [0, 1].
    heatmap = normalize(raw_map)  # (h, w) in [0, 1]
    heatmap = upsample(heatmap, (shown.height, shown.width), mode=mode)  # (H, W)
    return overlay(shown, heatmap, alpha=opacity, cmap=cmap)


def map_note(raw_map: torch.Tensor, warning: str, method_name: str, slow: bool, channels: int) -> str:
    """The status line under a drawn map: a map that is zero everywhere, the library's warning, or what a slow
    method ran ("" if nothing needs saying)."""
    if not bool(raw_map.ne(0).any()):
        return "The map is zero everywhere: nothing at this layer pushes the score in this direction."
    if warning:
        return warning
    if slow:
        return (
            f"{method_name} ran one forward pass per channel that is not constant (at most {channels} at "
            "this layer); the map is cached."
        )
    return ""


def cam_elsewhere_note(method_name: str, feature_layer: str) -> str:
    """Why a feature-layer-only method (CAM) shows no map at another layer."""
    # CAM's weights w_k^c belong to the channels of the feature layer only.
    return (
        f"{method_name} exists only at the feature layer {feature_layer}: its class weights act on that "
        "layer's channels. Move the layer slider to the last position, or pick Grad-CAM."
    )


def computing_note(method_name: str, layer: str, channels: int) -> str:
    """The status line while a slow map is computed in the background."""
    # The progress bar counts the channels actually evaluated: constant channels are skipped (their mask is
    # uniform), so it may count fewer than the layer's channels named here.
    return (
        f"Computing {method_name} at layer {layer}: one forward pass per channel that is not constant "
        f"(at most {channels:,})…"
    )


def readout_html(
    class_label: str,
    probability: float,
    method_name: str,
    layer: str,
    map_size: tuple[int, ...],
    shown: str | None,
) -> str:
    """The line naming the class, its probability, the method and the layer, then the map's size and how it is
    shown (``shown`` e.g. "224×224 (bilinear)"), "computing…" while ``shown`` is None, or, with ``shown`` "",
    that the method has no map at this layer (CAM away from the feature layer)."""
    height, width = map_size[-2:]  # (..., h, w)
    if shown is None:
        details = "computing…"
    elif not shown:
        details = "no map at this layer"
    else:
        details = f"map {height}×{width}, shown at {shown}"
    return (
        f"<b>{html.escape(class_label)}</b> (p = {probability:.3f}) · "
        f"{html.escape(method_name)} at layer <code>{html.escape(layer)}</code> · {details}"
    )


def status_html(message: str, is_error: bool = False) -> str:
    """The status line: grey, or red for an error; "" for none."""
    colour = "#b00020" if is_error else "#555555"
    return f'<span style="color:{colour}">{html.escape(message)}</span>' if message else ""

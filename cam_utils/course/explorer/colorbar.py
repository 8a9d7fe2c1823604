"""The colour bar beside the heatmap: what the colours of the picture mean.

The explorer min-max normalises every map on its own (``normalize``: the lowest value of the map becomes the
first colour of the colormap, the highest the last), so a colour says "low" or "high" *within this map*, not
an absolute amount. The bar says so with the map's own numbers: its highest value at the top, its lowest at
the bottom, and a tick at 0 where the map has both signs (CAM and HiResCAM keep the sign: below 0 a place
lowers the class score; Grad-CAM, Grad-CAM++, Score-CAM and the counterfactual map are ReLU'd, so their
lowest colour is at most "no evidence"). The gradient is drawn with CSS from the colormap's own table, so it
matches the overlay's colours and stays sharp at any size.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from cam_utils.postprocess import _colormap_lut

__all__ = ["ColourBar", "colour_stops"]

#: How many colours of the 256-entry table the CSS gradient interpolates between.
GRADIENT_STOPS = 17


def colour_stops(cmap: str, stops: int = GRADIENT_STOPS) -> list[str]:
    """``stops`` colours of ``cmap`` from its lowest to its highest, as CSS ``#rrggbb``."""
    table = _colormap_lut(cmap)  # (256, 3) uint8, the table overlay() colours with
    indices = np.rint(np.linspace(0, len(table) - 1, stops)).astype(int)
    return ["#{:02x}{:02x}{:02x}".format(*(int(channel) for channel in table[index])) for index in indices]


def _number(value: float) -> str:
    """Three significant digits, ``-`` as a minus sign; a value that rounds to zero reads ``0``. Below 0.01 and
    from 1000 on, two digits and a power of ten (``5.8e−4``, not ``0.000577``): the tick column is narrow."""
    text = f"{value:.3g}"
    if float(text) == 0:
        return "0"
    if not 0.01 <= abs(float(text)) < 1000:  # as rounded: 999.6 reads 1.0e3, not 1e+03
        mantissa, exponent = f"{value:.1e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "−")


class ColourBar(widgets.HTML):  # ipywidgets has no type hints: pyproject lets this module subclass it
    """A vertical colour bar: the colormap from bottom (the map's lowest value) to top (its highest).

    :meth:`show` draws it for one map; :meth:`hide` keeps its place empty (the picture shows the photo alone).
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_class("cam-explorer-colorbar")
        self.low, self.high = 0.0, 0.0  # the map's range the bar shows

    def show(self, raw_map: torch.Tensor, cmap: str, method_label: str, against: bool = False) -> None:
        """The bar for ``raw_map`` (h, w), coloured with ``cmap``. ``against``: the map shows evidence against
        the class (Counterfactual Grad-CAM), not for it."""
        self.low, self.high = float(raw_map.min()), float(raw_map.max())
        gradient = ", ".join(colour_stops(cmap))
        signed = self.low < 0 < self.high  # CAM, HiResCAM: below 0 is evidence against the class, not "low"
        if signed:
            scale = "evidence against ← 0 → for the class"
        else:
            scale = f"evidence {'against' if against else 'for'} the class: low → high"
        ticks = [f'<span class="cam-colorbar-high">{_number(self.high)}</span>']
        if signed:  # where 0 falls
            zero_from_top = 100 * self.high / (self.high - self.low)
            # near an end the "0" would cover that end's number: then the tick alone marks it
            text = "0" if 10 <= zero_from_top <= 90 else ""
            ticks.append(f'<span class="cam-colorbar-zero" style="top:{zero_from_top:.1f}%">{text}</span>')
        ticks.append(f'<span class="cam-colorbar-low">{_number(self.low)}</span>')
        tooltip = (
            f"Colours of the {method_label} map: {scale}. Each map is scaled on its own: its lowest value "
            f"({_number(self.low)}) gets the bottom colour, its highest ({_number(self.high)}) the top one."
            + (" Below 0, a place lowers the class score." if signed else "")
        )
        self.value = (
            f'<div class="cam-colorbar" role="img" aria-label="{html.escape(tooltip)}" title="{html.escape(tooltip)}">'
            f'<div class="cam-colorbar-bar" style="background: linear-gradient(to top, {gradient})"></div>'
            f'<div class="cam-colorbar-ticks">{"".join(ticks)}</div>'
            f'<div class="cam-colorbar-caption">{html.escape(scale)}</div></div>'
        )
        self.layout.visibility = "visible"

    def hide(self) -> None:
        """No heatmap is shown: the bar's place stays, empty (the picture does not jump sideways)."""
        self.layout.visibility = "hidden"

"""Where the explorer's parts go: a page that fills the window, and a presenter mode with large labels.

Two regions: the *view* (the picture and its colour bar) and the *side* (the readout naming class,
probability, method and layer; the status line; a slow map's progress; the controls). They sit in one
flex row that wraps: on a wide screen the side is beside the picture, on a narrow one (a phone, a split
window) under it. It is done in the explorer's own style sheet (ipywidgets' ``Layout`` has no media query
and no ``min()`` of the window's sides), not in the Voilà template, so that the explorer looks the same in
``make explorer``, JupyterLab, Notebook 7 and VS Code.

The picture's width is computed by CSS from the window, so the picture scales with it:

* wide windows: ``min(window height − RESERVE, window width − side − colour bar − margins)``. The first
  term keeps the picture and the title above it on screen (a projector's 1920 × 1080: a picture of about
  900 px, 47 % of the width); the second leaves the side its room beside it, so the two never wrap;
* windows narrower than NARROW_BELOW: the whole width less the colour bar; the side goes under it.

The readout is the first line of the side, level with the top of the picture on a wide screen and right
under it on a narrow one, so it is on screen at 1024 × 700 as on a phone.

Presenter mode (``Explorer.presenter``, a toggle; ``explore(presenter=True)``; ``?presenter=1`` in the
app's address) adds :data:`PRESENTER_CLASS` to the explorer: the widgets' font, line height and label
column grow through ipywidgets' own CSS variables, and the side gets wider.
"""

from __future__ import annotations

import ipywidgets as widgets

from .appearance import EXPLORER_CLASS, STYLE_SHEET

__all__ = ["LAYOUT_SHEET", "PRESENTER_CLASS", "body", "side", "style_sheet", "view"]

#: The CSS class that switches on presenter mode.
PRESENTER_CLASS = "cam-explorer-presenter"
#: Height of the window not given to the picture (the app's title above it, a margin below), CSS pixels.
RESERVE_PX = 170
#: Under this window width the side goes under the picture, which then takes the whole width.
NARROW_BELOW_PX = 720

_E = f".{EXPLORER_CLASS}"
LAYOUT_SHEET = f"""<style>
{_E} {{ --cam-side: 400px; --cam-bar: 84px; --cam-reserve: {RESERVE_PX}px; }}
{_E}.{PRESENTER_CLASS} {{
  --cam-font: clamp(18px, 1.3vw, 24px);  /* 18 px up to a 1385 px window, 24 px on a 1920 px projector */
  --cam-side: 480px; --cam-bar: calc(var(--cam-font) * 6);
  --jp-widgets-font-size: var(--cam-font); --jp-ui-font-size1: var(--cam-font);
  --jp-widgets-inline-height: calc(var(--cam-font) * 2); --jp-widgets-inline-label-width: calc(var(--cam-font) * 6.6);
  --jp-widgets-slider-handle-size: calc(var(--cam-font) * 1.2);
  --jp-widgets-slider-track-thickness: 6px; --jp-widgets-input-padding: 6px;
}}
/* Larger labels need wider controls: in presenter mode each control of a row takes a line of its own
   unless two fit at the larger size (!important: the controls' flex basis is an inline style). */
{_E}.{PRESENTER_CLASS} .cam-explorer-side .widget-hbox > .widget-inline-hbox {{
  flex-basis: calc(var(--cam-font) * 20) !important;
}}
{_E} .cam-explorer-body {{ flex-flow: row wrap; align-items: flex-start; gap: 12px 24px; overflow: visible; }}
{_E} .cam-explorer-view {{ flex: 0 1 auto; min-width: 0; max-width: 100%; overflow: visible; }}
{_E} .cam-explorer-side {{ flex: 1 1 var(--cam-side); min-width: min(100%, 300px); max-width: 960px; }}
{_E} img.cam-explorer-picture {{
  width: min(calc(100vh - var(--cam-reserve)), calc(100vw - var(--cam-side) - var(--cam-bar) - 72px));
  min-width: 160px; max-width: calc(100% - var(--cam-bar)); height: auto; align-self: flex-start;
  object-fit: contain; flex: 0 1 auto;
}}
@media (max-width: {NARROW_BELOW_PX - 0.02}px) {{
  {_E} img.cam-explorer-picture {{
    width: min(calc(100vh - var(--cam-reserve)), calc(100vw - var(--cam-bar) - 40px));
  }}
}}
/* The layer slider's readout names the layer and its map size ("blocks.0 (112×112)"): ipywidgets caps a readout
   at 148 px and clips the rest, so it may grow here, and wraps onto two lines before the track gets too short. */
{_E} .cam-explorer-layer .widget-readout {{
  max-width: none; flex: 0 1 auto; min-width: min-content; white-space: normal; height: auto; line-height: 1.25;
}}
{_E} .cam-explorer-readout, {_E} .cam-explorer-status {{ height: auto; }}
{_E} .cam-explorer-readout .widget-html-content, {_E} .cam-explorer-status .widget-html-content {{
  line-height: 1.4; white-space: normal; font-size: var(--jp-widgets-font-size, 13px);
}}
{_E} .cam-explorer-readout .widget-html-content {{ font-size: calc(var(--jp-widgets-font-size, 13px) * 1.15); }}
/* The bar is as tall as the picture: its content is taken out of the flow, so that a long caption
   cannot make it taller than the picture. */
{_E} .cam-explorer-colorbar {{
  flex: 0 0 var(--cam-bar); width: var(--cam-bar); height: auto; align-self: stretch; margin: 0 0 0 8px;
  position: relative;
}}
{_E} .cam-explorer-colorbar > .widget-html-content {{
  position: absolute; inset: 0; height: auto; line-height: normal; overflow: hidden; container-type: size;
}}
{_E} .cam-colorbar {{ display: flex; height: 100%; gap: 4px; font-size: var(--jp-widgets-font-size, 13px); }}
{_E} .cam-colorbar-bar {{ flex: 0 0 16px; border: 1px solid #888; }}
{_E} .cam-colorbar-ticks {{ position: relative; flex: 0 0 3.2em; }}
{_E} .cam-colorbar-ticks > span {{ position: absolute; left: 0; white-space: nowrap; }}
{_E} .cam-colorbar-high {{ top: 0; }}
{_E} .cam-colorbar-low {{ bottom: 0; }}
{_E} .cam-colorbar-zero {{ transform: translateY(-50%); }}
{_E} .cam-colorbar-zero::before {{ content: "— "; }}
{_E} .cam-colorbar-caption {{
  /* at most 4 % of the bar's height per letter (cqh), so that the caption fits beside a short bar (a phone) */
  writing-mode: vertical-rl; transform: rotate(180deg); text-align: center; font-size: min(0.85em, 4cqh);
  color: #555; overflow: hidden; max-height: 100%;
}}
</style>"""


def style_sheet() -> widgets.HTML:
    """An invisible widget holding the controls' style sheet and the page's (an HTML widget's value is
    inserted as is)."""
    return widgets.HTML(STYLE_SHEET + LAYOUT_SHEET, layout=widgets.Layout(display="none"))


def view(picture: widgets.Image, colour_bar: widgets.HTML) -> widgets.HBox:
    """The picture with its colour bar on the right."""
    region = widgets.HBox([picture, colour_bar])
    region.add_class("cam-explorer-view")
    return region


def side(*children: widgets.Widget) -> widgets.VBox:
    """The readout, status, progress and controls, beside or under the picture."""
    region = widgets.VBox(list(children))
    region.add_class("cam-explorer-side")
    return region


def body(view_region: widgets.HBox, side_region: widgets.VBox) -> widgets.Box:
    """The two regions in one row that wraps (the side under the picture when the window is narrow)."""
    region = widgets.Box([view_region, side_region])
    region.add_class("cam-explorer-body")
    return region


def presenter_toggle() -> widgets.ToggleButton:
    """The button that switches presenter mode on and off."""
    toggle = widgets.ToggleButton(
        value=False,
        description="Presenter mode",
        icon="desktop",
        tooltip="Large labels for a projector (the app's address: ?presenter=1)",
        layout=widgets.Layout(width="auto"),
    )
    toggle.add_class("cam-explorer-presenter-toggle")
    return toggle

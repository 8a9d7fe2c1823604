"""How the explorer's controls look: sizes that survive a narrow window, a small style sheet, and the
still picture shown where no widget can run (a saved notebook on GitHub, the course website).

Where the parts go (the picture, the side beside or under it, presenter mode) is :mod:`.page`'s.

The controls are stock ipywidgets 8. Three things cannot be said with their ``Layout`` and ``style``
traits alone, so the explorer carries a short style sheet (:data:`STYLE_SHEET`, scoped to the
explorer's CSS class):

* the "Method" label: ``ToggleButtons`` does not lay its description out like the other controls
  (an inline label above the buttons), so it is put into the same 80 px right-aligned column;
  ``ToggleButtons`` and ``SelectionSlider`` also lack the 2 px margin of the other controls, which
  put their labels out of line with the others;
* the buttons of the method menu wrap beside that label instead of under it;
* ``FileUpload`` always appends the number of files to its label ("Upload your own (0)"). The
  explorer empties the upload as soon as it has read the file, so that number says nothing: the
  style sheet shows the label without it.
"""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
from PIL import Image

#: Width of the still picture in a saved notebook (the live picture scales with the window: :mod:`.page`).
STILL_WIDTH_PX = 448
#: The label shown on the upload button (without the file count that FileUpload appends).
UPLOAD_LABEL = "Upload your own"

#: CSS classes that the browser tests, and a user's own CSS, can find.
EXPLORER_CLASS = "cam-explorer"

# Each control grows from its basis to fill the side's width and keeps a minimum width: a row of controls
# wraps rather than squeezing one of them (at a 1024 px wide window the opacity slider's track used to shrink
# to 4 px). In a side of 400 px each control has a line of its own; on a projector two share one.
ROW_LAYOUT = {"flex_flow": "row wrap", "align_items": "center"}
CONTROL_LAYOUTS = {
    "image_picker": {"flex": "1 1 260px", "width": "auto", "min_width": "240px"},
    "class_select": {"flex": "1 1 320px", "width": "auto", "min_width": "280px"},
    "class_search": {"flex": "1 1 320px", "width": "auto", "min_width": "280px"},
    "layer": {"width": "auto", "min_width": "300px", "max_width": "100%"},
    "opacity": {"flex": "1 1 300px", "width": "auto", "min_width": "280px"},  # track ≥ 150 px: label 80, readout ~40
    "cmap": {"flex": "1 1 220px", "width": "auto", "min_width": "200px"},
    "interpolation": {"flex": "1 1 260px", "width": "auto", "min_width": "260px"},
}

STYLE_SHEET = f"""<style>
.{EXPLORER_CLASS} .cam-explorer-method, .{EXPLORER_CLASS} .cam-explorer-layer {{
  margin: var(--jp-widgets-margin, 2px);
}}
.{EXPLORER_CLASS} .cam-explorer-method {{ display: flex; align-items: flex-start; }}
.{EXPLORER_CLASS} .cam-explorer-method > .widget-label {{
  flex: 0 0 var(--jp-widgets-inline-label-width, 80px); text-align: right;
  margin-right: calc(var(--jp-widgets-inline-margin, 4px) * 2);
}}
.{EXPLORER_CLASS} .cam-explorer-method > div {{ display: flex; flex-wrap: wrap; min-width: 0; }}
.{EXPLORER_CLASS} .cam-explorer-upload {{ font-size: 0; }}
.{EXPLORER_CLASS} .cam-explorer-upload > i {{
  font-size: var(--jp-widgets-font-size, 13px); margin-right: 4px;
}}
.{EXPLORER_CLASS} .cam-explorer-upload::after {{
  content: "{UPLOAD_LABEL}"; font-size: var(--jp-widgets-font-size, 13px);
}}
</style>"""


def layout(control_name: str) -> widgets.Layout:
    """The Layout of one control, from :data:`CONTROL_LAYOUTS`."""
    return widgets.Layout(**CONTROL_LAYOUTS[control_name])


def row(*children: widgets.Widget) -> widgets.HBox:
    """A row of controls that wraps when the window is too narrow for all of them."""
    return widgets.HBox(list(children), layout=widgets.Layout(**ROW_LAYOUT))


def still_html(picture: Image.Image, summary: str) -> str:
    """The explorer as a still: its current picture and a sentence, for places without a kernel.

    The picture is a JPEG (a few kB; the live widget's lossless PNG would weigh ~100 kB in every
    saved notebook) inlined as a data URI, so the HTML stands alone.
    """
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=85)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = html.escape(summary)
    return (
        f'<div class="cam-explorer-still">'
        f'<img src="data:image/jpeg;base64,{data}" width="{STILL_WIDTH_PX}" alt="{text}">'
        f"<p>{text}<br><em>A still picture: run this notebook to use the explorer.</em></p></div>"
    )

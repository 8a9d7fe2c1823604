"""The explorer, kernel side: what the words and colours around the picture say, and how the page is styled.

The colour bar (each map's own range, a 0 tick where the map has both signs, the overlay's colours,
numbers that fit its narrow tick column), the readout and the status line (CAM away from the feature
layer, a library warning), presenter mode, the still picture and sentence shown where no kernel
runs, and the style sheets (wrapping rows, minimum widths, classes that the widgets carry).
"""

from __future__ import annotations

import base64
import io
import re

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from cam_utils.course.explorer import explore
from cam_utils.course.explorer.appearance import CONTROL_LAYOUTS, STYLE_SHEET, UPLOAD_LABEL
from cam_utils.course.explorer.page import LAYOUT_SHEET, PRESENTER_CLASS
from cam_utils.models import load_model
from tests.explorer_helpers import (
    all_widgets,
    assert_shows_fresh_computation,
    explorer_net,  # noqa: F401 - the fixture `net` that the tests below take
    picture_pixels,
    reference_raw_map,
)

# --- the readout, the colour bar and the status line ------------------------------------------------


def test_readout_names_class_probability_method_layer_and_map_size(net):
    explorer = explore(net)
    explorer.layer.value = "blocks.3"
    class_idx = explorer.class_select.options[1][1]
    explorer.class_select.value = class_idx
    label = explorer.class_select.options[1][0]
    probability = label.rsplit("— ", 1)[1]
    readout = explorer.readout.value
    for part in (net.categories[class_idx], probability, "Grad-CAM", "blocks.3", "14×14"):
        assert part in readout


def test_the_colour_bar_shows_the_drawn_maps_range_and_colormap(net):
    """The bar says what the colours mean, truthfully: each map is min-max scaled on its own, so the bar is
    labelled with that map's lowest and highest value, with a 0 tick where it has both signs (CAM), and drawn
    with the colours overlay() uses."""
    from cam_utils.course.explorer.colorbar import colour_stops
    from cam_utils.postprocess import _colormap_lut

    explorer = explore(net, "cat_and_coffee")
    layer, class_idx = explorer.layer.value, explorer.class_select.value
    x = net.preprocess(explorer.image)
    for method, cmap in [("Grad-CAM", "jet"), ("CAM", "viridis"), ("Counterfactual Grad-CAM", "magma")]:
        explorer.cmap.value = cmap
        explorer.method.value = method
        raw_map = reference_raw_map(net, x, method, layer, class_idx)  # (h, w)
        bar = explorer.colour_bar
        assert bar.layout.visibility == "visible"
        assert bar.low == pytest.approx(float(raw_map.min()), rel=1e-4, abs=1e-6)
        assert bar.high == pytest.approx(float(raw_map.max()), rel=1e-4)
        assert f"{bar.high:.3g}" in bar.value and f"{abs(bar.low):.3g}" in bar.value
        stops = colour_stops(cmap)
        assert stops[0] == "#{:02x}{:02x}{:02x}".format(*_colormap_lut(cmap)[0]) and ", ".join(stops) in bar.value
        assert ("evidence against the class" in bar.value) is (method == "Counterfactual Grad-CAM")
        assert ('class="cam-colorbar-zero"' in bar.value) is (bar.low < 0 < bar.high)
        if method == "CAM":
            assert bar.low < 0 < bar.high, "CAM keeps its sign: the bar must show where 0 is"
            # below 0 is evidence against the class, not "low evidence for it": the caption says so
            assert "evidence against ← 0 → for the class" in bar.value and "low → high" not in bar.value
        else:
            assert bar.low >= 0, f"{method} is ReLU'd"
            assert "low → high" in bar.value
    explorer.method.value = "CAM"
    explorer.layer.value = "blocks.3"  # CAM exists only at the feature layer: the photo alone, no colours
    assert explorer.colour_bar.layout.visibility == "hidden"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.651, "0.651"), (-1.734, "−1.73"), (26.14, "26.1"), (0.0352, "0.0352"), (0.000577, "5.8e−4"),
     (-0.00123, "−1.2e−3"), (26700.0, "2.7e4"), (999.6, "1.0e3"), (1e-12, "1.0e−12"), (0.0, "0")],
)  # fmt: skip
def test_colour_bar_numbers_fit_its_narrow_tick_column(value, text):
    from cam_utils.course.explorer.colorbar import _number

    assert _number(value) == text
    assert len(text) <= 7  # 0.000577 (a Grad-CAM at blocks.0) ran over the caption beside it


def test_cam_at_another_layer_shows_a_note_and_the_photo(net):
    explorer = explore(net)
    explorer.method.value = "CAM"
    assert explorer.status.value == ""
    explorer.layer.value = "blocks.5"
    assert "feature layer" in explorer.status.value and net.feature_layer_name in explorer.status.value
    assert np.array_equal(picture_pixels(explorer), np.asarray(explorer.shown_image))
    # the readout does not claim a map that is not drawn
    assert "no map at this layer" in explorer.readout.value and "shown at" not in explorer.readout.value
    explorer.layer.value = net.feature_layer_name
    assert explorer.status.value == ""
    assert_shows_fresh_computation(explorer)


def test_a_library_warning_shows_in_the_status_line():
    """HiResCAM at the ViT's block output cancels to noise: the explorer says so under the picture, every time the
    map is shown (also from the cache), and not at the normalised tokens where the map is sound."""
    explorer = explore(load_model("shapes_vit"))
    explorer.method.value = "HiResCAM"
    explorer.layer.value = "blocks.2"
    assert "HiResCAM cancels at this layer" in explorer.status.value
    explorer.layer.value = "blocks.3.norm1"
    assert "cancels" not in explorer.status.value
    explorer.layer.value = "blocks.2"  # the cached map keeps its warning
    assert "HiResCAM cancels at this layer" in explorer.status.value
    explorer.method.value = "Grad-CAM"
    assert "cancels" not in explorer.status.value


# --- how it looks where it cannot run, in a narrow window, and to a room ---------------------------


def test_presenter_mode_is_a_toggle_and_an_argument(net):
    explorer = explore(net)
    assert PRESENTER_CLASS not in explorer._dom_classes and not explorer.presenter.value
    explorer.presenter.value = True
    assert PRESENTER_CLASS in explorer._dom_classes
    explorer.presenter.value = False
    assert PRESENTER_CLASS not in explorer._dom_classes
    presenting = explore(net, presenter=True)
    assert presenting.presenter.value and PRESENTER_CLASS in presenting._dom_classes
    assert "font-size" in LAYOUT_SHEET.split(f".{PRESENTER_CLASS}", 1)[1]


def test_a_saved_explorer_reads_as_a_sentence_and_a_still_picture(net):
    """Without a kernel (GitHub, an untrusted notebook, the website) the fallbacks are shown, not a repr."""
    explorer = explore(net, "cat_and_coffee")
    explorer.layer.value = "blocks.3"
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id
    class_idx = explorer.class_select.value
    plain = bundle["text/plain"]
    assert "children" not in plain and "VBox" not in plain
    for part in (
        "Grad-CAM",
        "blocks.3",
        f"{class_idx} {net.categories[class_idx]}",
        "cat_and_coffee",
        "run this notebook to use the explorer",
    ):
        assert part in plain
    assert (
        repr(explorer)
        == f"Explorer(image='cat_and_coffee', class_idx={class_idx}, method='Grad-CAM', layer='blocks.3')"
    )

    still_html = bundle["text/html"]
    assert "run this notebook to use the explorer" in still_html
    encoded = still_html.split('src="data:image/jpeg;base64,', 1)[1].split('"', 1)[0]
    still = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB"), dtype=float)
    assert still.shape == picture_pixels(explorer).shape  # the current picture, as a JPEG
    assert np.abs(still - picture_pixels(explorer)).mean() < 4.0


def test_rows_wrap_and_every_control_keeps_a_minimum_width(net):
    explorer = explore(net)
    rows = [child for child in explorer.controls.children if isinstance(child, ipywidgets.HBox)]
    assert len(rows) == 4 and all(row.layout.flex_flow == "row wrap" for row in rows)
    assert explorer.controls in all_widgets(explorer)
    for name in CONTROL_LAYOUTS:
        min_width = getattr(explorer, name).layout.min_width
        assert min_width is not None and min_width.endswith("px"), name
    assert int(explorer.opacity.layout.min_width[:-2]) >= 260  # label 80 + readout ~40 + a track of 100+


def test_style_sheet_aligns_the_method_label_and_drops_the_upload_count(net):
    explorer = explore(net, presenter=True)  # presenter mode: its class is carried too
    style = explorer.children[0]
    assert style.value == STYLE_SHEET + LAYOUT_SHEET and style.layout.display == "none"
    assert explorer.upload.description == UPLOAD_LABEL and "cam-explorer-upload" in explorer.upload._dom_classes
    assert f'content: "{UPLOAD_LABEL}"' in STYLE_SHEET
    # every class the style sheet styles is carried by a widget of the explorer (a renamed class would style nothing)
    carried = {css_class for widget in all_widgets(explorer) for css_class in widget._dom_classes}
    styled = set(re.findall(r"\.(cam-explorer[\w-]*)", STYLE_SHEET + LAYOUT_SHEET))
    assert {"cam-explorer-method", "cam-explorer-upload", PRESENTER_CLASS} <= styled and styled <= carried, (
        styled - carried
    )

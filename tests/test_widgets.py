"""The explorer, kernel side: every control draws exactly what the library functions compute.

Each check decodes the PNG in ``explorer.picture`` and compares it, pixel for pixel, with a
fresh computation from the public functions (grad_cam / class_activation_map, then
normalize, upsample, overlay) for the same settings. Other tests count forward passes,
feed the upload box bad and huge files, and run a random sequence of changes.
"""

from __future__ import annotations

import base64
import io
import random
import re
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import ipywidgets
import numpy as np
import pytest
import torch
from PIL import Image

from cam_utils.cam import class_activation_map
from cam_utils.course import explorer as widgets
from cam_utils.course.explorer import METHODS, Explorer, Method, explore
from cam_utils.course.explorer import caches as caches_module
from cam_utils.course.explorer.appearance import CONTROL_LAYOUTS, STYLE_SHEET, UPLOAD_LABEL
from cam_utils.course.explorer.page import LAYOUT_SHEET, PRESENTER_CLASS
from cam_utils.gradcam import grad_cam
from cam_utils.hooks import forward_with_features, record_output
from cam_utils.images import sample_image, sample_image_names
from cam_utils.models import load_model, model_view
from cam_utils.postprocess import normalize, overlay, upsample
from cam_utils.scorecam import score_cam
from cam_utils.variants import grad_cam_plus_plus, hires_cam
from tests.helpers import ModelSnapshot


@pytest.fixture(scope="module")
def net(lite0):
    return lite0


def all_widgets(widget: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    """The widget and every widget inside it (children of boxes, depth first)."""
    found, stack = [], [widget]
    while stack:
        widget = stack.pop()
        found.append(widget)
        stack.extend(child for child in getattr(widget, "children", ()) if isinstance(child, ipywidgets.Widget))
    return found


def picture_pixels(explorer: Explorer) -> np.ndarray:
    """The explorer's picture as an (H, W, 3) uint8 array, decoded from its PNG bytes."""
    assert explorer.picture.format == "png"
    return np.asarray(Image.open(io.BytesIO(explorer.picture.value)).convert("RGB"))


def reference_raw_map(net, x: torch.Tensor, method: str, layer: str, class_idx: int) -> torch.Tensor:
    """(h, w) map from the public one-call functions (each runs its own forward pass)."""
    options = {"reshape": net.reshape}  # a transformer's tokens laid out as maps; None for a CNN
    if method == "CAM":
        return class_activation_map(net.model, x, layer, net.classifier, class_idx, **options)[0]
    if method == "Grad-CAM":
        return grad_cam(net.model, x, layer, class_idx, **options)[0]
    if method == "Counterfactual Grad-CAM":
        return grad_cam(net.model, x, layer, class_idx, counterfactual=True, **options)[0]
    if method == "Grad-CAM++":
        return grad_cam_plus_plus(net.model, x, layer, class_idx, **options)[0]
    if method == "HiResCAM":
        return hires_cam(net.model, x, layer, class_idx, **options)[0]
    if method == "Score-CAM":
        return score_cam(net.model, x, layer, class_idx, **options)[0]
    raise AssertionError(f"no reference for method {method!r}")


def expected_pixels(explorer: Explorer, raw_maps: dict | None = None) -> np.ndarray:
    """What the explorer should show for its current settings, computed from scratch.

    ``raw_maps``: an optional dict in which the test keeps the reference maps it computed
    (key: image, layer, method, class), so that a long test does not compute one twice.
    """
    net = explorer.net
    x = net.preprocess(explorer.image)  # (1, 3, 224, 224), or (1, 3, 64, 64) for the shapes models
    shown = model_view(net, x)
    if min(shown.size) < 224:  # a small picture is shown enlarged, each pixel a 4 x 4 square for 64 x 64
        factor = -(-224 // min(shown.size))
        shown = shown.resize((shown.width * factor, shown.height * factor), Image.Resampling.NEAREST)
    layer, method, class_idx = explorer.layer.value, explorer.method.value, explorer.class_select.value
    if method == "CAM" and layer != net.feature_layer_name:
        return np.asarray(shown)  # CAM does not exist there: the photo alone
    key = (explorer.image_picker.value, layer, method, class_idx)
    if raw_maps is None or key not in raw_maps:
        raw_map = reference_raw_map(net, x, method, layer, class_idx)  # (h, w)
        if raw_maps is not None:
            raw_maps[key] = raw_map
    raw_map = raw_maps[key] if raw_maps is not None else raw_map
    heatmap = upsample(normalize(raw_map), (shown.height, shown.width), mode=explorer.interpolation.value)
    return np.asarray(overlay(shown, heatmap, alpha=explorer.opacity.value, cmap=explorer.cmap.value))


def assert_shows_fresh_computation(explorer: Explorer, raw_maps: dict | None = None) -> None:
    shown, expected = picture_pixels(explorer), expected_pixels(explorer, raw_maps)
    assert shown.shape == expected.shape
    differing = np.argwhere(shown != expected)
    assert differing.size == 0, (
        f"{len(differing)} pixel values differ from a fresh computation for layer={explorer.layer.value}, "
        f"method={explorer.method.value}, class={explorer.class_select.value}, first at {differing[:1].tolist()}"
    )


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(explorer: Explorer, name: str, content: bytes) -> None:
    """What the browser does when a user picks a file in the upload box."""
    explorer.upload.value = (
        {
            "name": name,
            "type": "",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(UTC),
        },
    )


# --- the initial view ---------------------------------------------------------------------------


def test_explore_starts_with_top1_grad_cam_at_the_feature_layer(net):
    explorer = explore(net)
    assert isinstance(explorer, Explorer)
    assert explorer.image_picker.value == "cat"
    assert explorer.layer.value == net.feature_layer_name
    assert explorer.method.value == "Grad-CAM"
    with torch.no_grad():
        probabilities = torch.softmax(net.model(net.preprocess(sample_image("cat")))[0], dim=0)
    top10 = probabilities.topk(10).indices.tolist()
    assert [value for _, value in explorer.class_select.options] == top10
    assert explorer.class_select.value == top10[0]
    first_label = explorer.class_select.options[0][0]
    assert first_label == f"{top10[0]} {net.categories[top10[0]]} — {float(probabilities[top10[0]]):.3f}"
    assert_shows_fresh_computation(explorer)


def test_layer_options_show_each_maps_resolution(net):
    explorer = explore(net)
    labels = dict((value, label) for label, value in explorer.layer.options)
    assert list(labels) == net.stages
    modules = dict(net.model.named_modules())
    with ExitStack() as stack:  # record every stage's output during one forward pass
        recordings = {layer: stack.enter_context(record_output(modules[layer])) for layer in net.stages}
        with torch.no_grad():
            net.model(net.preprocess(explorer.image))
    for layer, label in labels.items():
        height, width = recordings[layer].output.shape[-2:]
        assert label == f"{layer} ({height}×{width})"


def test_shown_image_is_the_models_crop(net):
    explorer = explore(net, "rocket")
    photo = sample_image("rocket")  # 427 x 640: resize the shorter side to 256, centre-crop 224
    scale = 256 / min(photo.size)
    resized = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
    left, top = (resized.width - 224) // 2, (resized.height - 224) // 2
    crop = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float64)
    shown = np.asarray(explorer.shown_image, dtype=np.float64)
    assert shown.shape == (224, 224, 3)
    assert np.abs(shown - crop).mean() < 3.0  # same crop; only resampling details differ


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


# --- every control: the picture changes, and equals a fresh computation -----------------------------


CONTROL_CHANGES = [
    ("layer", "blocks.4"),
    ("layer", "blocks.0"),  # first layer: 112 x 112 maps
    ("class_select", "second most likely"),
    ("method", "CAM"),
    ("method", "Counterfactual Grad-CAM"),
    ("method", "Grad-CAM++"),
    ("method", "HiResCAM"),
    ("opacity", 0.0),
    ("opacity", 1.0),
    ("cmap", "viridis"),
    ("interpolation", "nearest"),
    ("image_picker", "coffee"),
]


@pytest.mark.parametrize("control_name, new_value", CONTROL_CHANGES)
def test_each_control_redraws_the_picture_as_computed_from_scratch(net, control_name, new_value):
    explorer = explore(net, "cat_and_coffee")
    if new_value == "second most likely":
        new_value = explorer.class_select.options[1][1]
    before = picture_pixels(explorer)
    getattr(explorer, control_name).value = new_value
    assert not np.array_equal(picture_pixels(explorer), before), f"changing {control_name} left the picture as it was"
    assert_shows_fresh_computation(explorer)


def test_opacity_extremes_show_the_photo_alone_and_the_heatmap_alone(net):
    explorer = explore(net)
    explorer.opacity.value = 0.0
    assert np.array_equal(picture_pixels(explorer), np.asarray(explorer.shown_image))
    explorer.opacity.value = 1.0
    colours = picture_pixels(explorer)
    assert_shows_fresh_computation(explorer)
    photo = np.asarray(explorer.shown_image)
    assert np.abs(colours.astype(int) - photo).mean() > 20  # nothing of the photo is left


def test_nearest_interpolation_shows_the_raw_grid(net):
    explorer = explore(net)  # feature layer: 7 x 7 cells of 32 x 32 pixels
    explorer.opacity.value = 1.0
    explorer.interpolation.value = "nearest"
    cells = picture_pixels(explorer).reshape(7, 32, 7, 32, 3)
    assert (cells == cells[:, :1, :, :1]).all(), "each 32 x 32 cell should have one colour"
    explorer.interpolation.value = "bilinear"
    cells = picture_pixels(explorer).reshape(7, 32, 7, 32, 3)
    assert not (cells == cells[:, :1, :, :1]).all()


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


def test_class_search_reaches_any_of_the_1000_classes(net):
    explorer = explore(net)
    top10 = [value for _, value in explorer.class_select.options]
    rare_class = next(index for index in range(1000) if index not in top10)
    explorer.class_search.value = "tabb"  # still typing: nothing happens
    assert explorer.class_select.value == top10[0]
    explorer.class_search.value = f"{rare_class} {net.categories[rare_class]}"
    assert explorer.class_select.value == rare_class
    assert len(explorer.class_select.options) == 11
    assert_shows_fresh_computation(explorer)
    other_class = next(index for index in range(rare_class + 1, 1000) if index not in top10)
    explorer.class_search.value = net.categories[other_class].upper()  # a plain name, any case
    assert explorer.class_select.value == other_class
    assert_shows_fresh_computation(explorer)


def test_class_search_and_the_command_line_pick_the_same_class(net):
    """Issue 19, item 12: 'cardigan' was the dog (264) in the explorer and the jacket (474) in the CLI."""
    from cam_utils.course.cli import resolve_class

    explorer = explore(net)
    for text in ("cardigan", "Cardigan", "285 Egyptian cat", "crane"):
        explorer.class_search.value = text
        assert explorer.class_select.value == resolve_class(text, net.categories), text


def test_a_new_method_is_one_registry_entry(net, monkeypatch):
    def channel_sum(request: widgets.MapRequest) -> torch.Tensor:
        return request.forward.feature_maps.detach().sum(dim=1)  # (1, h, w)

    monkeypatch.setitem(METHODS, "Channel sum", Method(channel_sum))
    explorer = explore(net)
    assert list(explorer.method.options) == list(METHODS)
    explorer.method.value = "Channel sum"
    explorer.layer.value = "blocks.2"
    x = net.preprocess(explorer.image)
    feature_maps = forward_with_features(net.model, x, "blocks.2").feature_maps.detach()
    heatmap = upsample(normalize(feature_maps.sum(dim=1)[0]), (224, 224), mode="bilinear")
    expected = np.asarray(overlay(explorer.shown_image, heatmap, alpha=0.5, cmap="jet"))
    assert np.array_equal(picture_pixels(explorer), expected)


# --- responsiveness: forward passes ---------------------------------------------------------------


def test_one_forward_per_image_and_layer_none_for_display_changes(net, monkeypatch):
    explorer = explore(net)
    calls: list[str] = []
    real_forward_with_features = forward_with_features

    def counting_forward_with_features(model, x, layer, **options):
        calls.append(layer)
        return real_forward_with_features(model, x, layer, **options)

    monkeypatch.setattr(caches_module, "forward_with_features", counting_forward_with_features)
    model_runs = []
    handle = net.model.register_forward_hook(lambda module, inputs, output: model_runs.append(1))
    try:
        explorer.class_select.value = explorer.class_select.options[2][1]
        explorer.method.value = "CAM"
        explorer.method.value = "Counterfactual Grad-CAM"
        explorer.method.value = "Grad-CAM++"
        explorer.method.value = "HiResCAM"
        explorer.opacity.value = 0.9
        explorer.cmap.value = "magma"
        explorer.interpolation.value = "nearest"
        assert calls == [] and model_runs == [], "class/method/display changes must reuse the cached forward"

        explorer.layer.value = "blocks.3"
        explorer.class_select.value = explorer.class_select.options[1][1]
        explorer.layer.value = net.feature_layer_name  # visited before: cached
        explorer.layer.value = "blocks.3"  # cached too
        assert calls == ["blocks.3"] and len(model_runs) == 1

        explorer.image_picker.value = "coffee"  # clears the cache, one forward at the current layer
        assert calls == ["blocks.3", "blocks.3"] and len(model_runs) == 2
        explorer.layer.value = net.feature_layer_name  # not computed for this image yet
        assert calls[-1] == net.feature_layer_name and len(model_runs) == 3
    finally:
        handle.remove()
    assert_shows_fresh_computation(explorer)


# --- uploads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_name, content",
    [
        ("notes.txt", b"these are not pixels"),
        ("broken.png", png_bytes(Image.new("RGB", (64, 64), "red"))[:60]),  # truncated
        ("empty.jpg", b""),
        ("bomb.png", png_bytes(Image.new("1", (12000, 9000)))),  # 108 megapixels in 13 kB
    ],
)
def test_bad_upload_shows_a_message_and_keeps_the_explorer_working(net, file_name, content):
    explorer = explore(net)
    before = picture_pixels(explorer)
    upload(explorer, file_name, content)
    assert file_name in explorer.status.value and "Could not use" in explorer.status.value
    assert explorer.image_picker.value == "cat"
    assert np.array_equal(picture_pixels(explorer), before)
    assert explorer.upload.value == ()  # ready for the next try
    explorer.layer.value = "blocks.5"
    assert_shows_fresh_computation(explorer)
    assert "Could not use" not in explorer.status.value


def test_huge_upload_is_downscaled_and_explained(net):
    explorer = explore(net)
    ramp = np.linspace(0, 255, 3000, dtype=np.uint8)
    huge = Image.fromarray(np.stack([np.tile(ramp, (2000, 1))] * 3, axis=-1))  # 3000 x 2000
    upload(explorer, "huge.png", png_bytes(huge))
    assert explorer.image_picker.value == "upload: huge.png"
    assert explorer.image.size == (1024, 683)
    assert explorer.upload.value == ()
    assert_shows_fresh_computation(explorer)
    explorer.image_picker.value = "cat"  # the bundled photos are still there
    assert_shows_fresh_computation(explorer)


def test_good_upload_becomes_the_current_image(net):
    explorer = explore(net)
    upload(explorer, "astronaut.png", png_bytes(sample_image("astronaut")))
    assert explorer.image_picker.value == "upload: astronaut.png"
    assert np.array_equal(np.asarray(explorer.image), np.asarray(sample_image("astronaut")))
    assert explorer.status.value == ""
    assert_shows_fresh_computation(explorer)


# --- robustness -------------------------------------------------------------------------------------


def test_random_sequence_of_40_changes_always_shows_a_fresh_computation(net):
    explorer = explore(net)
    rng = random.Random(20240605)
    choices = {
        "image_picker": lambda: rng.choice(["cat", "coffee", "cat_and_coffee"]),
        "layer": lambda: rng.choice(net.stages),
        "class_select": lambda: rng.choice(explorer.class_select.options)[1],
        # Score-CAM (one forward pass per channel) has its own test below; here the fast ones.
        "method": lambda: rng.choice([name for name, method in METHODS.items() if not method.slow]),
        "opacity": lambda: rng.choice([0.0, 0.35, 0.8, 1.0]),
        "cmap": lambda: rng.choice(widgets.COLORMAPS),
        "interpolation": lambda: rng.choice(["nearest", "bilinear"]),
    }
    reference_maps: dict = {}  # the reference computes each (image, layer, method, class) once
    for _ in range(40):
        control_name = rng.choice(list(choices))
        getattr(explorer, control_name).value = choices[control_name]()
        assert_shows_fresh_computation(explorer, reference_maps)


def test_explorer_leaves_the_model_untouched():
    net = load_model(pretrained=False)
    net.model.train()  # a user in the middle of training
    snapshot = ModelSnapshot.take(net.model)
    explorer = explore(net)
    explorer.layer.value = "blocks.2"
    explorer.class_select.value = explorer.class_select.options[3][1]
    explorer.method.value = "Counterfactual Grad-CAM"
    explorer.image_picker.value = "rocket"
    snapshot.assert_unchanged(net.model)


def test_explore_rejects_bad_arguments_with_helpful_messages(net):
    with pytest.raises(ValueError, match="cat"):
        explore(net, "dog")
    with pytest.raises(TypeError, match="load_model"):
        explore(net.model)
    with pytest.raises(TypeError, match="load_image"):
        explore(net, np.zeros((8, 8, 3), dtype=np.uint8))


def test_explore_accepts_your_pil_image_and_leaves_it_unchanged(net):
    photo = sample_image("grace_hopper").resize((1500, 1758))
    explorer = explore(net, photo)
    assert photo.size == (1500, 1758)
    assert explorer.image_picker.value == "your image"
    assert explorer.image.size == (874, 1024)
    assert set(sample_image_names()) < set(explorer.image_picker.options)
    assert_shows_fresh_computation(explorer)


def test_explorer_works_with_a_torchvision_model():
    resnet = load_model("resnet18", pretrained=False)  # torchvision preprocessing, other layer names
    explorer = explore(resnet, "coffee")
    assert [value for _, value in explorer.layer.options] == resnet.stages
    assert explorer.layer.value == resnet.feature_layer_name
    explorer.method.value = "CAM"
    assert_shows_fresh_computation(explorer)
    explorer.layer.value = resnet.stages[1]
    explorer.method.value = "Grad-CAM"
    assert_shows_fresh_computation(explorer)


def test_score_cam_is_offered_and_says_it_is_slow(net):
    """Score-CAM at a shallow layer (16 channels: 16 forward passes) equals score_cam, and is cached."""
    explorer = explore(net)
    assert "Score-CAM" in explorer.method.options and METHODS["Score-CAM"].slow
    explorer.layer.value = net.stages[0]
    explorer.method.value = "Score-CAM"
    assert explorer.wait(timeout=120)  # computed in the background
    assert_shows_fresh_computation(explorer)
    assert "one forward pass per channel" in explorer.status.value
    cached_png = explorer.picture.value
    explorer.method.value = "Grad-CAM"
    explorer.method.value = "Score-CAM"  # from the cache: the same picture, at once
    assert not explorer.computing and explorer.picture.value == cached_png


# --- issue 22: a slow map in the background, with progress and Cancel ---------------------------------


def wait_until(condition, timeout: float) -> bool:
    """Poll ``condition()`` until it holds or ``timeout`` seconds have passed; whether it holds."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def explorer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("cam-explorer")]


def test_score_cam_runs_in_the_background_with_progress_and_a_cancel_button(net):
    """The click returns at once with the bar shown and the status naming Score-CAM; the channels done move;
    another control answers meanwhile; Cancel returns at once to the method shown before, and nothing of the
    stopped run is drawn later. The model is as before."""
    explorer = explore(net)  # Grad-CAM at bn2: 1280 channels, a minute or more on a 2-core CPU
    snapshot = ModelSnapshot.take(net.model)
    started = time.perf_counter()
    explorer.method.value = "Score-CAM"  # what a click on the button does
    assert time.perf_counter() - started < 1, "the event handler waited for the computation"
    assert explorer.computing and explorer.progress.visible and explorer.progress in all_widgets(explorer)
    assert isinstance(explorer.progress.bar, ipywidgets.IntProgress)
    assert "Computing Score-CAM at layer bn2" in explorer.status.value
    assert "Score-CAM at layer <code>bn2</code> · computing" in explorer.readout.value
    assert "Grad-CAM" not in explorer.readout.value + explorer.status.value
    assert np.array_equal(picture_pixels(explorer), np.asarray(explorer.shown_image))  # the photo, no old map

    assert wait_until(lambda: explorer.progress.bar.value > 0, timeout=120), "no channel done"
    assert re.fullmatch(r"Score-CAM: \d+ of \d+ channels, about .+ left", explorer.progress.text.value)
    # The status line's count is the layer's channels; the bar's, those evaluated (constant ones skipped): the
    # status says so, so that the two numbers read as consistent.
    assert "per channel that is not constant (at most 1,280)" in explorer.status.value
    assert explorer.progress.bar.max <= 1280
    assert explorer.progress.bar.max < 1280  # the channels that get a forward pass: the constant ones do not

    started = time.perf_counter()
    explorer.opacity.value = 0.8  # another control, during the run
    assert time.perf_counter() - started < 1 and explorer.computing  # answered; the same run goes on

    started = time.perf_counter()
    explorer.progress.cancel_button.click()
    assert time.perf_counter() - started < 1, "Cancel waited for the computation"
    assert not explorer.computing and not explorer.progress.visible
    assert explorer.method.value == "Grad-CAM"
    assert re.search(r"Score-CAM stopped after \d+ of \d+ channels\. Showing Grad-CAM", explorer.status.value)
    assert_shows_fresh_computation(explorer)  # Grad-CAM at opacity 0.8, from the cache
    assert wait_until(lambda: not explorer_threads(), timeout=120), "the worker thread did not stop"
    assert explorer.method.value == "Grad-CAM"
    assert_shows_fresh_computation(explorer)  # nothing of the stopped run was drawn after it stopped
    snapshot.assert_unchanged(net.model)


def test_a_newer_request_stops_the_running_map_and_keeps_nothing_of_it(net):
    explorer = explore(net)
    explorer.method.value = "Score-CAM"
    second_class = explorer.class_select.options[1][1]
    explorer.class_select.value = second_class  # a new request while Score-CAM computes
    assert explorer.computing and "Computing Score-CAM at layer bn2" in explorer.status.value
    explorer.method.value = "HiResCAM"  # and another: no Score-CAM is wanted any more
    assert not explorer.computing and not explorer.progress.visible and "Computing" not in explorer.status.value
    assert_shows_fresh_computation(explorer)
    assert wait_until(lambda: not explorer_threads(), timeout=120)
    assert_shows_fresh_computation(explorer)
    explorer.method.value = "Score-CAM"  # nothing was cached: it starts again
    assert explorer.computing
    explorer.cancel()
    assert explorer.method.value == "HiResCAM" and not explorer.computing


def test_a_map_that_arrives_after_a_newer_request_is_not_drawn():
    """A slow method of the user's that ignores Cancel: its map, finished after the user moved on, is dropped."""
    release = threading.Event()

    def waiting_grad_cam(request):
        """Grad-CAM, once the test lets it finish."""
        release.wait(timeout=60)
        return grad_cam(request.net.model, request.x, request.layer, request.class_idx)

    METHODS["Waiting Grad-CAM"] = Method(waiting_grad_cam, slow=True)
    try:
        explorer = explore(load_model("shapes_gapnet"))
        explorer.method.value = "Waiting Grad-CAM"
        assert explorer.computing and explorer.progress.bar.value == 0
        explorer.method.value = "HiResCAM"
        release.set()
        assert wait_until(lambda: not explorer_threads(), timeout=60)
        assert explorer.method.value == "HiResCAM" and not explorer.computing
        assert_shows_fresh_computation(explorer)
        explorer.method.value = "Waiting Grad-CAM"  # asked for again: computed and drawn this time
        assert explorer.wait(timeout=60)
        assert "Waiting Grad-CAM at layer" in explorer.readout.value and "computing" not in explorer.readout.value
    finally:
        del METHODS["Waiting Grad-CAM"]


# --- how it looks where it cannot run, and in a narrow window ---------------------------------------


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


def test_class_search_text_is_cleared_by_a_new_photo(net):
    explorer = explore(net)
    explorer.class_search.value = "espresso"
    assert net.categories[explorer.class_select.value] == "espresso"
    explorer.image_picker.value = "rocket"
    assert explorer.class_search.value == ""
    assert explorer.class_select.value == explorer.class_select.options[0][1]  # the new photo's top-1
    assert_shows_fresh_computation(explorer)


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


def test_names_imported_from_the_former_module_still_work():
    """cam_utils.course.explorer was one module; code written for it imports model_view and the registry from it."""
    from cam_utils import models
    from cam_utils.course import explorer as package

    assert package.model_view is models.model_view
    assert package.METHODS is METHODS and package.COLORMAPS == widgets.COLORMAPS


@pytest.mark.parametrize("name", ["shapes_vit", "shapes_mlpnet", "shapes_gapnet"])
def test_the_shapes_networks_and_the_vit_are_explored_like_the_others(name):
    """Their own pictures, their stages as layers (a ViT's tokens laid out on the grid), CAM only with a GAP head."""
    net = load_model(name)
    explorer = explore(net)
    assert list(explorer.image_picker.options) == ["circle", "square", "triangle", "cross", "ring"]
    assert [value for _, value in explorer.layer.options] == net.stages
    assert all(label.endswith(("(8×8)", "(16×16)", "(32×32)")) for label, _ in explorer.layer.options)
    assert ("CAM" in explorer.method.options) is net.gap_head
    assert len(explorer.class_select.options) == 5  # every class of the five, most probable first
    assert explorer.shown_image.size == (256, 256)  # 64 x 64, each pixel a 4 x 4 square
    explorer.image_picker.value = "ring"
    assert explorer.class_select.value == net.categories.index("ring")
    for layer in (net.stages[0], net.feature_layer_name):
        explorer.layer.value = layer
        for method in ("Grad-CAM", "HiResCAM", "Score-CAM"):
            explorer.method.value = method
            assert explorer.wait(timeout=60)  # Score-CAM: in the background
            if (name, layer, method) == ("shapes_vit", "blocks.2", "HiResCAM"):
                # At the ViT's block output HiResCAM cancels to noise (next test): the fresh computation warns.
                with pytest.warns(RuntimeWarning, match="HiResCAM cancels at this layer"):
                    assert_shows_fresh_computation(explorer)
            else:
                assert_shows_fresh_computation(explorer)
    with pytest.raises(ValueError, match="circle, square, triangle, cross, ring"):
        explore(net, "cat")


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


def test_the_explorer_follows_an_in_place_change_of_the_weights():
    """Issue 19, item 10: after load_state_dict or an optimizer step, every change raised autograd's
    "modified by an inplace operation", and maps already cached showed the old weights."""
    from cam_utils.models import load_model

    net = load_model("shapes_gapnet")
    explorer = explore(net)
    for method in ("Grad-CAM", "Grad-CAM++"):
        explorer.method.value = method  # fill the caches with the original weights
    assert_shows_fresh_computation(explorer)
    with torch.no_grad():
        for parameter in net.model.parameters():  # as an optimizer step would: in place
            parameter.mul_(1.5).add_(0.01)
    explorer.method.value = "Grad-CAM"  # cached before the change: must be recomputed
    assert explorer.status.value == "" or "error" not in explorer.status.value.lower()
    assert_shows_fresh_computation(explorer)
    explorer.class_select.value = [value for _, value in explorer.class_select.options][1]
    assert_shows_fresh_computation(explorer)

"""The explorer, kernel side: every control draws exactly what the library functions compute.

Each check decodes the PNG in ``explorer.picture`` and compares it, pixel for pixel, with a
fresh computation from the public functions (grad_cam / class_activation_map, then
normalize, upsample, overlay) for the same settings: the initial view, each control, the
class search, a new method in the registry, the upload box fed bad and huge files, a random
sequence of changes, and the model left untouched. Score-CAM in the background, the
forward-pass counts and other networks are in test_explorer_background.py; the colour bar,
readout, status notes and page styling in test_explorer_appearance.py; shared helpers in
explorer_helpers.py.
"""

from __future__ import annotations

import io
import random
from contextlib import ExitStack
from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from PIL import Image

from cam_utils.course import explorer as widgets
from cam_utils.course.explorer import METHODS, Explorer, Method, explore
from cam_utils.hooks import forward_with_features, record_output
from cam_utils.images import sample_image, sample_image_names
from cam_utils.models import load_model
from cam_utils.postprocess import normalize, overlay, upsample
from tests.explorer_helpers import (
    assert_shows_fresh_computation,
    explorer_net,  # noqa: F401 - the fixture `net` that the tests below take
    picture_pixels,
)
from tests.helpers import ModelSnapshot

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


def test_class_search_text_is_cleared_by_a_new_photo(net):
    explorer = explore(net)
    explorer.class_search.value = "espresso"
    assert net.categories[explorer.class_select.value] == "espresso"
    explorer.image_picker.value = "rocket"
    assert explorer.class_search.value == ""
    assert explorer.class_select.value == explorer.class_select.options[0][1]  # the new photo's top-1
    assert_shows_fresh_computation(explorer)


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


def test_names_imported_from_the_former_module_still_work():
    """cam_utils.course.explorer was one module; code written for it imports model_view and the registry from it."""
    from cam_utils import models
    from cam_utils.course import explorer as package

    assert package.model_view is models.model_view
    assert package.METHODS is METHODS and package.COLORMAPS == widgets.COLORMAPS


# --- uploads ------------------------------------------------------------------------------------------


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
        # Score-CAM (one forward pass per channel) has its own tests in test_explorer_background.py; here the fast ones.
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

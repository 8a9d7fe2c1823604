"""The explorer, kernel side: slow maps in the background, forward passes and caches, other networks.

Score-CAM (one forward pass per channel) is computed in a background thread: the click returns at
once, a progress bar counts the channels, Cancel and any newer request stop the run, and a map that
arrives after the user moved on is never drawn. The other methods reuse one cached forward pass per
image and layer (counted here), and the caches follow an in-place change of the weights. Last, other
networks (a torchvision ResNet, the shapes networks, a ViT) are explored with every method, Score-CAM in
the background included, each picture equal to a fresh computation.
"""

from __future__ import annotations

import re
import threading
import time

import ipywidgets
import numpy as np
import pytest
import torch

from cam_utils.course.explorer import METHODS, Method, explore
from cam_utils.course.explorer import caches as caches_module
from cam_utils.gradcam import grad_cam
from cam_utils.hooks import forward_with_features
from cam_utils.models import load_model
from tests.explorer_helpers import (
    all_widgets,
    assert_shows_fresh_computation,
    explorer_net,  # noqa: F401 - the fixture `net` that the tests below take
    picture_pixels,
)
from tests.helpers import ModelSnapshot

# --- issue 22: a slow map in the background, with progress and Cancel ---------------------------------


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


# --- responsiveness: forward passes and caches ----------------------------------------------------------


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


# --- other networks: every method, Score-CAM in the background included -------------------------------


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

"""Helpers shared by the explorer's kernel-side tests (test_widgets.py, test_explorer_background.py,
test_explorer_appearance.py).

``net`` is the network the tests explore (EfficientNet-Lite0). ``picture_pixels`` decodes the PNG in
``explorer.picture``; ``assert_shows_fresh_computation`` compares it, pixel for pixel, with a fresh computation from
the public functions (grad_cam / class_activation_map, then normalize, upsample, overlay) for the same settings.
"""

from __future__ import annotations

import io

import ipywidgets
import numpy as np
import pytest
import torch
from PIL import Image

from cam_utils.cam import class_activation_map
from cam_utils.course.explorer import Explorer
from cam_utils.gradcam import grad_cam
from cam_utils.models import model_view
from cam_utils.postprocess import normalize, overlay, upsample
from cam_utils.scorecam import score_cam
from cam_utils.variants import grad_cam_plus_plus, hires_cam


@pytest.fixture(scope="module", name="net")
def explorer_net(lite0):
    """The network the tests explore, as ``net``: import ``explorer_net`` into a test file to use it."""
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
    raw_maps = {} if raw_maps is None else raw_maps
    key = (explorer.image_picker.value, layer, method, class_idx)
    if key not in raw_maps:
        raw_maps[key] = reference_raw_map(net, x, method, layer, class_idx)  # (h, w)
    raw_map = raw_maps[key]
    heatmap = upsample(normalize(raw_map), (shown.height, shown.width), mode=explorer.interpolation.value)
    return np.asarray(overlay(shown, heatmap, alpha=explorer.opacity.value, cmap=explorer.cmap.value))


def assert_shows_fresh_computation(explorer: Explorer, raw_maps: dict | None = None) -> None:
    """Fail unless the picture equals ``expected_pixels``, naming the settings and the first differing pixel."""
    shown, expected = picture_pixels(explorer), expected_pixels(explorer, raw_maps)
    assert shown.shape == expected.shape
    differing = np.argwhere(shown != expected)
    assert differing.size == 0, (
        f"{len(differing)} pixel values differ from a fresh computation for layer={explorer.layer.value}, "
        f"method={explorer.method.value}, class={explorer.class_select.value}, first at {differing[:1].tolist()}"
    )

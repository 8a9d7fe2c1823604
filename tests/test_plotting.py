"""plot_steps and show_maps: the figure says how maps are scaled; a shared scale compares magnitudes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cam_utils.plotting import plot_steps, shared_scale, show_maps


def _image(size: int = 32) -> Image.Image:
    return Image.fromarray(np.full((size, size, 3), 128, dtype=np.uint8))


def _weak_and_strong() -> dict[str, torch.Tensor]:
    """Two maps of the same shape, one ten times stronger than the other."""
    pattern = torch.arange(16, dtype=torch.float32).reshape(4, 4) / 15  # 0 .. 1
    return {"weak": 0.1 * pattern, "strong": pattern.clone()}


def _figure_text(figure) -> str:
    return " ".join(text.get_text() for text in figure.findobj(match=lambda artist: hasattr(artist, "get_text")))


def _overlay_pixels(axis) -> np.ndarray:
    return np.asarray(axis.images[0].get_array())


def test_own_scale_is_the_default_and_says_so_on_the_figure():
    steps = plot_steps(_image(), torch.rand(4, 4), title="t")
    maps = show_maps(_image(), _weak_and_strong())
    for figure in (steps, maps):
        text = _figure_text(figure).replace("\n", " ")
        assert "normalised to [0, 1] on its own" in text
    # The default adds no colorbar: callers that count axes keep working.
    assert len(steps.axes) == 4 and len(maps.axes) == 2


def test_own_scale_hides_magnitude_shared_scale_shows_it():
    maps = _weak_and_strong()
    own = show_maps(_image(), maps)
    # Normalised on its own, a map ten times weaker looks exactly the same.
    assert np.array_equal(_overlay_pixels(own.axes[0]), _overlay_pixels(own.axes[1]))

    shared = show_maps(_image(), maps, scale="shared")
    weak, strong = _overlay_pixels(shared.axes[0]), _overlay_pixels(shared.axes[1])
    assert not np.array_equal(weak, strong)
    assert np.array_equal(strong, _overlay_pixels(own.axes[1]))  # the strongest map spans the whole scale
    # One colorbar, in the maps' units, from 0 to the largest value of all maps.
    assert len(shared.axes) == 3
    colorbar = shared.axes[2]
    assert colorbar.get_ylim() == pytest.approx((0.0, 1.0))
    assert "one scale" in colorbar.get_ylabel()
    assert "on its own" not in _figure_text(shared)


def test_plot_steps_with_a_range_shared_by_several_figures():
    maps = _weak_and_strong()
    value_range = shared_scale(*maps.values())
    assert value_range == pytest.approx((0.0, 1.0))
    weak = plot_steps(_image(), maps["weak"], scale=value_range)
    strong = plot_steps(_image(), maps["strong"], scale=value_range)
    assert len(weak.axes) == 5  # four panels and the colorbar
    assert weak.axes[4].get_ylim() == pytest.approx(value_range)
    # Panel 2 shows the raw grid on the shared scale: the weak map stays at the bottom of it.
    assert float(np.max(weak.axes[1].images[0].get_array())) == pytest.approx(0.1)
    assert float(np.max(strong.axes[1].images[0].get_array())) == pytest.approx(1.0)
    assert not np.array_equal(_overlay_pixels(weak.axes[3]), _overlay_pixels(strong.axes[3]))


def test_values_outside_a_given_range_are_clipped():
    cam = torch.tensor([[-1.0, 0.0], [0.5, 3.0]])
    figure = plot_steps(_image(), cam, scale=(0.0, 1.0))
    raw_panel = np.asarray(figure.axes[1].images[0].get_array())
    assert raw_panel.min() == 0.0 and raw_panel.max() == 1.0


def test_plot_steps_shared_for_one_map_uses_its_raw_range_from_zero():
    cam = torch.full((3, 3), 2.0)
    cam[0, 0] = 4.0
    figure = plot_steps(_image(), cam, scale="shared")
    assert figure.axes[4].get_ylim() == pytest.approx((0.0, 4.0))  # all-positive map: the scale starts at 0
    assert float(np.min(figure.axes[1].images[0].get_array())) == pytest.approx(0.5)


def test_shared_scale_signed_zero_and_bad_maps():
    assert shared_scale(torch.tensor([[-2.0, 1.0]]), torch.tensor([[0.5, 3.0]])) == (-2.0, 3.0)
    assert shared_scale(torch.zeros(2, 2)) == (0.0, 1.0)  # no contrast: any non-empty range
    assert shared_scale(torch.ones(1, 2, 2) * 5) == (0.0, 5.0)
    with pytest.raises(ValueError, match="at least one map"):
        shared_scale()
    with pytest.raises(ValueError, match="NaN"):
        shared_scale(torch.tensor([[float("nan"), 1.0]]))


@pytest.mark.parametrize("scale", ["global", (1.0, 1.0), (2.0, 1.0), (0.0, float("nan")), (1.0,), 3])
def test_invalid_scale_names_the_options(scale):
    with pytest.raises(ValueError, match=r'"own".*"shared"|low < high'):
        show_maps(_image(), {"a": torch.rand(2, 2)}, scale=scale)
    with pytest.raises(ValueError, match=r'"own".*"shared"|low < high'):
        plot_steps(_image(), torch.rand(2, 2), scale=scale)

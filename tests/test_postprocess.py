"""upsample, normalize, overlay and plot_steps."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image

from cam_utils.plotting import plot_steps, show_maps
from cam_utils.postprocess import normalize, overlay, upsample


def test_upsample_bilinear_matches_interpolate_without_align_corners():
    torch.manual_seed(0)
    cam = torch.rand(2, 7, 7)
    result = upsample(cam, 224)
    expected = F.interpolate(cam[:, None], size=(224, 224), mode="bilinear", align_corners=False)[:, 0]
    assert result.shape == (2, 224, 224)
    torch.testing.assert_close(result, expected)
    aligned = F.interpolate(cam[:, None], size=(224, 224), mode="bilinear", align_corners=True)[:, 0]
    assert not torch.allclose(result, aligned)


def test_upsample_single_map_and_rectangular_size():
    cam = torch.rand(5, 6)
    assert upsample(cam, (20, 30)).shape == (20, 30)


def test_upsample_nearest_keeps_raw_values():
    cam = torch.arange(9.0).reshape(1, 3, 3)
    result = upsample(cam, 6, mode="nearest")
    torch.testing.assert_close(result[0, ::2, ::2], cam[0])
    assert set(result.unique().tolist()) == set(cam.unique().tolist())


@pytest.mark.parametrize("size", [50, 100, 230, 224])
def test_upsample_nearest_takes_the_cell_under_each_pixel_centre(size):
    """Pixel i of the output shows cell floor((i + 0.5) * h / H): pixel centres line up, also when H is not a
    multiple of h (torch's legacy "nearest", floor(i * h / H), put 11.6 % of the pixels of 7 -> 50 in the
    neighbouring cell)."""
    cells = torch.arange(49.0).reshape(7, 7)
    centre_cell = ((torch.arange(size) + 0.5) * 7 / size).floor().long()  # (H,) the cell under each pixel centre
    expected = cells[centre_cell][:, centre_cell]
    torch.testing.assert_close(upsample(cells, size, mode="nearest"), expected, rtol=0, atol=0)


def test_upsample_bicubic_is_clamped_to_each_maps_range():
    cam = torch.zeros(2, 4, 4)
    cam[0, 1:3, 1:3] = 1.0  # a sharp step: bicubic overshoots
    cam[1] = torch.linspace(-3, 5, 16).reshape(4, 4)
    raw = F.interpolate(cam[:, None], size=(32, 32), mode="bicubic", align_corners=False)[:, 0]
    assert raw[0].max() > 1.0 or raw[0].min() < 0.0, "the check needs overshoot"
    result = upsample(cam, 32, mode="bicubic")
    assert result[0].min() >= 0.0 and result[0].max() <= 1.0
    assert result[1].min() >= -3.0 and result[1].max() <= 5.0


def test_upsample_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        upsample(torch.rand(1, 3, 3), 8, mode="area")


def test_normalize_per_image_and_constant_map():
    cam = torch.stack(
        [torch.linspace(0, 2, 9).reshape(3, 3), torch.linspace(-10, 30, 9).reshape(3, 3), torch.full((3, 3), 4.0)]
    )
    result = normalize(cam)
    for n in range(2):
        assert result[n].min() == 0.0 and result[n].max() == 1.0
    torch.testing.assert_close(result[0], result[1])  # same shape of map, different ranges
    assert torch.equal(result[2], torch.zeros(3, 3))
    assert not torch.isnan(result).any()
    assert torch.equal(normalize(torch.zeros(4, 4)), torch.zeros(4, 4))


def test_normalize_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        normalize(torch.tensor([[0.0, float("nan")]]))


def gray_image(size=(40, 30)) -> Image.Image:
    return Image.new("RGB", size, (128, 128, 128))


def test_overlay_is_rgb_image_of_image_size_and_red_where_map_is_high():
    image = gray_image((40, 30))  # width 40, height 30
    cam = torch.zeros(7, 7)
    cam[0, 0] = 1.0  # top-left corner hot
    result = overlay(image, cam, alpha=0.7)
    assert isinstance(result, Image.Image) and result.mode == "RGB" and result.size == (40, 30)
    pixels = np.asarray(result).astype(int)
    red, _green, blue = pixels[0, 0]
    # jet(1) = dark red (127, 0, 0): blended with grey 128, red stays ~128, blue drops to ~38.
    assert red > 110 and blue < 60 and red - blue > 60, "jet's high end is red (RGB order, not BGR)"
    red, _green, blue = pixels[-1, -1]
    assert blue > 110 and red < 60 and blue - red > 60, "jet's low end is blue"


def test_overlay_accepts_numpy_and_batched_map_and_rejects_unnormalised():
    array = np.full((16, 16, 3), 200, dtype=np.uint8)
    result = overlay(array, np.ones((1, 4, 4)), alpha=1.0)
    red, _green, blue = np.asarray(result)[8, 8]
    assert red > 100 and blue < 50  # jet(1.0) is dark red
    with pytest.raises(ValueError, match="normalize"):
        overlay(array, torch.full((4, 4), 3.0))
    with pytest.raises(ValueError, match="alpha"):
        overlay(array, torch.zeros(4, 4), alpha=1.5)


def test_overlay_alpha_zero_returns_the_image():
    array = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(overlay(array, torch.rand(3, 3), alpha=0.0)), array)


def test_overlay_is_fast_enough_for_a_slider():
    image = gray_image((224, 224))
    cam = torch.rand(7, 7)
    overlay(image, cam)  # warm the colormap cache
    start = time.perf_counter()
    for _ in range(10):
        overlay(image, cam)
    per_call = (time.perf_counter() - start) / 10
    assert per_call < 0.05, f"overlay took {per_call * 1e3:.1f} ms (target < 20 ms on an idle machine)"


def test_plot_steps_returns_figure_with_four_panels():
    image = gray_image((32, 32))
    figure = plot_steps(image, torch.randn(1, 4, 4), title="test")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4
    assert "4×4" in figure.axes[1].get_title()


def test_show_maps_one_panel_per_map():
    figure = show_maps(gray_image((16, 16)), {"a": torch.rand(4, 4), "b": torch.rand(1, 4, 4), "c": torch.rand(2, 2)})
    assert [axis.get_title() for axis in figure.axes] == ["a", "b", "c"]


def test_normalize_in_float16_never_gives_nan_for_a_wide_range():
    """Issue 19, item 11: a span above float16's 65504 overflowed to inf, and [-40000, 0, 40000] gave NaN."""
    cam = torch.tensor([[-40000.0, 0.0, 40000.0]], dtype=torch.float16)
    result = normalize(cam)
    assert result.dtype == torch.float16
    torch.testing.assert_close(result, torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float16))

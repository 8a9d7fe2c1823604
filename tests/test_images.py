"""Tests for cam_utils.images: sample photos, safe loading of user files, real predictions."""

from __future__ import annotations

import io
import warnings
from datetime import UTC

import numpy as np
import pytest
from PIL import Image

import cam_utils
from cam_utils.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, sample_image, sample_image_names

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


def test_sample_images_are_rgb():
    assert sample_image_names() == ["cat", "coffee", "rocket", "astronaut", "grace_hopper", "cat_and_coffee"]
    assert cam_utils.sample_image is sample_image
    for name in sample_image_names():
        image = sample_image(name)
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        assert min(image.size) >= 224
    assert sample_image("cat_and_coffee").size == (448, 448)


def test_unknown_sample_lists_names():
    with pytest.raises(ValueError, match="cat, coffee, rocket, astronaut, grace_hopper, cat_and_coffee"):
        sample_image("dog")


def test_real_predictions(lite0):
    assert lite0.predict(sample_image("cat"), k=1)[0][0] in CAT_CLASSES
    assert lite0.predict(sample_image("coffee"), k=1)[0][0] in COFFEE_CLASSES
    both = {index for index, _, _ in lite0.predict(sample_image("cat_and_coffee"), k=5)}
    assert both & CAT_CLASSES and both & COFFEE_CLASSES


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_path_bytes_and_file_object_give_the_same_image(tmp_path):
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    path = tmp_path / "small.png"
    Image.fromarray(pixels).save(path)
    for source in (path, str(path), path.read_bytes()):
        assert np.array_equal(np.asarray(load_image(source)), pixels)
    with open(path, "rb") as file:
        assert np.array_equal(np.asarray(load_image(file)), pixels)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (20, 10), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 10))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    upright = load_image(path)
    assert upright.size == (10, 20)
    top = np.asarray(upright)[2, 5]  # the left half ends up on top
    assert top[2] > 200 and top[0] < 60


def test_grayscale_and_bilevel_become_rgb():
    gray = Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8))
    assert np.asarray(load_image(_png_bytes(gray))).tolist() == [[[0] * 3, [128] * 3, [255] * 3]]
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    assert np.asarray(load_image(_png_bytes(bilevel))).tolist() == [[[0] * 3, [255] * 3]]


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 255), (0, 0, 0, 0), (0, 0, 0, 128)])
    out = np.asarray(load_image(_png_bytes(rgba))).astype(int)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 1 for v in out[0, 2])
    gray_alpha = Image.new("LA", (1, 1), (0, 0))
    assert np.asarray(load_image(_png_bytes(gray_alpha))).tolist() == [[[255, 255, 255]]]


def test_palette_with_and_without_transparency():
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([0, 200, 0, 10, 20, 30] + [0] * 762)
    palette_image.putdata([0, 1])
    assert np.asarray(load_image(_png_bytes(palette_image))).tolist() == [[[0, 200, 0], [10, 20, 30]]]
    buffer = io.BytesIO()
    palette_image.save(buffer, format="PNG", transparency=1)  # palette entry 1 is transparent
    assert np.asarray(load_image(buffer.getvalue())).tolist() == [[[0, 200, 0], [255, 255, 255]]]


def test_cmyk_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (2, 2), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    out = load_image(path)
    assert out.mode == "RGB" and np.asarray(out)[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_is_scaled_not_clipped(fmt):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format=fmt)  # opens as mode I;16 (or I)
    out = np.asarray(load_image(buffer.getvalue()))
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_32_bit_integer_image_is_scaled():
    values = np.array([[0, 65535]], dtype=np.int32)
    buffer = io.BytesIO()
    Image.fromarray(values, mode=None).save(buffer, format="TIFF")
    assert np.asarray(load_image(buffer.getvalue()))[0, :, 1].tolist() == [0, 255]


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="No file at"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_too_many_pixels_is_refused(tmp_path):
    with pytest.raises(ImageLoadError, match=r"too large.*20 x 20"):
        load_image(_png_bytes(Image.new("RGB", (20, 20))), max_pixels=399)
    assert load_image(_png_bytes(Image.new("RGB", (20, 20))), max_pixels=400).size == (20, 20)


def test_decompression_bomb_is_refused_without_touching_pillow_settings(tmp_path):
    limit_before = Image.MAX_IMAGE_PIXELS
    side = int(DEFAULT_MAX_PIXELS**0.5) + 100  # just over the default limit
    path = tmp_path / "bomb.png"
    Image.new("1", (side, side)).save(path)  # a few kB on disk, ~90 megapixels decoded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageLoadError, match="decompression bomb"):
            load_image(path)
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_other_source_types_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="path"):
        load_image(42)
    path = tmp_path / "small.png"
    path.write_bytes(_png_bytes(Image.new("RGB", (2, 2))))
    with open(path, encoding="latin-1") as text_file, pytest.raises(TypeError, match="binary mode"):
        load_image(text_file)
    assert issubclass(ImageLoadError, ValueError)


# --- memory bounds (issue 12, defects 3 and 4) ----------------------------------------------------


@pytest.mark.parametrize("size, ratio", [((30000, 2), "15,000:1"), ((1, 4000), "4,000:1")])
def test_extreme_aspect_ratio_is_refused_in_one_line(size, ratio):
    """A 266-byte 30000 x 2 PNG would be scaled to ~3.8 million x 256 pixels by the models' resize."""
    data = _png_bytes(Image.new("L", size))
    assert len(data) < 1000
    with pytest.raises(
        ImageLoadError, match=f"{size[0]} x {size[1]} pixels, an aspect ratio of {ratio}; at most 50:1"
    ) as info:
        load_image(data)
    assert "\n" not in str(info.value)
    assert load_image(data, max_aspect_ratio=20_000).size == size  # a larger limit, given on purpose
    assert load_image(_png_bytes(Image.new("L", (500, 10)))).size == (500, 10)  # 50:1 itself is fine


def test_max_pixels_above_pillows_own_limit_is_honoured(monkeypatch):
    """Pillow's global limit (here 1000 pixels) must not override the max_pixels the caller gives."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = _png_bytes(Image.new("RGB", (60, 60)))  # 3600 pixels: above 2 x Pillow's limit
    assert load_image(data, max_pixels=5000).size == (60, 60)
    assert Image.MAX_IMAGE_PIXELS == 1000  # lifted during the call only
    with pytest.raises(ImageLoadError, match=r"more than 3,000 pixels.*60 x 60"):
        load_image(data, max_pixels=3000)
    with pytest.raises(ImageLoadError, match="more than 1,500 pixels"):
        load_image(_png_bytes(Image.new("RGB", (40, 40))), max_pixels=1500)  # between Pillow's warn and error
    noisy = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)))
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(noisy[: len(noisy) // 2], max_pixels=5000)
    assert Image.MAX_IMAGE_PIXELS == 1000  # also after an error


@pytest.mark.parametrize("bad", [None, 0, -1, 1.5, True, "100"])
def test_max_pixels_is_validated(bad):
    with pytest.raises(
        ValueError, match=r"max_pixels must be a positive integer.*got " + repr(bad).replace(".", r"\.")
    ):
        load_image(_png_bytes(Image.new("RGB", (2, 2))), max_pixels=bad)


def test_explorer_upload_of_an_extreme_strip_shows_the_limit(lite0):
    """The explorer's upload goes through load_image: the strip is refused with a message, nothing resized."""
    from datetime import datetime

    from cam_utils.course.explorer import explore

    explorer = explore(lite0)
    content = _png_bytes(Image.new("RGB", (4000, 1)))
    explorer.upload.value = (
        {
            "name": "strip.png",
            "type": "",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(UTC),
        },
    )
    assert "Could not use &#x27;strip.png&#x27;" in explorer.status.value and "at most 50:1" in explorer.status.value
    assert explorer.image_picker.value == "cat"

"""Photos to explain: samples that ship with installed packages, and safe loading of your own.

* :func:`sample_image` returns a photo from scikit-image or matplotlib (no download).
* :func:`load_image` opens a user's file (path, bytes or binary file object) and always
  returns an 8-bit RGB PIL image, or raises :class:`ImageLoadError` saying what is wrong.
"""
from __future__ import annotations

import io
import numbers
import os
import threading
import warnings
from pathlib import Path
from typing import BinaryIO, Callable, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_ASPECT_RATIO",
    "ImageLoadError",
    "check_aspect_ratio",
    "load_image",
    "sample_image",
    "sample_image_names",
]

#: Largest image (width x height) that :func:`load_image` accepts by default. It is
#: Pillow's own default for ``Image.MAX_IMAGE_PIXELS`` (about 89.5 megapixels, roughly
#: 256 MiB as 8-bit RGB); larger files may be "decompression bombs" built to exhaust memory.
DEFAULT_MAX_PIXELS = 89_478_485

#: Longest accepted side / shortest side. The models scale the short side up to their input size
#: (256 px before the centre crop), so a 4000 x 1 image would become 1,024,000 x 256 pixels (about
#: 2 GB while resizing); at 50:1 the resized copy stays below 10 MB.
MAX_ASPECT_RATIO = 50

#: The end of the "too large" error (the command line says it in its own terms).
LARGER_LIMIT_ADVICE = "pass a larger max_pixels if you trust it"

# Pillow's decompression-bomb limit is a module global; load_image lifts it (to max_pixels) only
# while it opens a file, one call at a time.
_PILLOW_LIMIT_LOCK = threading.Lock()

ImageSource = Union[str, os.PathLike, bytes, bytearray, BinaryIO]


class ImageLoadError(ValueError):
    """The file could not be turned into an RGB image; the message says why and what to do."""


# --- sample photos ----------------------------------------------------------------------


def _skimage_photo(function_name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import skimage.data

        return Image.fromarray(getattr(skimage.data, function_name)()).convert("RGB")

    return load


def _grace_hopper() -> Image.Image:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return Image.open(file).convert("RGB")


def _cat_and_coffee() -> Image.Image:
    """Two objects in one photo: the cat fills the left half, the coffee cup the right half.

    The canvas is square (448 x 448) so that the models' centre crop keeps both halves.
    Each photo is cropped to a 224 x 448 portrait strip around its centre.
    """
    half_size = (224, 448)  # (width, height) of each half
    canvas = Image.new("RGB", (448, 448))
    canvas.paste(ImageOps.fit(_SAMPLES["cat"](), half_size, Image.Resampling.LANCZOS), (0, 0))
    canvas.paste(ImageOps.fit(_SAMPLES["coffee"](), half_size, Image.Resampling.LANCZOS), (224, 0))
    return canvas


_SAMPLES: dict[str, Callable[[], Image.Image]] = {
    "cat": _skimage_photo("chelsea"),
    "coffee": _skimage_photo("coffee"),
    "rocket": _skimage_photo("rocket"),
    "astronaut": _skimage_photo("astronaut"),
    "grace_hopper": _grace_hopper,
    "cat_and_coffee": _cat_and_coffee,
}


def sample_image_names() -> list[str]:
    """Names accepted by :func:`sample_image`."""
    return list(_SAMPLES)


def sample_image(name: str) -> Image.Image:
    """A sample photo as an RGB PIL image; it ships with scikit-image or matplotlib.

    Args:
        name: one of :func:`sample_image_names`: ``"cat"``, ``"coffee"``, ``"rocket"``,
            ``"astronaut"``, ``"grace_hopper"``, or ``"cat_and_coffee"`` (both objects side by side).
    """
    if name not in _SAMPLES:
        raise ValueError(f"Unknown sample image {name!r}. Valid names: {', '.join(sample_image_names())}.")
    return _SAMPLES[name]()


# --- loading user files -----------------------------------------------------------------


def _read_bytes(source: ImageSource) -> tuple[bytes, str]:
    """Return the file's bytes and a short description of where they came from."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"No file at {str(path)!r}. Check the path (relative paths start at {os.getcwd()!r}).")
        if not path.is_file():
            raise ImageLoadError(f"{str(path)!r} is not a file (a directory?). Pass the path of an image file.")
        return path.read_bytes(), repr(str(path))
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "the given bytes"
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("The file object returned text, not bytes. Open the file in binary mode: open(path, 'rb').")
        return bytes(data), "the given file object"
    raise TypeError(
        f"load_image expects a path (str or pathlib.Path), bytes, or a binary file object; got {type(source).__name__}."
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparent pixels are composited on white. 16- and 32-bit integer images are scaled
    from their full range (0..65535) to 0..255, not clipped; float images are scaled from
    0..1 if they lie there, otherwise from their own min..max.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        mode_with_alpha = "RGBA" if "transparency" in image.info else "RGB"
        image, mode = image.convert(mode_with_alpha), mode_with_alpha
        if mode == "RGB":
            return image
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)  # H x W, the raw sample values
        if mode.startswith("I;16") or (mode == "I" and values.min() >= 0 and values.max() <= 65535):
            scaled = values * (255.0 / 65535.0)  # 16-bit range -> 8-bit range
        elif mode == "F" and values.min() >= 0 and values.max() <= 1:
            scaled = values * 255.0
        else:
            low, high = values.min(), values.max()
            scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        gray = np.round(scaled).astype(np.uint8)  # H x W
        return Image.fromarray(np.stack([gray] * 3, axis=-1))  # H x W x 3
    # L, 1, CMYK, YCbCr, LAB, HSV, ...: Pillow's own conversion
    return image.convert("RGB")


def check_aspect_ratio(size: tuple[int, int], max_ratio: float = MAX_ASPECT_RATIO) -> None:
    """Refuse a (width, height) whose long side is more than ``max_ratio`` times its short side.

    Raises:
        ImageLoadError: the ratio is above ``max_ratio``; the message names the limit.
    """
    width, height = size
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > max_ratio:
        raise ImageLoadError(
            f"The image is {width} x {height} pixels, an aspect ratio of {ratio:,.0f}:1; at most {max_ratio:g}:1 is "
            "accepted (the model sees a centre square, and scaling the short side up to the model's input size "
            "would take too much memory). Crop it to the part you want explained first."
        )


def _check_max_pixels(max_pixels: object) -> int:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1:
        raise ValueError(
            f"max_pixels must be a positive integer (the largest width x height to open), got {max_pixels!r}. "
            f"The default is {DEFAULT_MAX_PIXELS:,}; e.g. max_pixels=150_000_000 for a 100-megapixel photo you trust."
        )
    return int(max_pixels)


def _check_max_aspect_ratio(max_aspect_ratio: object) -> float:
    if isinstance(max_aspect_ratio, bool) or not isinstance(max_aspect_ratio, numbers.Real) or not max_aspect_ratio >= 1:
        raise ValueError(
            f"max_aspect_ratio must be a number >= 1 (long side / short side), got {max_aspect_ratio!r}. "
            f"The default is {MAX_ASPECT_RATIO}."
        )
    return float(max_aspect_ratio)


class _TooManyPixels(Exception):
    """Internal: the header announces more than max_pixels pixels."""


def _open_and_decode(data: bytes, max_pixels: int, max_aspect_ratio: float) -> Image.Image:
    """Image.open + load with Pillow's bomb limit at least ``max_pixels`` during the call only.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice that (a decompression
    bomb). Images above ``max_pixels`` or ``max_aspect_ratio`` are refused here before their pixels
    are decoded, so Pillow's warning is silenced (locally).
    """
    with _PILLOW_LIMIT_LOCK, warnings.catch_warnings():
        pillow_limit = Image.MAX_IMAGE_PIXELS
        try:
            if pillow_limit is not None and max_pixels > pillow_limit:
                Image.MAX_IMAGE_PIXELS = max_pixels  # restored below, also on error
            # Pillow warns above its limit: the check below refuses those images anyway, with their size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            width, height = image.size
            if width * height > max_pixels:
                raise _TooManyPixels(f"Its size is {width} x {height}.")
            check_aspect_ratio(image.size, max_aspect_ratio)
            image.load()  # decodes the pixels: truncated or corrupt data fails here
            return image
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit


def load_image(
    source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> Image.Image:
    """Open an image file safely and return it as an 8-bit RGB PIL image.

    The EXIF orientation is applied (photos from phones come out upright), and every
    colour mode (grayscale, palette, with transparency, CMYK, 16-bit) becomes 8-bit RGB.

    Args:
        source: a path (str or pathlib.Path), the file's bytes, or a binary file object.
        max_pixels: refuse images with more pixels (width x height) than this; see
            :data:`DEFAULT_MAX_PIXELS`. A larger value than Pillow's own limit is honoured:
            Pillow's limit is lifted to it while this call opens the file, then restored.
        max_aspect_ratio: refuse images whose long side is more than this many times the
            short side (:data:`MAX_ASPECT_RATIO`, 50): the models' resizing would not fit in memory.

    Raises:
        ImageLoadError: missing file, empty file, not an image, truncated or corrupt
            file, an image larger than ``max_pixels`` or more elongated than ``max_aspect_ratio``.
        TypeError: ``source`` is of an unsupported type.
        ValueError: ``max_pixels`` is not a positive integer, or ``max_aspect_ratio`` below 1.
    """
    max_pixels = _check_max_pixels(max_pixels)
    max_aspect_ratio = _check_max_aspect_ratio(max_aspect_ratio)
    data, origin = _read_bytes(source)
    if not data:
        raise ImageLoadError(f"{origin} is empty (0 bytes). Pass a complete image file (PNG, JPEG, ...).")
    too_large = (
        f"The image in {origin} is too large to open safely (more than {max_pixels:,} pixels); "
        f"it could be a decompression bomb. Resize it first, or {LARGER_LIMIT_ADVICE}."
    )
    try:
        image = _open_and_decode(data, max_pixels, max_aspect_ratio)
    except _TooManyPixels as error:
        raise ImageLoadError(f"{too_large} {error}") from None
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageLoadError(too_large) from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(
            f"{origin} is not an image Pillow can read. Pass a PNG, JPEG, BMP, GIF, TIFF or WebP file."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(
            f"The image in {origin} is truncated or corrupt ({error}). Re-export or re-download the file."
        ) from error
    image = ImageOps.exif_transpose(image)  # rotate/flip as the camera recorded
    return _to_rgb(image)

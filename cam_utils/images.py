"""Photos to explain: samples that ship with installed packages, and safe loading of your own.

* :func:`sample_image` returns a photo from scikit-image or matplotlib (no download).
* :func:`load_image` opens a user's file (path, bytes or binary file object) and always
  returns an 8-bit RGB PIL image, or raises :class:`ImageLoadError` saying what is wrong.
"""

from __future__ import annotations

import numbers
import os
import threading
import warnings
from collections.abc import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from ._image_files import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_BYTES,
    ImageLoadError,
    ImageSource,
    check_max_bytes,
    high_depth_to_rgb,
    open_accepted,
    read_image_bytes,
    upright,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MAX_ASPECT_RATIO",
    "ImageLoadError",
    "ImageTooLargeError",
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


class ImageTooLargeError(ImageLoadError):
    """The image has more pixels than ``max_pixels`` (``value``): perhaps a decompression bomb."""

    def __init__(self, origin: str, max_pixels: int, size: str = "") -> None:
        super().__init__(
            f"The image in {origin} is too large to open safely (more than {max_pixels:,} pixels{size}); "
            "it could be a decompression bomb.",
            value=max_pixels,
            suggestion="Resize it first, or pass a larger max_pixels if you trust it.",
        )


# Pillow's decompression-bomb limit is a module global; load_image lifts it (to max_pixels) only
# while it opens a file, one call at a time.
_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_limit_while_lifted: list[int | None] = []  # the limit to restore, while a call has lifted it


def _reset_after_fork() -> None:
    """In a forked child (a DataLoader worker), no thread holds the lock: a held one would hang it forever."""
    global _PILLOW_LIMIT_LOCK
    _PILLOW_LIMIT_LOCK = threading.Lock()
    if _pillow_limit_while_lifted:  # the parent forked in the middle of a load: restore Pillow's limit
        Image.MAX_IMAGE_PIXELS = _pillow_limit_while_lifted.pop()


os.register_at_fork(after_in_child=_reset_after_fork)

# --- sample photos ----------------------------------------------------------------------


def _skimage_photo(function_name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import skimage.data

        return Image.fromarray(getattr(skimage.data, function_name)()).convert("RGB")

    return load


def _grace_hopper() -> Image.Image:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # a path: no open file to close
    with Image.open(path) as image:
        return image.convert("RGB")


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


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparent pixels are composited on white. 16- and 32-bit integer images are scaled
    from their full range (0..65535) to 0..255, not clipped; float images are scaled from
    0..1 if they lie there, otherwise from their own min..max (``_image_files.high_depth_to_rgb``).
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
        return high_depth_to_rgb(image)  # in strips of rows: bounded memory
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
    if (
        isinstance(max_aspect_ratio, bool)
        or not isinstance(max_aspect_ratio, numbers.Real)
        or not float(max_aspect_ratio) >= 1
    ):
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
                _pillow_limit_while_lifted.append(pillow_limit)
                Image.MAX_IMAGE_PIXELS = max_pixels  # restored below, also on error
            # Pillow warns above its limit: the check below refuses those images anyway, with their size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = open_accepted(data)  # the header only, and only ACCEPTED_FORMATS
            width, height = image.size
            if width * height > max_pixels:
                raise _TooManyPixels(f"; its size is {width} x {height}")
            check_aspect_ratio(image.size, max_aspect_ratio)
            image.load()  # decodes the pixels: truncated or corrupt data fails here
            return upright(image)  # the EXIF rotation: a corrupt EXIF block fails here too
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit
            _pillow_limit_while_lifted.clear()


def load_image(
    source: ImageSource,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect_ratio: float = MAX_ASPECT_RATIO,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Image.Image:
    """Open an image file safely and return it as an 8-bit RGB PIL image.

    The EXIF orientation is applied (photos from phones come out upright), and every
    colour mode (grayscale, palette, with transparency, CMYK, 16-bit, float) becomes 8-bit RGB.
    Only PNG, JPEG, GIF, BMP, TIFF and WebP files are opened (:data:`ACCEPTED_FORMATS`, checked by
    their first bytes before the rest is read); at most ``max_bytes`` are read; peak memory stays
    below about 12 bytes per pixel plus the file's size (``_image_files`` says how, the tests measure it).

    Args:
        source: a path (str or pathlib.Path), the file's bytes, or a binary file object.
        max_pixels: refuse images with more pixels (width x height) than this; see
            :data:`DEFAULT_MAX_PIXELS`. A larger value than Pillow's own limit is honoured:
            Pillow's limit is lifted to it while this call opens the file, then restored.
        max_aspect_ratio: refuse images whose long side is more than this many times the
            short side (:data:`MAX_ASPECT_RATIO`, 50): the models' resizing would not fit in memory.
        max_bytes: read at most this many bytes (:data:`DEFAULT_MAX_BYTES`, 256 MiB).

    Raises:
        ImageLoadError: missing file, empty file, not an image in an accepted format, a file larger
            than ``max_bytes``, truncated or corrupt data (EXIF included), NaN or infinite values, an
            image larger than ``max_pixels`` or more elongated than ``max_aspect_ratio``.
        TypeError: ``source`` is of an unsupported type.
        ValueError: ``max_pixels`` is not a positive integer, ``max_aspect_ratio`` below 1, or
            ``max_bytes`` below 16.
    """
    max_pixels = _check_max_pixels(max_pixels)
    max_aspect_ratio = _check_max_aspect_ratio(max_aspect_ratio)
    data, origin = read_image_bytes(source, check_max_bytes(max_bytes))
    try:
        image = _open_and_decode(data, max_pixels, max_aspect_ratio)
    except _TooManyPixels as error:
        raise ImageTooLargeError(origin, max_pixels, str(error)) from None
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(origin, max_pixels) from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(
            f"{origin} is not an image Pillow can read. Pass a PNG, JPEG, BMP, GIF, TIFF or WebP file."
        ) from error
    except MemoryError:
        raise ImageLoadError(f"Decoding the image in {origin} ran out of memory. Resize it first.") from None
    except Exception as error:  # corrupt data raises anything from Pillow's plugins
        raise ImageLoadError(
            f"The image in {origin} is truncated or corrupt ({type(error).__name__}: {error}). "
            "Re-export or re-download the file."
        ) from error
    try:
        return _to_rgb(image)
    except ImageLoadError:
        raise
    except Exception as error:  # a corrupt palette or colour profile fails here
        raise ImageLoadError(
            f"The image in {origin} could not be converted to RGB ({type(error).__name__}: "
            f"{error}). Re-export the file."
        ) from error

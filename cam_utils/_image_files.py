"""Reading an untrusted image file: bounded reads, an allow-list of formats, bounded memory.

What :func:`cam_utils.load_image` relies on, in the order a file meets it:

1. **Bounded read.** At most ``max_bytes`` are read (a path's size is checked before reading; a file
   object or stream is read in one bounded call, so ``/dev/zero`` cannot make it read forever).
2. **Header first.** The first bytes must be the signature of an accepted format before anything else is
   read: a 4 GB file that is not an image is refused after 16 bytes.
3. **Allow-list at Image.open.** Only :data:`ACCEPTED_FORMATS` are handed to Pillow's decoders. Pillow
   also knows formats that run other programs (EPS and PostScript go to Ghostscript), which must never
   see an upload.
4. **Any decoder failure is an ImageLoadError.** Corrupt data makes Pillow's plugins raise all kinds of
   exceptions (``SyntaxError`` from an EXIF block, ``struct.error``, ``IndexError``, ...); each becomes one
   clear error, the EXIF rotation included.
5. **Bounded memory.** 16-bit, 32-bit and float images are converted to 8 bits in strips of rows, never as
   one float64 copy. Peak memory, measured in the tests, stays below :data:`BYTES_PER_PIXEL_BOUND` bytes per
   pixel plus the file's size. Float images with NaN or infinite values are refused (they have no colour).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .errors import CamUtilsError

ImageSource = str | os.PathLike[str] | bytes | bytearray | BinaryIO

#: The formats :func:`cam_utils.load_image` opens (Pillow's names), and their file signatures.
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
HEADER_BYTES = 16

#: Largest file :func:`cam_utils.load_image` reads by default (256 MiB): a larger photo is not a photo.
DEFAULT_MAX_BYTES = 256 * 2**20

#: Peak memory of a load, in bytes per pixel of the image, on top of the file's own bytes: Pillow holds the
#: decoded image (4 bytes a pixel for RGB, which it stores as 32-bit pixels, and for float images; 2 for
#: 16-bit), the 8-bit gray copy (1) and the RGB result (4); the strips add a few megabytes. Measured on a
#: 16-megapixel image (tests/test_image_files.py): RGB 4.1, 16-bit 7.7, float 9.9 (the old float64
#: conversion: about 26).
BYTES_PER_PIXEL_BOUND = 12

#: Pixels converted at once when a 16-bit, 32-bit or float image becomes 8-bit (8 MB of float64 per strip).
_STRIP_PIXELS = 1 << 20


class ImageLoadError(CamUtilsError, ValueError):
    """The file could not be turned into an RGB image; the message says why and what to do."""


def check_max_bytes(max_bytes: object) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < HEADER_BYTES:
        raise ValueError(
            f"max_bytes must be an integer of at least {HEADER_BYTES} (the largest file to read), "
            f"got {max_bytes!r}. The default is {DEFAULT_MAX_BYTES:,} (256 MiB)."
        )
    return max_bytes


def sniff_format(header: bytes) -> str | None:
    """The accepted format whose signature starts ``header``, or None."""
    for signature, name in _SIGNATURES:
        if header.startswith(signature):
            return name
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "WEBP"
    return None


def _not_an_image(origin: str) -> ImageLoadError:
    return ImageLoadError(
        f"{origin} is not an image in an accepted format. Pass a "
        f"{', '.join(ACCEPTED_FORMATS[:-1])} or {ACCEPTED_FORMATS[-1]} file."
    )


def _too_big(origin: str, size: str, max_bytes: int) -> ImageLoadError:
    return ImageLoadError(
        f"{origin} is {size}, more than the {max_bytes:,} bytes load_image reads. Pass a "
        "smaller file, or a larger max_bytes if you trust it."
    )


def _read_bounded(stream: BinaryIO, origin: str, max_bytes: int) -> bytes:
    """Header first, then at most ``max_bytes`` in all."""
    header = stream.read(HEADER_BYTES)
    if isinstance(header, str):
        raise TypeError("The file object returned text, not bytes. Open the file in binary mode: open(path, 'rb').")
    if not header:
        raise ImageLoadError(f"{origin} is empty (0 bytes). Pass a complete image file (PNG, JPEG, ...).")
    if sniff_format(bytes(header)) is None:
        raise _not_an_image(origin)
    rest = stream.read(max_bytes - len(header) + 1)  # one byte more than allowed tells "too big"
    data = bytes(header) + bytes(rest)
    if len(data) > max_bytes:
        raise _too_big(origin, "larger than that", max_bytes)
    return data


def read_image_bytes(source: ImageSource, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes (an accepted format's signature checked first) and where they came from."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        origin = repr(str(path))
        if not path.exists():
            raise ImageLoadError(f"No file at {origin}. Check the path (relative paths start at {os.getcwd()!r}).")
        if not path.is_file():
            raise ImageLoadError(
                f"{origin} is not a regular file (a directory, a device or a pipe?). Pass the path of an image file."
            )
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(origin, f"{size:,} bytes", max_bytes)
        with path.open("rb") as stream:
            return _read_bounded(stream, origin, max_bytes), origin
    if isinstance(source, (bytes, bytearray, memoryview)):
        origin = "the given bytes"
        if len(source) > max_bytes:
            raise _too_big(origin, f"{len(source):,} bytes", max_bytes)
        return _read_bounded(io.BytesIO(source), origin, max_bytes), origin
    if hasattr(source, "read"):
        return _read_bounded(source, "the given file object", max_bytes), "the given file object"
    raise TypeError(
        f"load_image expects a path (str or pathlib.Path), bytes, or a binary file object; got {type(source).__name__}."
    )


def open_accepted(data: bytes) -> Image.Image:
    """Image.open restricted to :data:`ACCEPTED_FORMATS` (reads the header only)."""
    return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation in place (no copy when there is none)."""
    ImageOps.exif_transpose(image, in_place=True)
    return image


def _gray_scale(image: Image.Image) -> tuple[float, float]:
    """(offset, factor) that map the image's sample values to 0..255, read strip by strip."""
    mode = image.mode
    if mode.startswith("I;16"):
        return 0.0, 255.0 / 65535.0
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    low, high = np.inf, -np.inf
    for top in range(0, height, rows):
        strip = np.asarray(image.crop((0, top, width, min(height, top + rows))), dtype=np.float64)
        if not np.isfinite(strip).all():
            raise ImageLoadError(
                "The image holds NaN or infinite values, which have no colour. Replace them "
                "(e.g. numpy.nan_to_num) and save it again."
            )
        low, high = min(low, float(strip.min())), max(high, float(strip.max()))
    if mode == "I" and low >= 0 and high <= 65535:
        return 0.0, 255.0 / 65535.0  # 16-bit samples stored as 32-bit integers
    if mode == "F" and low >= 0 and high <= 1:
        return 0.0, 255.0
    return low, (255.0 / (high - low) if high > low else 0.0)


def high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float image as 8-bit RGB, converted in strips of rows.

    16-bit samples are scaled from their full range (0..65535), float images from 0..1 if they lie there,
    anything else from its own min..max; rounding to the nearest 8-bit value.
    """
    offset, factor = _gray_scale(image)
    width, height = image.size
    gray = np.empty((height, width), dtype=np.uint8)  # H x W
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = np.asarray(image.crop((0, top, width, bottom)), dtype=np.float64)
        gray[top:bottom] = np.clip(np.round((strip - offset) * factor), 0, 255)
    return Image.fromarray(gray).convert("RGB")

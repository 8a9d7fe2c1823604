"""Untrusted image files (issue 19): an allow-list of formats, bounded reads, bounded memory, clear errors.

Each test here failed before the loader was hardened: EPS reached Ghostscript, a non-image was read whole,
/dev/zero was read forever, 16-bit and float images went through float64 (26 bytes a pixel), a NaN made a
black picture, a corrupt EXIF block escaped as SyntaxError, and a fork during a load hung the child.
"""

from __future__ import annotations

import io
import os
import random
import stat
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from cam_utils import images
from cam_utils._image_files import ACCEPTED_FORMATS, BYTES_PER_PIXEL_BOUND, HEADER_BYTES
from cam_utils.images import ImageLoadError, load_image
from tests.helpers import held_by_another_thread, run_in_forked_child

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"


def _encoded(fmt: str, size: tuple[int, int] = (32, 24), **options) -> bytes:
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_eps_never_reaches_ghostscript(tmp_path, monkeypatch):
    marker = tmp_path / "gs-was-called"
    fake_gs = tmp_path / "bin" / "gs"
    fake_gs.parent.mkdir()
    fake_gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_gs.chmod(fake_gs.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake_gs.parent}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "drawing.eps"
    path.write_bytes(EPS)
    for source in (path, EPS, io.BytesIO(EPS)):
        with pytest.raises(ImageLoadError, match="not an image in an accepted format"):
            load_image(source)
    assert not marker.exists(), "Ghostscript was started for an EPS file"


def test_eps_in_the_command_line_is_one_line_error(tmp_path):
    path = tmp_path / "drawing.eps"
    path.write_bytes(EPS)
    result = subprocess.run(
        [sys.executable, "-m", "cam_utils", str(path), "-o", str(tmp_path / "out.png")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the exit status is the test's subject
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not an image in an accepted format" in result.stderr


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_every_accepted_format_loads(fmt):
    assert load_image(_encoded(fmt)).size == (32, 24)


def test_a_large_non_image_is_refused_after_its_header(tmp_path):
    class CountingStream(io.RawIOBase):
        def __init__(self) -> None:
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            size = 1 << 30 if size is None or size < 0 else size
            self.read_bytes += size
            return b"\x00" * size

    stream = CountingStream()
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(stream)
    assert stream.read_bytes == HEADER_BYTES, "only the header was read"


def test_dev_zero_is_refused_at_once():
    started = time.perf_counter()
    with open("/dev/zero", "rb") as stream, pytest.raises(ImageLoadError, match="not an image"):
        load_image(stream)
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image("/dev/zero")
    assert time.perf_counter() - started < 5


def test_a_file_over_max_bytes_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.png"
    with path.open("wb") as file:  # a sparse file: 3 GB that take no disk
        file.write(b"\x89PNG\r\n\x1a\n")
        file.truncate(3 * 2**30)
    with pytest.raises(ImageLoadError, match=r"more than the .* bytes load_image reads"):
        load_image(path)


def test_an_endless_stream_with_an_image_signature_stops_at_max_bytes():
    class EndlessPNG(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return b"\x89PNG\r\n\x1a\n" + b"\x00" * (size - 8) if size >= 8 else b"\x00" * size

    with pytest.raises(ImageLoadError, match="larger than that"):
        load_image(EndlessPNG(), max_bytes=2**20)


@pytest.mark.parametrize("bad", [0, 15, -1, 1.5, True, "1000"])
def test_max_bytes_is_validated(bad):
    with pytest.raises(ValueError, match="max_bytes"):
        load_image(_encoded("PNG"), max_bytes=bad)


@pytest.mark.parametrize("values", [[np.nan, 1.0], [np.inf, 0.5], [-np.inf, 0.5]], ids=["nan", "inf", "-inf"])
def test_float_images_with_non_finite_values_are_refused(values):
    array = np.array([values * 4] * 8, dtype=np.float32)  # 8 x 8
    buffer = io.BytesIO()
    Image.fromarray(array, mode="F").save(buffer, "TIFF")
    with pytest.raises(ImageLoadError, match="NaN or infinite"):
        load_image(buffer.getvalue())


def test_corrupt_exif_is_a_load_error_not_a_syntax_error():
    data = _encoded("WEBP", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's "Corrupt EXIF data" warning, as an error, is caught too
        with pytest.raises(ImageLoadError, match="truncated or corrupt"):
            load_image(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_image(data).size == (32, 24)  # warnings not errors: Pillow skips the bad EXIF


def test_fuzzed_files_load_or_give_image_load_error():
    """Seeded mutations of every accepted format: each loads, or raises ImageLoadError, and nothing else."""
    rng = random.Random(19)
    originals = [_encoded(fmt, size=(24, 16)) for fmt in ("PNG", "JPEG", "WEBP", "GIF", "TIFF")]
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(300):
        data = bytearray(originals[case % len(originals)])
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            position = rng.randrange(len(data))
            if kind < 0.6:
                data[position] = rng.randrange(256)
            elif kind < 0.8:
                del data[position : position + rng.randint(1, 16)]
            else:
                data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        try:
            load_image(bytes(data))
            outcomes["loaded"] += 1
        except ImageLoadError:
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes


# Linux: writing 5 to /proc/self/clear_refs resets the peak resident size (VmHWM) to the current one.
_MEASURE = textwrap.dedent("""
    import sys
    from cam_utils.images import load_image
    def status(field):
        with open("/proc/self/status") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith(field))
    path, pixels = sys.argv[1], int(sys.argv[2])
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")
    before = status("VmRSS:")
    rgb = load_image(path, max_pixels=pixels)
    print(rgb.mode, status("VmHWM:") - before)
""")


def _large_picture(kind: str, side: int) -> tuple[Image.Image, str]:
    ramp = np.arange(side, dtype=np.float32) / side  # a gradient: small files, every value used
    if kind == "uint16":
        return Image.fromarray(np.tile((ramp * 65535).astype(np.uint16), (side, 1))), "PNG"
    if kind == "float":
        return Image.fromarray(np.tile(ramp, (side, 1)), mode="F"), "TIFF"
    return Image.fromarray(np.tile((ramp * 255).astype(np.uint8), (side, 1))).convert("RGB"), "PNG"


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures peak memory through Linux /proc")
@pytest.mark.parametrize("kind", ["uint16", "float", "rgb"])
def test_peak_memory_stays_under_the_documented_bound(kind, tmp_path):
    """The bound of load_image's docstring: at most BYTES_PER_PIXEL_BOUND bytes a pixel above the file's size."""
    side = 4000  # 16 megapixels: the old float64 conversion needed about 26 bytes a pixel
    picture, fmt = _large_picture(kind, side)
    path = tmp_path / f"large.{fmt.lower()}"
    picture.save(path, fmt)
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(side * side)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    mode, grown = result.stdout.split()
    assert mode == "RGB"
    bytes_per_pixel = (int(grown) - path.stat().st_size) / side**2
    print(f"{kind}: {bytes_per_pixel:.1f} bytes a pixel above the file")
    assert bytes_per_pixel <= BYTES_PER_PIXEL_BOUND


def test_a_fork_during_a_load_does_not_hang_the_child():
    """A DataLoader worker forked while another thread holds the loader's lock must still load images."""
    data = _encoded("PNG")
    with held_by_another_thread(images._PILLOW_LIMIT_LOCK):
        exit_code = run_in_forked_child(lambda: load_image(data), seconds=20)
    assert exit_code is not None, "the forked child hung on the loader's lock"
    assert exit_code == 0

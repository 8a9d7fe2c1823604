"""What the browser tests share: Chromium, isolated Jupyter settings, servers, screenshots, layout probes.

Used by test_browser.py (the explorer in JupyterLab), test_voila_app.py (the explorer as a Voilà
app) and test_site.py (the course website). Chromium comes from Debian (``apt-get install -y
chromium``), because ``playwright install`` needs the internet. Without it the tests are skipped,
unless ``CAM_REQUIRE_BROWSER=1`` is set (CI): then they fail.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
KERNEL_NAME = "cam-tutorial"  # the kernel named in every notebook's metadata
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SERVER_START_TIMEOUT_S = 60
PICTURE_CHANGE_TIMEOUT_S = 15
# Mean absolute difference (0-255 scale) above which two screenshots count as different pixels.
MIN_PIXEL_CHANGE = 0.5
#: The smallest window the explorer must stay usable in, and the smallest slider track there.
NARROW_VIEWPORT = {"width": 1024, "height": 700}
MIN_TRACK_WIDTH_PX = 100


def require_chromium() -> Path:
    """Path of the Chromium binary; skip (or fail when CAM_REQUIRE_BROWSER=1) when it is missing."""
    if not CHROMIUM_PATH.exists():
        reason = f"Chromium not found at {CHROMIUM_PATH}: apt-get install -y chromium"
        if os.environ.get("CAM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (CAM_REQUIRE_BROWSER=1 makes this test required)")
        pytest.skip(reason)
    return CHROMIUM_PATH


def require_course_extra(module: str) -> None:
    """Skip when the "course" extra is missing; fail in CI (CI or CAM_REQUIRE_BROWSER=1 set)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        reason = f'{module} (the "course" extra) is not installed: .venv/bin/pip install -e ".[course]"'
        if os.environ.get("CI") or os.environ.get("CAM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_jupyter_env(home: Path) -> dict[str, str]:
    """Config, data, settings and runtime folders under `home`; returns the environment variables.

    The kernel spec `cam-tutorial` points at this very interpreter, so the test does not depend on
    a kernel registered by hand. News, update checks and the extension manager are switched off:
    they would try to reach the internet and open pop-ups over the notebook.
    """
    config_dir, data_dir = home / "config", home / "data"
    kernel_dir = data_dir / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (cam-tutorial)",
                "language": "python",
            }
        )
    )
    (config_dir / "labconfig").mkdir(parents=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps(
            {
                "disabledExtensions": {
                    "@jupyterlab/extensionmanager-extension": True,
                    "@jupyterlab/apputils-extension:announcements": True,
                }
            }
        )
    )
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                    "expose_app_in_browser": True,  # window.jupyterapp: run cells through Lab's own commands
                },
            }
        )
    )
    return {
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(data_dir),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLBACKEND": "Agg",
    }


def _answers(url: str) -> bool:
    """Whether `url` answers 200; a plain ``host:port`` only needs to accept a connection."""
    if "://" not in url:
        host, port = url.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path, what: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {process.returncode}; its log:\n{log_path.read_text()[-3000:]}"
            )
        if _answers(url):
            return
        time.sleep(0.3)
    raise RuntimeError(
        f"{what} did not answer {url} within {SERVER_START_TIMEOUT_S} s; its log:\n{log_path.read_text()[-3000:]}"
    )


@contextmanager
def running_server(command: list[str], env: dict[str, str], cwd: Path, ready_url: str, what: str) -> Iterator[None]:
    """Start a server process, wait until `ready_url` answers 200 (or, given as ``host:port``, accepts
    a connection), and always stop it afterwards."""
    log_path = cwd.parent / f"{what.lower().replace(' ', '-')}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        _wait_until_serving(ready_url, process, log_path, what)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def watch_page(page, allowed: Callable[[str], bool], where: Callable[[], str] = lambda: "") -> dict[str, list[str]]:
    """Watch a Playwright `page` from now on: its console errors and uncaught exceptions go to ``["console"]``; a
    request whose URL is not `allowed` (``data:`` and ``blob:`` URLs always are) is refused and goes to
    ``["outside"]``. Each entry starts with ``where()`` (e.g. the name of the page open)."""
    found: dict[str, list[str]] = {"console": [], "outside": []}
    page.on("console", lambda message: message.type == "error" and found["console"].append(f"{where()}{message.text}"))
    page.on("pageerror", lambda error: found["console"].append(f"{where()}uncaught {error}"))

    def refuse_outside(route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or allowed(url):
            route.continue_()
        else:
            found["outside"].append(f"{where()}{url}")
            route.abort()

    page.route("**/*", refuse_outside)
    return found


#: The explorer app and its Voilà settings and template (found through JUPYTER_PATH and JUPYTER_CONFIG_PATH).
APP = REPO_ROOT / "apps" / "explorer.ipynb"
APP_SETTINGS = REPO_ROOT / "apps" / "jupyter"
APP_LOAD_TIMEOUT_S = 120  # a kernel start, the model and the first map, on a busy 2-core machine


@contextmanager
def running_voila_app(home: Path) -> Iterator[int]:
    """The command of `make explorer` (bound to 127.0.0.1, its settings), without opening a browser: yields the port."""
    env = {**os.environ, **isolated_jupyter_env(home), "JUPYTER_PATH": str(APP_SETTINGS)}
    env["JUPYTER_CONFIG_PATH"] = str(APP_SETTINGS)
    port = free_port()
    command = [sys.executable, "-m", "voila", str(APP), "--Voila.ip=127.0.0.1", f"--port={port}", "--no-browser"]
    with running_server(command, env, home, f"127.0.0.1:{port}", "Voila"):
        yield port


def pixels(png_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"), dtype=np.float64)


def wait_for_new_pixels(take_screenshot: Callable[[], bytes], before: np.ndarray, what: str) -> np.ndarray:
    """Screenshots until the picture differs from `before`; fails after PICTURE_CHANGE_TIMEOUT_S."""
    deadline = time.monotonic() + PICTURE_CHANGE_TIMEOUT_S
    change = 0.0
    while time.monotonic() < deadline:
        after = pixels(take_screenshot())
        if after.shape != before.shape:
            return after
        change = float(np.abs(after - before).mean())
        if change > MIN_PIXEL_CHANGE:
            return after
        time.sleep(0.2)
    pytest.fail(
        f"the explorer's picture did not change within {PICTURE_CHANGE_TIMEOUT_S} s after {what} "
        f"(mean pixel change {change:.3f})"
    )


# JupyterLab draws only the cells near the viewport (its notebook is a windowed list; in some 4.x releases the
# other cells are `display: none`): bring the explorer's cell into view as a reader scrolling to it would.
_SCROLL_TO_EXPLORER_JS = """async () => {
    const notebook = window.jupyterapp && window.jupyterapp.shell.currentWidget
        && window.jupyterapp.shell.currentWidget.content;
    if (!notebook || !notebook.widgets) return -1;  // not JupyterLab (e.g. Voila): nothing to scroll
    const index = notebook.widgets.findIndex(cell => cell.node.querySelector('.cam-explorer'));
    if (index >= 0) await notebook.scrollToItem(index, 'start');
    return index;
}"""


def wait_for_picture(page) -> None:
    """Wait until the explorer's picture has loaded (a decoded image, not an empty element)."""
    page.wait_for_function("() => document.querySelector('img.cam-explorer-picture') !== null")
    page.evaluate(_SCROLL_TO_EXPLORER_JS)
    page.locator("img.cam-explorer-picture").wait_for(state="visible")
    page.wait_for_function(
        "() => { const img = document.querySelector('img.cam-explorer-picture');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )


# Geometry of the explorer's controls, read from the page (CSS pixels).
_LAYOUT_JS = """() => {
    const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                                                                      bottom: r.bottom, width: r.width}; };
    const label = cls => document.querySelector(`.cam-explorer .${cls} > .widget-label`);
    const upload = document.querySelector('.cam-explorer .cam-explorer-upload');
    const firstButton = document.querySelector('.cam-explorer .cam-explorer-method button');
    return {
        track: box(document.querySelector('.cam-explorer .cam-explorer-opacity .slider-container')),
        methodLabel: box(label('cam-explorer-method')),
        classLabel: box(label('cam-explorer-class')),
        layerLabel: box(label('cam-explorer-layer')),
        opacityLabel: box(label('cam-explorer-opacity')),
        firstButton: box(firstButton),
        uploadFontSize: getComputedStyle(upload).fontSize,
        uploadLabel: getComputedStyle(upload, '::after').content,
        uploadWidth: box(upload).width,
    };
}"""


def assert_explorer_usable(page, where: str) -> dict:
    """The layout checks of issue 11 at the current window size; returns the measured geometry.

    The opacity slider's track is at least MIN_TRACK_WIDTH_PX wide; the "Method" label is in the
    same right-aligned column as the other labels and level with the first row of buttons; the
    upload button reads "Upload your own" without a file count.
    """
    layout = page.evaluate(_LAYOUT_JS)
    assert layout["track"]["width"] >= MIN_TRACK_WIDTH_PX, f"{where}: opacity track {layout['track']['width']} px"
    for name in ("classLabel", "layerLabel", "opacityLabel"):
        assert abs(layout["methodLabel"]["right"] - layout[name]["right"]) <= 1.0, (
            f"{where}: Method label vs {name}: {layout}"
        )
    button_middle = (layout["firstButton"]["top"] + layout["firstButton"]["bottom"]) / 2
    assert layout["methodLabel"]["top"] <= button_middle <= layout["methodLabel"]["bottom"], (
        f"{where}: Method label height"
    )
    assert layout["uploadFontSize"] == "0px" and layout["uploadLabel"] == '"Upload your own"', where
    assert layout["uploadWidth"] > 60, f"{where}: the upload button is {layout['uploadWidth']} px wide"
    return layout

"""The explorer in a real browser: JupyterLab + headless Chromium, driven by Playwright.

The kernel-side tests (test_widgets.py) check that every control computes the right picture.
This test checks the part they cannot see: that the picture reaches the page and that a learner's
clicks and key presses reach the kernel. It

1. copies ``notebooks/`` to a temporary folder (so the committed notebooks are never modified),
2. starts JupyterLab from this Python environment on a free port with a random token, with
   settings, workspaces, kernels and runtime files in temporary folders,
3. opens notebook 06 in headless Chromium, runs all cells, waits for the explorer's picture,
4. moves the opacity slider and the layer slider with the keyboard and picks another class in the
   drop-down, and after each checks that the rendered pixels of the picture changed,
5. saves screenshots under ``artifacts/screenshots/`` (git-ignored) and always stops the server.

Chromium comes from Debian (``apt-get install -y chromium``), because ``playwright install``
needs the internet. Without it the test is skipped, unless ``CAM_REQUIRE_BROWSER=1`` is set (CI):
then it fails.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_NAME = "06_interactive_explorer.ipynb"
KERNEL_NAME = "cam-tutorial"  # the kernel named in every notebook's metadata
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SERVER_START_TIMEOUT_S = 60
NOTEBOOK_RUN_TIMEOUT_S = 60
PICTURE_CHANGE_TIMEOUT_S = 15
# Mean absolute difference (0-255 scale) above which two screenshots count as different pixels.
MIN_PIXEL_CHANGE = 0.5


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Path of the Chromium binary; skip (or fail when CAM_REQUIRE_BROWSER=1) when it is missing."""
    if not CHROMIUM_PATH.exists():
        reason = f"Chromium not found at {CHROMIUM_PATH}: apt-get install -y chromium"
        if os.environ.get("CAM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (CAM_REQUIRE_BROWSER=1 makes this test required)")
        pytest.skip(reason)
    return CHROMIUM_PATH


@dataclass
class LabServer:
    """A running JupyterLab: where to reach it, and the folder it serves."""

    base_url: str
    token: str
    root_dir: Path

    def notebook_url(self, name: str) -> str:
        # `reset` starts from an empty workspace: no restored tabs or panels.
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_isolated_jupyter_config(home: Path) -> dict[str, str]:
    """Config, data, settings and runtime folders under `home`; returns the environment variables.

    The kernel spec `cam-tutorial` points at this very interpreter, so the test does not depend on
    a kernel registered by hand. News, update checks and the extension manager are switched off:
    they would try to reach the internet and open pop-ups over the notebook.
    """
    config_dir, data_dir = home / "config", home / "data"
    kernel_dir = data_dir / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (cam-tutorial)",
        "language": "python",
    }))
    (config_dir / "labconfig").mkdir(parents=True)
    (config_dir / "labconfig" / "page_config.json").write_text(json.dumps({
        "disabledExtensions": {
            "@jupyterlab/extensionmanager-extension": True,
            "@jupyterlab/apputils-extension:announcements": True,
        }
    }))
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "extension_manager": "readonly",
            "expose_app_in_browser": True,  # window.jupyterapp: run cells through Lab's own commands
        },
    }))
    return {
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(data_dir),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLBACKEND": "Agg",
    }


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {process.returncode}; its log:\n{log_path.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"JupyterLab did not answer {url} within {SERVER_START_TIMEOUT_S} s; its log:\n"
        f"{log_path.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab serving a temporary copy of notebooks/; always stopped afterwards."""
    if not (NOTEBOOKS_DIR / NOTEBOOK_NAME).exists():
        pytest.fail(f"{NOTEBOOKS_DIR / NOTEBOOK_NAME} is missing: the browser test opens it")
    home = tmp_path_factory.mktemp("jupyter-home")
    root_dir = home / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = {**os.environ, **_write_isolated_jupyter_config(home)}
    port, token = _free_port(), secrets.token_hex(16)
    log_path = home / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root_dir)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_serving(f"{base_url}/api/status?token={token}", process, log_path)
        yield LabServer(base_url=base_url, token=token, root_dir=root_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _pixels(png_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"), dtype=np.float64)


def _wait_for_new_pixels(take_screenshot: Callable[[], bytes], before: np.ndarray, what: str) -> np.ndarray:
    """Screenshots until the picture differs from `before`; fails after PICTURE_CHANGE_TIMEOUT_S."""
    deadline = time.monotonic() + PICTURE_CHANGE_TIMEOUT_S
    change = 0.0
    while time.monotonic() < deadline:
        after = _pixels(take_screenshot())
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


# JavaScript run in the page. Lab exposes its app as window.jupyterapp (expose_app_in_browser).
_NOTEBOOK_READY_JS = """async () => {
    const app = window.jupyterapp;
    await app.started;
    await app.restored;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    return panel.sessionContext.session.kernel.name;
}"""
_RUN_ALL_JS = "async () => await window.jupyterapp.commands.execute('notebook:run-all-cells')"


def _evaluate_with_timeout(page, async_function: str, timeout_s: float, what: str):
    """Run an async JavaScript function in the page and return its result; fail after timeout_s.

    (page.evaluate itself would wait for ever on a promise that never settles, e.g. a dead kernel.)
    """
    page.evaluate(
        "() => { window.__camResult = undefined; window.__camError = undefined;"
        f" ({async_function})().then(r => {{ window.__camResult = {{value: r}}; }},"
        " e => { window.__camError = String(e); }); }"
    )
    try:
        page.wait_for_function(
            "() => window.__camResult !== undefined || window.__camError !== undefined", timeout=timeout_s * 1000
        )
    except Exception as error:  # Playwright's TimeoutError
        pytest.fail(f"{what} did not finish within {timeout_s} s ({error})")
    outcome = page.evaluate("() => [window.__camResult, window.__camError]")
    if outcome[1] is not None:
        pytest.fail(f"{what} failed in the page: {outcome[1]}")
    return outcome[0]["value"]


def test_explorer_in_jupyterlab_reacts_to_slider_and_class(chromium: Path, lab_server: LabServer) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def phase(name: str) -> None:  # printed: pytest shows it when the test fails, or with -s
        print(f"[browser test] {time.monotonic() - started:5.1f} s  {name}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(NOTEBOOK_RUN_TIMEOUT_S * 1000)
            page.goto(lab_server.notebook_url(NOTEBOOK_NAME))
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
            )
            kernel_name = _evaluate_with_timeout(
                page, _NOTEBOOK_READY_JS, SERVER_START_TIMEOUT_S, "opening the notebook and starting its kernel"
            )
            assert kernel_name == KERNEL_NAME
            phase("kernel ready")

            ran_without_error = _evaluate_with_timeout(page, _RUN_ALL_JS, NOTEBOOK_RUN_TIMEOUT_S, "Run All Cells")
            page.screenshot(path=str(SCREENSHOT_DIR / "explorer_0_after_run_all.png"), full_page=True)
            assert ran_without_error is True, "a cell of notebook 06 raised an error in JupyterLab"
            phase("all cells ran")

            picture = page.locator("img.cam-explorer-picture")
            picture.wait_for(state="visible")
            page.wait_for_function(
                "() => { const img = document.querySelector('img.cam-explorer-picture');"
                " return img && img.complete && img.naturalWidth > 0; }"
            )
            picture.scroll_into_view_if_needed()

            def take_screenshot() -> bytes:
                return picture.screenshot()

            first = _pixels(take_screenshot())
            phase("picture rendered")
            assert first.std() > 5.0, "the explorer's picture is blank"
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_1_initial.png"))

            # Opacity slider: focus its handle and move it with the keyboard, as a learner could.
            opacity_handle = page.locator(".cam-explorer-opacity .noUi-handle")
            opacity_handle.focus()
            for _ in range(6):
                opacity_handle.press("ArrowRight")  # 0.5 -> 0.8: the heatmap dominates the next screenshots
            after_opacity = _wait_for_new_pixels(take_screenshot, first, "moving the opacity slider")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_2_opacity.png"))
            phase("opacity slider moved, picture changed")

            # Layer slider: one step towards the shallow layers changes the map's resolution.
            layer_handle = page.locator(".cam-explorer-layer .noUi-handle")
            layer_handle.focus()
            layer_handle.press("ArrowLeft")
            after_layer = _wait_for_new_pixels(take_screenshot, after_opacity, "moving the layer slider")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_3_layer.png"))
            phase("layer slider moved, picture changed")

            # Class drop-down: pick the second most likely class.
            page.locator(".cam-explorer-class select").select_option(index=1)
            _wait_for_new_pixels(take_screenshot, after_layer, "picking another class")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_4_class.png"))
            phase("class picked, picture changed")
            page.screenshot(path=str(SCREENSHOT_DIR / "explorer_5_page.png"), full_page=True)
        finally:
            browser.close()

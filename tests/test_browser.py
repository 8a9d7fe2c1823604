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
5. narrows the window to 1024 x 700 and checks that the explorer stays usable: the opacity slider's
   track at least 100 px wide, the "Method" label in line with the others, no file count on the
   upload button (``browser.assert_explorer_usable``);
6. saves screenshots under ``artifacts/screenshots/`` (git-ignored) and always stops the server.

Before running the cells it also checks what a saved notebook shows in place of the widget: the
explorer's still picture and the sentence "run this notebook to use the explorer", not
``Explorer(children=(VBox(...``.

Chromium comes from Debian (``apt-get install -y chromium``), because ``playwright install``
needs the internet. Without it the test is skipped, unless ``CAM_REQUIRE_BROWSER=1`` is set (CI):
then it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser import (
    CHROMIUM_ARGS,
    KERNEL_NAME,
    NARROW_VIEWPORT,
    REPO_ROOT,
    SCREENSHOT_DIR,
    SERVER_START_TIMEOUT_S,
    assert_explorer_usable,
    free_port,
    isolated_jupyter_env,
    pixels,
    require_chromium,
    running_server,
    wait_for_new_pixels,
    wait_for_picture,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_NAME = "06_interactive_explorer.ipynb"
NOTEBOOK_RUN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_chromium()


@dataclass
class LabServer:
    """A running JupyterLab: where to reach it, and the folder it serves."""

    base_url: str
    token: str
    root_dir: Path

    def notebook_url(self, name: str) -> str:
        # `reset` starts from an empty workspace: no restored tabs or panels.
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab serving a temporary copy of notebooks/; always stopped afterwards."""
    if not (NOTEBOOKS_DIR / NOTEBOOK_NAME).exists():
        pytest.fail(f"{NOTEBOOKS_DIR / NOTEBOOK_NAME} is missing: the browser test opens it")
    home = tmp_path_factory.mktemp("jupyter-home")
    root_dir = home / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = {**os.environ, **isolated_jupyter_env(home)}
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with running_server(command, env, root_dir, f"{base_url}/api/status?token={token}", "JupyterLab"):
        yield LabServer(base_url=base_url, token=token, root_dir=root_dir)


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
    except Exception as error:  # noqa: BLE001 - Playwright's TimeoutError, or the page closing
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

            # Before the cells run: the saved output of the explorer cell reads as a still and a sentence.
            saved = page.locator(".jp-OutputArea-output", has_text="run this notebook to use the explorer")
            saved.first.wait_for(state="attached")
            assert "Explorer(children" not in page.locator(".jp-Notebook").inner_text()
            phase("saved output: the still picture and its sentence")

            ran_without_error = _evaluate_with_timeout(page, _RUN_ALL_JS, NOTEBOOK_RUN_TIMEOUT_S, "Run All Cells")
            page.screenshot(path=str(SCREENSHOT_DIR / "explorer_0_after_run_all.png"), full_page=True)
            assert ran_without_error is True, "a cell of notebook 06 raised an error in JupyterLab"
            phase("all cells ran")

            wait_for_picture(page)
            picture = page.locator("img.cam-explorer-picture")
            picture.scroll_into_view_if_needed()

            def take_screenshot() -> bytes:
                return picture.screenshot()

            first = pixels(take_screenshot())
            phase("picture rendered")
            assert first.std() > 5.0, "the explorer's picture is blank"
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_1_initial.png"))

            # Opacity slider: focus its handle and move it with the keyboard, as a learner could.
            opacity_handle = page.locator(".cam-explorer-opacity .noUi-handle")
            opacity_handle.focus()
            for _ in range(6):
                opacity_handle.press("ArrowRight")  # 0.5 -> 0.8: the heatmap dominates the next screenshots
            after_opacity = wait_for_new_pixels(take_screenshot, first, "moving the opacity slider")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_2_opacity.png"))
            phase("opacity slider moved, picture changed")

            # Layer slider: one step towards the shallow layers changes the map's resolution.
            layer_handle = page.locator(".cam-explorer-layer .noUi-handle")
            layer_handle.focus()
            layer_handle.press("ArrowLeft")
            after_layer = wait_for_new_pixels(take_screenshot, after_opacity, "moving the layer slider")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_3_layer.png"))
            phase("layer slider moved, picture changed")

            # Class drop-down: pick the second most likely class.
            page.locator(".cam-explorer-class select").select_option(index=1)
            wait_for_new_pixels(take_screenshot, after_layer, "picking another class")
            picture.screenshot(path=str(SCREENSHOT_DIR / "explorer_4_class.png"))
            phase("class picked, picture changed")
            page.screenshot(path=str(SCREENSHOT_DIR / "explorer_5_page.png"), full_page=True)

            # A 1024 px wide window: the controls wrap, every one keeps a usable width.
            page.set_viewport_size(NARROW_VIEWPORT)
            page.locator(".cam-explorer").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)  # Lab re-lays out the notebook after the resize
            layout = assert_explorer_usable(page, "JupyterLab at 1024 x 700")
            page.locator(".cam-explorer").first.screenshot(path=str(SCREENSHOT_DIR / "explorer_6_narrow.png"))
            phase(f"usable at 1024 x 700 (opacity track {layout['track']['width']:.0f} px)")
        finally:
            browser.close()

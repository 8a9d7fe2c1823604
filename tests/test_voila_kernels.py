"""Kernels of closed pages go away in the Voilà app (``make explorer``): a presenter can reload freely.

Each page view starts a kernel of ~820 MiB. Two settings in apps/jupyter/voila.json free it:

* XSRF protection stays on. Voilà's page sends a shutdown beacon when it is left, a POST without an ``_xsrf``
  cookie (the page never sets one), which the server refuses (403); accepting it would mean switching off the
  server's check against cross-site requests, and any web page open in the same browser may POST to 127.0.0.1;
* so every kernel whose page is gone (left, reloaded, a killed tab, a laptop shut) loses its websocket and is culled
  after ``cull_idle_timeout`` seconds without activity; a page still open keeps its kernel
  (``cull_connected`` false).

Standalone Voilà has no ``GET /api/kernels`` list, so the test asks ``GET /api/kernels/<id>`` about
each page's kernel (its id read from the page's websocket) and counts the kernel processes too.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.browser import (
    APP_LOAD_TIMEOUT_S,
    APP_SETTINGS,
    CHROMIUM_ARGS,
    require_chromium,
    require_course_extra,
    running_voila_app,
    wait_for_picture,
)

pytestmark = [pytest.mark.browser, pytest.mark.course, pytest.mark.slow]


def _settings() -> dict:
    return json.loads((APP_SETTINGS / "voila.json").read_text(encoding="utf-8"))


def _kernel_alive(port: int, kernel_id: str) -> bool:
    """The server's REST API: 200 for a running kernel, 404 once it is shut down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernels/{kernel_id}", timeout=5) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def _kernel_processes() -> tuple[int, float]:
    """Kernels started under this test (children of the Voilà server): their number and RSS in MiB."""
    kernels = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(process.cmdline()):
                kernels.append(process.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return len(kernels), sum(kernels) / 2**20


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(2)
    return condition()


def test_closed_pages_leave_at_most_one_kernel(tmp_path: Path) -> None:
    require_course_extra("voila")
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    culling = _settings()["MappingKernelManager"]
    cull_bound_s = culling["cull_idle_timeout"] + 2 * culling["cull_interval"] + 30
    home = tmp_path / "jupyter-home"
    home.mkdir()
    with running_voila_app(home) as port:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
            try:
                kernel_ids: list[str] = []
                for visit in range(3):
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.set_default_timeout(APP_LOAD_TIMEOUT_S * 1000)
                    sockets: list[str] = []
                    page.on("websocket", lambda socket, found=sockets: found.append(socket.url))
                    page.goto(f"http://127.0.0.1:{port}/")
                    wait_for_picture(page)
                    ids = {m.group(1) for url in sockets if (m := re.search(r"/api/kernels/([0-9a-f-]{36})", url))}
                    assert len(ids) == 1, f"visit {visit}: expected one kernel websocket, saw {sockets}"
                    kernel_ids.extend(ids)
                    assert _kernel_alive(port, kernel_ids[-1]), f"visit {visit}: the page's kernel is not running"
                    count, rss = _kernel_processes()
                    print(f"[kernels] visit {visit} open: {count} kernel(s), {rss:.0f} MiB")
                    if visit == 0:  # a reload or another address
                        page.goto("about:blank")
                        page.close()
                    else:  # a tab closed without its unload handlers
                        page.close(run_before_unload=False)
                started = time.monotonic()
                gone = _wait_until(
                    lambda: sum(_kernel_alive(port, k) for k in kernel_ids) <= 1 and _kernel_processes()[0] <= 1,
                    cull_bound_s,
                )
                alive = [k for k in kernel_ids if _kernel_alive(port, k)]
                count, rss = _kernel_processes()
                print(
                    f"[kernels] {time.monotonic() - started:.0f} s after the last close: {len(alive)} of "
                    f"{len(kernel_ids)} kernels answer, {count} kernel process(es), {rss:.0f} MiB"
                )
                assert gone, f"{len(alive)} kernels of closed pages still run after {cull_bound_s} s: {alive}"
            finally:
                browser.close()


def test_app_settings_free_the_kernels_of_closed_pages() -> None:
    """The settings the test above relies on, read as `make explorer` reads them."""
    settings = _settings()
    culling = settings["MappingKernelManager"]
    assert 0 < culling["cull_idle_timeout"] <= 120 and 0 < culling["cull_interval"] <= 30, culling
    assert culling["cull_connected"] is False, "an open page (a connected kernel) must keep its kernel"
    tornado = settings.get("Voila", {}).get("tornado_settings", {})
    assert not tornado.get("disable_check_xsrf", False), "the check against cross-site requests stays on"
    # A pre-heated kernel would be culled too (Voila 0.5 does not refill the pool): none is kept.
    assert not settings["VoilaConfiguration"].get("preheat_kernel", False)

"""The explorer as a Voilà app (``make explorer``): no code visible, the same controls, it reacts.

Voilà serves apps/explorer.ipynb on 127.0.0.1 (a free port, settings and kernel spec in a temporary
folder, as in test_browser.py); headless Chromium opens it and checks that

* the explorer's picture appears and no source code is shown;
* picking another class in the drop-down changes the rendered picture;
* at 1024 x 700 the explorer stays usable (``browser.assert_explorer_usable``);
* the page logs no JavaScript error (no labextension that cannot run inside Voilà, e.g. nbgrader's) and
  asks for nothing outside 127.0.0.1 (no Font Awesome from a CDN): the settings of ``make explorer``,
  apps/jupyter (voila.json and the "cam-explorer" page template), do both.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.browser import (
    APP_LOAD_TIMEOUT_S,
    APP_SETTINGS,
    CHROMIUM_ARGS,
    NARROW_VIEWPORT,
    REPO_ROOT,
    SCREENSHOT_DIR,
    assert_explorer_usable,
    pixels,
    require_chromium,
    require_course_extra,
    running_voila_app,
    wait_for_new_pixels,
    wait_for_picture,
    watch_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.course, pytest.mark.slow]


def test_voila_app_shows_the_explorer_without_code_and_reacts(tmp_path: Path) -> None:
    require_course_extra("voila")
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "jupyter-home"
    home.mkdir()
    started = time.monotonic()
    with running_voila_app(home) as port:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(APP_LOAD_TIMEOUT_S * 1000)
                # the app runs offline: only this computer's server
                found = watch_page(page, lambda url: bool(re.match(rf"(http|ws)://127\.0\.0\.1:{port}/", url)))
                page.goto(f"http://127.0.0.1:{port}/")
                wait_for_picture(page)
                print(f"[voila] picture shown after {time.monotonic() - started:.1f} s")
                text = page.locator("body").inner_text()
                assert "Where does the network look?" in text
                assert "from cam_utils import explore" not in text and "explore(" not in text  # no code shown

                picture = page.locator("img.cam-explorer-picture")
                picture.scroll_into_view_if_needed()
                first = pixels(picture.screenshot())
                assert first.std() > 5.0, "the app's picture is blank"
                page.locator(".cam-explorer-class select").select_option(index=1)
                wait_for_new_pixels(picture.screenshot, first, "picking another class in the app")
                page.screenshot(path=str(SCREENSHOT_DIR / "voila_app.png"), full_page=True)

                page.set_viewport_size(NARROW_VIEWPORT)
                page.wait_for_timeout(300)
                layout = assert_explorer_usable(page, "Voila at 1024 x 700")
                page.screenshot(path=str(SCREENSHOT_DIR / "voila_app_narrow.png"))
                print(f"[voila] usable at 1024 x 700 (opacity track {layout['track']['width']:.0f} px)")
                icon_font = page.evaluate(
                    "() => { const i = document.createElement('i'); i.className = 'fa fa-upload';"
                    " document.body.appendChild(i); return getComputedStyle(i).fontFamily; }"
                )
                assert "Font Awesome" in icon_font, f"the widgets' icons have no font: {icon_font}"
            finally:
                browser.close()
    assert not found["outside"], f"the app asked for resources outside 127.0.0.1: {found['outside']}"
    assert not found["console"], f"JavaScript errors in the app: {found['console']}"


def test_make_explorer_runs_voila_with_the_app_settings() -> None:
    """`make explorer` points Voilà at apps/jupyter, whose voila.json picks the offline template and
    leaves out the JupyterLab extensions that cannot run inside Voilà."""
    recipe = re.search(
        r"^explorer:.*\n((?:\t.*\n?)+)", (REPO_ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert recipe, "no explorer target in the Makefile"
    # the recipe's line that starts Voila (an @echo of the presenter address comes before it)
    command = next((line for line in recipe.group(1).splitlines() if "/voila " in line), "")
    assert "apps/explorer.ipynb" in command, recipe.group(1)
    for variable in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        assert f'{variable}="$(CURDIR)/apps/jupyter"' in command, command
    settings = json.loads((APP_SETTINGS / "voila.json").read_text(encoding="utf-8"))["VoilaConfiguration"]
    template = APP_SETTINGS / "voila" / "templates" / settings["template"]
    assert (template / "index.html.j2").is_file() and (template / "conf.json").is_file()
    assert "@jupyter/nbgrader" in settings["extension_denylist"]

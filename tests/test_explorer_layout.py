"""The explorer app's layout in the rooms it is used in (issue 22): a laptop, a projector, a phone.

One Voilà app (``make explorer``'s command) for the whole module, opened in headless Chromium at
1024 x 700, 1280 x 720, 1920 x 1080 and 390 x 844, plain and in presenter mode (``?presenter=1``).
At every size the picture and the readout (class, probability, method, layer) lie inside the window, the
colour bar stands beside the picture as tall as it, and nothing scrolls sideways; on the wide screens the
picture fills the height left under the title or takes a large share of the width; presenter mode makes
the labels larger. Screenshots go to artifacts/screenshots/layout-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import (
    APP_LOAD_TIMEOUT_S,
    CHROMIUM_ARGS,
    SCREENSHOT_DIR,
    require_chromium,
    require_course_extra,
    running_voila_app,
    wait_for_picture,
)

pytestmark = [pytest.mark.browser, pytest.mark.course, pytest.mark.slow]

SIZES = [(1024, 700), (1280, 720), (1920, 1080), (390, 844)]
#: On screens at least this wide the side (readout, controls) is beside the picture, not under it.
WIDE_PX = 1000

_MEASURE_JS = """() => {
    const box = selector => { const r = document.querySelector(selector).getBoundingClientRect();
                              return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const label = document.querySelector('.cam-explorer .cam-explorer-class > .widget-label');
    return {picture: box('img.cam-explorer-picture'), readout: box('.cam-explorer-readout'),
            colourBar: box('.cam-explorer-colorbar'), readoutText: document.querySelector('.cam-explorer-readout').innerText,
            colourBarText: document.querySelector('.cam-explorer-colorbar').innerText,
            scrollWidth: document.documentElement.scrollWidth, labelFontPx: parseFloat(getComputedStyle(label).fontSize),
            clipped: [...document.querySelectorAll('.cam-explorer-layer .widget-readout, .cam-colorbar-caption')]
                .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
                .map(e => `${e.className}: ${e.innerText}`)};
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_course_extra("voila")
    require_chromium()
    home = tmp_path_factory.mktemp("layout") / "jupyter-home"
    home.mkdir()
    with running_voila_app(home) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def measurements(app_url: str) -> dict[tuple[str, int, int], dict]:
    """Geometry of the app at every size, plain and in presenter mode (one page each, resized)."""
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    found: dict[tuple[str, int, int], dict] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(require_chromium()), args=CHROMIUM_ARGS)
        try:
            for mode, query in [("plain", ""), ("presenter", "?presenter=1")]:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.set_default_timeout(APP_LOAD_TIMEOUT_S * 1000)
                page.goto(app_url + query)
                wait_for_picture(page)
                for width, height in SIZES:
                    page.set_viewport_size({"width": width, "height": height})
                    page.wait_for_timeout(300)
                    page.screenshot(path=str(SCREENSHOT_DIR / f"layout-{mode}-{width}x{height}.png"))
                    found[mode, width, height] = page.evaluate(_MEASURE_JS)
                page.close()
        finally:
            browser.close()
    return found


def _inside(box: dict, width: int, height: int) -> bool:
    return box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width + 0.5 and box["bottom"] <= height + 0.5


@pytest.mark.parametrize("mode", ["plain", "presenter"])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_picture_readout_and_colour_bar_are_on_screen(measurements, mode: str, width: int, height: int) -> None:
    seen = measurements[mode, width, height]
    where = f"{mode} at {width} x {height}: {seen}"
    assert _inside(seen["picture"], width, height), f"the picture is cut off, {where}"
    assert _inside(seen["readout"], width, height), f"the readout is off screen, {where}"
    for part in ("Egyptian cat", "p = 0.", "Grad-CAM", "bn2"):
        assert part in seen["readoutText"], where
    assert seen["scrollWidth"] <= width, f"the page scrolls sideways, {where}"
    # the layer slider's "bn2 (7×7)" and the colour bar's caption are read whole, not clipped
    assert not seen["clipped"], f"text cut off: {seen['clipped']}, {where}"
    picture, bar = seen["picture"], seen["colourBar"]
    assert picture["right"] <= bar["left"] and bar["left"] - picture["right"] < 40, f"no colour bar beside it, {where}"
    assert abs(bar["top"] - picture["top"]) <= 4 and abs(bar["bottom"] - picture["bottom"]) <= 4, where
    assert "low → high" in seen["colourBarText"] and "0.651" in seen["colourBarText"], where
    side_beside = seen["readout"]["left"] >= bar["right"]
    assert side_beside is (width >= WIDE_PX), (
        f"the controls should be {'beside' if width >= WIDE_PX else 'under'} the picture, {where}"
    )


@pytest.mark.parametrize(("width", "height"), [(1024, 700), (1280, 720), (1920, 1080)])
def test_the_picture_fills_the_window_on_wide_screens(measurements, width: int, height: int) -> None:
    picture = measurements["plain", width, height]["picture"]
    side = picture["right"] - picture["left"]
    fills_height = height - picture["bottom"] <= 40  # down to the window's bottom edge, less a margin
    assert fills_height or side >= 0.4 * width, f"{width} x {height}: picture {side:.0f} px, {picture}"
    if width == 1920:
        assert side >= 0.4 * width, f"on a projector the picture is {side / width:.0%} of the width"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_presenter_mode_makes_the_labels_larger(measurements, width: int, height: int) -> None:
    plain = measurements["plain", width, height]["labelFontPx"]
    presenter = measurements["presenter", width, height]["labelFontPx"]
    assert presenter >= 1.35 * plain, f"{width} x {height}: labels {plain} px, in presenter mode {presenter} px"

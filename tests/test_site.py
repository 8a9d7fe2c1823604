"""The course website (``make site``): built from the committed notebooks, read from disk in Chromium.

The site is built once, as ``make site`` builds it (Sphinx with warnings as errors, notebooks not
executed, docs/site/conf.py), into a temporary folder. Then headless Chromium opens it through
``file://`` URLs, with every request outside the site's folder refused and recorded (the site must
work offline: no CDN), and checks

* the landing page is the README, reached from index.html;
* following "next" from the landing page visits every notebook, in the order of the file names,
  then the instructor guide, the answers page and the API reference;
* every chapter page shows its figures (each image loaded, natural width > 0, at least as many
  images as the notebook has picture outputs) and rendered math (MathJax ran; no ``$…$`` and no
  TeX command such as ``\\alpha`` left in the text);
* notebook 06's explorer appears as its still picture and the sentence "run this notebook to use
  the explorer", not as a broken widget; the page's download button gives the notebook itself;
* the search page finds "Grad-CAM".
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.browser import (
    CHROMIUM_ARGS,
    REPO_ROOT,
    SCREENSHOT_DIR,
    require_chromium,
    require_course_extra,
    watch_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.course, pytest.mark.slow]

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def _guides() -> list[str]:
    """The pages after the notebooks, in their order: AFTER_THE_NOTEBOOKS of docs/site/conf.py."""
    tree = ast.parse((REPO_ROOT / "docs" / "site" / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "AFTER_THE_NOTEBOOKS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("docs/site/conf.py has no AFTER_THE_NOTEBOOKS list")


GUIDES = _guides()
RAW_MATH = re.compile(r"\$[^$\n]{1,80}\$|\\(alpha|sum|frac|partial|mathrm|operatorname|times|cdot)\b")
MATHJAX_TIMEOUT_MS = 60_000
_BUILT: list[Path] = []  # the site, built once per test session (test_site_browser.py imports the fixture)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site (its html folder), made with the command of `make site`; built once, shared with
    test_site_browser.py."""
    require_course_extra("sphinx")
    require_course_extra("myst_nb")
    if _BUILT:
        return _BUILT[0]
    build = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-c",
            "docs/site",
            "-d",
            str(build / "doctrees"),
            ".",
            str(build / "html"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,  # the assert below shows Sphinx's warnings
    )
    assert result.returncode == 0, f"the site does not build without warnings:\n{result.stderr[-4000:]}"
    print(f"[site] built in {time.perf_counter() - started:.1f} s")
    _BUILT.append(build / "html")
    return _BUILT[0]


def _picture_outputs(notebook_path: Path) -> int:
    """How many outputs of the notebook are pictures (PNG, JPEG, or HTML holding an <img>)."""
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    count = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = "".join(data.get("text/html", []))
            count += bool({"image/png", "image/jpeg"} & set(data) or "<img" in html)
    return count


def _check_cell_lines(path: Path) -> list[str]:
    """One distinctive line of each check cell (tag ``check``): the site removes these cells."""
    notebook = nbformat.read(path, as_version=4)
    lines = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            candidates = [line.strip() for line in cell.source.splitlines() if "claims" in line]
            if candidates:
                lines.append(max(candidates, key=len))
    return lines


_WAIT_FOR_MATHJAX_JS = """async () => {
    if (!window.MathJax || !MathJax.startup) return 0;
    await MathJax.startup.promise;
    return document.querySelectorAll('mjx-container').length;
}"""
# The page's prose: the article without code, outputs printed as text, scripts and rendered math.
_PROSE_JS = """() => {
    const copy = document.querySelector('article').cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_output .output.text_plain, .output.stream')
        .forEach(e => e.remove());
    return copy.innerText;
}"""
_IMAGES_JS = """() => Array.from(document.querySelectorAll('article img')).map(
    img => ({src: img.getAttribute('src').slice(0, 60), complete: img.complete, width: img.naturalWidth}))"""


def test_site_opens_from_disk_with_every_chapter_figure_and_formula(site: Path) -> None:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(MATHJAX_TIMEOUT_MS)
            # offline: nothing may come from outside the site
            outside = watch_page(page, lambda url: url.startswith("file://") and str(site) in url)["outside"]
            page.goto((site / "index.html").as_uri())
            page.wait_for_url("**/README.html")
            assert "Where does the network look?" in page.title()

            # Navigation: "next" from the landing page through every chapter, then the guides.
            visited = []
            while page.locator("a.right-next").count():
                page.locator("a.right-next").first.click()
                page.wait_for_load_state("load")
                visited.append(page.url.split("/html/", 1)[1].removesuffix(".html"))
            chapters = [f"notebooks/{path.stem}" for path in NOTEBOOKS]
            assert visited[: len(chapters)] == chapters, visited
            assert visited[len(chapters) : len(chapters) + len(GUIDES)] == GUIDES, visited

            for path, chapter in zip(NOTEBOOKS, chapters, strict=True):
                page.goto((site / f"{chapter}.html").as_uri())
                formulas = page.evaluate(_WAIT_FOR_MATHJAX_JS)
                prose = page.evaluate(_PROSE_JS)
                assert not RAW_MATH.findall(prose), f"{chapter}: math left as TeX: {RAW_MATH.findall(prose)[:5]}"
                if "$" in path.read_text(encoding="utf-8"):
                    assert formulas > 0, f"{chapter}: MathJax typeset nothing"
                page.wait_for_function(
                    "() => Array.from(document.querySelectorAll('article img')).every(i => i.complete)"
                )
                images = page.evaluate(_IMAGES_JS)
                broken = [image for image in images if image["width"] == 0]
                assert not broken, f"{chapter}: images that did not load: {broken}"
                assert len(images) >= _picture_outputs(path), f"{chapter}: {len(images)} images shown"
                code_shown = page.evaluate(
                    "() => Array.from(document.querySelectorAll('article pre')).map(e => e.innerText).join('\\n')"
                )
                shown_checks = [line for line in _check_cell_lines(path) if line in code_shown]
                assert not shown_checks, f"{chapter}: check cells shown on the site: {shown_checks[:3]}"
                print(f"[site] {chapter}: {len(images)} images, {formulas} formulas")

            # Notebook 06: the explorer's still picture and its sentence, not a broken widget.
            page.goto((site / "notebooks/06_interactive_explorer.html").as_uri())
            still = page.locator(".cam-explorer-still")
            assert still.count() == 1 and "run this notebook to use the explorer" in still.inner_text()
            assert page.evaluate("() => document.querySelector('.cam-explorer-still img').naturalWidth") > 0
            assert "Explorer(children" not in page.locator("article").inner_text()
            assert page.locator("script[type='application/vnd.jupyter.widget-state+json']").count() == 0
            still.screenshot(path=str(SCREENSHOT_DIR / "site_explorer_still.png"))
            download = page.locator("a.btn-download-source-button").get_attribute("href")
            downloaded = (site / "notebooks" / download).resolve()
            assert (
                downloaded.suffix == ".ipynb"
                and downloaded.read_bytes() == (REPO_ROOT / "notebooks" / downloaded.name).read_bytes()
            )

            # Search.
            page.goto((site / "search.html").as_uri() + "?q=Grad-CAM")
            results = page.locator("#search-results a")
            results.first.wait_for()
            found = {link.get_attribute("href").split("#")[0].split("?")[0] for link in results.all()}
            assert "notebooks/04_grad_cam_step_by_step.html" in found, found
        finally:
            browser.close()
    assert not outside, f"the site asked for resources outside itself: {outside[:5]}"

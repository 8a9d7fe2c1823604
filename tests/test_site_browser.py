"""Every page of the course website, as a visitor on a laptop and on a phone meets it (issue 22).

The site is the one test_site.py builds (``make site``, shared fixture). Headless Chromium opens each
HTML page from disk at 1280 px and at 390 px wide (a phone), with every request that is not a file
of the site refused, and checks on every page:

* no console error and no uncaught exception (e.g. the theme's "invalid theme mode", the search page's
  blocked fetches);
* no request outside the site's folder (no CDN, no web font: the site works offline);
* at 390 px, no sideways scroll: the page is no wider than the window (long links, inline code and
  signatures wrap; a wide equation scrolls inside its own box, which says so);
* no formula left as plain text: no "Σ", "∂", "w_k^c" and the like outside typeset math (MathJax's
  ``mjx-container``) and code; and no formula MathJax could not read (an error box);
* at 390 px, a picture shown at less than 80 % of its own width (a diagram) opens full size on a tap,
  and a display formula wider than the column has the hint that it scrolls under it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import CHROMIUM_ARGS, require_chromium, watch_page
from tests.test_site import MATHJAX_TIMEOUT_MS, site  # noqa: F401  (the built site, a fixture shared with test_site)

pytestmark = [pytest.mark.browser, pytest.mark.course, pytest.mark.slow]

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
#: Sphinx's own pages with no prose of ours: checked for errors, requests and width, not for formulas.
GENERATED = {"genindex.html", "py-modindex.html", "search.html"}
#: A formula written as plain text: a summation or partial sign, or a letter with a sub- or superscript
#: written as ``_x`` / ``^x`` (w_k^c, A^k, y^c), outside code and typeset math.
PLAIN_FORMULA = re.compile(
    r"[Σ∑∂]|(?<![\w/.-])[A-Za-zα-ω]{1,2}(?:_\{?[\w,]{1,3}\}?)?\^\{?\w{1,3}\b|\b[A-Za-zα-ω]_\{?\w{1,2}\}?\b"
)

# The page's visible prose: the text without code, program outputs, scripts and typeset math.
_PROSE_JS = """() => {
    const root = (document.querySelector('article') || document.body).cloneNode(true);
    root.querySelectorAll('pre, code, kbd, script, style, mjx-container, .output, .cell_output, '
                          + '.sig, .highlight, .headerlink').forEach(e => e.remove());
    return root.innerText;
}"""
# Elements wider than the window, outermost first: what makes the page scroll sideways.
_OVERFLOW_JS = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === "auto" || o === "scroll" || o === "hidden") return true; } return false; };
    if (document.documentElement.scrollWidth <= width) return {width, scroll: width, wide};
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (r.right > width + 1 && r.width > 0 && getComputedStyle(e).position !== "fixed" && !scrolls(e)) {
            const name = e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
                ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
            wide.push(`${name} (${Math.round(r.right)} px): ${(e.innerText || '').slice(0, 60)}`);
            if (wide.length >= 5) break;
        }
    }
    return {width, scroll: document.documentElement.scrollWidth, wide};
}"""
# Formulas MathJax shows as an error (its SVG output marks them merror), with their TeX.
_MATH_ERRORS_JS = """() => Array.from(document.querySelectorAll('mjx-container'))
    .filter(c => c.querySelector('[data-mml-node="merror"], mjx-merror'))
    .map(c => (c.querySelector('[data-mml-node="merror"]') || c).textContent.slice(0, 80))"""
# Pictures of the article shown at less than 80 % of their own width and not inside a link (their src).
_SHRUNK_UNLINKED_JS = """() => Array.from(document.querySelectorAll('.bd-article img'))
    .filter(img => img.naturalWidth > 0 && img.clientWidth > 0 && img.naturalWidth * 0.8 > img.clientWidth
                   && !img.getAttribute('src').startsWith('data:') && !img.closest('a'))
    .map(img => img.getAttribute('src').slice(0, 60))"""
# Display formulas wider than their box without the hint under their block (how many).
_WIDE_FORMULA_UNHINTED_JS = """() => Array.from(document.querySelectorAll('.bd-article mjx-container[display="true"]'))
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .filter(box => { const next = (box.closest('div.math') || box).nextElementSibling;
                     return !(next && next.classList.contains('cam-scroll-hint') && next.offsetHeight > 0); })
    .length"""
_WAIT_FOR_MATHJAX_JS = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    return document.querySelectorAll('mjx-container').length;
}"""


def _pages(html: Path) -> list[Path]:
    """Every HTML page of the site but index.html (a redirect to the landing page)."""
    pages = [path for path in html.rglob("*.html") if path.name != "index.html" and "_static" not in path.parts]
    return sorted(pages)


def _url(page: Path) -> str:
    return page.as_uri() + ("?q=Grad-CAM" if page.name == "search.html" else "")


def _visit(browser, html: Path, viewport: dict[str, int]) -> dict[str, list[str]]:
    """Open every page at `viewport`; the problems found, by kind."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(MATHJAX_TIMEOUT_MS)
    current = {"name": ""}
    watched = watch_page(
        page, lambda url: url.startswith("file://") and str(html) in url, lambda: f"{current['name']}: "
    )
    problems: dict[str, list[str]] = {**watched, "overflow": [], "formula": [], "picture": []}
    for path in _pages(html):
        current["name"] = name = path.relative_to(html).as_posix()
        page.goto(_url(path))
        page.wait_for_load_state("load")
        formulas = page.evaluate(_WAIT_FOR_MATHJAX_JS)
        if name == "search.html":
            page.locator("#search-results a").first.wait_for()
        page.wait_for_timeout(100)  # let late scripts (search, theme) report their errors
        if viewport["width"] < 500:
            overflow = page.evaluate(_OVERFLOW_JS)
            if overflow["scroll"] > overflow["width"]:
                problems["overflow"].append(
                    f"{name}: {overflow['scroll']} px > {overflow['width']}: {overflow['wide']}"
                )
            unhinted = page.evaluate(_WIDE_FORMULA_UNHINTED_JS)
            if unhinted:
                problems["formula"].append(f"{name}: wide formulas with no scroll hint: {unhinted}")
            unlinked = page.evaluate(_SHRUNK_UNLINKED_JS)
            if unlinked:
                problems["picture"].append(f"{name}: shown shrunk, no full-size link: {unlinked}")
        elif path.name not in GENERATED:
            plain = sorted({match.group(0) for match in PLAIN_FORMULA.finditer(page.evaluate(_PROSE_JS))})
            if plain:
                problems["formula"].append(f"{name} ({formulas} typeset): {plain[:8]}")
            unreadable = page.evaluate(_MATH_ERRORS_JS)
            if unreadable:
                problems["formula"].append(f"{name}: MathJax could not read {unreadable}")
    page.close()
    return problems


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
def test_every_page_is_clean_offline(site: Path, device: str) -> None:  # noqa: F811  (the fixture)
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            problems = _visit(browser, site, VIEWPORTS[device])
        finally:
            browser.close()
    pages = len(_pages(site))
    print(f"[site] {device}: {pages} pages, " + ", ".join(f"{kind} {len(found)}" for kind, found in problems.items()))
    assert pages >= 15, f"only {pages} pages found in {site}"
    for kind, found in problems.items():
        assert not found, f"{device}, {kind}: {len(found)} problems:\n" + "\n".join(found[:20])

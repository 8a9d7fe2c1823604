"""Sphinx configuration of the course website: ``make site`` builds it into ``_build/site``.

Sphinx + MyST-NB + sphinx-book-theme (the "course" extra). The source folder is the repository
root, so that the README's and the notebooks' relative links and pictures work unchanged; only the
files listed in ``include_patterns`` are pages:

* the README is the landing page (``root_doc``);
* the notebooks are the chapters, in the order of their file names: the chapter list is made
  here from ``notebooks/*.ipynb`` and appended to the landing page as a hidden table of contents,
  so a new notebook needs no edit anywhere;
* then the instructor guide (``docs/teaching.md``), the answers (``docs/answers.md``), the quiz sheet
  without answers (``docs/quiz.md``, also on the student site), the API reference (``docs/site/api.md``,
  autodoc of ``cam_utils``) and the contributor notes (``docs/DESIGN.md``).

``make student-site`` builds the student's site into ``_build/student-site`` (``sphinx -t student``):
the chapters are the student edition (tools/student_edition.py: solutions stubbed, answers removed,
the outputs of the lesson kept up to the first exercise, none after it), its download button gives
the student notebook, and the pages with answers (``docs/teaching.md``, ``docs/answers.md``) are left
out, links to them kept as plain text.

The notebooks are not executed (nbval already guarantees that their saved outputs are current).
Math is typeset by MathJax 3 served from the site itself (one file from the
``sphinx-mathjax-offline`` package, SVG output: no web fonts, no CDN), so the site works offline
and from disk. Widgets have no live kernel on a static page: the widget view is skipped and the
widget's own still picture (its ``text/html``) is shown; no widget JavaScript is loaded.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import re
import shutil
from importlib import metadata
from pathlib import Path

import cam_utils

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
AFTER_THE_NOTEBOOKS = [
    "docs/teaching",
    "docs/answers",
    "docs/quiz",
    "docs/site/api",
    "docs/DESIGN",
    "docs/library-reports/README",  # last: its reports follow it in the "next" links
]
#: The bug reports on other libraries (docs/library-reports/*.md): pages under their index, README.md.
LIBRARY_REPORTS = sorted(
    f"docs/library-reports/{path.stem}"
    for path in (ROOT / "docs" / "library-reports").glob("*.md")
    if path.name != "README.md"
)
#: make student-site: the student edition, without the pages that hold answers (Sphinx puts `tags` here).
STUDENT = tags.has("student")  # type: ignore[name-defined]  # noqa: F821
WITH_ANSWERS = ("docs/teaching", "docs/answers")
if STUDENT:
    AFTER_THE_NOTEBOOKS = [page for page in AFTER_THE_NOTEBOOKS if page not in WITH_ANSWERS]
#: The one MathJax file the site needs (TeX input with every extension, SVG output), and where it goes.
MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_TARGET = f"_static/mathjax/{MATHJAX_FILE}"

project = "Where does the network look? CAM and Grad-CAM"
author = "the cam-tutorial contributors"
copyright = "the cam-tutorial contributors, MIT License"
release = version = metadata.version("cam-utils")

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
root_doc = "README"
include_patterns = [
    "README.md",
    "notebooks/*.ipynb",
    *(f"{page}.md" for page in AFTER_THE_NOTEBOOKS + LIBRARY_REPORTS),
]
exclude_patterns = ["**/.ipynb_checkpoints"]

# --- notebooks and Markdown --------------------------------------------------------------------
nb_execution_mode = "off"
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}  # no widget manager from a CDN: the widget's text/html still is shown instead
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_update_mathjax = False  # the MathJax configuration below is complete

# --- API reference ---------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True

# --- math: MathJax from the site itself ---------------------------------------------------------
mathjax_path = f"mathjax/{MATHJAX_FILE}"  # relative to _static
mathjax3_config = {
    # $...$ too: the answers inside <details> blocks are raw HTML, where MyST leaves the dollars
    "tex": {"inlineMath": [["$", "$"], ["\\(", "\\)"]], "processEscapes": True},
    "options": {
        "ignoreHtmlClass": "tex2jax_ignore|highlight",
        "processHtmlClass": "tex2jax_process|mathjax_process|math|output_area",
    },
}

# --- HTML -------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "CAM and Grad-CAM, step by step"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None
# The colour mode the theme starts in: without it, a first visit logs "Got invalid theme mode" in the console.
# (Here, not in html_theme_options, where the theme rejects it.)
html_context = {"default_mode": "light"}
# Search results without page excerpts: an excerpt is fetched from the page, which a browser refuses from disk.
html_show_search_summary = False
# The phone layout (no sideways scroll, wide formulas that say they scroll, pictures that open full size).
html_static_path = ["_static"]
html_css_files = ["cam-site.css"]
html_js_files = [("cam-site.js", {"defer": "defer"})]
# The download button offers each page's source: for a chapter, the notebook itself, to run it.
html_copy_source = True
html_sourcelink_suffix = ""
html_show_sourcelink = False


def _mathjax_source() -> Path:
    """The MathJax file shipped by the sphinx-mathjax-offline package."""
    for file in metadata.files("sphinx-mathjax-offline") or []:
        if file.name == MATHJAX_FILE:
            return Path(file.locate())
    raise RuntimeError(
        f"{MATHJAX_FILE} not found in the sphinx-mathjax-offline package: install the course extra "
        '(.venv/bin/pip install -e ".[course]")'
    )


def _chapters_and_guides(app, docname: str, source: list[str]) -> None:
    """Append the hidden tables of contents to the landing page: notebooks by file name, then the guides."""
    if docname != root_doc:
        return
    chapters = "\n".join(f"notebooks/{path.stem}" for path in NOTEBOOKS)
    guides = "\n".join(AFTER_THE_NOTEBOOKS)
    source[0] += (
        f"\n\n```{{toctree}}\n:hidden:\n:caption: Notebooks\n\n{chapters}\n```\n"
        f"\n```{{toctree}}\n:hidden:\n:caption: {'Reference' if STUDENT else 'For instructors and contributors'}"
        f"\n\n{guides}\n```\n"
    )


def _library_reports(app, docname: str, source: list[str]) -> None:
    """Append the reports, one page each, to their index as a hidden table of contents (the index reads as plain
    Markdown on GitHub, where a toctree directive would show as code)."""
    if docname == "docs/library-reports/README":
        reports = "\n".join(page.removeprefix("docs/library-reports/") for page in LIBRARY_REPORTS)
        source[0] += f"\n\n```{{toctree}}\n:hidden:\n\n{reports}\n```\n"


def _student_edition(app, docname: str, source: list[str]) -> None:
    """Student site: a chapter becomes its student edition; a link to a page with answers becomes its text."""
    if not STUDENT:
        return
    source[0] = re.sub(r"\[([^\]]*)\]\((?:\.\./)*docs/(?:teaching|answers)\.md[^)]*\)", r"\1", source[0])
    if docname.startswith("notebooks/"):
        source[0] = _student_tool().student_edition_for_site(source[0])


def _student_tool():
    """tools/student_edition.py, the generator of `make student`."""
    spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _api_modules() -> list[str]:
    """Every module of cam_utils, in alphabetical order (private ones, ``_x``, and ``__main__`` left out)."""
    names = [cam_utils.__name__]
    for module in pkgutil.walk_packages(cam_utils.__path__, prefix=f"{cam_utils.__name__}."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            names.append(module.name)
    return sorted(names)


def _api_reference(app, docname: str, source: list[str]) -> None:
    """Append one section per module to the API page: a package's docstring, a module's members."""
    if docname != "docs/site/api":
        return
    packages = {module.name for module in pkgutil.walk_packages(cam_utils.__path__, prefix="cam_utils.") if module.ispkg}
    packages.add(cam_utils.__name__)
    for name in _api_modules():
        options = "" if name in packages else ":members:\n"  # a package re-exports: its members are documented once, where they live
        if options and (reexported := _reexported(name)):
            options += f"   :exclude-members: {', '.join(reexported)}\n"
        source[0] += f"\n\n## `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n   {options}```\n"


def _reexported(name: str) -> list[str]:
    """The names a module's ``__all__`` takes from another cam_utils module: documented there, once."""
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001  (autodoc reports a module that does not import, as a warning)
        return []
    homes = {
        member: getattr(getattr(module, member, None), "__module__", name) for member in getattr(module, "__all__", [])
    }
    return sorted(
        member for member, home in homes.items() if home != name and home.startswith(f"{cam_utils.__name__}.")
    )


def _plain_text_docstring(app, what: str, name: str, obj: object, options: dict, lines: list[str]) -> None:
    """Docstrings are plain text with math in it: |A| is a size, not a reStructuredText substitution; a
    formula such as M_c = Σ_k w_k^c A^k is typeset (docs/site/plain_math.py)."""
    lines[:] = _PLAIN_MATH.typeset_docstring([line.replace("|", "\\|") for line in lines])


def _load_plain_math():
    """docs/site/plain_math.py, beside this file (the configuration folder is not on sys.path)."""
    spec = importlib.util.spec_from_file_location("plain_math", Path(__file__).with_name("plain_math.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PLAIN_MATH = _load_plain_math()


def _as_in_jupyterlab(app, docname: str, source: list[str]) -> None:
    """Show a notebook as JupyterLab does: folded cells stay folded, and no saved widget state.

    A solution cell is folded in the notebook (``jupyter.source_hidden`` / ``outputs_hidden``); on the
    site it gets MyST-NB's ``hide-input`` / ``hide-output`` tags, a "show" toggle, so that a reader can
    try before seeing the answer. The widget state would be dead weight without a widget manager.
    """
    if not docname.startswith("notebooks/"):
        return
    notebook = json.loads(source[0])
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook.get("cells", []):
        folded = cell.get("metadata", {}).get("jupyter", {})
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        for hidden, tag in (("source_hidden", "hide-input"), ("outputs_hidden", "hide-output")):
            if folded.get(hidden) and tag not in tags:
                tags.append(tag)
    source[0] = json.dumps(notebook)


def _finish(app, exception: Exception | None) -> None:
    """Copy the MathJax file into _static; write index.html, which opens the landing page."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / MATHJAX_TARGET
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mathjax_source(), target)
        if STUDENT:  # the download button gives the student notebook (Sphinx copied the full one)
            tool = _student_tool()
            tool.write_student_edition(NOTEBOOKS, Path(app.outdir) / "_sources" / "notebooks")
        landing = f"{root_doc}.html"
        (Path(app.outdir) / "index.html").write_text(
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html_title}</title>'
            f'<meta http-equiv="refresh" content="0; url={landing}"></head>'
            f'<body><a href="{landing}">{html_title}</a></body></html>\n',
            encoding="utf-8",
        )


def setup(app) -> None:
    _mathjax_source()  # fail early, with the fix, when the package is missing
    app.connect("source-read", _chapters_and_guides)
    app.connect("source-read", _api_reference)
    app.connect("source-read", _library_reports)
    app.connect("source-read", _student_edition)
    app.connect("source-read", _as_in_jupyterlab)
    app.connect("autodoc-process-docstring", _plain_text_docstring)
    app.connect("build-finished", _finish)

"""The student's website (``make student-site``: docs/site/conf.py with the tag "student").

Built into a temporary folder: no page with answers (docs/teaching.md, docs/answers.md), no line of a
solution or of a collapsed answer in any chapter's text, the stubs and the "Your answers" cells shown,
the lesson's outputs kept, and the download button's notebooks are the student edition. The
instructor's site lists the answers page (docs/site/conf.py without the tag). Sphinx's warnings are
``make site``'s test's business (tests/test_site.py): here the build runs without -W.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.browser import require_course_extra
from tests.test_student_edition import _solution_lines

pytestmark = [pytest.mark.course, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
FULL = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_course_extra("sphinx")
    out = tmp_path_factory.mktemp("student-site")
    command = [sys.executable, "-m", "sphinx", "-q", "-b", "html", "-c", "docs/site", "-t", "student"]
    subprocess.run([*command, "-d", str(out / "doctrees"), ".", str(out / "html")], cwd=REPO_ROOT, check=True)
    return out / "html"


def _text(page: Path) -> set[str]:
    """The stripped lines of a page's text (tags removed, entities decoded)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    return {line.strip() for line in text.splitlines()}


def test_the_student_site_has_no_answers_page_and_no_solution(site: Path) -> None:
    assert not (site / "docs" / "teaching.html").exists() and not (site / "docs" / "answers.html").exists()
    assert not list(site.rglob("teaching*")) and not list(site.rglob("answers*"))
    for source in FULL:
        page = site / "notebooks" / f"{source.stem}.html"
        found = sorted(_solution_lines(nbformat.read(source, as_version=4)) & _text(page))
        assert not found, f"{page.name} shows solution or answer lines: {found[:5]}"
        text = page.read_text(encoding="utf-8")
        assert "your code here" in text and "Your answers" in text
        download = nbformat.read(site / "_sources" / "notebooks" / source.name, as_version=4)
        assert all(cell.get("outputs", []) == [] for cell in download.cells), "the download is the student edition"
        assert not any("BEGIN SOLUTION" in cell.source for cell in download.cells)
    lesson = (site / "notebooks" / "02_cam_on_a_gap_network.html").read_text(encoding="utf-8")
    assert lesson.count("cell_output") >= 5, "the lesson's outputs before the first exercise are kept"


def test_the_instructor_site_lists_the_answers_page_and_the_student_site_does_not() -> None:
    conf = (REPO_ROOT / "docs" / "site" / "conf.py").read_text(encoding="utf-8")
    pages = re.search(r"AFTER_THE_NOTEBOOKS = (\[.*?\])", conf, re.S).group(1)  # the list may span lines
    assert '"docs/answers"' in pages and '"docs/teaching"' in pages
    assert re.search(r'WITH_ANSWERS = \("docs/teaching", "docs/answers"\)', conf)

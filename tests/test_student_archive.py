"""The student archive (``make student-archive``, tools/student_archive.py) runs elsewhere and gives nothing away.

The zip is written into a temporary folder and unpacked into another one, away from the repository.
There: it holds the student notebooks, the cam_utils wheel, constraints.txt and a README; no line of
a solution region or of a collapsed answer of the full edition is in any text of it (the notebooks,
the README, the wheel's modules); every picture a notebook shows is inside the notebook; and the
notebooks with diagrams (02, 03, 04) run top to bottom in the "cam-tutorial" kernel with the
notebooks' folder as working directory and cam_utils imported from the archive's wheel, with no
error but the exercises' own (tests/test_student_edition.py's rule). With ``--answers`` the answers
page is beside the notebooks and every "Your answers" cell links to it.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser import require_course_extra
from tests.test_student_edition import COLLAPSED_ANSWER, _solution_lines, _unexpected

pytestmark = [pytest.mark.course, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / "tools" / "student_archive.py"
FULL = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
WITH_DIAGRAMS = [path for path in FULL if "../docs/images/" in path.read_text(encoding="utf-8")]
RUN = 3  # consecutive solution lines that count as a copy in the library's source
PICTURE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.I)


def _unpacked(tmp_path_factory: pytest.TempPathFactory, *flags: str) -> Path:
    require_course_extra("nbgrader")
    archive = tmp_path_factory.mktemp("made") / "student.zip"
    subprocess.run([sys.executable, str(TOOL), "--out", str(archive), *flags], check=True, capture_output=True)
    target = tmp_path_factory.mktemp("elsewhere")
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)
    return target / "cam-tutorial-student"


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default archive (no answers), unpacked outside the repository."""
    return _unpacked(tmp_path_factory)


@pytest.fixture(scope="module")
def wheel_dir(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive's wheel, unpacked: what `pip install` of it puts into site-packages."""
    target = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(next(unpacked.glob("cam_utils-*.whl"))) as wheel:
        wheel.extractall(target)
    return target


def test_the_archive_holds_what_a_student_needs(unpacked: Path, wheel_dir: Path) -> None:
    names = sorted(path.name for path in (unpacked / "notebooks").iterdir())
    assert names == [path.name for path in FULL], "exactly the student notebooks, and no answers page"
    wheel = next(unpacked.glob("cam_utils-*.whl"))
    readme = (unpacked / "README.md").read_text(encoding="utf-8")
    assert f"--constraint constraints.txt {wheel.name}" in readme and "--name cam-tutorial" in readme
    assert "your instructor discusses them" in readme
    assert (unpacked / "constraints.txt").read_text() == (REPO_ROOT / "requirements" / "lock.txt").read_text()
    assert (wheel_dir / "cam_utils" / "__init__.py").is_file()
    assert len(list((wheel_dir / "cam_utils" / "course" / "shapes" / "data").glob("*.pt"))) == 3  # notebook 09


def _regions() -> list[list[str]]:
    """Each solution region of the full edition, as its non-blank stripped lines."""
    regions = []
    for path in FULL:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                for region in re.findall(r"BEGIN SOLUTION[^\n]*\n(.*?)\n[^\n]*END SOLUTION", cell.source, re.S):
                    regions.append([line.strip() for line in region.splitlines() if line.strip()])
    return regions


def _copied(region: list[str], lines: list[str], run: int = RUN) -> list[str] | None:
    """The first `run` consecutive lines of `region` that appear consecutively in `lines`, or None."""
    joined = "\n".join(lines)
    for start in range(len(region) - run + 1):
        window = region[start : start + run]
        if sum(len(line) for line in window) >= 40 and "\n".join(window) in joined:
            return window
    return None


def test_no_solution_and_no_answer_text_in_the_archive(unpacked: Path, wheel_dir: Path) -> None:
    # The notebooks and the README: no line of a solution or of an answer (tests/test_student_edition.py's lines).
    forbidden = set().union(*(_solution_lines(nbformat.read(path, as_version=4)) for path in FULL))
    assert len(forbidden) > 100  # the full edition's solution and answer lines (sanity of the scan itself)
    texts = {unpacked / "README.md": (unpacked / "README.md").read_text(encoding="utf-8")}
    lines_of = {unpacked / "README.md": forbidden}  # a notebook: its own solutions' lines (others may share one)
    for path in (unpacked / "notebooks").glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        texts[path] = "\n".join(cell.source for cell in notebook.cells)
        lines_of[path] = _solution_lines(nbformat.read(REPO_ROOT / "notebooks" / path.name, as_version=4))
        assert not COLLAPSED_ANSWER.search(texts[path])
        assert all(cell.get("outputs", []) == [] for cell in notebook.cells)
    for path, text in texts.items():
        found = sorted(lines_of[path] & {line.strip() for line in text.splitlines()})
        assert not found, f"{path.name} holds solution or answer lines: {found[:5]}"
    # The library's modules (the self-checks among them): no solution copied line for line (a run of RUN lines).
    regions = _regions()
    assert len(regions) >= 15
    for module in wheel_dir.rglob("*.py"):
        lines = [line.strip() for line in module.read_text(encoding="utf-8").splitlines() if line.strip()]
        copies = [window for region in regions if (window := _copied(region, lines))]
        assert not copies, f"{module.relative_to(wheel_dir)} holds a solution line for line: {copies[0]}"


def test_every_picture_is_inside_its_notebook(unpacked: Path) -> None:
    embedded = 0
    for path in (unpacked / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for match in PICTURE.finditer(cell.source if cell.cell_type == "markdown" else ""):
                target = match.group(1) or match.group(2)
                if target.startswith("attachment:"):
                    assert target.removeprefix("attachment:") in cell.get("attachments", {}), f"{path.name}: {target}"
                else:
                    assert target.startswith("data:image/"), f"{path.name}: a picture outside the notebook: {target}"
                    header, data = target.split(",", 1)
                    assert header.endswith(";base64") and base64.b64decode(data, validate=True)
                embedded += 1
    assert embedded >= len(WITH_DIAGRAMS) == 3  # the CAM, hooks and Grad-CAM diagrams


@pytest.mark.parametrize("source", WITH_DIAGRAMS, ids=[path.stem[:2] for path in WITH_DIAGRAMS])
def test_a_notebook_with_a_diagram_runs_from_the_unpacked_archive(
    unpacked: Path, wheel_dir: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(wheel_dir))  # the kernel imports cam_utils from the archive's wheel
    notebook = nbformat.read(unpacked / "notebooks" / source.name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import cam_utils, os\nprint(cam_utils.__file__, os.getcwd())"))
    client = NotebookClient(
        notebook,
        kernel_name="cam-tutorial",
        timeout=600,
        allow_errors=True,
        resources={"metadata": {"path": str(unpacked / "notebooks")}},
    )
    client.execute()
    errors = [
        (index, output.ename, output.evalue)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not _unexpected(notebook, errors), "\n".join(_unexpected(notebook, errors))
    module_file, cwd = notebook.cells[-1].outputs[0].text.split()
    assert Path(module_file).is_relative_to(wheel_dir) and Path(cwd) == unpacked / "notebooks"


def test_with_answers_the_answer_cells_link_the_page_beside_them(tmp_path_factory: pytest.TempPathFactory) -> None:
    unpacked = _unpacked(tmp_path_factory, "--answers")
    notebooks = unpacked / "notebooks"
    page = (notebooks / "answers.md").read_text(encoding="utf-8")
    assert page == (REPO_ROOT / "docs" / "answers.md").read_text(encoding="utf-8").replace("](../notebooks/", "](")
    for link in re.findall(r"\]\(([^)#]+\.ipynb)\)", page):
        assert (notebooks / link).is_file(), f"answers.md links a notebook that is not there: {link}"
    for path in notebooks.glob("*.ipynb"):
        answer_cells = [
            cell.source for cell in nbformat.read(path, as_version=4).cells if "**Your answers**" in cell.source
        ]
        assert answer_cells, path.name
        for source in answer_cells:
            title = re.search(r"\(answers\.md\), section \"(.+?)\"", source)
            assert title and f"## {title.group(1)}\n" in page, f"{path.name}: the link names no section of the page"
    assert "notebooks/answers.md" in (unpacked / "README.md").read_text(encoding="utf-8")

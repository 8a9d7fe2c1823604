"""The student edition (``make student``, tools/student_edition.py): no solution survives, and it runs.

The edition is generated, as ``make student`` does, from every notebook and from a small fixture
(tests/fixtures/exercise_convention.ipynb) that follows the exercise format of docs/DESIGN.md
exactly, into a temporary folder. Then, for every notebook:

* no nbgrader marker, no line of a solution and no line of a collapsed answer is left (the lines
  are read from the full edition, so a new exercise is covered without editing this test);
* every output and the widget state are gone; solution cells are visible and end in the stub;
  the question lists and the self-check cells are kept unchanged;
* executed top to bottom in the "cam-tutorial" kernel (errors allowed, as a student would meet
  them), the only errors are a solution cell's ``NotImplementedError("your code here")`` and, in
  the self-check cell right after a solution, the ``NameError`` or ``NotImplementedError`` that
  follows from it. Each notebook prints its list of errors (``pytest -s`` shows them).

nbgrader comes with the "course" extra (``make test`` installs it). Without it the tests are
skipped, except in CI (``CI`` or ``CAM_REQUIRE_BROWSER=1`` set), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser import require_course_extra
from tests.libraries import runnable

pytestmark = [pytest.mark.course, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATOR = REPO_ROOT / "tools" / "student_edition.py"
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "exercise_convention.ipynb"
SOURCES = sorted((REPO_ROOT / "notebooks").glob("*.ipynb")) + [FIXTURE]
KERNEL_NAME = "cam-tutorial"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
COLLAPSED_ANSWER = re.compile(r"<details>\s*<summary>\s*(Answers|Discussion).*?</details>", re.S | re.I)
HIDDEN_NOTE = "(the solution is hidden in this cell)"
PICTURE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>")
MIN_LINE_LENGTH = 12  # shorter solution lines ("return x") may well appear elsewhere


def _generator():
    spec = importlib.util.spec_from_file_location("student_edition", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student edition of every notebook and of the fixture, written as `make student` does."""
    require_course_extra("nbgrader")
    out = tmp_path_factory.mktemp("student")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *map(str, SOURCES)],
        check=True,
        capture_output=True,
        text=True,
    )
    print(f"[student edition] {len(SOURCES)} notebooks generated in {time.perf_counter() - started:.1f} s")
    return out


def _is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution")) or "solution" in cell.metadata.get("tags", [])


def _solution_lines(source_notebook) -> set[str]:
    """Lines of solutions and of collapsed answers in the full edition that appear nowhere else in it."""
    solution_lines, other_lines = set(), set()
    for cell in source_notebook.cells:
        if cell.cell_type == "code" and _is_solution(cell):
            text = cell.source
            if MARKERS[0] in text:
                regions = re.findall(r"BEGIN SOLUTION[^\n]*\n(.*?)\n[^\n]*END SOLUTION", text, re.S)
                text = "\n".join(regions)
                other_lines |= {
                    line.strip()
                    for line in re.sub(r"BEGIN SOLUTION.*?END SOLUTION", "", cell.source, flags=re.S).splitlines()
                }
            solution_lines |= {line.strip() for line in text.splitlines()}
        else:
            answers = "\n".join(match.group(0) for match in COLLAPSED_ANSWER.finditer(cell.source))
            solution_lines |= {line.strip() for line in answers.splitlines() if "<" not in line}
            other_lines |= {line.strip() for line in COLLAPSED_ANSWER.sub("", cell.source).splitlines()}
    return {
        line for line in solution_lines - other_lines if len(line) >= MIN_LINE_LENGTH and "your code here" not in line
    }


def _check_cells(notebook) -> set[int]:
    """Indices of self-check cells: the code cell right after a solution cell."""
    return {
        index + 1
        for index, cell in enumerate(notebook.cells[:-1])
        if _is_solution(cell) and notebook.cells[index + 1].cell_type == "code"
    }


@pytest.mark.parametrize("source", SOURCES, ids=[path.stem[:2] if path != FIXTURE else "fixture" for path in SOURCES])
def test_no_solution_survives_and_the_rest_is_kept(student_dir: Path, source: Path) -> None:
    full = nbformat.read(source, as_version=4)
    student = nbformat.read(student_dir / source.name, as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)

    for marker in MARKERS:
        assert marker not in student_text
    assert HIDDEN_NOTE not in student_text
    assert not COLLAPSED_ANSWER.search(student_text), "a collapsed answer or discussion is left"
    student_lines = {line.strip() for line in student_text.splitlines()}
    surviving = sorted(_solution_lines(full) & student_lines)
    assert not surviving, f"solution or answer lines left in the student edition: {surviving[:5]}"

    assert "widgets" not in student.metadata
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if _is_solution(cell):
            assert 'raise NotImplementedError("your code here")' in cell.source
            assert not cell.metadata.get("jupyter", {}).get("source_hidden")
        if "check" in cell.metadata.get("tags", []):  # the claims' check cells: the learner's safety net
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, "a check cell stays collapsed"

    # Kept: every cell that is neither a solution nor a collapsed answer, with its source unchanged
    # (self-checks and question lists included); cells are matched by their ids.
    student_by_id = {cell.id: cell for cell in student.cells}
    for cell in full.cells:
        if _is_solution(cell) or COLLAPSED_ANSWER.search(cell.source):
            continue
        assert cell.id in student_by_id, f"cell {cell.id} was dropped"
        kept = student_by_id[cell.id].source
        assert PICTURE.sub("[picture]", kept) == PICTURE.sub("[picture]", cell.source), f"cell {cell.id} was changed"
    assert "../docs/images/" not in student_text, "a picture left outside the notebook"
    if any("### Questions" in cell.source for cell in full.cells):
        assert "**Your answers**" in student_text


def _execute(notebook, working_dir: Path) -> list[tuple[int, str, str]]:
    """Run all cells (errors allowed, as a student meets them); return [(cell index, error name, message)]."""
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=600,
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(working_dir)}},
    )
    client.execute()
    return [
        (index, output.ename, output.evalue)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]


def _unexpected(notebook, errors: list[tuple[int, str, str]]) -> list[str]:
    """The errors that the student edition's rule does not allow."""
    check_cells = _check_cells(notebook)
    stub_error = ("NotImplementedError", "your code here")
    problems = []
    for index, name, message in errors:
        if _is_solution(notebook.cells[index]) and (name, message) == stub_error:
            continue
        if index in check_cells and (name == "NameError" or (name, message) == stub_error):
            continue
        problems.append(f"cell {index} ({notebook.cells[index].id}): {name}: {message}")
    return problems


@pytest.mark.parametrize(
    "source", runnable(SOURCES), ids=[path.stem[:2] if path != FIXTURE else "fixture" for path in SOURCES]
)
def test_student_edition_runs_with_only_the_exercises_errors(student_dir: Path, source: Path) -> None:
    student = nbformat.read(student_dir / source.name, as_version=4)
    started = time.perf_counter()
    errors = _execute(student, source.parent)  # the source's folder: relative paths resolve as in the full edition
    seconds = time.perf_counter() - started
    listing = "; ".join(f"cell {index} {name}" for index, name, _ in errors) or "none"
    print(f"[student edition] {source.name}: ran in {seconds:.1f} s, errors: {listing}")
    assert not _unexpected(student, errors), "\n".join(_unexpected(student, errors))
    if source == FIXTURE:  # the fixture pins the rule: both kinds of stub, both kinds of check error
        names = {student.cells[index].id: name for index, name, _ in errors}
        assert names == {
            "fx-ex1-check": "NotImplementedError",
            "fx-ex2-solution": "NotImplementedError",
            "fx-ex2-check": "NameError",
        }
        assert student.cells[-2].outputs[0].text == "36.0\n"  # the cell after the exercises ran


def test_markers_outside_a_solution_cell_are_refused() -> None:
    require_course_extra("nbgrader")
    generator = _generator()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]
    )
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python", "display_name": KERNEL_NAME}
    with pytest.raises(RuntimeError, match="non-solution cell"):
        generator.student_notebook(notebook)
    notebook.cells[0].metadata["nbgrader"] = {
        "solution": True,
        "grade": False,
        "locked": False,
        "grade_id": "x",
        "schema_version": 3,
    }
    notebook.cells[0].source = "### BEGIN SOLUTION\nx = 1"  # no END
    with pytest.raises(RuntimeError, match="no end solution"):
        generator.student_notebook(notebook)


def test_a_tagged_solution_cell_without_markers_is_replaced_whole() -> None:
    require_course_extra("nbgrader")
    cell = nbformat.v4.new_code_cell("answer = 6 * 7  # a legacy solution cell")
    cell.metadata["tags"] = ["solution"]
    cell.metadata["jupyter"] = {"source_hidden": True}
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python", "display_name": KERNEL_NAME}
    student = _generator().student_notebook(notebook)
    assert student.cells[0].source == 'raise NotImplementedError("your code here")'
    assert "jupyter" not in student.cells[0].metadata
    assert notebook.cells[0].source == "answer = 6 * 7  # a legacy solution cell"  # the input is untouched


def _markdown_notebook(source: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source)])
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python", "display_name": KERNEL_NAME}
    return notebook


def test_pictures_travel_inside_the_notebook(tmp_path: Path) -> None:
    require_course_extra("nbgrader")
    import base64

    from PIL import Image

    Image.new("RGB", (4, 3), "red").save(tmp_path / "dot.png")
    svg = tmp_path / "pictures" / "cam_diagram.svg"
    svg.parent.mkdir()
    svg.write_bytes((REPO_ROOT / "docs" / "images" / "cam_diagram.svg").read_bytes())
    source = (
        "A ![a red dot](dot.png) and ![the CAM diagram](pictures/cam_diagram.svg) and ![far](https://example.org/x.png)"
    )
    student = _generator().student_notebook(_markdown_notebook(source), tmp_path)
    cell = student.cells[0]
    assert "![a red dot](attachment:dot.png)" in cell.source  # a PNG: a cell attachment
    assert base64.b64decode(cell.attachments["dot.png"]["image/png"]) == (tmp_path / "dot.png").read_bytes()
    svg_url = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="the CAM diagram">', cell.source)
    assert svg_url and base64.b64decode(svg_url.group(1)) == svg.read_bytes()  # SVG: a data URL JupyterLab shows
    assert "![far](https://example.org/x.png)" in cell.source  # not a file: left alone
    kept = _generator().student_notebook(_markdown_notebook(source), tmp_path, embed_pictures=False)
    assert kept.cells[0].source == source
    with pytest.raises(FileNotFoundError, match=r"picture 'missing.png' not found .*fix the path"):
        _generator().student_notebook(_markdown_notebook("![x](missing.png)"), tmp_path)


def test_the_answer_cell_says_where_the_answers_are(tmp_path: Path) -> None:
    require_course_extra("nbgrader")
    generator = _generator()
    source = REPO_ROOT / "notebooks" / "02_cam_on_a_gap_network.ipynb"

    def answer_cell(folder: Path) -> str:
        notebook = nbformat.read(folder / source.name, as_version=4)
        return next(cell.source for cell in notebook.cells if "**Your answers**" in cell.source)

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "answers.md").write_text("my own notes", encoding="utf-8")
    generator.write_student_edition([source], mine)
    assert (mine / "answers.md").read_text(encoding="utf-8") == "my own notes"  # not the generator's: kept
    assert "your instructor discusses them" in answer_cell(mine) and "(answers.md)" not in answer_cell(mine)
    out = tmp_path / "out"
    generator.write_student_edition([source], out, answers=True)
    assert '[the answers](answers.md), section "02 · CAM on a GAP network"' in answer_cell(out)
    assert "## 02 · CAM on a GAP network\n" in (out / "answers.md").read_text(encoding="utf-8")
    generator.write_student_edition([source], out)  # again without answers: the generated page goes
    assert not (out / "answers.md").exists()


def test_the_answers_page_is_current_and_holds_every_notebook_s_answers() -> None:
    tool = REPO_ROOT / "tools" / "answers_page.py"
    result = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    page = (REPO_ROOT / "docs" / "answers.md").read_text(encoding="utf-8")
    assert "<details>" not in page
    for source in SOURCES[:-1]:
        full = nbformat.read(source, as_version=4)
        for match in COLLAPSED_ANSWER.finditer("\n".join(cell.source for cell in full.cells)):
            body = match.group(0).split("</summary>", 1)[1].rsplit("</details>", 1)[0].strip()
            assert body in page, f"{source.name}: a {match.group(1)} block is missing from docs/answers.md"

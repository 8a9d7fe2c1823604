"""The "Notebook conventions" of docs/DESIGN.md, checked mechanically on every notebook in notebooks/.

What a reader can rely on in every notebook: a header with the title, the study time, the run time and the
prerequisites; a markdown cell before every code cell; outputs from one fresh top-to-bottom run, without
warnings or errors; exercises a student can try before seeing the answer (the four cells of a coding exercise,
nbgrader's markers, a self-check from cam_utils.course.exercises, the discussion and the answers folded away); and a
closing `## References` section with links. A notebook without coding exercises passes the exercise tests
trivially. What these tests cannot see (whether a sentence is true) is what the notebooks' own asserts are for.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

import cam_utils.course.exercises as exercises

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import study_time  # tools/ is not a package: found through the sys.path entry above

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
MAX_CELLS = 80

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^### Coding exercise (\d+): \S", re.MULTILINE)
CHECK_CALL = re.compile(r"\b(check_\w+)\(")
DISCUSSION_START = "<details><summary>Discussion (open it after you have tried)</summary>"
ANSWERS_START = "<details><summary>Answers (click)</summary>"


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _number(path: Path) -> str:
    return path.name[:2]  # "04" for 04_grad_cam_step_by_step.ipynb


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _exercises(notebook: nbformat.NotebookNode) -> list[tuple[int, int]]:
    """(exercise number, index of its heading cell) for every '### Coding exercise N:' heading."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            found += [(int(match.group(1)), index) for match in EXERCISE_HEADING.finditer(cell.source)]
    return found


def _student_edition(source: str) -> str:
    """The code a student gets: each BEGIN/END SOLUTION block replaced as nbgrader does, at its indentation."""
    lines, kept, inside = source.splitlines(), [], False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            kept += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
            inside = True
        elif stripped == END:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(line for line in kept if not line.lstrip().startswith(("%", "!")))  # IPython magics


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_header_has_title_study_time_run_time_and_prerequisites(path):
    header = _read(path).cells[0]
    assert header.cell_type == "markdown", "the first cell is the markdown header"
    title = re.match(r"# (\d\d) · \S", header.source)
    assert title, "the header starts with '# NN · Title'"
    assert title.group(1) == _number(path), "the title's number is the file's number"
    for label in ("**Study time", "**Run time", "**Prerequisites"):
        assert label in header.source, f"the header states {label.strip('*')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_markdown_cell_before_every_code_cell(path):
    cells = _read(path).cells
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        previous = cells[index - 1] if index else None
        after_solution = previous is not None and _is_solution(previous)  # the exercise's self-check cell
        assert after_solution or (previous is not None and previous.cell_type == "markdown"), (
            f"code cell {index} ({cell.source[:40]!r}) has no markdown cell before it saying what it does"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_outputs_come_from_one_clean_run(path):
    notebook = _read(path)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), "executed top to bottom in a fresh kernel (counts 1..N)"
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"cell {index} has an error output"
            assert output.get("name") != "stderr", (
                f"cell {index} writes to stderr (warnings belong nowhere in a lesson)"
            )
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            assert not re.search(r"\w*Warning\b", text), f"cell {index} shows a warning"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_ends_with_linked_references(path):
    last = _read(path).cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## References"), (
        "the notebook ends with a '## References' cell"
    )
    assert re.search(r"https?://\S+", last.source), "the references link the papers they cite"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stays_under_the_cell_budget(path):
    assert len(_read(path).cells) <= MAX_CELLS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_answers_to_the_questions_are_folded(path):
    cells = _read(path).cells
    questions = [
        index for index, cell in enumerate(cells) if cell.cell_type == "markdown" and "### Questions" in cell.source
    ]
    for index in questions:
        later = [cell.source for cell in cells[index:] if cell.cell_type == "markdown"]
        assert any(ANSWERS_START in source and "</details>" in source for source in later), (
            "the questions' answers are in a <details><summary>Answers (click)</summary> cell"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_coding_exercises_have_the_four_cells(path):
    cells = _read(path).cells
    found = _exercises(_read(path))
    assert [number for number, _ in found] == list(range(1, len(found) + 1)), "exercises are numbered 1, 2, ..."
    headings = {index for _, index in found}
    solutions = [index for index, cell in enumerate(cells) if _is_solution(cell)]
    assert [index - 1 for index in solutions] == sorted(headings), (
        "every '### Coding exercise N:' cell is followed by its solution cell, and every solution cell follows one"
    )
    for number, index in found:
        assert cells[index].source.lstrip().startswith("### Coding exercise"), "the heading opens its cell"
        assert index + 3 < len(cells), f"exercise {number} lacks its cells"
        solution, check, discussion = cells[index + 1], cells[index + 2], cells[index + 3]
        assert check.cell_type == "code" and not _is_solution(check), f"exercise {number}: a self-check cell follows"
        assert not check.metadata.get("jupyter", {}).get("source_hidden"), f"exercise {number}: the check is visible"
        assert CHECK_CALL.search(check.source), f"exercise {number}: the check cell calls a check_… function"
        assert discussion.cell_type == "markdown" and discussion.source.startswith(DISCUSSION_START), (
            f"exercise {number}: the discussion follows, folded in <details>"
        )
        assert discussion.source.rstrip().endswith("</details>"), f"exercise {number}: the discussion is all folded"
        assert solution.cell_type == "code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_solution_cells_are_hidden_and_marked_for_nbgrader(path):
    for cell in filter(_is_solution, _read(path).cells):
        jupyter = cell.metadata.get("jupyter", {})
        assert jupyter.get("source_hidden") is True and jupyter.get("outputs_hidden") is True, (
            "a solution's code and outputs stay collapsed until the student opens them"
        )
        nbgrader = cell.metadata.get("nbgrader", {})
        assert {key: nbgrader.get(key) for key in ("solution", "grade", "locked", "schema_version")} == {
            "solution": True,
            "grade": False,
            "locked": False,
            "schema_version": 3,
        }
        assert re.fullmatch(rf"nb{_number(path)}-ex\d+", str(nbgrader.get("grade_id"))), "grade_id is nbNN-exN"
        first_line = cell.source.splitlines()[0]
        assert first_line.startswith("# your code here"), "the first line tells the student where to write"
        markers = [line.strip() for line in cell.source.splitlines() if line.strip() in (BEGIN, END)]
        assert markers and markers == [BEGIN, END] * (len(markers) // 2), "BEGIN/END SOLUTION markers, in pairs"
        student = _student_edition(cell.source)
        ast.parse(student)  # the student edition is valid Python
        assert BEGIN not in student and END not in student


def test_grade_ids_are_unique_across_notebooks():
    grade_ids = [
        cell.metadata["nbgrader"]["grade_id"]
        for path in NOTEBOOKS
        for cell in _read(path).cells
        if _is_solution(cell) and "nbgrader" in cell.metadata
    ]
    assert len(grade_ids) == len(set(grade_ids))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_self_checks_come_from_this_notebooks_module(path):
    cells = _read(path).cells
    for _, index in _exercises(_read(path)):
        if index + 2 >= len(cells):
            continue  # reported by test_coding_exercises_have_the_four_cells
        for name in CHECK_CALL.findall(cells[index + 2].source):
            assert name in exercises.__all__, f"{name} is exported by cam_utils.course.exercises"
            module = getattr(exercises, name).__module__
            assert module == f"cam_utils.course.exercises.nb{_number(path)}", (
                f"{name} lives in exercises/nb{_number(path)}.py"
            )


# --- Lesson first, proof beside it (docs/DESIGN.md, "The shape of a notebook") -----------------------------
MAX_TEACHING_LINES = 25
MAX_LINE_LENGTH = 99


def _is_check(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "check" in cell.metadata.get("tags", [])


def _teaching_cells(notebook: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [
        (index, cell)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and not _is_check(cell) and not _is_solution(cell)
    ]


def _asserting_calls(tree: ast.AST) -> list[str]:
    """Assert statements and calls of assert-like functions (torch.testing.assert_close, np.testing...)."""
    found = [f"line {node.lineno}: assert" for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.startswith("assert"):
                found.append(f"line {node.lineno}: {name}()")
    return found


def _python(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_one_parameters_cell_near_the_top_holds_literals(path):
    notebook = _read(path)
    tagged = [index for index, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell is tagged 'parameters' (as papermill expects)"
    cell = notebook.cells[tagged[0]]
    code_before = [c for c in notebook.cells[: tagged[0]] if c.cell_type == "code"]
    assert cell.cell_type == "code" and len(code_before) <= 1, "the parameters cell is among the first two code cells"
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.Assign), "the parameters cell holds only assignments"
        ast.literal_eval(statement.value)  # a learner changes literals, not code
        for target in statement.targets:
            assert isinstance(target, ast.Name) and target.id.isupper(), "parameters are UPPER_CASE names"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_teaching_cells_are_short_and_hold_no_asserts(path):
    lengths = []
    for index, cell in _teaching_cells(_read(path)):
        lines = cell.source.splitlines()
        lengths.append(len(lines))
        assert len(lines) <= MAX_TEACHING_LINES, f"cell {index}: {len(lines)} lines (a teaching cell has at most 25)"
        long_lines = [number for number, line in enumerate(lines, 1) if len(line) > MAX_LINE_LENGTH]
        assert not long_lines, f"cell {index}: lines {long_lines} are over {MAX_LINE_LENGTH} characters"
        checks = _asserting_calls(ast.parse(_python(cell.source)))
        assert not checks, f"cell {index} is a teaching cell with checks ({checks}): move them to its check cell"
    lengths.sort()
    assert lengths[len(lengths) // 2] <= 15, "a typical (median) teaching cell has at most 15 lines"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_check_cells_are_collapsed_removed_from_the_site_and_silent(path):
    notebook = _read(path)
    checks = [(index, cell) for index, cell in enumerate(notebook.cells) if _is_check(cell)]
    assert checks, "the notebook checks its claims in check cells (tag 'check')"
    for index, cell in checks:
        assert "remove-cell" in cell.metadata.get("tags", []), f"cell {index}: the site removes check cells"
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, f"cell {index}: its source is collapsed"
        assert not cell.get("outputs"), (
            f"cell {index}: a check cell prints nothing when its claims hold (the output is what a learner "
            "with other parameters sees)"
        )
        assert notebook.cells[index - 1].cell_type == "markdown", f"cell {index}: the claim in words comes first"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_main_path_is_short_enough_to_finish(path):
    main, _ = study_time.notebook_load(path)
    assert main.words <= study_time.MAIN_PATH_WORD_LIMIT, (
        f"{main.words} words of prose on the main path (at most {study_time.MAIN_PATH_WORD_LIMIT}): "
        "move depth into an '## Optional: ...' section"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stated_study_time_is_the_computed_one(path):
    main, optional = study_time.notebook_load(path)
    stated = study_time.STUDY_TIME_LINE.search(_read(path).cells[0].source)
    assert stated, "the header has a **Study time:** line"
    assert stated.group(0) == study_time.study_time_sentence(main, optional), (
        "the stated study time is not the computed one: run python tools/study_time.py --write"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_optional_sections_come_after_the_main_path(path):
    notebook = _read(path)
    flags = study_time.optional_flags(notebook)
    if True in flags:
        first = flags.index(True)
        later_main = [
            index
            for index in range(first, len(flags))
            if not flags[index] and not notebook.cells[index].source.startswith("## References")
        ]
        assert not later_main, f"cells {later_main[:3]} of the main path come after an optional section"

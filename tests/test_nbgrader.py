"""The nbgrader course (tools/nbgrader_course.py, nbgrader_config.py, ``make assignments`` / ``make autograde``).

The course is generated as ``make assignments`` does (the source, then ``nbgrader generate_assignment`` itself)
into a temporary course root, for every notebook. Then:

* the release (what students get) holds no line of a solution region and no line of an Answers or Discussion
  block of the full edition (every notebook), no output, no hidden test; its stub cells are not collapsed and
  each exercise's self-check is a graded, locked test cell with points;
* the hidden tests fail answers that change their inputs in place (the self-checks let them through: they pass
  copies), and pass the solutions;
* through nbgrader's own autograde, the full edition scores full marks and a release with typical wrong answers
  written into it scores less, exercise by exercise. Autograde runs whole notebooks, so this part grades two of
  them: 01 and 02, the quickest (about 10 s each in a kernel) with two exercises each, and 02's carry hidden
  tests (one of them fails an answer its self-check passes); four submissions, about a minute on a free 2-core
  machine.

nbgrader comes with the "course" extra (``make test`` installs it); without it the tests are skipped, except in CI.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

from cam_utils import upsample
from tests.browser import require_course_extra

pytestmark = [pytest.mark.course, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / "tools" / "nbgrader_course.py"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
GRADED = ["01_what_does_the_network_look_at", "02_cam_on_a_gap_network"]
COLLAPSED_ANSWER = re.compile(r"<details>\s*<summary>\s*(Answers|Discussion).*?</details>", re.S | re.I)
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION[^\n]*\n(.*?)\n[^\n]*### END SOLUTION", re.S)
MIN_LINE_LENGTH = 8  # shorter lines ("return x", "1. ") may well appear in the exercise's own text

# Typical wrong answers, by exercise. 02-1 changes the classifier's weights in place, which its self-check cannot
# see and a hidden test catches; 02-2 is answered right, in other words than the solution's, so that the wrong
# edition also shows one point won.
WRONG_ANSWERS = {
    "nb01-ex1": "def flip_left_right(batch):\n    return batch.flip(dims=[2])  # upside down",
    "nb01-ex2": "def group_probability(logits, class_indices):\n"
    "    return torch.softmax(logits, dim=0)[:, class_indices].sum(dim=1)  # the softmax over the batch",
    "nb02-ex1": "def channel_contributions(feature_maps, class_weights):\n"
    "    return class_weights.mul_(feature_maps.mean(dim=(1, 2)))  # in place",
    "nb02-ex2": "def batch_cam(feature_maps, weight, class_idx):\n"
    "    rows = weight.index_select(0, class_idx)\n"
    "    return (rows[:, :, None, None] * feature_maps).sum(dim=1)",
}
# Answers that change their inputs in place, which the self-checks pass (they give the learner's function copies).
IN_PLACE = {
    "nb02-ex1": WRONG_ANSWERS["nb02-ex1"],
    "nb02-ex2": "def batch_cam(feature_maps, weight, class_idx):\n"
    "    return feature_maps.mul_(weight[class_idx][:, :, None, None]).sum(dim=1)",
    "nb08-ex1": """def deletion_scores(model, image, saliency, class_idx, steps):
    height, width = image.shape[-2:]
    order = upsample(saliency, (height, width)).flatten().argsort(descending=True, stable=True)
    flat, scores = image.view(1, 3, -1), []  # the caller's image, deleted in place
    for step in range(steps + 1):
        flat[:, :, order[: step * height * width // steps]] = 0.0
        with torch.no_grad():
            scores.append(torch.softmax(model(image), dim=1)[0, class_idx])
    return torch.stack(scores)""",
}


def _tool():
    spec = importlib.util.spec_from_file_location("nbgrader_course", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_tool(*args: str) -> str:
    result = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course root after ``make assignments``: source/ and release/ of every notebook, and the gradebook."""
    require_course_extra("nbgrader")
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    started = time.perf_counter()
    _run_tool("release", "--root", str(root))
    print(f"[nbgrader] {len(NOTEBOOKS)} assignments generated in {time.perf_counter() - started:.1f} s")
    return root


def _released(root: Path, notebook: Path, folder: str = "release") -> nbformat.NotebookNode:
    return nbformat.read(root / folder / notebook.stem / notebook.name, as_version=4)


def _answer_lines(full: nbformat.NotebookNode) -> set[str]:
    """The lines of every solution region and every Answers/Discussion block that appear nowhere else in ``full``."""
    secret, public = set(), set()
    for cell in full.cells:
        regions = SOLUTION_REGION.findall(cell.source) + [
            block.group(0) for block in COLLAPSED_ANSWER.finditer(cell.source)
        ]
        rest = COLLAPSED_ANSWER.sub("", SOLUTION_REGION.sub("", cell.source))
        secret |= {line.strip() for region in regions for line in region.splitlines() if "<" not in line}
        public |= {line.strip() for line in rest.splitlines()}
    return {line for line in secret - public if len(line) >= MIN_LINE_LENGTH}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem[:2] for path in NOTEBOOKS])
def test_the_release_holds_no_answer(course: Path, notebook: Path) -> None:
    full = nbformat.read(notebook, as_version=4)
    release = _released(course, notebook)
    text = nbformat.writes(release)  # sources, outputs and metadata
    lines = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    secret = _answer_lines(full)
    assert secret, "the scan found nothing to look for"
    assert not sorted(secret & lines), f"answer lines left in the release: {sorted(secret & lines)[:5]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "<summary>", "solution is hidden"):
        assert marker not in text
    assert "widgets" not in release.metadata
    assert all(cell.outputs == [] for cell in release.cells if cell.cell_type == "code")
    if notebook.stem.startswith("02"):  # the two examples, which the Answers blocks held
        assert "nkhw,nk->nhw" not in text
    if notebook.stem.startswith("04"):
        assert "(6, 12)" not in text


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem[:2] for path in NOTEBOOKS])
def test_stubs_are_shown_and_every_check_is_graded(course: Path, notebook: Path) -> None:
    release = _released(course, notebook)
    cells = release.cells
    solutions = [i for i, cell in enumerate(cells) if cell.metadata.get("nbgrader", {}).get("solution")]
    assert solutions
    for index in solutions:
        stub, check = cells[index], cells[index + 1]
        assert 'raise NotImplementedError("your code here")' in stub.source
        assert not stub.metadata.get("jupyter", {}).get("source_hidden")
        assert not stub.metadata.get("jupyter", {}).get("outputs_hidden")
        grading = check.metadata["nbgrader"]
        assert grading["grade"] and grading["locked"] and grading["points"] > 0
        assert grading["grade_id"] == stub.metadata["nbgrader"]["grade_id"] + "-check"
        assert check.metadata["editable"] is False
        assert re.match(r"(from .*\n\n)?(# .*\n)?assert check_\w+\(", check.source), check.source
    text = nbformat.writes(release)  # pictures are embedded: the release folder has no docs/images beside it
    assert "docs/images" not in text
    if "docs/images/" in notebook.read_text(encoding="utf-8"):
        assert "data:image/" in text or '"attachments"' in text


def test_hidden_tests_are_in_the_source(course: Path) -> None:
    hidden = _tool().HIDDEN_TESTS
    by_id = {}
    for notebook in NOTEBOOKS:
        for cell in _released(course, notebook, "source").cells:
            by_id[cell.metadata.get("nbgrader", {}).get("grade_id")] = cell.source
    for grade_id in hidden:
        assert "### BEGIN HIDDEN TESTS" in by_id[grade_id + "-check"]


def _function(source: str, name: str, namespace: dict) -> object:
    """Define the top-level function ``name`` of ``source`` (only it) in ``namespace``; return it."""
    (node,) = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name]
    exec(ast.get_source_segment(source, node), namespace)  # the solution's or a test's own code
    return namespace[name]


@pytest.mark.parametrize(("grade_id", "wrong"), IN_PLACE.items(), ids=list(IN_PLACE))
def test_hidden_tests_fail_answers_that_change_their_inputs(grade_id: str, wrong: str) -> None:
    """The hidden tests pass the full edition's solution and fail an answer that changes its inputs in place."""
    hidden = _tool().HIDDEN_TESTS[grade_id]
    name = re.match(r"def (\w+)", wrong).group(1)
    notebook = next(path for path in NOTEBOOKS if path.stem[:2] == grade_id[2:4])
    (solution,) = [
        cell.source
        for cell in nbformat.read(notebook, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    imports = {"torch": torch, "upsample": upsample}
    right = dict(imports)
    _function(solution, name, right)
    exec(hidden, right)  # passes
    wrong_namespace = dict(imports)
    _function(wrong, name, wrong_namespace)
    with pytest.raises(AssertionError, match=name):
        exec(hidden, wrong_namespace)


def _wrong_edition(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with the typical wrong answers written into its solution cells."""
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in WRONG_ANSWERS:
            cell.source = WRONG_ANSWERS[grade_id]
    return release


def test_autograde_gives_full_marks_to_the_full_edition_and_less_to_wrong_answers(course: Path, tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    submissions = tmp_path / "submissions"
    for assignment in GRADED:
        notebook = REPO_ROOT / "notebooks" / f"{assignment}.ipynb"
        (submissions / "full" / assignment).mkdir(parents=True)
        (submissions / "wrong" / assignment).mkdir(parents=True)
        shutil.copy(course / "source" / assignment / notebook.name, submissions / "full" / assignment)
        wrong = _wrong_edition(_released(course, notebook))
        nbformat.write(wrong, submissions / "wrong" / assignment / notebook.name)
    started = time.perf_counter()
    printed = _run_tool("autograde", "--submissions", str(submissions), "--root", str(course))
    print(f"[nbgrader] {2 * len(GRADED)} submissions autograded in {time.perf_counter() - started:.1f} s\n{printed}")
    assert re.search(r"full +02_cam_on_a_gap_network +2 / 2", printed)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "cam-tutorial") as gradebook:
        for assignment in GRADED:
            full = gradebook.find_submission(assignment, "full")
            wrong = gradebook.find_submission(assignment, "wrong")
            assert full.max_score == 2
            assert full.score == full.max_score, f"{assignment}: the full edition scores {full.score}"
            assert wrong.score < wrong.max_score
        points = {
            grade_id: gradebook.find_grade(f"{grade_id}-check", assignment, assignment, "wrong").score
            for grade_id, assignment in [
                ("nb01-ex1", GRADED[0]),
                ("nb01-ex2", GRADED[0]),
                ("nb02-ex1", GRADED[1]),
                ("nb02-ex2", GRADED[1]),
            ]
        }
    assert points == {"nb01-ex1": 0, "nb01-ex2": 0, "nb02-ex1": 0, "nb02-ex2": 1}
    assert (course / "grades.csv").read_text(encoding="utf-8").count("wrong") == len(NOTEBOOKS)


def test_autograde_names_a_wrong_layout(course: Path, tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "notebook.ipynb").write_text("{}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(TOOL), "autograde", "--submissions", str(tmp_path), "--root", str(course)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "<student>/<assignment>/<notebook>.ipynb" in result.stderr
    (tmp_path / "alice" / "homework1").mkdir()
    result = subprocess.run(
        [sys.executable, str(TOOL), "autograde", "--submissions", str(tmp_path), "--root", str(course)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Unknown assignment(s) ['homework1']" in result.stderr
    assert "make assignments" in result.stderr


def test_a_check_call_becomes_an_assertion() -> None:
    require_course_extra("nbgrader")
    tool = _tool()
    message = tool.CHECK_MESSAGE
    source = 'from m import check_x\n\ncheck_x(f, "é")  # σ'
    assert (
        tool.graded_check_source(source, "nb99-ex1")
        == f'from m import check_x\n\nassert check_x(f, "é"), "{message}"  # σ'
    )
    assert (
        tool.graded_check_source("check_y(a,\n        b)", "nb99-ex1") == f'assert check_y(a,\n        b), "{message}"'
    )
    with pytest.raises(ValueError, match="calls no check_"):
        tool.graded_check_source("print(1)", "nb99-ex1")
    full = nbformat.read(NOTEBOOKS[0], as_version=4)
    kept = nbformat.writes(full)
    tool.source_notebook(full)
    assert nbformat.writes(full) == kept  # the full edition is not modified

"""The shared diagnosis behind every exercise self-check: each typical mistake gets its own hint."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch

from cam_utils.course import exercises
from cam_utils.course.exercises import diagnose_tensor, report
from cam_utils.course.exercises.feedback import punctuated
from tests.test_exercise_rng import ANSWERS
from tests.test_exercises_nb08 import other  # noqa: F401 - a fixture of ANSWERS


def _signed_map() -> torch.Tensor:
    return torch.linspace(-1.0, 2.0, 2 * 3 * 4).reshape(2, 3, 4)


def test_right_answer_passes():
    reference = _signed_map()
    assert diagnose_tensor(reference.clone(), reference) is None
    assert diagnose_tensor(reference.double() + 1e-9, reference) is None


def test_not_a_tensor_and_nan():
    reference = _signed_map()
    assert "torch.Tensor" in diagnose_tensor(reference.tolist(), reference)
    broken = reference.clone()
    broken[0, 0, 0] = float("nan")
    assert "NaN" in diagnose_tensor(broken, reference)


def test_shape_hints_say_how_the_shape_differs():
    reference = _signed_map()
    assert "transpose" in diagnose_tensor(reference.transpose(1, 2), reference)
    assert "keepdim" in diagnose_tensor(reference[:, None], reference)
    assert "wrong axis" in diagnose_tensor(reference.sum(dim=2), reference)
    named = diagnose_tensor(reference.sum(dim=2), reference, axis_names=("image", "row", "column"))
    assert "image x row x column" in named


def test_value_hints_name_the_kind_of_mistake():
    reference = _signed_map()
    assert "opposite sign" in diagnose_tensor(-reference, reference)
    assert "ReLU is missing" in diagnose_tensor(reference, torch.relu(reference))
    assert "drop the ReLU" in diagnose_tensor(torch.relu(reference), reference)
    assert "constant factor of about 12" in diagnose_tensor(12 * reference, reference)
    assert "different values" in diagnose_tensor(reference + torch.rand(2, 3, 4), reference)


def test_hints_never_contain_the_expected_values():
    reference = torch.tensor([[0.123456, 0.654321]])
    hint = diagnose_tensor(torch.zeros(1, 2) + 5, reference)
    assert "0.123" not in hint and "0.654" not in hint


def test_report_prints_and_returns(capsys):
    passed = report(None, "all good")
    assert bool(passed) is True and passed.passed is True
    assert capsys.readouterr().out == "✓ all good\n"
    assert bool(report("a hint", "all good")) is False
    assert capsys.readouterr().out == "✗ Not yet: a hint.\n"


def test_a_check_result_shows_nothing_at_the_end_of_a_notebook_cell():
    from IPython.core.formatters import DisplayFormatter

    result = report(None, "all good")
    assert hasattr(result, "_ipython_display_") and result._ipython_display_() is None
    assert repr(result) == "CheckResult(passed=True)"
    # IPython's formatter defers to _ipython_display_ and so produces no output data.
    data, _ = DisplayFormatter().format(result)
    assert data == {}


def test_a_hint_is_printed_with_one_full_stop_where_it_ends(capsys):
    """A learner's error message ending with '.' and the check's own '.' after it print once (issue 21: '..')."""
    assert punctuated("f raised ValueError: bad shape.. It is called as f(x).") == (
        "f raised ValueError: bad shape. It is called as f(x)."
    )
    assert punctuated("the value is wrong. . Re-read it") == "the value is wrong. Re-read it."
    assert punctuated("is this a question?") == "is this a question?"
    assert punctuated("  use .reshape(...) instead  ") == "use .reshape(...) instead."  # an ellipsis stays
    report("torch said: view size is not compatible.\n.", "")
    assert capsys.readouterr().out == "✗ Not yet: torch said: view size is not compatible.\n"


def test_hints_agree_with_a_plural_name():
    reference = _signed_map()
    assert diagnose_tensor(-reference, reference, name="your maps").startswith("your maps have the right magnitude")
    assert diagnose_tensor(-reference, reference, name="your map").startswith("your map has the right magnitude")
    assert diagnose_tensor(reference[0], reference, name="your vector of maps").startswith("your vector of maps has")
    broken = reference.clone()
    broken[0, 0, 0] = float("nan")
    assert diagnose_tensor(broken, reference, name="your maps").startswith(
        "there are NaN or infinite values in your maps"
    )


# --- every check's hints: one full stop, concepts rather than code ---------------------------------------------

#: Code a hint must not spell out (issue 21): an indexing or slicing of a named tensor, ``weight[class_idx]``,
#: ``tokens[:, prefix_tokens:]``, and a keyword argument with its value, ``(cascade=False)``, ``class_idx=other_idx``.
GIVEAWAYS = re.compile(r"\w\[[^\]\d][^\]]*\]|\b[a-z_]+=[A-Za-z_]\w*")


def _hint_strings() -> list[tuple[str, str]]:
    """(where, text) of every string literal in the exercise modules that is not a docstring."""
    found = []
    for path in sorted(Path(exercises.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.append((f"{path.name}:{node.lineno}", node.value))
    return found


def test_no_hint_spells_out_the_code_of_the_answer():
    offending = [(where, text) for where, text in _hint_strings() if " " in text and GIVEAWAYS.search(text)]
    assert not offending, "hints name the concept, not the code: " + repr(offending)


def test_the_giveaway_pattern_catches_the_issues_examples():
    for text in (
        "pick weight[class_idx] (N x K).",
        "Randomise each stage alone (cascade=False).",
        "drop tokens[:, prefix_tokens:] first",
        "pass class_idx=other_idx to Grad-CAM",
    ):
        assert GIVEAWAYS.search(text), text
    for text in ("a missing [0], or a missing unsqueeze?", "the softmax over the batch axis (dim=0)"):
        assert not GIVEAWAYS.search(text), text


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_checks_wrong_answer_prints_one_hint_with_one_full_stop(name, request, capsys):
    """The wrong answer of every check (tests/test_exercise_rng.py's table) prints a hint ending in a full stop,
    without '..' or '. .' (issue 21: notebook 08's hints printed '..')."""
    _, wrong = ANSWERS[name](request)
    assert not getattr(exercises, name)(*wrong)
    out = capsys.readouterr().out.strip()
    assert out.startswith("✗ Not yet: ") and "\n" not in out, out
    assert out.endswith((".", "?")) and not re.search(r"[^.]\.\s*\.(?!\.)", out), out


# --- the checks do not ship the solutions -------------------------------------------------------------------

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _code(line: str) -> str:
    """A line of code without its comment and without any whitespace, for comparison."""
    return re.sub(r"\s+", "", line.split("#")[0])


def test_no_check_ships_a_line_of_a_notebooks_solution():
    """`??` on a check shows no solution (issue 21: nb04's reference was exercise 04-1's solution line for line).

    Every solution line of some substance (30 characters of code or more) is looked for in the exercise modules,
    whose references go through the library (grad_cam, cam_from_features, deletion_curve, masked_scores, rollout,
    vit_reshape, class_gradients) or another formulation.
    """
    module_lines = {
        path.name: {_code(line) for line in path.read_text(encoding="utf-8").splitlines()}
        for path in Path(exercises.__file__).parent.glob("*.py")
    }
    shipped = []
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            for block in SOLUTION.findall("".join(cell["source"])):
                for line in block.splitlines():
                    code = _code(line)
                    shipped += [
                        (notebook.name[:2], name, line.strip())
                        for name, lines in module_lines.items()
                        if len(code) >= 30 and code in lines
                    ]
    assert not shipped, shipped

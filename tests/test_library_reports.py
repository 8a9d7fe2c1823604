"""The bug reports on other libraries (docs/library-reports/) still reproduce.

Each report holds one or more ```python blocks, each followed by "Output:" and a ```text block with what the script
printed when the report was written. This module runs every report's blocks in order, in one namespace, and
compares what they print with those blocks, character for character (the scripts round their numbers so that
another CPU cannot flip a printed digit). When a new release of a library fixes a bug, its report stops matching:
the failure says so, and the report's verdict and output are then updated.

* pytorch-grad-cam and torchcam come with the "libraries" extra: the reports are skipped with the reason where it
  is absent (tests/libraries.py);
* quantus is not a dependency of this project: its reports were run by hand in a throwaway environment (each says
  so) and are NOT executed by the suite; they are skipped unless quantus happens to be importable.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
from pathlib import Path

import pytest
import torch

from tests.libraries import require_library

REPORTS_DIR = Path(__file__).resolve().parents[1] / "docs" / "library-reports"
REPORTS = sorted(path for path in REPORTS_DIR.glob("*.md") if path.name != "README.md")
# A script and what it printed: ```python ... ``` then "Output:" then ```text ... ```.
SCRIPT_AND_OUTPUT = re.compile(r"```python\n(?P<script>.*?)\n```\s*\nOutput:\s*\n```text\n(?P<output>.*?)\n```", re.S)
# Report file name prefix -> the module its scripts import.
LIBRARY_OF_PREFIX = {"pytorch-grad-cam-": "pytorch_grad_cam", "torchcam-": "torchcam", "quantus-": "quantus"}
QUANTUS_SKIP_REASON = (
    "quantus is not installed in this project's environment: the quantus reports were run by hand in a throwaway "
    "venv (see each report) and are not executed by the test suite"
)


def library_of(report: Path) -> str:
    """The module a report's scripts need, from the report's file name."""
    for prefix, module in LIBRARY_OF_PREFIX.items():
        if report.name.startswith(prefix):
            return module
    raise ValueError(f"{report.name}: name it <library>-<short-name>.md with a library of {sorted(LIBRARY_OF_PREFIX)}")


def scripts_and_outputs(report: Path) -> list[tuple[str, str]]:
    """(script, printed output) pairs of a report, in order."""
    return [(match["script"], match["output"]) for match in SCRIPT_AND_OUTPUT.finditer(report.read_text())]


def test_there_are_reports() -> None:
    assert len(REPORTS) >= 11, f"expected the issue-23 reports in {REPORTS_DIR}, found {[p.name for p in REPORTS]}"


@pytest.mark.parametrize("report", REPORTS, ids=lambda path: path.stem)
def test_report_is_complete(report: Path) -> None:
    """Each report names its library's version and environment, reproduces, explains and proposes a fix."""
    text = report.read_text()
    library_of(report)  # a known library prefix
    assert scripts_and_outputs(report), f"{report.name}: no ```python block followed by 'Output:' and a ```text block"
    for needed in ("**Library:**", "**Verdict:**", "**Environment:**", "## Reproduction", "## Root cause"):
        assert needed in text, f"{report.name}: missing {needed!r}"
    assert "## Suggested fix" in text, f"{report.name}: missing '## Suggested fix'"


def test_index_lists_every_report() -> None:
    index = (REPORTS_DIR / "README.md").read_text()
    missing = [report.name for report in REPORTS if f"({report.name})" not in index]
    assert not missing, f"docs/library-reports/README.md does not link {missing}"


@pytest.mark.parametrize("report", REPORTS, ids=lambda path: path.stem)
def test_report_still_reproduces(report: Path) -> None:
    """Run the report's scripts; what they print must still be what the report says they print."""
    module = library_of(report)
    if module == "quantus":
        pytest.importorskip("quantus", reason=QUANTUS_SKIP_REASON)
    else:
        require_library(module)
    namespace: dict[str, object] = {"__name__": "__main__"}
    with torch.random.fork_rng():  # the scripts seed torch's global generator: leave it as it was
        for index, (script, expected) in enumerate(scripts_and_outputs(report), start=1):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(script, f"{report.name}, python block {index}", "exec"), namespace)
            actual = printed.getvalue().rstrip("\n")
            if actual != expected:
                diff = "\n".join(
                    difflib.unified_diff(expected.splitlines(), actual.splitlines(), "report", "now", lineterm="")
                )
                pytest.fail(
                    f"{report.name}, python block {index}: the output no longer matches the report. If a new release "
                    f"of {module} changed this (fixed the bug?), update the report's verdict and Output block "
                    f"(and the index).\n{diff}"
                )

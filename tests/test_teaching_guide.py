"""The instructor guide, docs/teaching.md, is true of the notebooks, and its offline recipe works.

Checked mechanically, against the notebooks of this checkout:

* every link to a notebook resolves to a file in notebooks/, named with the notebook's number; a notebook
  numbered after the last one of the checkout may still be missing (a branch that predates it), and is checked
  as soon as it is there;
* every pointer ``[NN · Heading](../notebooks/NN_name.ipynb)`` names a heading of that notebook (for the title,
  its first heading without the ``NN · `` prefix); a coding exercise is matched by its title;
* the table of notebooks (read as a table, by its column names): titles and prerequisites as each notebook's
  header states them, study times as ``tools/study_time.py`` computes them, and the totals; one learning-outcomes
  section per notebook;
* the homework: every exercise or section named exists, and the table of exercises lists every coding exercise;
* (tests/test_teaching_plans.py) the lab and the sessions, their minutes and skip-lists, the homework's minutes,
  the quiz sheet and the setup check;
* the quiz: numbered questions, each with an answer and a pointer; every decimal number of an answer is printed
  or written in a notebook it points to;
* the misconceptions of issue 11, each with its section, pointers or a demonstration; the demonstrations run
  (they assert what the guide says about them);
* ``make wheelhouse`` downloads at the lock's versions what the environment's installs take (``make -n``), and
  (marked slow: it downloads) an offline install from the wheelhouse works, on a tiny scale (two small wheels,
  and this project built with the wheelhouse's setuptools).

How the guide words or lays out a section is not checked: only what it says about the notebooks and the tools.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

import cam_utils
from tests.test_setup import run_make

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import study_time  # tools/ is not a package: found through the sys.path entry above

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "teaching.md"
NOTEBOOK_DIR = ROOT / "notebooks"

POINTER = re.compile(r"\[(\d\d) · ([^\]]+)\]\(([^)\s]+)\)")
NOTEBOOK_LINK = re.compile(r"\]\((\.\./notebooks/[^)#\s]+)\)")
EXERCISE = re.compile(r"^Coding exercise(?: (\d+))?: (.+)$")
DECIMAL = re.compile(r"\d+\.\d+")
MISCONCEPTIONS = {  # issue 11, item 2: each must have its section in the guide
    "softmax vs logit as the target": r"softmax vs logit",
    "all-negative maps becoming all zeros after ReLU": r"all-negative maps .* zeros after the ReLU",
    "which layer to choose": r"which layer",
    "per-map normalisation hiding magnitude": r"normalisation hides magnitude",
    "train vs eval mode": r"train vs eval",
    "RGB vs BGR": r"RGB vs BGR",
    "in-place activations and hooks": r"in-place activations and hooks",
    "why upsampling a coarse map is acceptable": r"upsampling a coarse map",
}


# --- the notebooks ---------------------------------------------------------------------------------------------
@cache
def notebooks() -> dict[str, Path]:
    """Notebook number ("01") -> path, for the notebooks of this checkout."""
    return {path.name[:2]: path for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))}


@cache
def cells(path: Path) -> tuple[dict, ...]:
    return tuple(json.loads(path.read_text(encoding="utf-8"))["cells"])


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@cache
def headings(path: Path) -> tuple[str, ...]:
    """Every Markdown heading of a notebook, any level, as written (fenced code skipped)."""
    found = []
    for cell in cells(path):
        if cell["cell_type"] != "markdown":
            continue
        fenced = False
        for line in _source(cell).splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and (match := re.match(r"#{1,6} (.+?)\s*$", line)):
                found.append(match.group(1))
    return tuple(found)


def title(path: Path) -> str:
    """The notebook's title: its first heading, "NN · Title", without the number."""
    first = headings(path)[0]
    assert first.startswith(f"{path.name[:2]} · "), f"{path.name}: the title should start with its number"
    return first.removeprefix(f"{path.name[:2]} · ")


def header(path: Path) -> str:
    return _source(cells(path)[0])


@cache
def notebook_text(path: Path) -> str:
    """Everything a reader sees: sources and printed outputs."""
    parts = []
    for cell in cells(path):
        parts.append(_source(cell))
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def prerequisites(path: Path) -> set[str] | None:
    """The notebook numbers its header names as prerequisites (None when it has no such line)."""
    match = re.search(r"\*\*Prerequisites:\*\*(.*?)(?:\n\s*\n|\*\*|$)", header(path), flags=re.S)
    if match is None:
        return None
    text = match.group(1)
    return set(re.findall(r"\((\d\d)_[^)]*\.ipynb\)", text)) | set(re.findall(r"notebook (\d\d)\b", text))


def coding_exercises(path: Path) -> list[tuple[str | None, str]]:
    """(number or None, title) of every coding exercise of a notebook."""
    return [match.groups() for heading in headings(path) if (match := EXERCISE.match(heading))]


def names_heading(named: str, path: Path) -> bool:
    """Whether `named` is a heading (or the title) of the notebook; exercises match by title and number."""
    if named in headings(path) or named == title(path):
        return True
    wanted = EXERCISE.match(named)
    if wanted is None:
        return False
    return any(
        heading_title == wanted.group(2) and number in (None, wanted.group(1))
        for number, heading_title in coding_exercises(path)
    )


# --- the guide -------------------------------------------------------------------------------------------------
@cache
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def section(heading: str, level: int = 2, text: str | None = None) -> str:
    """The text under a heading that starts with `heading`, up to the next heading of the same or a higher level."""
    text = guide() if text is None else text
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(heading)}.*?$(.*?)(?=^#{{1,{level}}} |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/teaching.md has no section '{marks} {heading}'"
    return match.group(1)


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of ``text``: one {column name: cell} per row (the header row names the columns)."""
    found, lines = [], text.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            if i > 0 and lines[i - 1].startswith("|"):
                continue  # not a header: a row of a table above
            names = [cell.strip() for cell in lines[i].strip().strip("|").split("|")]
            rows = []
            for line in lines[i + 2 :]:
                if not line.startswith("|"):
                    break
                rows.append(
                    dict(zip(names, (cell.strip() for cell in line.strip().strip("|").split("|")), strict=True))
                )
            found.append(rows)
    return found


def table_with(columns: set[str], text: str) -> list[dict[str, str]]:
    """The one table of ``text`` that has (at least) these columns."""
    (rows,) = [rows for rows in tables(text) if rows and columns <= set(rows[0])]
    return rows


def pointers(text: str) -> list[tuple[str, str, str]]:
    return POINTER.findall(text)


def missing_notebook_allowed(number: str) -> bool:
    """A notebook numbered after the last one of this checkout (it lands later) may be missing."""
    return not notebooks() or number > max(notebooks())


def quiz_questions() -> dict[int, str]:
    parts = re.split(r"^\*\*Q(\d+)\.\*\*", section("Quiz"), flags=re.M)
    return {int(number): body for number, body in zip(parts[1::2], parts[2::2], strict=True)}


# --- links, pointers, exercises --------------------------------------------------------------------------------
def test_every_notebook_link_resolves_to_its_notebook():
    links = NOTEBOOK_LINK.findall(guide())
    assert len(links) > 50
    for link in set(links):
        target = (GUIDE.parent / link).resolve()
        assert target.parent == NOTEBOOK_DIR and re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", target.name), link
        assert target.exists() or missing_notebook_allowed(target.name[:2]), f"{link}: no such notebook"
    assert set(notebooks()) <= {Path(link).name[:2] for link in links}, "every notebook is linked"


def test_every_pointer_names_a_heading_of_its_notebook():
    found = pointers(guide())
    assert len(found) > 80
    for number, named, link in found:
        target = (GUIDE.parent / link).resolve()
        assert target.name.startswith(f"{number}_"), f"[{number} · {named}] links to {link}"
        if target.exists():
            assert names_heading(named, target), f"[{number} · {named}]: no such heading in {target.name}"


def test_the_table_of_exercises_lists_every_coding_exercise():
    table = "\n".join(line for line in section("Homework").splitlines() if line.startswith("| ["))
    listed = pointers(table)
    for number, path in notebooks().items():
        named = {EXERCISE.match(text).group(2) for row_number, text, _ in listed if row_number == number}
        assert named == {exercise_title for _, exercise_title in coding_exercises(path)}, path.name
    for number, text, _ in pointers(section("Homework")):
        if number in notebooks():
            assert names_heading(text, notebooks()[number]), f"homework: [{number} · {text}]"


# --- the notebooks at a glance, learning outcomes ----------------------------------------------------------------
def glance_rows() -> list[tuple[str, str, int, str]]:
    """(number, title, study minutes, builds on) of each row of the table of notebooks."""
    rows = []
    for row in table_with({"Notebook", "Study time", "Builds on"}, section("The notebooks at a glance")):
        ((number, name, _),) = pointers(row["Notebook"])
        rows.append(
            (number, name, int(re.fullmatch(r"(\d+) min(utes)?", row["Study time"]).group(1)), row["Builds on"])
        )
    return rows


def test_study_times_are_computed_and_titles_and_prerequisites_agree_with_the_notebooks():
    rows = glance_rows()
    assert [number for number, *_ in rows] == [f"{n:02d}" for n in range(1, len(rows) + 1)]
    assert set(notebooks()) <= {number for number, *_ in rows}, "every notebook has its row"
    for number, name, minutes, builds_on in rows:
        path = notebooks().get(number)
        if path is None:
            assert missing_notebook_allowed(number)
            continue
        assert name == title(path), f"{path.name}: title"
        computed = study_time.notebook_load(path)[0].rounded_minutes  # the main path's, as in the header
        assert minutes == computed, (
            f"{path.name}: the guide says {minutes} min, tools/study_time.py computes {computed}"
        )
        named = prerequisites(path)
        if named:
            assert set(re.findall(r"\d\d", builds_on)) == named, f"{path.name}: prerequisites {builds_on}"
        elif named is not None:
            assert builds_on == "none", f"{path.name}: no prerequisites"

    text = section("The notebooks at a glance")
    total = int(re.search(r"\*\*Total: (\d+) minutes\*\*", text).group(1))
    assert total == sum(minutes for _, _, minutes, _ in rows)
    hours, minutes = map(int, re.search(r"about (\d+) hours and (\d+) minutes", text).groups())
    assert 60 * hours + minutes == total
    core = int(re.search(r"Notebooks 01 to 04 are the core \((\d+) minutes\)", text).group(1))
    assert core == sum(minutes for number, _, minutes, _ in rows if number <= "04")


def test_each_notebook_has_its_learning_outcomes():
    outcomes = section("Learning outcomes")
    for number, name, _, _ in glance_rows():
        text = section(f"{number} · {name}", level=3, text=outcomes)
        assert re.search(r"^[*-] ", text, flags=re.M), f"{number}: no learning outcome"


# --- the quiz ------------------------------------------------------------------------------------------------------
def test_the_quiz_has_numbered_questions_with_answers_and_pointers():
    questions = quiz_questions()
    assert questions and sorted(questions) == list(range(1, len(questions) + 1))
    for number, body in questions.items():
        answer = re.search(r"^\*Answer\.\*(.+?)(?=^\*Section:\*)", body, flags=re.M | re.S)
        where = re.search(r"^\*Section:\*(.+)$", body, flags=re.M)
        assert answer and answer.group(1).strip(), f"Q{number}: answer"
        assert where and pointers(where.group(1)), f"Q{number}: the section it tests"
        present = [notebooks()[n] for n, _, _ in pointers(where.group(1)) if n in notebooks()]
        for decimal in DECIMAL.findall(answer.group(1)):
            assert not present or any(decimal in notebook_text(path) for path in present), (
                f"Q{number}: {decimal} is not in {[path.name for path in present]}"
            )


# --- the misconceptions --------------------------------------------------------------------------------------------
def test_every_misconception_has_its_section():
    text = section("Common misconceptions")
    parts = re.split(r"^### ", text, flags=re.M)[1:]
    for name, pattern in MISCONCEPTIONS.items():
        matching = [part for part in parts if re.search(pattern, part.splitlines()[0], flags=re.I)]
        assert len(matching) == 1, f"misconception '{name}': {len(matching)} sections"
        part = matching[0]
        assert pointers(part) or "```python" in part, f"{name}: neither a notebook that teaches it nor a demonstration"


def test_the_demonstrations_run():
    blocks = re.findall(r"```python\n(.*?)```", guide(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:  # in order, in one namespace, as an instructor would paste them
        exec(compile(block, str(GUIDE), "exec"), namespace)


def test_the_readme_links_the_guide():
    assert "](docs/teaching.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- the wheelhouse --------------------------------------------------------------------------------------------
def _lock_version(name: str) -> str:
    text = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(name)}==(\S+)$", text, flags=re.M | re.I).group(1)


def test_make_wheelhouse_takes_the_lock_and_what_the_environment_installs(tmp_path):
    shown = run_make("-n", "wheelhouse", f"PYTHON={sys.executable}")
    assert shown.returncode == 0, shown.stderr
    command = shown.stdout.strip().splitlines()[-1]
    assert "-m pip download --only-binary=:all:" in command and "--constraint requirements/lock.txt" in command
    build_requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert all(f'"{requirement}"' in command for requirement in build_requirements)
    wheelhouse_extras = set(re.search(r'"\.\[([\w,]+)\]"', command).group(1).split(","))
    # what the targets install into a fresh environment, as make would run it
    targets = ("lab", "test", "site", "student", "explorer", "bench")
    shown = run_make("-n", *targets, f"VENV={tmp_path / 'venv'}")
    assert shown.returncode == 0, shown.stderr
    installed = {
        extra
        for extras in re.findall(r' -m pip install .* -e "\.\[([\w,]+)\]"', shown.stdout)
        for extra in extras.split(",")
    }
    # lint: the contributors' tools (make lint), not the classroom's; bench: the benchmarks' grad-cam, which the
    # "libraries" extra brings too
    assert "dev" in installed and installed - {"bench", "lint"} <= wheelhouse_extras
    assert "libraries" in installed and "--no-binary=grad-cam" in command  # its only release is a source archive
    assert "wheelhouse/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow  # downloads two wheels from the package index
def test_make_wheelhouse_then_an_offline_install(tmp_path):
    """The guide's recipe on a tiny scale: download two small wheels, then install offline into a fresh venv."""
    wheelhouse = tmp_path / "wheelhouse"
    downloaded = run_make(
        "wheelhouse",
        f"PYTHON={sys.executable}",
        f"WHEELHOUSE={wheelhouse}",
        'WHEELHOUSE_FOR=iniconfig "setuptools>=77"',
    )
    assert downloaded.returncode == 0, downloaded.stdout[-2000:] + downloaded.stderr[-2000:]
    wheels = sorted(path.name for path in wheelhouse.iterdir())
    expected = {name: _lock_version(name) for name in ("iniconfig", "setuptools")}
    assert len(wheels) == 2 and all(
        any(wheel.startswith(f"{name}-{version}-") and wheel.endswith(".whl") for wheel in wheels)
        for name, version in expected.items()
    ), wheels

    # This project, as a classroom copy holds it (its sources; no build output).
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "cam_utils", project / "cam_utils", ignore=shutil.ignore_patterns("__pycache__"))

    # Offline: no pip configuration of this machine, no index, only the wheelhouse (as the guide sets it).
    offline = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    offline.update(
        PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse), PIP_DISABLE_PIP_VERSION_CHECK="1"
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "iniconfig", str(project)],
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the assert below shows pip's output
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version; print(version('iniconfig'), version('cam-utils'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert versions == [expected["iniconfig"], cam_utils.__version__]

"""The teaching guide's plans (docs/teaching.md) follow from the notebooks' study times and fit the student edition.

* the 90-minute lab and the two sessions: contiguous times that add up to their totals; a row's minutes are the
  study time of the sections it names (each with its subsections), as ``tools/study_time.py --sections``
  computes it, rounded up; its Skip column names every section between its first and last that it does not
  read; a quiz question is asked only after the exercise it draws on; and (with the course extra) every heading
  a row names or skips is in the student edition, before the first exercise's stub (where Run All stops);
* the homework: each list's minutes are the study times of what it names, plus 3 per quiz question; the table of
  exercises gives each exercise's minutes;
* the guide promises collapsed solutions and answers only for the full edition;
* the students' quiz sheet, docs/quiz.md: the guide's questions, written by tools/quiz_sheet.py, no answer;
* the setup check the guide and the README tell students to run is the module that exists.

The tables are read by column name; how the guide words a row is not checked.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.browser import require_course_extra
from tests.test_teaching_guide import (
    EXERCISE,
    ROOT,
    guide,
    notebooks,
    pointers,
    quiz_questions,
    section,
    table_with,
    tables,
)

sys.path.insert(0, str(ROOT / "tools"))
import quiz_sheet  # tools/ is not a package: found through the sys.path entry above
import study_time


def test_each_exercise_has_its_minutes():
    rows = table_with({"Exercise", "Min"}, section("Homework"))
    for row in rows:
        ((number, name, _),) = pointers(row["Exercise"])
        path = notebooks()[number]
        computed = rounded_up(minutes_of(path, section_range(path, [name])))
        assert int(row["Min"]) == computed, f"[{number} · {name}]: {row['Min']} min, computed {computed}"


def test_each_homework_list_takes_the_minutes_it_states():
    lists = re.findall(r"^\*\*After ([^*]+)\*\* \((\d+) minutes\):\n\n((?:\* .*\n)+)", section("Homework"), flags=re.M)
    assert [name for name, _, _ in lists] == ["the 90-minute lab", "session 1", "session 2"]
    for name, stated, items in lists:
        minutes = study_time.MINUTES_PER_QUESTION * len(re.findall(r"\bQ\d+\b", items))
        for number, heading, _ in pointers(items):
            path = notebooks()[number]
            minutes += minutes_of(path, section_range(path, [heading]))
        assert int(stated) == rounded_up(minutes), f"after {name}: {stated} minutes, computed {minutes:.1f}"


def test_the_sections_add_up_to_the_notebook_and_the_tool_prints_them(capsys):
    for path in notebooks().values():
        main, optional = study_time.notebook_load(path)
        for wanted, parts in (
            (main, [p for p in sections_of(path) if not p.optional]),
            (optional, [p for p in sections_of(path) if p.optional]),
        ):
            for field in ("words", "code_lines", "questions", "coding_exercises"):
                assert getattr(wanted, field) == sum(getattr(part.load, field) for part in parts), (path.name, field)
    path = notebooks()["04"]
    assert study_time.main(["--sections", str(path)]) == 0
    printed = capsys.readouterr().out
    step = sections_of(path)[section_index(path, "Step 3: the weighted sum, and the ReLU")]
    assert re.search(
        rf"^  Step 3: the weighted sum, and the ReLU +{step.load.words} .* {step.load.minutes:.1f}$", printed, re.M
    )
    assert "(optional)" in printed


# --- the lab and the sessions --------------------------------------------------------------------------------------
TIMING_COLUMNS = {"Time", "Min", "Who", "What", "Where", "Skip"}
QUOTED = re.compile(r'"([^"]+)"')


def timing_tables() -> dict[str, tuple[int, list[dict[str, str]]]]:
    """Heading -> (its total in minutes, its rows by column name) for every timed plan."""
    plans = {}
    # a heading that names minutes, and its own text, up to the next heading of any level
    for match in re.finditer(r"^#{2,3} ([^\n]*?(\d+)[- ]minutes?\b[^\n]*)\n(.*?)(?=^#|\Z)", guide(), flags=re.M | re.S):
        heading, total, text = match.group(1), int(match.group(2)), match.group(3)
        for rows in tables(text):
            if rows and {"Time", "Min", "Who"} <= set(rows[0]):
                assert TIMING_COLUMNS <= set(rows[0]), f"{heading}: columns {sorted(rows[0])}"
                plans[heading] = (total, rows)
    return plans


@cache
def sections_of(path: Path) -> tuple[study_time.Section, ...]:
    return tuple(study_time.section_loads(path))


def section_index(path: Path, named: str) -> int:
    """The position of the section headed ``named`` (or the title) in ``sections_of(path)``."""
    found = [
        i
        for i, part in enumerate(sections_of(path))
        if part.heading == named or (part.level == 1 and part.heading == f"{path.name[:2]} · {named}")
    ]
    assert len(found) == 1, f"{path.name}: {len(found)} sections headed {named!r}"
    return found[0]


def section_range(path: Path, named: list[str], skipped: list[str] = ()) -> set[int]:
    """The sections that headings ``named`` cover (each with its subsections), less those ``skipped``."""
    parts, covered = sections_of(path), set()
    for name in named:
        first = section_index(path, name)
        covered.add(first)
        for i in range(first + 1, len(parts)):
            if parts[i].level <= parts[first].level:
                break
            covered.add(i)
    return covered - {section_index(path, name) for name in skipped}


def minutes_of(path: Path, covered: set[int]) -> float:
    return sum(sections_of(path)[i].load.minutes for i in covered)


def rounded_up(minutes: float) -> int:
    return math.ceil(round(minutes, 6))


def plan_rows() -> list[tuple[str, dict[str, str]]]:
    return [(heading, row) for heading, (_, rows) in timing_tables().items() for row in rows]


def test_the_lab_and_the_sessions_add_up_to_their_totals():
    plans = timing_tables()
    assert sorted(total for total, _ in plans.values()) == [90, 120, 120], list(plans)
    questions = quiz_questions()
    for heading, (total, rows) in plans.items():
        clock = 0
        for row in rows:
            start, end = map(int, re.fullmatch(r"(\d+)\s*[–-]\s*(\d+)", row["Time"]).groups())
            assert start == clock and end - start == int(row["Min"]), f"{heading}: {row['Time']}"
            assert row["Who"] in {"instructor", "students", "all"}, f"{heading}: {row['Who']}"
            assert row["Where"] == "—" or pointers(row["Where"]), f"{heading}, {row['Time']}: where?"
            for quoted in re.findall(r"\bQ(\d+)\b", row["What"]):
                assert int(quoted) in questions, f"{heading}: quiz question Q{quoted}"
            clock = end
        assert clock == total == sum(int(row["Min"]) for row in rows), f"{heading}: {clock} minutes"


def test_each_row_takes_the_study_time_of_its_sections_and_names_what_it_skips():
    timed = 0
    for heading, row in plan_rows():
        named, skipped = pointers(row["Where"]), QUOTED.findall(row["Skip"])
        if not named or row["Who"] == "all":  # a review, a break, a buffer: no sections read
            assert row["Skip"] == "—", f"{heading}, {row['Time']}: skips without sections"
            continue
        (number,) = {n for n, _, _ in named}  # one notebook per row
        path = notebooks()[number]
        covered = section_range(path, [name for _, name, _ in named], skipped)
        skipped_at = {section_index(path, name) for name in skipped}
        assert not skipped_at & {section_index(path, name) for _, name, _ in named}, f"{heading}: named and skipped"
        between = set(range(min(covered), max(covered) + 1)) - covered
        assert between <= skipped_at, (
            f"{heading}, {row['Time']}: not read and not in Skip: {[sections_of(path)[i].heading for i in between]}"
        )
        computed = rounded_up(minutes_of(path, covered))
        assert int(row["Min"]) == computed, f"{heading}, {row['Time']}: {row['Min']} min, computed {computed}"
        timed += 1
    assert timed >= 20


def test_quiz_questions_in_session_1_need_nothing_from_its_homework():
    """Q11 uses 04's coding exercise 1: it is asked after that exercise, never before it is done."""
    questions = quiz_questions()
    for heading, (_, rows) in timing_tables().items():
        seen: set[str] = set()
        for row in rows:
            seen |= {name for _, name, _ in pointers(row["Where"]) if row["Who"] != "all" or "review" in row["What"]}
            for number in re.findall(r"\bQ(\d+)\b", row["What"]):
                where = re.search(r"^\*Section:\*(.+)$", questions[int(number)], flags=re.M).group(1)
                exercises = {name for _, name, _ in pointers(where) if EXERCISE.match(name)}
                assert exercises <= seen, f"{heading}: Q{number} needs {exercises - seen}, not done yet"


def test_the_guide_tells_students_what_the_student_edition_shows():
    """What the student edition removes is promised only for the full edition."""
    for sentence in re.split(r"(?<=[.:;])\s", guide()):
        if re.search(r"collapsed (solution|discussion|answer|cell)|answers collapsed", sentence, flags=re.I):
            assert "full edition" in sentence, f"the student edition has no collapsed answers: {sentence!r}"


@pytest.mark.course
def test_the_sections_the_plans_name_are_in_the_student_edition_before_the_first_stub():
    """Students run all cells first: the run stops at the first exercise's stub, after every section a row reads."""
    require_course_extra("nbgrader")
    import nbformat
    import student_edition

    needed: dict[str, set[str]] = {}
    for _, row in plan_rows():
        for number, name, _ in pointers(row["Where"]):
            needed.setdefault(number, set()).update({name, *QUOTED.findall(row["Skip"])})
    for number, names in needed.items():
        student = student_edition.student_notebook(nbformat.read(notebooks()[number], as_version=4))
        position: dict[str, int] = {}
        first_stub = None
        for index, cell in enumerate(student.cells):
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if match := re.match(r"#{1,6} (.+?)\s*$", line):
                        position.setdefault(match.group(1), index)
            elif first_stub is None and student_edition.STUB in cell.source:
                first_stub = index
        assert first_stub is not None, f"{number}: no stub in the student edition"
        for name in names:
            assert name in position, f"{number}: {name!r} is not in the student edition"
            if not EXERCISE.match(name):
                assert position[name] < first_stub, f"{number}: {name!r} comes after the first stub"


def test_the_quiz_sheet_has_the_guides_questions_and_no_answer():
    sheet = (ROOT / "docs" / "quiz.md").read_text(encoding="utf-8")
    assert sheet == quiz_sheet.quiz_sheet(guide()), "docs/quiz.md is stale: run python tools/quiz_sheet.py"
    asked = dict(re.findall(r"^\*\*Q(\d+)\.\*\* (.+?)(?=^\*Section:\*)", sheet, flags=re.M | re.S))
    questions = quiz_questions()
    assert sorted(map(int, asked)) == sorted(questions)
    for number, body in questions.items():
        question = body.split("*Answer.*")[0].strip()
        answer = re.search(r"^\*Answer\.\*(.+?)(?=^\*Section:\*)", body, flags=re.M | re.S).group(1).strip()
        assert " ".join(asked[str(number)].split()) == " ".join(question.split()), f"Q{number}"
        assert answer[:40] not in sheet, f"Q{number}: its answer is on the sheet"
    assert "*Answer" not in sheet and "teaching.md" not in sheet


def test_the_quiz_sheet_tool_writes_and_checks(tmp_path):
    target = tmp_path / "quiz.md"
    assert quiz_sheet.main(["--out", str(target)]) == 0
    assert quiz_sheet.main(["--out", str(target), "--check"]) == 0
    target.write_text("stale\n", encoding="utf-8")
    assert quiz_sheet.main(["--out", str(target), "--check"]) == 1


def test_the_setup_check_students_are_told_to_run_exists():
    for text in (guide(), (ROOT / "README.md").read_text(encoding="utf-8")):
        modules = set(re.findall(r"python -m (cam_utils\.course\.[a-z_]+)", text))
        assert modules == {"cam_utils.course.setup_check"}, modules
    assert importlib.util.find_spec("cam_utils.course.setup_check") is not None

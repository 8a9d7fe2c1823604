"""Write the students' quiz sheet, docs/quiz.md: the questions of docs/teaching.md's quiz, without the answers.

Usage: python tools/quiz_sheet.py [--out docs/quiz.md] [--check]

Each question keeps its number and the section that teaches it (the links work from docs/, as in the guide);
its answer is left out. ``--check`` writes nothing and exits 1 when the sheet differs from what the guide gives
(the test runs it the same way).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
SHEET = ROOT / "docs" / "quiz.md"
QUESTION = re.compile(r"^\*\*Q(\d+)\.\*\*", re.M)
INTRO = """\
# Quiz

{count} questions on the notebooks, without their answers: write yours first, then compare them in class (or,
working alone, with the sections named under each question). This sheet is written from the course's quiz by
`tools/quiz_sheet.py`: do not edit it by hand.
"""


def quiz_section(guide: str) -> str:
    """The text of the guide's ``## Quiz`` section."""
    match = re.search(r"^## Quiz\s*$(.*?)(?=^## |\Z)", guide, flags=re.M | re.S)
    if match is None:
        raise ValueError("docs/teaching.md has no '## Quiz' section: the sheet is written from it")
    return match.group(1)


def quiz_sheet(guide: str) -> str:
    """The sheet for the guide's text: every question and its section, no answer."""
    parts = QUESTION.split(quiz_section(guide))
    entries = []
    for number, body in zip(parts[1::2], parts[2::2], strict=True):
        question, separator, rest = body.partition("*Answer.*")
        where = rest[rest.find("*Section:*") :].strip() if "*Section:*" in rest else ""
        if not separator or not where:
            raise ValueError(f"Q{number} of the guide's quiz needs an '*Answer.*' and a '*Section:*' line")
        entries.append(f"**Q{number}.** {question.strip()}\n\n{where}\n")
    if not entries:
        raise ValueError("the guide's quiz has no question (**Q1.** ...)")
    return INTRO.format(count=len(entries)) + "\n" + "\n".join(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHEET, help="where to write it (default: docs/quiz.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the sheet is stale")
    args = parser.parse_args(argv)
    sheet = quiz_sheet(GUIDE.read_text(encoding="utf-8"))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != sheet:
            print(f"{args.out} is stale: run python tools/quiz_sheet.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(sheet, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""From what a person types to a class index: one rule for the command line, the explorer and your code.

:func:`find_class` accepts an index (``"281"``), the explorer's label (``"281 tabby"``), a class name in any
case (``"Tabby"``), or, with ``partial=True``, a unique part of a name (``"tabb"``). Where two classes share a
name up to case (ImageNet has ``Cardigan``, the dog, 264, and ``cardigan``, the jacket, 474), the exact
spelling decides, and a lower-case ``"cardigan"`` means the jacket, not the first of the two.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

__all__ = ["ClassNameError", "find_class"]

#: How many candidates an error lists.
MAX_CANDIDATES = 5


class ClassNameError(ValueError):
    """No class, or several, match the text; ``candidates`` holds the indices worth suggesting."""

    def __init__(self, message: str, text: str, candidates: Sequence[int]) -> None:
        super().__init__(message)
        self.text = text
        self.candidates = list(candidates)


def listing(indices: Sequence[int], categories: Sequence[str]) -> str:
    """'285 'Egyptian cat', 282 'tiger cat', ... (3 more)' for at most MAX_CANDIDATES indices."""
    shown = ", ".join(f"{index} {categories[index]!r}" for index in indices[:MAX_CANDIDATES])
    hidden = len(indices) - MAX_CANDIDATES
    return shown + (f", ... ({hidden} more)" if hidden > 0 else "")


def _exact(text: str, categories: Sequence[str]) -> list[int]:
    """Classes named ``text`` up to case; where several, the ones spelled exactly so, if any."""
    wanted = text.lower()
    exact = [index for index, name in enumerate(categories) if name.lower() == wanted]
    if len(exact) > 1:
        exact = [index for index in exact if categories[index] == text] or exact
    return exact


def find_class(text: str, categories: Sequence[str], partial: bool = True) -> int:
    """The index of the class ``text`` names.

    Tried in order: an integer index; ``"INDEX NAME"`` (the explorer's labels); a name up to case, the
    exact spelling deciding between names that differ only in case (a lower-case text then means the
    lower-case name); with ``partial``, a unique case-insensitive part of a name.

    Raises:
        ClassNameError: out of range, empty, unknown, or ambiguous; the message lists candidates.
    """
    text = text.strip()
    count = len(categories)
    if re.fullmatch(r"[+-]?\d+", text):
        index = int(text)
        if not 0 <= index < count:
            raise ClassNameError(
                f"class index {index} is out of range: the model has {count} classes (indices 0 to {count - 1}).",
                text,
                [],
            )
        return index
    labelled = re.fullmatch(r"(\d+) (.+)", text)
    if (
        labelled
        and int(labelled.group(1)) < count
        and categories[int(labelled.group(1))].lower() == labelled.group(2).lower()
    ):
        return int(labelled.group(1))
    if not text:
        raise ClassNameError(f"the class is empty; give a class index (0-{count - 1}) or a class name.", text, [])
    exact = _exact(text, categories)
    if len(exact) == 1:
        return exact[0]
    wanted = text.lower()
    matches = exact or ([index for index, name in enumerate(categories) if wanted in name.lower()] if partial else [])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ClassNameError(
            f"{text!r} matches {len(matches)} classes: {listing(matches, categories)}. "
            "Give more of the name, or the index.",
            text,
            matches,
        )
    lowered = [name.lower() for name in categories]
    close = [lowered.index(name) for name in difflib.get_close_matches(wanted, lowered, n=MAX_CANDIDATES, cutoff=0.6)]
    suggestion = (
        f"Did you mean {listing(close, categories)}?"
        if close
        else f"Give a class index 0-{count - 1}, or a part of a class name."
    )
    raise ClassNameError(f"no class name contains {text!r}. {suggestion}", text, close)

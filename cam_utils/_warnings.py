"""This package's warnings, collected so that a tool can show them in its own words (internal).

The command line prints them as ``warning: ...`` lines in option terms, the explorer in its status
line. Warnings of other libraries are passed on unchanged, as Python would have shown them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_PACKAGE_FOLDER = str(Path(__file__).parent)


def _one_line(warning: Warning | str) -> str:
    return " ".join(str(warning).split())


@contextmanager
def library_warnings(describe: Callable[[Warning | str], str] = _one_line) -> Iterator[list[str]]:
    """Collect the messages (each on one line) of the warnings this package raises during the block.

    The list is filled when the block ends, also when it raises. Every occurrence is collected (no
    "once per place" filtering), so a cached result can keep its warning. ``describe`` turns each
    warning into its line (default: its own message; the command line says it with its options).
    """
    messages: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", module=r"cam_utils\.")
            yield messages
    finally:
        # Outside the recording block: there, showwarning is Python's again (inside it, it would
        # append to `caught` while the loop reads it).
        for warning in caught:
            if warning.filename.startswith(_PACKAGE_FOLDER):
                messages.append(describe(warning.message))
            else:
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)

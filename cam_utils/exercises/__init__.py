"""Self-checks for the notebooks' coding exercises.

Each coding exercise in a notebook has one ``check_…`` function here. It runs the student's
function (or looks at the student's value) on inputs the student has not seen, compares the
result with a reference computed here, and prints either a ✓ or a *hint* of what is wrong
(shape, sign, missing ReLU, wrong axis, …): never the answer itself. It returns ``True`` when
the answer is right, so a notebook can also ``assert check_…(…)``.

One file per notebook (``nb02.py`` holds the checks of notebook 02, …); every check is
re-exported here, so a notebook writes ``from cam_utils.exercises import check_cam_by_hand``.
The shared diagnosis of a wrong map or tensor lives in :mod:`cam_utils.exercises.feedback`.
"""
from __future__ import annotations

from .feedback import diagnose_tensor, report

__all__ = ["diagnose_tensor", "report"]
from .nb08 import check_independent_test  # noqa: E402  (notebook 08)

__all__ += ["check_independent_test"]
from .nb09 import check_tokens_to_maps, check_weighted_rollout  # noqa: E402  (notebook 09)

__all__ += ["check_tokens_to_maps", "check_weighted_rollout"]

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

from .nb01 import check_flip_left_right, check_group_probability  # notebook 01
__all__ += ["check_flip_left_right", "check_group_probability"]
from .nb02 import check_batch_cam, check_channel_contributions  # notebook 02
__all__ += ["check_batch_cam", "check_channel_contributions"]
from .nb03 import check_gradients_for_classes, check_record_stages  # notebook 03
__all__ += ["check_gradients_for_classes", "check_record_stages"]
from .nb04 import check_grad_cam_by_hand, check_probability_grad_cam  # notebook 04
__all__ += ["check_grad_cam_by_hand", "check_probability_grad_cam"]
from .nb05 import check_crop_box, check_rank_and_probability  # notebook 05
__all__ += ["check_crop_box", "check_rank_and_probability"]
from .nb06 import check_signed_grad_cam  # notebook 06
__all__ += ["check_signed_grad_cam"]
from .nb07 import check_deletion_scores, check_espresso_deletion  # notebook 07
__all__ += ["check_deletion_scores", "check_espresso_deletion"]
from .nb08 import check_independent_test  # notebook 08
__all__ += ["check_independent_test"]
from .nb09 import check_tokens_to_maps, check_weighted_rollout  # noqa: E402  (notebook 09)

__all__ += ["check_tokens_to_maps", "check_weighted_rollout"]

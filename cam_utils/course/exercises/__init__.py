"""Self-checks for the notebooks' coding exercises.

Each coding exercise in a notebook has one ``check_…`` function here. It runs the student's
function (or looks at the student's value) on inputs the student has not seen, compares the
result with a reference computed here, and prints either a ✓ or a *hint* of what is wrong
(shape, sign, missing ReLU, wrong axis, …): never the answer itself. It returns ``True`` when
the answer is right, so a notebook can also ``assert check_…(…)``.

One file per notebook (``nb02.py`` holds the checks of notebook 02, …); every check is
re-exported here, so a notebook writes ``from cam_utils.course.exercises import check_cam_by_hand``.
The shared diagnosis of a wrong map or tensor lives in :mod:`cam_utils.course.exercises.feedback`.
"""

from __future__ import annotations

from .feedback import CheckResult, diagnose_tensor, report
from .nb01 import check_flip_left_right, check_group_probability
from .nb02 import check_batch_cam, check_channel_contributions
from .nb03 import check_gradients_for_classes, check_record_stages
from .nb04 import check_grad_cam_by_hand, check_probability_grad_cam
from .nb05 import check_crop_box, check_rank_and_probability
from .nb06 import check_signed_grad_cam
from .nb07 import check_increase_of_confidence
from .nb08 import check_deletion_scores, check_other_class_deletion
from .nb09 import check_independent_test
from .nb10 import check_tokens_to_maps, check_weighted_rollout
from .nb11 import check_overwritten_in_place

__all__ = [
    # the shared diagnosis
    "CheckResult",
    "diagnose_tensor",
    "report",
    # one check per coding exercise, notebook by notebook
    "check_flip_left_right",  # 01
    "check_group_probability",
    "check_batch_cam",  # 02
    "check_channel_contributions",
    "check_gradients_for_classes",  # 03
    "check_record_stages",
    "check_grad_cam_by_hand",  # 04
    "check_probability_grad_cam",
    "check_crop_box",  # 05
    "check_rank_and_probability",
    "check_signed_grad_cam",  # 06
    "check_increase_of_confidence",  # 07
    "check_deletion_scores",  # 08
    "check_other_class_deletion",
    "check_independent_test",  # 09
    "check_tokens_to_maps",  # 10
    "check_weighted_rollout",
    "check_overwritten_in_place",  # 11
]

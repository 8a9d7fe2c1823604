"""cam_utils' metrics against plain NumPy implementations of their definitions (issue 23): energy share, IoU,
RISE's deletion and insertion (curves and AUC, scipy's blur), Average Drop, and attention rollout as a direct
product of timm's own attention probabilities. Tolerances: tests/oracles/metric_comparisons.py."""

from __future__ import annotations

import pytest

from tests.libraries import require_library
from tests.oracles import metric_comparisons as compare

require_library("scipy.ndimage")


def test_energy_share_is_the_numpy_definition():
    compare.energy_share_vs_numpy().assert_agrees()


def test_mask_iou_is_the_numpy_definition():
    compare.mask_iou_vs_numpy().assert_agrees()


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_perturbation_curves_and_auc_are_the_numpy_protocol(kind: str):
    compare.perturbation_vs_numpy(kind, "scores").assert_agrees(f"{kind} curve")
    compare.perturbation_vs_numpy(kind, "auc").assert_agrees(f"{kind} AUC")


def test_average_drop_is_the_numpy_definition():
    drop = compare.average_drop_vs_numpy("drop")
    drop.assert_agrees()
    assert 1 < float(drop.reference) < 99  # a drop that is neither none nor total: the comparison can fail
    compare.average_drop_vs_numpy("scores").assert_agrees()


def test_attention_rollout_is_the_direct_product():
    compare.rollout_vs_numpy().assert_agrees()

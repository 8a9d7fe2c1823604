"""cam_utils' similarity measures and post-processing against scipy and scikit-image (issue 23): Spearman's ρ,
SSIM (scikit-image's, and the formula with scipy's box filter), resizing, and the pointing game's distance
tolerance (scipy's exact Euclidean distance transform). Tolerances: tests/oracles/metric_comparisons.py."""

from __future__ import annotations

import pytest

from tests.libraries import require_library
from tests.oracles import metric_comparisons as compare

require_library("scipy.stats")


@pytest.mark.parametrize("absolute", [False, True], ids=["signed", "absolute"])
def test_spearman_correlation_is_scipys_spearmanr_with_ties(absolute: bool):
    compare.spearman_vs_scipy(absolute).assert_agrees()


@pytest.mark.parametrize("oracle", ["skimage", "formula"])
def test_map_ssim_is_skimage_structural_similarity_and_the_formula(oracle: str):
    compare.ssim_vs(oracle).assert_agrees()


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_upsample_is_skimage_resize_with_the_same_interpolation(mode: str):
    compare.upsample_vs_skimage(mode).assert_agrees()


def test_pointing_game_tolerance_is_scipys_distance_transform():
    comparison = compare.pointing_game_vs_edt()
    comparison.assert_agrees()
    hits = comparison.reference.sum()
    assert 0 < hits < comparison.reference.size  # hits and misses both occur: the comparison can fail

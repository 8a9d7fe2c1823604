"""The closing note's table: every comparison of the oracle tests, one row per quantity and oracle (the largest
difference over the cases), as ``tools/oracle_table.py`` prints it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from . import gradient_comparisons as gradient
from . import metric_comparisons as metric
from .compare import Comparison, Difference, Row
from .models import CASES, CLEAN_CASES, INPLACE_CASES, LITE0_BN2, Case

LIBRARIES = ("pytorch-grad-cam", "torchcam")


def comparisons() -> Iterator[Comparison]:
    """Every comparison, in the table's order (runs the models: about 30 s on 2 CPU cores)."""
    per_case: list[Callable[[Case], Comparison]] = [
        gradient.grad_cam_vs_captum,
        gradient.hires_cam_vs_captum,
        gradient.gradient_x_activation_vs_captum,
        gradient.gradients_vs_captum,
    ]
    for compare in per_case:
        yield from (compare(case) for case in CASES)
    per_clean_case: list[Callable[[Case], Comparison]] = [
        gradient.grad_cam_vs_pytorch_grad_cam,
        gradient.grad_cam_vs_torchcam,
        gradient.hires_cam_vs_pytorch_grad_cam,
        gradient.grad_cam_plus_plus_vs_pytorch_grad_cam,
    ]
    for compare in per_clean_case:
        yield from (compare(case) for case in CLEAN_CASES)
    yield from (gradient.score_cam_scores(library) for library in LIBRARIES)
    yield from (gradient.inplace_grad_cam(case, library) for library in LIBRARIES for case in INPLACE_CASES)
    yield from (gradient.grad_cam_plus_plus_as_shown(LITE0_BN2, library) for library in LIBRARIES)
    yield from (metric.spearman_vs_scipy(absolute) for absolute in (False, True))
    yield from (metric.ssim_vs(oracle) for oracle in ("skimage", "formula"))
    yield from (metric.upsample_vs_skimage(mode) for mode in ("bilinear", "nearest"))
    yield from (metric.pointing_game_vs_edt(), metric.energy_share_vs_numpy(), metric.mask_iou_vs_numpy())
    for kind in ("deletion", "insertion"):
        yield from (metric.perturbation_vs_numpy(kind, what) for what in ("scores", "auc"))
    yield from (metric.average_drop_vs_numpy(what) for what in ("drop", "scores"))
    yield metric.rollout_vs_numpy()


def rows(found: Iterator[Comparison]) -> list[Row]:
    """One row per (quantity, oracle): the largest differences over its cases; any disagreement shows."""
    merged: dict[tuple[str, str], Row] = {}
    for comparison in found:
        row = comparison.row()
        key = (row.quantity, row.oracle)
        if key in merged:
            before = merged[key]
            worst = Difference(
                max(before.difference.max_abs, row.difference.max_abs),
                max(before.difference.max_rel, row.difference.max_rel),
            )
            verdict = before.verdict if "DISAGREE" in before.verdict else row.verdict
            row = Row(row.quantity, row.oracle, worst, verdict)
        merged[key] = row
    return list(merged.values())


def markdown(table_rows: list[Row]) -> str:
    header = "| quantity | oracle | max abs diff | max rel diff | verdict |\n|---|---|---|---|---|"
    return "\n".join([header, *(row.markdown() for row in table_rows)])

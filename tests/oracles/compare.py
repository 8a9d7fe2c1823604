"""How a cam_utils result is compared with an oracle's: differences measured against the reference's peak."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

import numpy as np
import torch

#: float32 maps: one rounding is 6e-8 relative (2^-24); a map sums up to 1280 channels and both sides sum in
#: another order (einsum vs NumPy, a fused kernel vs two ops), so about sqrt(1280) roundings of the peak's size
#: can pile up: 2e-6. 1e-5 of the peak leaves a factor 5 and is still 1,000 times below any real disagreement
#: found here (the libraries' deviations are 1e-2 of the peak and more).
PEAK_ATOL = 1e-5
#: Element-wise part of the tolerance (float32 values computed by two routes).
RTOL = 1e-5


def named_version(distribution: str) -> str:
    """ "captum 0.9.0": the installed version, for the table's oracle column ("captum (absent)" where it is not)."""
    try:
        return f"{distribution} {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return f"{distribution} (absent)"


@dataclass(frozen=True)
class Difference:
    """The largest disagreement between two results.

    Attributes:
        max_abs: max |ours - reference|.
        max_rel: max_abs / max |reference|, i.e. relative to the reference's peak (a map's scale), 0 if both are 0.
    """

    max_abs: float
    max_rel: float


Values = torch.Tensor | np.ndarray | float


def as_float64(values: Values) -> np.ndarray:
    """Any result as a float64 NumPy array (torch on any device, NumPy, a number)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def difference(ours: Values, reference: Values, scale: float | None = None) -> Difference:
    """max |ours - reference|, absolute and relative to ``scale`` (default: the reference's peak magnitude)."""
    ours_np, reference_np = as_float64(ours), as_float64(reference)
    if ours_np.shape != reference_np.shape:
        raise ValueError(f"shapes differ: {ours_np.shape} (cam_utils) and {reference_np.shape} (oracle)")
    max_abs = float(np.abs(ours_np - reference_np).max(initial=0.0))
    peak = float(np.abs(reference_np).max(initial=0.0)) if scale is None else scale
    return Difference(max_abs, max_abs / peak if peak > 0 else (0.0 if max_abs == 0 else np.inf))


def assert_agrees(
    ours: Values,
    reference: Values,
    rtol: float = RTOL,
    peak_atol: float = PEAK_ATOL,
    scale: float | None = None,
    what: str = "",
) -> None:
    """|ours - reference| <= rtol·|reference| + peak_atol·peak everywhere, peak = ``scale`` or max|reference|, and
    the peak is not 0 (a comparison of two zero maps proves nothing)."""
    ours_np, reference_np = as_float64(ours), as_float64(reference)
    assert ours_np.shape == reference_np.shape, f"{what}: shapes {ours_np.shape} and {reference_np.shape}"
    peak = float(np.abs(reference_np).max(initial=0.0)) if scale is None else scale
    assert peak > 0, f"{what}: the reference is all zero, nothing is compared"
    excess = np.abs(ours_np - reference_np) - (rtol * np.abs(reference_np) + peak_atol * peak)
    found = difference(ours_np, reference_np, scale)
    assert (excess <= 0).all(), (
        f"{what}: cam_utils and the oracle differ by {found.max_abs:.3g} ({found.max_rel:.3g} of the peak)"
    )


@dataclass(frozen=True)
class Comparison:
    """One quantity computed by cam_utils and by an oracle, with the tolerance it must meet.

    ``deviation``: empty where the two must agree; otherwise the library's known deviation, in words (the
    tests then assert the deviation itself, and the table reports its size).
    """

    quantity: str
    oracle: str
    ours: Values
    reference: Values
    rtol: float = RTOL
    peak_atol: float = PEAK_ATOL
    scale: float | None = None
    deviation: str = ""

    @property
    def difference(self) -> Difference:
        return difference(self.ours, self.reference, self.scale)

    def assert_agrees(self, what: str = "") -> None:
        assert_agrees(self.ours, self.reference, self.rtol, self.peak_atol, self.scale, what or self.quantity)

    def row(self) -> Row:
        found = self.difference
        if self.deviation:
            verdict = f"library deviates: {self.deviation}"
        else:
            agrees = found.max_rel <= self.peak_atol + self.rtol
            verdict = "agree" if agrees else "**DISAGREE**"
        return Row(self.quantity, self.oracle, found, verdict)


@dataclass(frozen=True)
class Row:
    """One row of the closing note's table: quantity | oracle | max abs diff | max rel diff | verdict."""

    quantity: str
    oracle: str
    difference: Difference
    verdict: str

    def markdown(self) -> str:
        diff = self.difference
        return f"| {self.quantity} | {self.oracle} | {diff.max_abs:.2g} | {diff.max_rel:.2g} | {self.verdict} |"

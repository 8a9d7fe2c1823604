"""What every self-check shares: a diagnosis of a wrong tensor, and one way to report it.

A learner's tensor is usually wrong in one of a few typical ways. :func:`diagnose_tensor`
tries them in order, from the most basic (not a tensor, wrong shape) to the most subtle
(right up to a ReLU, a sign or a constant factor), and returns a hint naming the *kind* of
mistake, never the expected values. :func:`report` prints ✓ or the hint and returns a :class:`CheckResult`, true when it passed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch


class CheckResult:
    """What a self-check returns: true when the answer is right (``assert check_…(…)`` works).

    It shows nothing when it is the last expression of a notebook cell: the check has already
    printed its ✓ or its hint, and a bare ``True`` or ``False`` under it would only add noise.
    """

    def __init__(self, passed: bool) -> None:
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """IPython calls this instead of printing the repr: display nothing."""


def report(problem: str | None, success: str) -> CheckResult:
    """Print ``✓ success`` when ``problem`` is None, else ``✗ Not yet: problem``; return whether it passed.

    The hint is printed as one sentence sequence: a doubled full stop (a learner's error message that
    ends with one, followed by the check's own) is printed once, and a final full stop is added when
    the hint ends without one.
    """
    if problem is None:
        print(f"✓ {success}")
        return CheckResult(True)
    print(f"✗ Not yet: {punctuated(problem)}")
    return CheckResult(False)


_STOPS = re.compile(r"\.(?:\s*\.)+")  # two or more full stops, maybe with spaces between


def _single_stop(match: re.Match[str]) -> str:
    """One full stop for ". ." or ".."; an ellipsis "..." (e.g. ``f(...)`` in a quoted error) stays."""
    return match.group() if match.group() == "..." else "."


def punctuated(hint: str) -> str:
    """``hint`` with its doubled full stops made single and a full stop (or ? or !) at the end."""
    hint = _STOPS.sub(_single_stop, hint.strip())
    return hint if hint.endswith((".", "?", "!")) else hint + "."


def _agrees(name: str, singular: str, plural: str) -> str:
    """The verb that agrees with ``name``: "your map has", "your maps have", "your vector of maps has"."""
    head = name.split(" of ")[0].split()[-1] if name.split() else name
    return plural if head.endswith("s") and not head.endswith("ss") else singular


def diagnose_tensor(
    value: object,
    reference: torch.Tensor,
    name: str = "your result",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    axis_names: Sequence[str] | None = None,
) -> str | None:
    """Compare a learner's ``value`` with ``reference``; None if they agree, else a hint.

    The hints, in the order they are tried:

    * not a tensor, or NaN / infinite values;
    * a different shape: a transposed or permuted result, a dimension kept or dropped
      (``keepdim``, a batch of one), or simply the wrong size (``axis_names`` make it concrete);
    * the values are off: negated (a sign), right once a ReLU is applied (ReLU missing), right
      before a ReLU (ReLU where none belongs), right up to a constant positive factor
      (a mean instead of a sum, a missing 1/Z, a normalisation).

    Args:
        value: what the learner computed.
        reference: the right answer (any dtype; compared in float64 on the CPU).
        name: how the hint calls the value ("your map", "alpha").
        atol, rtol: tolerances of the comparison.
        axis_names: one word per dimension of ``reference``, e.g. ``("image", "row", "column")``.
    """
    if not isinstance(value, torch.Tensor):
        return f"{name} should be a torch.Tensor, got {type(value).__name__}."
    got = value.detach().to("cpu", torch.float64)
    want = reference.detach().to("cpu", torch.float64)
    if not torch.isfinite(got).all():
        return f"there are NaN or infinite values in {name}: a division by zero somewhere (a normalisation of a constant map?)."
    if got.shape != want.shape:
        return _shape_hint(tuple(got.shape), tuple(want.shape), name, axis_names)

    def close(candidate: torch.Tensor) -> bool:
        return torch.allclose(candidate, want, atol=atol, rtol=rtol)

    if close(got):
        return None
    if close(-got):
        return (
            f"{name} {_agrees(name, 'has', 'have')} the right magnitude but the opposite sign: "
            "check the sign of what you sum or subtract."
        )
    if close(torch.relu(got)):
        return (
            f"{name} {_agrees(name, 'is', 'are')} right where positive, but {_agrees(name, 'keeps', 'keep')} "
            "negative values: a ReLU is missing."
        )
    if (want < 0).any() and torch.allclose(got, torch.relu(want), atol=atol, rtol=rtol):
        return f"{name} {_agrees(name, 'has', 'have')} no negative values, but this quantity keeps its sign: drop the ReLU."
    scale = _constant_factor(got, want)
    if scale is not None:
        return (
            f"{name} {_agrees(name, 'is', 'are')} proportional to the right answer but off by a constant factor of "
            f"about {scale:.3g}: "
            "a mean where a sum belongs (or the reverse), a missing 1/Z, or a normalisation?"
        )
    return (
        f"{name} {_agrees(name, 'has', 'have')} the right shape but different values. "
        "Re-read the equation, one index at a time."
    )


def _shape_hint(got: tuple[int, ...], want: tuple[int, ...], name: str, axis_names: Sequence[str] | None) -> str:
    """A hint for a shape mismatch that says *how* the shapes differ, not only that they do."""
    described = f" ({' x '.join(axis_names)})" if axis_names and len(axis_names) == len(want) else ""
    base = f"{name} {_agrees(name, 'has', 'have')} shape {got}, expected {want}{described}."
    if sorted(got) == sorted(want):
        return base + " Same sizes in another order: a transpose or a permute too many (or too few)?"
    squeezed_got = tuple(size for size in got if size != 1)
    squeezed_want = tuple(size for size in want if size != 1)
    if squeezed_got == squeezed_want:
        return (
            base
            + " Only dimensions of size 1 differ: a dimension kept (keepdim) or not, a missing [0], or a missing unsqueeze?"
        )
    if len(got) == len(want) - 1 or len(got) == len(want) + 1:
        return base + " One dimension too few or too many: did you sum or average over the wrong axis (dim=)?"
    return base


def _constant_factor(got: torch.Tensor, want: torch.Tensor) -> float | None:
    """The factor s > 0 with got ≈ s * want, if there is one (and it is not 1); else None."""
    if not want.abs().max() > 0:
        return None
    scale = float((got * want).sum() / (want * want).sum())
    if scale <= 0 or abs(scale - 1) < 1e-3:
        return None
    if torch.allclose(got, scale * want, atol=1e-5 * max(1.0, abs(scale)), rtol=1e-3):
        return scale
    return None

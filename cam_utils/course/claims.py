"""Check the claims a notebook's prose makes, strictly for its own parameters and gently for a learner's.

Each notebook's sentences ("the cup's half carries 37 % of the map") were written for the photo, class
and layer of its parameters cell. The collapsed *check cell* after a teaching cell tests them with one
:class:`Claims` object:

* with the notebook's own parameters, a claim that does not hold raises :class:`ClaimFailed` (an
  ``AssertionError``), so the notebook's test (nbval) fails the day the sentence stops being true;
* when a learner has changed a parameter, the same claim only prints one line saying which sentence
  was written for which parameters and what is different now, and the notebook goes on.

A check cell prints nothing when every claim holds. Example::

    claims = Claims(written_for={"PHOTO": "cat_and_coffee"}, now={"PHOTO": PHOTO})
    claims.close("the cup's half carries 37 % of the map", cup_share, 0.37, tol=0.01)
    with claims("every negative cell lies on the cup (columns 4 to 6)"):
        assert not negative_cells[:, :4].any()

This module belongs to the course: the library's explaining functions never use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["ClaimFailed", "Claims"]


class ClaimFailed(AssertionError):
    """A sentence of the notebook does not hold under the parameters it was written for."""


def _show(value: Any) -> str:
    """A short, readable form of a parameter's value for the one-line note."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Claims:
    """The claims of one notebook, checked against the parameters its prose was written for.

    Args:
        written_for: the parameters the notebook's sentences describe, by name (``{"PHOTO": "cat"}``).
        now: the same names with the values the notebook runs with now (usually its parameters cell's).
    """

    def __init__(self, written_for: Mapping[str, Any], now: Mapping[str, Any]) -> None:
        missing = sorted(set(written_for) - set(now))
        if missing:
            raise ValueError(
                f"Claims: no current value for {', '.join(missing)}; pass now={{name: value, ...}} "
                "with every name of written_for"
            )
        self.written_for = dict(written_for)
        self.now = {name: now[name] for name in written_for}
        #: How many claims did not hold while the parameters differed (shown as notes, not errors).
        self.notes = 0

    @property
    def as_written(self) -> bool:
        """True when the notebook runs with the parameters its prose was written for."""
        return all(self.now[name] == value for name, value in self.written_for.items())

    def _changed(self) -> str:
        return ", ".join(
            f"{name}={_show(self.now[name])}" for name, value in self.written_for.items() if self.now[name] != value
        )

    def _defaults(self) -> str:
        return ", ".join(
            f"{name}={_show(value)}" for name, value in self.written_for.items() if self.now[name] != value
        )

    @contextmanager
    def __call__(self, sentence: str) -> Iterator[None]:
        """Check the sentence with the asserts inside the ``with`` block.

        As written, a failing assert raises :class:`ClaimFailed` naming the sentence (any other
        exception is a bug and propagates unchanged). With changed parameters any exception becomes
        one printed note: the sentence may not even make sense for another photo.
        """
        try:
            yield
        except Exception as error:  # a learner's parameters may break any check
            detail = str(error).strip() or type(error).__name__
            if not isinstance(error, AssertionError):
                detail = f"{type(error).__name__}: {detail}"
            if self.as_written:
                if isinstance(error, AssertionError):
                    raise ClaimFailed(f"The notebook says: {sentence!r}. That no longer holds: {detail}") from error
                raise
            self.notes += 1
            print(f"ⓘ Written for {self._defaults()}: {sentence!r} does not hold with {self._changed()} ({detail}).")

    def true(self, sentence: str, condition: Any, detail: str = "") -> None:
        """Check that ``condition`` is true; ``detail`` says what was measured when it is not."""
        with self(sentence):
            assert bool(condition), detail or "the condition is false"

    def close(self, sentence: str, value: float, expected: float, tol: float) -> None:
        """Check that ``value`` is within ``tol`` of ``expected`` (a number the prose states)."""
        if tol < 0:
            raise ValueError(f"Claims.close: tol must be >= 0, got {tol}")
        value = float(value)
        with self(sentence):
            assert abs(value - expected) <= tol, f"measured {value:.4g}, the text says {expected:g} ± {tol:g}"

    def between(self, sentence: str, value: float, low: float, high: float) -> None:
        """Check that ``low <= value <= high`` (a range or a bound the prose states)."""
        value = float(value)
        with self(sentence):
            assert low <= value <= high, f"measured {value:.4g}, the text says between {low:g} and {high:g}"

    def equal(self, sentence: str, value: Any, expected: Any) -> None:
        """Check that ``value == expected`` (a count, a name, a ranking)."""
        with self(sentence):
            assert value == expected, f"measured {value!r}, the text says {expected!r}"

"""Running a learner's code safely, and recognising the typical mistakes in what it returns.

Internal helpers of the ``check_…`` functions: :func:`call_student` runs the learner's function
and turns an exception into a hint; :func:`known_mistake` compares a result with the results of
typical wrong answers, which the check computes itself, and returns the matching hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def call_student(function: object, *args: Any, name: str, called_as: str = "") -> tuple[Any, str | None]:
    """Call ``function(*args)``; return ``(result, None)``, or ``(None, hint)`` when it cannot be run.

    Args:
        function: what the learner passed to the check (it should be their function).
        args: the hidden test inputs.
        name: the function's name in the exercise, used in the hints.
        called_as: how the check calls it, e.g. ``"f(model, x, layer, class_idx)"``; added to the
            hint when the function raises, so that a wrong signature is easy to spot.
    """
    if not callable(function):
        return None, (
            f"pass the function itself, check_…({name}), not what it returns (got a {type(function).__name__})."
        )
    try:
        return function(*args), None
    except NotImplementedError:
        return None, f"{name} is not written yet (it raises NotImplementedError): replace that line with your code."
    except Exception as error:  # noqa: BLE001 - the learner's bug: report it as a hint, do not crash the check
        called = f" It is called as {called_as}." if called_as else ""
        return None, f"{name} raised {type(error).__name__}: {str(error).rstrip('.')}.{called}"


def known_mistake(
    value: object,
    mistakes: Mapping[str, torch.Tensor],
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> str | None:
    """The hint of the first typical mistake whose result ``value`` reproduces, else None.

    Args:
        value: the learner's result (a tensor of another shape, or no tensor at all, matches nothing).
        mistakes: ``{hint: what that mistake computes on the hidden inputs}``, most specific first.
    """
    if not isinstance(value, torch.Tensor):
        return None
    got = value.detach().to("cpu", torch.float64)
    for hint, wrong in mistakes.items():
        wrong = wrong.detach().to("cpu", torch.float64)
        if got.shape == wrong.shape and torch.allclose(got, wrong, atol=atol, rtol=rtol):
            return hint
    return None

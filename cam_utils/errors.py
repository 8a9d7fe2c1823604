"""This package's errors and warnings about what a caller passed: the problem, the offending value, the fix.

Every one keeps a built-in base (``ValueError``, ``RuntimeError``, ``RuntimeWarning``...), so ``except
ValueError`` in a user's code still catches it, and ``str(error)`` is the whole sentence, problem then
suggestion. A tool that speaks other terms (the command line names options, not keyword arguments) reads
the fields instead of rewording the sentence::

    try:
        class_activation_map(model, x, "layer4", "fc")
    except NotGapNetworkError as error:
        print(error.problem, "Try --method gradcam.")   # error.value: the offending classifier's name
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CamUtilsError",
    "CamUtilsWarning",
    "CancelledMapWarning",
    "ComputationCancelledError",
    "LayerError",
    "NotGapNetworkError",
    "RegistryError",
]


class _Structured:
    """The fields shared by the errors and the warnings; ``str()`` joins problem and suggestion."""

    problem: str
    value: Any
    suggestion: str

    def _set_fields(self, problem: str, value: Any, suggestion: str) -> None:
        self.problem, self.value, self.suggestion = problem, value, suggestion

    def __str__(self) -> str:
        return f"{self.problem} {self.suggestion}" if self.suggestion else self.problem

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled with its fields (a DataLoader worker sends its exception to the main process).
        return (_rebuild, (type(self), self.problem, self.value, self.suggestion))


def _rebuild(cls: type[_Structured], problem: str, value: Any, suggestion: str) -> _Structured:
    """Unpickle an error or warning of any subclass, whatever its ``__init__`` takes."""
    instance = cls.__new__(cls)
    instance._set_fields(problem, value, suggestion)
    instance.args = (str(instance),)  # type: ignore[attr-defined]  # an exception or a warning
    return instance


class CamUtilsError(_Structured, Exception):
    """Base of this package's errors about its input.

    Attributes:
        problem: what is wrong, as a sentence (e.g. "The model has no layer named 'layer5'.").
        value: the offending value (a layer name, a size...), or None.
        suggestion: what to do instead, in Python terms ("" when the problem says it all).
    """

    def __init__(self, problem: str, *, value: Any = None, suggestion: str = "") -> None:
        self._set_fields(problem, value, suggestion)
        super().__init__(str(self))


class CamUtilsWarning(_Structured, Warning):
    """Base of this package's warnings: same fields as :class:`CamUtilsError`."""

    def __init__(self, problem: str, *, value: Any = None, suggestion: str = "") -> None:
        self._set_fields(problem, value, suggestion)
        super().__init__(str(self))


class LayerError(CamUtilsError, RuntimeError):
    """The chosen layer cannot be explained this way: it ran twice, never ran, or has no gradient path to the
    class scores. ``value``: the layer's dotted name."""


class NotGapNetworkError(CamUtilsError, ValueError):
    """CAM was asked of a network whose classifier does not read the global average of the feature maps.
    ``value``: the classifier's dotted name."""


class CancelledMapWarning(CamUtilsWarning, RuntimeWarning):
    """HiResCAM's channel sums cancel to numerical noise at this layer. ``value``: the number of such images."""


class ComputationCancelledError(CamUtilsError, RuntimeError):
    """A long computation (Score-CAM) was stopped by its caller: its progress function returned False.
    Not about the input; nothing is returned or kept. ``value``: (done, total), e.g. channels."""


class RegistryError(CamUtilsError, ValueError):
    """A name of the method table (:mod:`cam_utils.methods`) or the model table (:mod:`cam_utils.models`) is
    unknown or taken, or an entry names what its model does not have. ``value``: the name."""

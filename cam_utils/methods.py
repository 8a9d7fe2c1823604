"""The explaining methods by name: one table that the command line, the explorer and the docs read.

Each entry is a :class:`CamMethod`: its ``--method`` name, the label figures and the explorer's menu
show, what it needs (gradients, a GAP head), the paper it follows, a one-line description, and one
function with one signature (:class:`MapFunction`)::

    compute(net, x, layer, class_idx, *, reshape=None, progress=False) -> (N, h, w)

A method is one :func:`register_method` call, and then ``python -m cam_utils --method NAME`` and the
explorer offer it (docs/DESIGN.md, "Adding a method or a model").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from ._classes import ClassIndex, resolve_class_idx
from .cam import cam_from_features, class_activation_map
from .errors import RegistryError
from .gradcam import grad_cam, grad_cam_from_forward
from .hooks import LayerForward
from .scorecam import Progress, score_cam
from .tokens import Reshape
from .variants import grad_cam_plus_plus, grad_cam_plus_plus_from_forward, hires_cam, hires_cam_from_forward

if TYPE_CHECKING:  # a hint only: the methods read ``net.model`` and ``net.classifier``
    from .models import LoadedModel

__all__ = [
    "CamMethod",
    "ForwardMapFunction",
    "MapFunction",
    "get_method",
    "method_names",
    "register_method",
    "registered_methods",
    "unregister_method",
]


class MapFunction(Protocol):
    """How every method computes its maps: (N, h, w) at ``layer``, on x's device, not normalised.

    ``net`` is a :class:`~cam_utils.models.LoadedModel` (``net.model``; CAM also reads ``net.classifier``),
    ``x`` the (N, 3, H, W) preprocessed batch, ``layer`` a module of ``net.model`` or its dotted name,
    ``class_idx`` None (top-1), an int or one index per image, ``reshape`` the callable a token layer needs
    (``net.reshape``). ``progress``: a method that runs many forward passes (Score-CAM) reports them, as
    :func:`~cam_utils.scorecam.score_cam` does: True a text bar on stderr, or a function ``progress(done, total)``
    that stops the computation by returning False (:class:`~cam_utils.errors.ComputationCancelledError`); the
    others ignore it.
    """

    def __call__(
        self,
        net: LoadedModel,
        x: torch.Tensor,
        layer: nn.Module | str,
        class_idx: ClassIndex,
        *,
        reshape: Reshape | None = None,
        progress: Progress = False,
    ) -> torch.Tensor: ...


#: The same map from a forward pass already split at ``layer`` (the explorer caches them):
#: ``(net, x, layer, forward, class_idx) -> (N, h, w)``, no forward pass of its own.
ForwardMapFunction = Callable[["LoadedModel", torch.Tensor, str, LayerForward, ClassIndex], torch.Tensor]

# A --method value: lower case, digits, '+', '-' and '_' (one shell word, no quoting needed).
_NAME = re.compile(r"[a-z][a-z0-9+_-]*")


@dataclass(frozen=True)
class CamMethod:
    """One explaining method: what the command line, the explorer and the docs know about it.

    Attributes:
        name: the ``--method`` value, e.g. ``"gradcam"`` (lower case, no spaces).
        label: how figures and the explorer's menu name it, e.g. ``"Grad-CAM"``.
        compute: the :class:`MapFunction` that computes the maps.
        description: one line saying what the map is.
        paper: the paper it follows ("" for your own method).
        needs_gradients: False for methods that only run forward passes (CAM, Score-CAM).
        needs_gap_head: True for CAM: it reads the class weights of a classifier that averages the
            feature layer (``LoadedModel.gap_head``), so it exists at that layer only.
        slow: True for methods that run a forward pass per channel (Score-CAM): seconds, not milliseconds.
        from_forward: optional, the same map from a cached forward (:data:`ForwardMapFunction`), which the
            explorer uses so that a new class costs one backward pass; None: it calls ``compute``.
    """

    name: str
    label: str
    compute: MapFunction
    description: str
    paper: str = ""
    needs_gradients: bool = True
    needs_gap_head: bool = False
    slow: bool = False
    from_forward: ForwardMapFunction | None = None


_METHODS: dict[str, CamMethod] = {}


def _check_method(method: object) -> CamMethod:
    """``method`` itself if it is a well-formed CamMethod; a ValueError or TypeError naming the field otherwise."""
    if not isinstance(method, CamMethod):
        raise TypeError(
            f"register_method expects a cam_utils.methods.CamMethod, got {type(method).__name__}. "
            'Wrap your function: CamMethod(name="mycam", label="My CAM", compute=my_cam, description="...").'
        )
    if not isinstance(method.name, str) or not _NAME.fullmatch(method.name):
        raise RegistryError(
            f"CamMethod.name must be one lower-case word (letters, digits, '+', '-', '_'), the --method value; "
            f"got {method.name!r}.",
            value=method.name,
            suggestion="Put the display name in label=.",
        )
    for field in ("label", "description"):
        if not isinstance(getattr(method, field), str) or not getattr(method, field).strip():
            raise RegistryError(
                f"CamMethod.{field} must be a non-empty string, got {getattr(method, field)!r}.", value=method.name
            )
    for field in ("compute", "from_forward"):
        function = getattr(method, field)
        if not callable(function) and not (field == "from_forward" and function is None):
            raise TypeError(
                f"CamMethod.{field} of {method.name!r} must be a function, got {type(function).__name__}. "
                "See cam_utils.methods.MapFunction for its signature."
            )
    for field in ("needs_gradients", "needs_gap_head", "slow"):
        if not isinstance(getattr(method, field), bool):
            raise TypeError(
                f"CamMethod.{field} of {method.name!r} must be True or False, got {getattr(method, field)!r}."
            )
    return method


def register_method(method: CamMethod, *, replace: bool = False) -> CamMethod:
    """Add ``method`` to the table (after the methods already there); returns it.

    Its name and its label must be new, unless ``replace=True`` (re-running a notebook cell), which
    puts it in place of the method of the same name or label.

    Raises:
        TypeError / RegistryError (a ValueError): not a CamMethod, or a field of the wrong kind or value.
        RegistryError: the name or the label is taken and ``replace`` is False.
    """
    _check_method(method)
    taken = [old for old in _METHODS.values() if method.name == old.name or method.label == old.label]
    if taken and not replace:
        old = taken[0]
        raise RegistryError(
            f"A method named {old.name!r} (label {old.label!r}) is already registered.",
            value=method.name,
            suggestion="Choose another name and label, or pass replace=True to put yours in its place.",
        )
    for old in taken:
        if old.name != method.name:
            del _METHODS[old.name]
    _METHODS[method.name] = method  # a replaced name keeps its place in the order
    return method


def unregister_method(name: str) -> CamMethod:
    """Remove the method called ``name`` from the table; returns it."""
    method = get_method(name)
    del _METHODS[method.name]
    return method


def method_names() -> list[str]:
    """The ``--method`` names, in the table's order (the explorer's menu order)."""
    return list(_METHODS)


def registered_methods() -> list[CamMethod]:
    """Every registered :class:`CamMethod`, in the table's order."""
    return list(_METHODS.values())


def get_method(name: str) -> CamMethod:
    """The method called ``name``.

    Raises:
        RegistryError (a ValueError): unknown name; the suggestion lists the names and the closest one.
    """
    if isinstance(name, str) and name in _METHODS:
        return _METHODS[name]
    close = difflib.get_close_matches(str(name).lower(), list(_METHODS), n=1, cutoff=0.5)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise RegistryError(
        f"Unknown method {name!r}.", value=name, suggestion=f"{hint}Registered methods: {', '.join(_METHODS)}."
    )


# --- the methods of the tutorial -------------------------------------------------------------------


def _cam(
    net: LoadedModel,
    x: torch.Tensor,
    layer: nn.Module | str,
    class_idx: ClassIndex,
    *,
    reshape: Reshape | None = None,
    progress: Progress = False,
) -> torch.Tensor:
    return class_activation_map(net.model, x, layer, net.classifier, class_idx, reshape=reshape)


def _cam_from_forward(
    net: LoadedModel, x: torch.Tensor, layer: str, forward: LayerForward, class_idx: ClassIndex
) -> torch.Tensor:
    feature_maps = forward.feature_maps.detach()  # (N, C, h, w), A
    class_weights = net.classifier.weight.detach()[resolve_class_idx(class_idx, forward.logits)]  # (N, C), w^c
    return cam_from_features(feature_maps, class_weights)  # (N, h, w): Σ_k w_k^c A^k


def _score_cam(
    net: LoadedModel,
    x: torch.Tensor,
    layer: nn.Module | str,
    class_idx: ClassIndex,
    *,
    reshape: Reshape | None = None,
    progress: Progress = False,
) -> torch.Tensor:
    return score_cam(net.model, x, layer, class_idx, progress=progress, reshape=reshape)


def _on_the_model(function: Callable[..., torch.Tensor], **options: object) -> MapFunction:
    """The MapFunction of a function with ``grad_cam``'s signature: ``function(net.model, x, layer, class_idx, ...)``."""

    def compute(
        net: LoadedModel,
        x: torch.Tensor,
        layer: nn.Module | str,
        class_idx: ClassIndex,
        *,
        reshape: Reshape | None = None,
        progress: Progress = False,
    ) -> torch.Tensor:
        return function(net.model, x, layer, class_idx, reshape=reshape, **options)

    return compute


def _on_the_forward(function: Callable[..., torch.Tensor], **options: object) -> ForwardMapFunction:
    """The ForwardMapFunction of a ``*_from_forward(forward, class_idx)`` function of the library."""

    def from_forward(
        net: LoadedModel, x: torch.Tensor, layer: str, forward: LayerForward, class_idx: ClassIndex
    ) -> torch.Tensor:
        return function(forward, class_idx, **options)

    return from_forward


# The explorer's menu shows them in this order.
for _method in (
    CamMethod(
        name="cam",
        label="CAM",
        compute=_cam,
        description="Σ_k w_k^c A^k, the classifier's class weights on the feature maps (exact, no gradient)",
        paper="Zhou et al., CVPR 2016",
        needs_gradients=False,
        needs_gap_head=True,
        from_forward=_cam_from_forward,
    ),
    CamMethod(
        name="gradcam",
        label="Grad-CAM",
        compute=_on_the_model(grad_cam),
        description="ReLU(Σ_k α_k^c A^k), α_k^c the spatial mean of ∂y^c/∂A^k: CAM for any differentiable head",
        paper="Selvaraju et al., ICCV 2017",
        from_forward=_on_the_forward(grad_cam_from_forward),
    ),
    CamMethod(
        name="counterfactual",
        label="Counterfactual Grad-CAM",
        compute=_on_the_model(grad_cam, counterfactual=True),
        description="Grad-CAM with negated gradients: where the evidence against the class lies",
        paper="Selvaraju et al., ICCV 2017",
        from_forward=_on_the_forward(grad_cam_from_forward, counterfactual=True),
    ),
    CamMethod(
        name="gradcam++",
        label="Grad-CAM++",
        compute=_on_the_model(grad_cam_plus_plus),
        description="Grad-CAM with a weight per position, so that several objects of one class all show",
        paper="Chattopadhay et al., WACV 2018",
        from_forward=_on_the_forward(grad_cam_plus_plus_from_forward),
    ),
    CamMethod(
        name="hirescam",
        label="HiResCAM",
        compute=_on_the_model(hires_cam),
        description="Σ_k ∂y^c/∂A^k ⊙ A^k position by position, sign kept (CAM/Z on a GAP network)",
        paper="Draelos & Carin, 2020",
        from_forward=_on_the_forward(hires_cam_from_forward),
    ),
    CamMethod(
        name="scorecam",
        label="Score-CAM",
        compute=_score_cam,
        description="each channel as a mask on the input, weighted by the masked image's class probability",
        paper="Wang et al., CVPR-W 2020",
        needs_gradients=False,
        slow=True,
    ),
):
    register_method(_method)

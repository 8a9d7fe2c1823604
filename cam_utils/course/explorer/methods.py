"""The explorer's method menu: the library's one method table (:mod:`cam_utils.methods`), by label.

:data:`METHODS` is a live view of that table, keyed by what the menu shows (``"Grad-CAM"``): it holds no
list of its own, so a method registered with :func:`cam_utils.methods.register_method` is in the menu of
every new explorer, and one written here (``METHODS["My CAM"] = Method(my_cam)``) is a ``--method`` of the
command line too.

A method written for the explorer receives a :class:`MapRequest` (the model, the image, the layer, the
cached forward pass split at that layer, the class) and returns the raw map (1, h, w) at that layer, before
any normalisation. Methods computed from the cached forward answer as fast as Grad-CAM: no forward pass of
their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass

import torch
from torch import nn

from cam_utils._classes import ClassIndex
from cam_utils.errors import RegistryError
from cam_utils.hooks import LayerForward, forward_with_features
from cam_utils.methods import CamMethod, register_method, registered_methods, unregister_method
from cam_utils.models import LoadedModel
from cam_utils.scorecam import Progress
from cam_utils.tokens import Reshape

__all__ = ["METHODS", "MapRequest", "Method", "compute_map"]


@dataclass(frozen=True)
class MapRequest:
    """Everything a method may use to compute one map.

    Attributes:
        net: the loaded model.
        x: (1, 3, H, W) the preprocessed image.
        layer: dotted name of the layer the map lives at.
        forward: the cached forward pass split at ``layer`` (A and the logits, graph kept).
        class_idx: the class c to explain.
    """

    net: LoadedModel
    x: torch.Tensor
    layer: str
    forward: LayerForward
    class_idx: int


def compute_map(method: CamMethod, request: MapRequest, progress: Progress = False) -> torch.Tensor:
    """The raw map (1, h, w) of ``method`` for ``request``: from the cached forward when the method can
    use it (``from_forward``), otherwise by its own ``compute`` (Score-CAM: one forward pass per channel,
    reported to ``progress`` as in :func:`~cam_utils.scorecam.score_cam`)."""
    if method.from_forward is not None:
        return method.from_forward(request.net, request.x, request.layer, request.forward, request.class_idx)
    net = request.net
    return method.compute(net, request.x, request.layer, request.class_idx, reshape=net.reshape, progress=progress)


@dataclass(frozen=True)
class Method:
    """A method written for the explorer: ``compute(request) -> (1, h, w)``, put in the menu with
    ``METHODS["Label"] = Method(compute)``.

    Attributes:
        compute: MapRequest -> raw map (1, h, w) at the request's layer (not normalised).
        feature_layer_only: True when the method only exists at the model's feature layer, and only for a
            network with a GAP head (like CAM: its class weights act on that layer's channels).
        slow: True for methods that run their own forward passes; the explorer says so while it computes.
    """

    compute: Callable[[MapRequest], torch.Tensor]
    feature_layer_only: bool = False
    slow: bool = False

    def as_cam_method(self, label: str) -> CamMethod:
        """This method as an entry of the library's table, shown as ``label`` (``--method`` is its slug)."""
        name = re.sub(r"[^a-z0-9+]+", "-", label.lower()).strip("-")
        if not name or not name[0].isalpha():
            name = "m-" + name
        function = self.compute

        def from_forward(
            net: LoadedModel, x: torch.Tensor, layer: str, forward: LayerForward, class_idx: ClassIndex
        ) -> torch.Tensor:
            if not isinstance(class_idx, int):
                raise TypeError(f"{label} explains one class at a time: class_idx must be an int, got {class_idx!r}.")
            return function(MapRequest(net, x, layer, forward, class_idx))

        def compute(
            net: LoadedModel,
            x: torch.Tensor,
            layer: nn.Module | str,
            class_idx: ClassIndex,
            *,
            reshape: Reshape | None = None,
            progress: Progress = False,
        ) -> torch.Tensor:
            if not isinstance(layer, str):
                raise TypeError(f"{label} takes the layer by its dotted name, got {type(layer).__name__}.")
            forward = forward_with_features(net.model, x, layer, reshape)
            return from_forward(net, x, layer, forward, class_idx)

        return CamMethod(
            name=name,
            label=label,
            compute=compute,
            description=(self.compute.__doc__ or "").strip().split("\n")[0] or f"{label}, written for the explorer",
            needs_gap_head=self.feature_layer_only,
            slow=self.slow,
            from_forward=from_forward,
        )


class MethodMenu(MutableMapping[str, CamMethod]):
    """The library's method table keyed by label, in its order (the explorer's menu). Setting a label
    registers a method (a :class:`Method` or a :class:`~cam_utils.methods.CamMethod`), deleting one
    unregisters it."""

    def __getitem__(self, label: str) -> CamMethod:
        for method in registered_methods():
            if method.label == label:
                return method
        raise KeyError(f"No method labelled {label!r}; the menu has: {', '.join(self)}.")

    def __iter__(self) -> Iterator[str]:
        return iter([method.label for method in registered_methods()])

    def __len__(self) -> int:
        return len(registered_methods())

    def __setitem__(self, label: str, method: Method | CamMethod) -> None:
        if isinstance(method, Method):
            method = method.as_cam_method(label)
        elif not isinstance(method, CamMethod) or method.label != label:
            raise TypeError(
                f"METHODS[{label!r}] takes a Method(compute) or a CamMethod labelled {label!r}, "
                f"got {type(method).__name__}."
            )
        for other in registered_methods():
            if other.name == method.name and other.label != label:
                raise RegistryError(
                    f"METHODS[{label!r}]: its --method name {method.name!r} is taken by {other.label!r}.",
                    value=label,
                    suggestion="Choose another label.",
                )
        register_method(method, replace=True)  # re-running a notebook cell replaces the method of that label

    def __delitem__(self, label: str) -> None:
        unregister_method(self[label].name)

    def __repr__(self) -> str:
        return f"METHODS({list(self)})"


#: The method menu, in display order: label -> :class:`~cam_utils.methods.CamMethod` (a view of
#: :mod:`cam_utils.methods`). ``METHODS["My CAM"] = Method(my_cam)`` adds one.
METHODS = MethodMenu()

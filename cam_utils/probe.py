"""What a layer outputs, seen by a forward hook: its shape, its type, a measurement of it.

The command line checks that ``--layer`` outputs feature maps before the (slow) map, the explorer
sizes each stage's map, the sanity check measures the feature-map scale during the explanation's own
forward pass: one mechanism for the three.

* ``probing(model, layers)`` — a context manager: each layer's first output inside the block is seen
  (in the calling thread only), then the hooks are removed.
* ``probe_layers(model, x, layers)`` — one gradient-free forward at eval behaviour
  (:func:`~cam_utils.model_state.explaining`): the logits and a :class:`LayerProbe` per layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._layers import resolve_layer
from .model_state import explaining, model_lock
from .tokens import Reshape

__all__ = ["LayerProbe", "probe_layers", "probing"]


@dataclass(frozen=True)
class LayerProbe:
    """What one layer output the first time it ran (all fields empty if it did not run).

    Attributes:
        layer: the layer's dotted name.
        output_type: the output's type name (``"Tensor"``, ``"tuple"``...); ``""`` if the layer did not run.
        shape: the output's shape if it is a tensor, else None.
        maps_shape: its shape as feature maps (N, C, h, w): the output's own if it is 4-d, that of
            ``reshape(output)`` for a 3-d output (a transformer's tokens) when a ``reshape`` was given, else None.
        measured: ``measure(output)`` for a tensor output when a ``measure`` was given, else None.
    """

    layer: str
    output_type: str = ""
    shape: tuple[int, ...] | None = None
    maps_shape: tuple[int, ...] | None = None
    measured: Any = None

    @property
    def ran(self) -> bool:
        """Did the layer run inside the block?"""
        return bool(self.output_type)


def _seen(
    layer: str, output: Any, reshape: Reshape | None, measure: Callable[[torch.Tensor], Any] | None
) -> LayerProbe:
    if not isinstance(output, torch.Tensor):
        return LayerProbe(layer, type(output).__name__)
    output = output.detach()  # computed now: an in-place operation after the layer cannot change it
    maps_shape = None
    if output.dim() == 4:
        maps_shape = tuple(output.shape)
    elif output.dim() == 3 and reshape is not None:
        maps_shape = tuple(reshape(output).shape)  # tokens (N, P + h·w, C) -> maps (N, C, h, w)
    measured = None if measure is None else measure(output)
    return LayerProbe(layer, "Tensor", tuple(output.shape), maps_shape, measured)


@contextmanager
def probing(
    model: nn.Module,
    layers: Sequence[nn.Module | str],
    *,
    reshape: Reshape | None = None,
    measure: Callable[[torch.Tensor], Any] | None = None,
    on_input: torch.Tensor | None = None,
) -> Iterator[dict[str, LayerProbe]]:
    """Inside the block, see each layer's first output; yields {dotted name: LayerProbe}, complete after the block.

    Args:
        model: the network; ``layers`` are its submodules or their dotted names.
        layers: the layers to watch.
        reshape: for token layers, how to lay their output out as maps (sets ``maps_shape``).
        measure: called on each layer's (detached) tensor output when it runs; its result is ``measured``.
        on_input: watch only forward passes of ``model`` whose first argument is this very tensor
            (a Score-CAM explanation also runs masked images).

    Only forward passes of the calling thread are seen; the block holds the model's lock
    (:func:`~cam_utils.model_state.model_lock`) and the hooks are removed when it ends, also on error.
    """
    owner = threading.get_ident()
    state = {"armed": on_input is None}
    seen: dict[str, LayerProbe] = {}

    def watcher(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def watch(module: nn.Module, inputs: Any, output: Any) -> None:
            if state["armed"] and name not in seen and threading.get_ident() == owner:
                seen[name] = _seen(name, output, reshape, measure)

        return watch

    def arm(module: nn.Module, args: tuple[Any, ...]) -> None:
        if threading.get_ident() == owner:
            state["armed"] = bool(args) and args[0] is on_input

    def disarm(module: nn.Module, args: Any, output: Any) -> None:
        if threading.get_ident() == owner:
            state["armed"] = False

    with model_lock(model):  # no other thread's explaining call runs into these hooks
        named = [resolve_layer(model, layer) for layer in layers]
        handles = [module.register_forward_hook(watcher(name)) for module, name in named]
        if on_input is not None:
            handles += [model.register_forward_pre_hook(arm), model.register_forward_hook(disarm)]
        try:
            yield seen
        finally:
            for handle in handles:
                handle.remove()
            for _, name in named:
                seen.setdefault(name, LayerProbe(name))


def probe_layers(
    model: nn.Module,
    x: torch.Tensor,
    layers: Sequence[nn.Module | str],
    *,
    reshape: Reshape | None = None,
) -> tuple[torch.Tensor, dict[str, LayerProbe]]:
    """One gradient-free forward of ``x`` at eval behaviour: the logits (N, classes) and what each layer output.

    The model is left as it was (flags, hooks, statistics; see :mod:`cam_utils.model_state`).
    ``reshape``: see :func:`probing`.
    """
    with explaining(model, report_mode_change=True), probing(model, layers, reshape=reshape) as seen, torch.no_grad():
        logits = model(x)
    return logits, seen

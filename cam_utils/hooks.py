"""Reading a layer's output, and taking gradients with respect to it.

CAM and Grad-CAM both need A, the feature maps of one convolutional layer, which
live *inside* ``model.forward``. PyTorch lets us look inside with a **forward hook**:
a function ``hook(module, inputs, output)`` that runs right after ``module.forward``.

Two tools, from simple to complete:

* ``record_output(module)`` — the teaching version: a context manager that stores a
  copy of the module's output during one forward pass and removes the hook on exit.
* ``forward_with_features(model, x, layer)`` — what CAM methods use: one forward pass
  that returns A as a leaf tensor (so we can ask ``∂y^c/∂A``) together with the
  class scores y computed *from that leaf*.

The trick inside ``forward_with_features`` (read it slowly):

1. The whole forward runs under ``torch.no_grad()``, so the layers *before* the
   target layer build no autograd graph: no memory, no time spent on them.
2. When the target layer has produced its output, the hook makes a fresh leaf
   ``feature_maps = output.detach().requires_grad_(True)`` and switches gradient
   tracking back on with ``torch.set_grad_enabled(True)``. Everything after the
   layer (pooling, classifier) is recorded, so y^c is a differentiable function of A.
   Leaving the ``no_grad`` block restores the user's grad mode, also on error.
3. The hook returns ``feature_maps * 1`` (a tracked copy) as the layer's output. If
   the next operation is an in-place activation (``ReLU(inplace=True)``), it
   modifies the copy, not our leaf: A stays the true layer output, and autograd
   raises no "modified by an inplace operation" error.

Gradients are then taken with ``torch.autograd.grad(y, feature_maps)``, which returns
them instead of writing any parameter's ``.grad``.

Vision transformers output tokens (N, tokens, C), not maps: ``reshape=`` (see ``cam_utils.tokens``)
lays them out as (N, C, h, w); the leaf is then the reshaped A and the network continues with the
tokens rebuilt from it, so gradients reach A through the kept (patch) tokens only.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch
from torch import nn

from ._checks import check_feature_maps, check_input, check_layer_tensor, check_logits, resolve_layer
from ._layers import contains_compiled_code, unwrap_compiled_layer
from .errors import LayerError
from .model_state import explaining, model_lock
from .tokens import Reshape, TokenLayout


@dataclass
class Recording:
    """What ``record_output`` saw: ``output`` is the module's detached output (None until it runs)."""

    output: torch.Tensor | None = None


@contextmanager
def record_output(module: nn.Module) -> Iterator[Recording]:
    """Record the output of ``module`` during one forward pass inside the ``with`` block.

    Example::

        with record_output(model.layer4) as recording:
            logits = model(x)
        feature_maps = recording.output   # (N, C, h, w)

    Behaviour:
        * ``recording.output`` is a detached *copy* of the output, so an in-place
          activation that runs after the module (``ReLU(inplace=True)``) cannot change it.
        * The module must return one tensor; a tuple/list/other output raises ``TypeError``.
        * The module may run only once per block: a second call (a module shared by two
          places of the network, or two forward passes in the block) raises ``RuntimeError``.
        * The hook is removed when the block ends, also when it raises.
    """
    recording = Recording()
    module_name = type(module).__name__

    def hook(hooked_module: nn.Module, inputs: Any, output: Any) -> None:
        if recording.output is not None:
            raise RuntimeError(
                f"{module_name} ran twice inside one record_output block (a module shared by two "
                "places of the network, or two forward passes). Record one forward pass per block, "
                "or hook a module that runs once."
            )
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"{module_name} returned {type(output).__name__}, not a tensor; record_output needs "
                "a module that returns a single tensor (hook a submodule instead)."
            )
        # clone(): the next layer may change `output` in place (e.g. ReLU(inplace=True)).
        recording.output = output.detach().clone()

    handle = module.register_forward_hook(hook)
    try:
        yield recording
    finally:
        handle.remove()  # never leave a hook behind: they pile up and leak memory


@dataclass
class LayerForward:
    """One forward pass, split at a layer.

    Attributes:
        feature_maps: (N, C, h, w) the layer's output A, a leaf tensor with ``requires_grad=True``.
        logits: (N, num_classes) raw class scores y computed from ``feature_maps``; the graph
            from ``feature_maps`` to ``logits`` is kept, so several backward passes are possible
            (one per class, without running the model again) — as long as every
            ``torch.autograd.grad`` call passes ``retain_graph=True`` (``class_gradients`` does);
            a call without it frees the graph.
    """

    feature_maps: torch.Tensor
    logits: torch.Tensor
    #: The hooked layer's dotted name, for error messages ("" when unknown).
    layer_name: str = ""


def gradient_path_cut(layer_name: str) -> LayerError:
    """The error for class scores that are computed from the layer's output without a gradient path."""
    return LayerError(
        f"The class scores are computed from layer '{layer_name}' without a gradient path back to its output: "
        "something after the layer cuts it (a .detach() or .data in the model's forward, a forward hook that "
        "returns a detached tensor, a NumPy round trip), or the layer only feeds a branch that does not reach "
        "the scores (an auxiliary head).",
        value=layer_name,
        suggestion="Gradient-based maps need that path: remove the cut, or choose a layer after it (CAM needs no "
        "gradient).",
    )


def forward_with_features(
    model: nn.Module, x: torch.Tensor, layer: nn.Module | str, reshape: Reshape | None = None
) -> LayerForward:
    """Run ``model(x)`` once at inference behaviour and split it at ``layer``.

    Layers before ``layer`` run without building an autograd graph; ``layer``'s output
    is replaced, for the rest of the forward, by a graph-tracked copy of a fresh leaf
    (see the module docstring), so an in-place activation after it neither corrupts
    the recorded A nor raises. The model is left untouched, also from several threads (see
    :mod:`cam_utils.model_state`).

    Args:
        model, x, reshape: as for :func:`~cam_utils.gradcam.grad_cam`. With ``reshape``,
            ``feature_maps`` is the reshaped A, and gradients reach it through the kept tokens only.
        layer: the target layer (``grad_cam``'s ``target_layer``).

    Raises:
        TypeError / ValueError: invalid ``x``, ``layer`` or ``reshape`` (the message names the fix).
        RuntimeError: inside ``torch.inference_mode()``.
        LayerError (a RuntimeError): ``layer`` not called, or called twice, during the forward;
            logits that do not depend on ``layer``.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "Gradient-based maps need autograd, which torch.inference_mode() switches off. "
            "Call this function outside the inference_mode block (torch.no_grad() is fine)."
        )
    feature_maps, logits, layer_name = _split_forward(model, x, layer, reshape, track_after_layer=True)
    return LayerForward(feature_maps=feature_maps, logits=logits, layer_name=layer_name)


def forward_recording(
    model: nn.Module, x: torch.Tensor, layer: nn.Module | str, reshape: Reshape | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Internal: one gradient-free forward at inference behaviour; returns ``(feature_maps, logits)``.

    Same checks as ``forward_with_features`` but builds no graph at all (CAM needs no
    gradient), so it also works inside ``torch.inference_mode()``.
    """
    feature_maps, logits, _ = _split_forward(model, x, layer, reshape, track_after_layer=False)
    return feature_maps, logits


def _split_forward(
    model: nn.Module, x: torch.Tensor, layer: nn.Module | str, reshape: Reshape | None, track_after_layer: bool
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One forward pass under ``torch.no_grad()`` that keeps ``layer``'s output A.

    ``track_after_layer=True``: A becomes a fresh leaf that requires grad and the layers
    after it are recorded by autograd (steps 1-3 of the module docstring).
    ``track_after_layer=False``: A is a plain copy and no graph is built at all.
    Returns ``(feature_maps (N, C, h, w), logits (N, num_classes), the layer's dotted name)``.
    """
    # torch.compile(model): compiled code skips hooks added later; run the original module (same weights).
    model, layer = unwrap_compiled_layer(model, layer)
    # The lock is held from before the hook exists until after it is gone, so that no other
    # thread's forward on this model runs while the hook is registered (see model_state).
    with model_lock(model):
        return _split_forward_locked(model, x, layer, reshape, track_after_layer)


class _SplitHook:
    """The forward hook of ``_split_forward``: it acts only in the thread that installed it.

    A module's hooks are shared by every thread and copied by ``copy.deepcopy(model)``. So the hook
    ignores forwards run by other threads (plain inference elsewhere goes on untouched), and a deep
    copy made while it is installed gets an inert hook (:func:`_inert_hook`) that does nothing.
    """

    def __init__(self, module: nn.Module, layer_name: str, reshape: Reshape | None, track_after_layer: bool):
        self.module, self.layer_name = module, layer_name
        self.reshape, self.track_after_layer = reshape, track_after_layer
        self.owner = threading.get_ident()
        self.captured: dict[str, torch.Tensor] = {}
        self.in_inference_mode = self.in_reentrant_checkpoint = False

    def __deepcopy__(self, memo: dict[int, object]) -> Any:
        return _inert_hook

    def __reduce__(self) -> Any:
        return _inert_hook.__qualname__  # pickled (torch.save of a copy) as the module-level no-op

    def __call__(self, hooked_module: nn.Module, inputs: Any, output: Any) -> torch.Tensor | None:
        if hooked_module is not self.module or threading.get_ident() != self.owner:
            return None  # another thread's forward (or a copy's module): not ours
        captured, layer_name, reshape = self.captured, self.layer_name, self.reshape
        # Two reasons the scores may end up without a gradient path, told apart in the error message:
        self.in_inference_mode = torch.is_inference_mode_enabled()  # e.g. @torch.inference_mode on forward
        self.in_reentrant_checkpoint = _inside_reentrant_checkpoint()
        if "feature_maps" in captured:
            raise LayerError(
                f"Layer '{layer_name}' ran twice in one forward pass (a module used in two places), "
                "so its output is not one well-defined A.",
                value=layer_name,
                suggestion="Choose a layer that runs once.",
            )
        if reshape is None:
            check_feature_maps(output, layer_name)
            layout, feature_maps = None, output.detach()  # (N, C, h, w), shares the output's memory
        else:
            check_layer_tensor(output, layer_name)
            layout = TokenLayout.of(output, reshape, layer_name)
            feature_maps = layout.feature_maps  # (N, C, h, w), a fresh tensor
        if not self.track_after_layer:
            # clone(): a following in-place activation must not change what we keep.
            captured["feature_maps"] = feature_maps.clone() if layout is None else feature_maps
            return None  # the network continues with its own output
        # A fresh leaf: the start of the graph. Nothing before this layer is tracked.
        feature_maps.requires_grad_(True)  # (N, C, h, w)
        captured["feature_maps"] = feature_maps
        # Track the rest of the forward. The enclosing no_grad() restores the mode on exit.
        torch.set_grad_enabled(True)
        if layout is not None:
            return layout.tokens_from(feature_maps)  # the tokens again, the kept ones computed from A
        # Hand the network a tracked copy: in-place ops after this layer change the copy only.
        return feature_maps * 1


def _inside_reentrant_checkpoint() -> bool:
    """Is this forward running inside ``torch.utils.checkpoint(..., use_reentrant=True)``? Its segment runs
    without autograd and is recomputed during backward, so nothing inside it has a gradient path."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(60):  # a few dozen frames up are enough: the checkpoint calls the segment directly
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "forward" and code.co_filename.endswith(os.path.join("utils", "checkpoint.py")):
            return "CheckpointFunction" in frame.f_code.co_qualname if hasattr(code, "co_qualname") else True
        frame = frame.f_back
    return False


def _inert_hook(module: nn.Module, inputs: Any, output: Any) -> None:
    """What a deep copy of a model gets in place of an explaining call's hook: nothing happens."""
    return None


def _split_forward_locked(
    model: nn.Module, x: torch.Tensor, layer: nn.Module | str, reshape: Reshape | None, track_after_layer: bool
) -> tuple[torch.Tensor, torch.Tensor, str]:
    module, layer_name = resolve_layer(model, layer)
    check_input(x, model)
    split_here = _SplitHook(module, layer_name, reshape, track_after_layer)
    handle = module.register_forward_hook(split_here)
    try:
        with explaining(model, report_mode_change=True), torch.no_grad():
            logits = model(x)  # (N, num_classes)
    finally:
        handle.remove()

    captured = split_here.captured
    if "feature_maps" not in captured:
        if contains_compiled_code(model):
            raise LayerError(
                f"Layer '{layer_name}' ran inside code compiled by torch.compile, which does not run hooks "
                "added after compiling, so its feature maps cannot be read.",
                value=layer_name,
                suggestion="Explain the model before compiling it (the same module object, uncompiled); "
                "torch.compile(model) itself is unwrapped automatically, model.compile() and compiled submodules "
                "are not.",
            )
        raise LayerError(
            f"Layer '{layer_name}' was never called during model(x), so it has no feature maps.",
            value=layer_name,
            suggestion="Choose a layer that model.forward actually uses (see model.named_modules()).",
        )
    check_logits(logits)
    if track_after_layer and not logits.requires_grad:
        if split_here.in_inference_mode:
            raise LayerError(
                f"Layer '{layer_name}' ran inside torch.inference_mode() (the model's forward, or a decorator "
                "on it, switches it on), which switches autograd off, so there is no gradient to its output.",
                value=layer_name,
                suggestion="Remove inference_mode from the model's forward (torch.no_grad() is fine outside), or "
                "use CAM.",
            )
        if split_here.in_reentrant_checkpoint:
            raise LayerError(
                f"Layer '{layer_name}' runs inside activation checkpointing with use_reentrant=True "
                "(torch.utils.checkpoint), which computes its segment without autograd, so there is no gradient "
                "to its output.",
                value=layer_name,
                suggestion="Switch checkpointing off while explaining (timm: model.set_grad_checkpointing(False)), "
                "or pass use_reentrant=False.",
            )
        raise LayerError(
            f"The class scores do not depend on layer '{layer_name}' (no gradient path from its output to the logits).",
            value=layer_name,
            suggestion="Choose a layer on the main path of the network.",
        )
    return captured["feature_maps"], logits, layer_name

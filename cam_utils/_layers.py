"""Finding the layer to explain, by module or dotted name (internal).

``walk_modules`` is the package's one walk over a model's modules. ``resolve_layer`` returns the
module and its name (for messages); an unknown name gets the closest existing names as a suggestion.
``unwrap_compiled`` hands the explaining functions the original module of a ``torch.compile`` wrapper.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from torch import nn


def walk_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every module of ``model`` with its dotted name (``""`` for ``model``), breadth first, each module once.

    The same modules as ``model.named_modules()`` and as cheap to stop early: a feature layer is usually
    near the top of the tree (``layer4``, ``bn2``). A module shared by two parents comes once (under its
    first name), a module registered inside itself (a cycle) does not loop, an empty child slot
    (``register_module(name, None)``) is skipped.
    """
    queue: list[tuple[str, nn.Module]] = [("", model)]
    seen = {id(model)}
    for prefix, module in queue:  # the list grows while it is read
        yield prefix, module
        for child_name, child in module._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                queue.append((f"{prefix}.{child_name}" if prefix else child_name, child))


#: The attribute under which ``torch.compile(model)`` keeps the original module.
COMPILED_PREFIX = "_orig_mod"


def unwrap_compiled(model: nn.Module) -> nn.Module:
    """The module that ``torch.compile`` wrapped (same weights), or ``model`` itself.

    Compiled code does not run hooks registered after compiling, so the explaining functions run
    the original module eagerly: same parameters and buffers, so the same outputs.
    """
    while type(model).__name__ == "OptimizedModule":
        original = model._modules.get(COMPILED_PREFIX)
        if not isinstance(original, nn.Module):
            break
        model = original
    return model


def unwrap_compiled_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, nn.Module | str]:
    """``unwrap_compiled(model)``, and a layer name relative to it (``"_orig_mod.layer4"`` -> ``"layer4"``)."""
    original = unwrap_compiled(model)
    if original is not model and isinstance(layer, str):
        while layer.startswith(COMPILED_PREFIX + "."):
            layer = layer[len(COMPILED_PREFIX) + 1 :]
    return original, layer


def contains_compiled_code(model: nn.Module) -> bool:
    """True if a module of ``model`` is a ``torch.compile`` wrapper or was compiled in place (``.compile()``)."""
    return any(
        type(module).__name__ == "OptimizedModule" or getattr(module, "_compiled_call_impl", None) is not None
        for _, module in walk_modules(model)
    )


def close_names(wanted: str, names: list[str], count: int = 3) -> list[str]:
    """Names that end with ``.wanted`` (a wrapper added a prefix, e.g. ``module.`` of DataParallel),
    then names that look alike."""
    by_suffix = [name for name in names if name.endswith("." + wanted)]
    return (by_suffix + difflib.get_close_matches(wanted, names, n=count, cutoff=0.5))[:count]


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, str]:
    """Return ``(module, dotted_name)`` for a layer given as a module or as its dotted name.

    A name is looked up with ``model.get_submodule``; an unknown name raises a
    ``ValueError`` that suggests the closest existing names. The empty name is refused:
    it would be the whole model, whose output is the class scores.
    """
    if isinstance(layer, str):
        if not layer.strip():
            raise ValueError(
                f"The layer name is empty ({layer!r}). Give the dotted name of a layer that outputs feature "
                "maps, e.g. 'layer4' for a ResNet (the names: [name for name, _ in model.named_modules()])."
            )
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            close = close_names(layer, names)
            hint = (
                f"Did you mean {', '.join(repr(name) for name in close)}?"
                if close
                else "List the names with [name for name, _ in model.named_modules()]."
            )
            raise ValueError(f"The model has no layer named {layer!r}. {hint}") from None
        return module, layer
    if isinstance(layer, nn.Module):
        name = next((name for name, module in walk_modules(model) if module is layer), None)
        if name is not None:
            return layer, name or "<the model itself>"
        raise ValueError(
            f"The layer {type(layer).__name__} is not a submodule of the model. "
            "Pass a module taken from this model (e.g. model.layer4) or its dotted name (e.g. 'layer4')."
        )
    raise TypeError(f"layer must be an nn.Module of the model or its dotted name (str), got {type(layer).__name__}.")

"""Finding the layer to explain, by module or dotted name (internal).

``resolve_layer`` returns the module and its name (for messages); an unknown name gets the
closest existing names as a suggestion.
"""
from __future__ import annotations

import difflib

from torch import nn


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, str]:
    """Return ``(module, dotted_name)`` for a layer given as a module or as its dotted name.

    A name is looked up with ``model.get_submodule``; an unknown name raises a
    ``ValueError`` that suggests the closest existing names.
    """
    if isinstance(layer, str):
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in model.named_modules() if name]
            close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
            hint = (
                f"Did you mean {', '.join(repr(name) for name in close)}?"
                if close
                else "List the names with [name for name, _ in model.named_modules()]."
            )
            raise ValueError(f"The model has no layer named {layer!r}. {hint}") from None
        return module, layer
    if isinstance(layer, nn.Module):
        name = _name_of(model, layer)
        if name is not None:
            return layer, name or "<the model itself>"
        raise ValueError(
            f"The layer {type(layer).__name__} is not a submodule of the model. "
            "Pass a module taken from this model (e.g. model.layer4) or its dotted name (e.g. 'layer4')."
        )
    raise TypeError(
        f"layer must be an nn.Module of the model or its dotted name (str), got {type(layer).__name__}."
    )


def _name_of(model: nn.Module, layer: nn.Module) -> str | None:
    """The dotted name of ``layer`` inside ``model`` ("" for the model itself), None if absent.

    Breadth first, stopping at the match: a feature layer is usually near the top of the tree
    (``layer4``, ``bn2``), so this is much cheaper than walking ``named_modules()`` to the end.
    """
    queue: list[tuple[str, nn.Module]] = [("", model)]
    seen = {id(model)}
    for prefix, module in queue:  # the list grows while it is read
        if module is layer:
            return prefix
        for child_name, child in module._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                queue.append((f"{prefix}.{child_name}" if prefix else child_name, child))
    return None

"""Explain a model at inference behaviour without changing the model.

A network explains a prediction the way it makes predictions: BatchNorm must use
its running statistics (not the statistics of the batch being explained) and dropout
must be off. That is ``model.eval()``. But ``eval()`` changes a flag the *user* owns:
someone in the middle of training should get their model back in training mode.

``explaining(model)`` switches to eval behaviour for the duration of a ``with`` block
and then puts every module's ``.training`` flag back exactly as it was, module by
module (a model may mix train and eval submodules), also when the block raises.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """During the block: eval behaviour (BatchNorm uses running stats, dropout off).

    After the block (also on error): every module's ``.training`` flag restored exactly.

    Example::

        with explaining(model):
            logits = model(x)   # BatchNorm running stats untouched, dropout off
    """
    # Only the flags are saved: no copy of weights, so this costs microseconds.
    saved_flags = [(module, module.training) for module in model.modules()]
    try:
        if any(was_training for _, was_training in saved_flags):
            model.eval()  # skipped when already in eval mode: the common case, and the fast one
        yield model
    finally:
        # Set each module's own flag: module.train(flag) would recurse into children
        # and overwrite flags that differed from their parent's. Only changed flags are
        # written, because nn.Module's attribute assignment is slow-ish (~1 µs each).
        for module, was_training in saved_flags:
            if module.training != was_training:
                module.training = was_training

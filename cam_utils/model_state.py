"""Explain a model at inference behaviour without changing the model, also from several threads.

A network explains a prediction the way it makes predictions: BatchNorm must use
its running statistics (not the statistics of the batch being explained) and dropout
must be off. That is ``model.eval()``. But ``eval()`` changes a flag the *user* owns:
someone in the middle of training should get their model back in training mode.

``explaining(model)`` switches to eval behaviour for the duration of a ``with`` block
and then puts every module's ``.training`` flag back exactly as it was, module by
module (a model may mix train and eval submodules), also when the block raises.

Threads: the flags and the hooks of a model are shared by every thread that uses it. If two
threads explained one model at once, each thread's hook would fire in the other's forward pass
and each would restore flags the other had just set. So ``explaining(model)`` also holds a lock
of its own for that model (re-entrant: nesting in one thread is fine) for the whole block, and the
explaining functions register their hooks under the same lock: calls on one model from several
threads run one after the other, with exactly the results of sequential calls. Different models
run in parallel. What is and is not safe to do from other threads meanwhile is docs/DESIGN.md's
"Concurrency" section.

What every explaining function guarantees (``grad_cam`` and its variants, ``score_cam``,
``class_activation_map``, ``forward_with_features``...; their docstrings point here):

* the model is left untouched: weights, buffers (BatchNorm statistics), train/eval flags, hooks,
  ``requires_grad`` flags, ``.grad`` and the grad mode are as before the call, also when it raises;
* a model in train mode is explained at inference behaviour (eval), inside ``explaining``;
* calls on one model from several threads take turns (``model_lock``), with the results of
  sequential calls.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ._layers import walk_modules

__all__ = ["explaining", "model_lock"]

# model -> its lock. Weak keys: the entry goes away with the model; nothing is stored on the model.
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _fresh_locks_after_fork() -> None:
    """A forked child (a DataLoader worker) has only the forking thread: a lock another thread held
    at the fork would stay held forever in the child and hang its first explanation. Start afresh."""
    global _LOCKS, _LOCKS_GUARD
    _LOCKS = weakref.WeakKeyDictionary()
    _LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_fresh_locks_after_fork)


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises explaining calls on ``model`` (one per model object)."""
    lock = _LOCKS.get(model)
    if lock is None:
        with _LOCKS_GUARD:  # two threads asking for a new model's lock get the same one
            lock = _LOCKS.setdefault(model, threading.RLock())
    return lock


@contextmanager
def explaining(model: nn.Module, *, report_mode_change: bool = False) -> Iterator[nn.Module]:
    """During the block: eval behaviour (BatchNorm uses running stats, dropout off).

    After the block (also on error): every module's ``.training`` flag restored exactly, also a flag
    the block itself changed. The block holds ``model_lock(model)``: other threads explaining the same
    model wait.

    Example::

        with explaining(model):
            logits = model(x)   # BatchNorm running stats untouched, dropout off

    Args:
        model: the network; its flags are read once, in one walk over its modules.
        report_mode_change: for blocks that change no flag (the package's explaining functions): a module
            in training mode when the block ends was switched by someone else, most likely another thread's
            ``model.train()``, so the block's forward passes may have run in training mode (BatchNorm
            updating its statistics). Then, after the flags are restored, RuntimeError is raised instead of
            returning a map that may be wrong.
    """
    with model_lock(model):
        # One walk over the modules; only the flags are saved (no copy of weights).
        modules = [module for _, module in walk_modules(model)]
        switched = [module for module in modules if module.training]
        for module in switched:  # none when the model is in eval mode: the common case, and the fast one
            module.training = False  # model.eval(), flag by flag: also for a module registered inside itself
        try:
            yield model
        finally:
            # Set each module's own flag: module.train(flag) would recurse into children and overwrite
            # flags that differed from their parent's. Only changed flags are written (nn.Module's
            # attribute assignment costs ~1 µs each).
            training_now = [module for module in modules if module.training]
            for module in training_now:
                module.training = False
            for module in switched:
                module.training = True
        if training_now and report_mode_change:  # not reached when the block raised: that error comes first
            raise RuntimeError(
                "The model was switched to training mode (model.train()) while it was being explained, "
                "probably from another thread: the explaining forward may have run in training mode, so the "
                "map is not reliable, and BatchNorm may have updated its running statistics. Do not change "
                "the model's mode while explaining it (docs/DESIGN.md, 'Concurrency')."
            )

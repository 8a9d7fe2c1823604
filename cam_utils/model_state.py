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
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["all_modules", "eval_behaviour", "explaining", "model_lock"]

# model -> its lock. Weak keys: the entry goes away with the model; nothing is stored on the model.
_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
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


def all_modules(model: nn.Module, only_training: bool = False) -> list[nn.Module]:
    """Every module of ``model`` (itself included), breadth first; with ``only_training``, those in
    training mode only. A module shared by two parents may appear twice (harmless for flags).

    The same modules as ``model.modules()``, several times faster (no names, no memo set, the flag
    test in the same pass): this walk is the main fixed cost of an explaining call on a deep
    network, so it is done once per call.
    """
    found, kept = [model], []
    for module in found:  # the list grows while it is read
        if module is None:  # a child slot may hold None (register_module(name, None))
            continue
        if module.training or not only_training:
            kept.append(module)
        found.extend(module._modules.values())
        if len(found) > _MAX_MODULES:  # a module registered inside itself: use PyTorch's memoised walk
            return [module for module in model.modules() if module.training or not only_training]
    return kept


#: More modules than this in the walk means a cycle (a module registered inside itself, which PyTorch's
#: own recursive walks cannot handle either): stop growing the list instead of filling the memory.
_MAX_MODULES = 1_000_000


@contextmanager
def eval_behaviour(model: nn.Module) -> Iterator[nn.Module]:
    """Internal ``explaining`` for the explaining functions: one walk, and only switched flags restored.

    Same lock and same eval behaviour as ``explaining``; after the block, the modules that were in
    training mode are put back into it. Unlike ``explaining``, flags that the block itself changes are
    not undone (the explaining functions change none), which saves a second pass over the modules.

    A mode change from another thread during the block cannot be told apart from the block's own, so it
    is detected where it matters: a module switched back to training mode while the block ran (another
    thread's ``model.train()``) means the forward may have run in training mode, with BatchNorm updating
    its statistics; the block then raises instead of returning a map that may be wrong.
    """
    with model_lock(model):
        training_modules = all_modules(model, only_training=True)
        if not training_modules:  # the common case: a model already in eval mode
            yield model
            return
        model.eval()
        changed_meanwhile = False
        try:
            yield model
        finally:
            changed_meanwhile = any(module.training for module in training_modules)
            for module in training_modules:
                module.training = True
        if changed_meanwhile:
            raise RuntimeError(
                "The model was switched to training mode (model.train()) while it was being explained, "
                "probably from another thread: the explaining forward may have run in training mode, so the "
                "map is not reliable, and BatchNorm may have updated its running statistics. Do not change "
                "the model's mode while explaining it (docs/DESIGN.md, 'Concurrency')."
            )


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """During the block: eval behaviour (BatchNorm uses running stats, dropout off).

    After the block (also on error): every module's ``.training`` flag restored exactly.
    The block holds ``model_lock(model)``: other threads explaining the same model wait.

    Example::

        with explaining(model):
            logits = model(x)   # BatchNorm running stats untouched, dropout off
    """
    with model_lock(model):
        # Only the flags are saved (no copy of weights), in one walk over the modules.
        saved_flags = [(module, module.training) for module in all_modules(model)]
        try:
            if any(was_training for _, was_training in saved_flags):
                model.eval()  # skipped when already in eval mode: the common case, and the fast one
            yield model
        finally:
            # Set each module's own flag: module.train(flag) would recurse into children and
            # overwrite flags that differed from their parent's. Only changed flags are written,
            # because nn.Module's attribute assignment is slow-ish (~1 µs each).
            for module, was_training in saved_flags:
                if module.training != was_training:
                    module.training = was_training

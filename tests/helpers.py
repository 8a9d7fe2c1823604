"""Test helpers: prove that explaining a model left it exactly as it was.

Usage::

    from tests.helpers import ModelSnapshot

    snapshot = ModelSnapshot.take(model)
    grad_cam(model, x, "layer4")
    snapshot.assert_unchanged(model)

A snapshot records everything an explaining function could change by mistake:

* the state_dict, bitwise (weights, BatchNorm running stats, ``num_batches_tracked``);
* every module's ``.training`` flag;
* the hooks of every module (forward, forward-pre, backward, backward-pre, with kwargs)
  and PyTorch's global module hooks;
* every parameter's ``requires_grad`` flag, its ``.grad`` (same object *and* same values)
  and its tensor hooks;
* the global grad mode and inference mode.

It also has small model factories used across the test files.
"""

from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_globals

_MODULE_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
_GLOBAL_HOOK_DICTS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
    "_global_forward_hooks_always_called",
    "_global_forward_hooks_with_kwargs",
)


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """A byte view of a tensor's values, so that equality is bitwise (NaN == NaN, -0 != +0)."""
    flat = tensor.detach().contiguous().reshape(-1)
    if tensor.dtype == torch.bool:
        return flat.to(torch.uint8).clone()
    return flat.view(torch.uint8).clone()


def _hook_keys(hooks: Any) -> tuple:
    return tuple(hooks.keys()) if hooks else ()


def _global_hooks() -> dict[str, tuple]:
    return {name: _hook_keys(getattr(module_globals, name, None)) for name in _GLOBAL_HOOK_DICTS}


@dataclass
class ModelSnapshot:
    """Everything about a model (and the grad mode) that an explaining function must not change."""

    state_bits: dict[str, tuple[torch.dtype, tuple[int, ...], torch.Tensor]]
    training_flags: dict[str, bool]
    module_hooks: dict[str, dict[str, tuple]]
    global_hooks: dict[str, tuple]
    requires_grad: dict[str, bool]
    grads: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]]
    tensor_hooks: dict[str, tuple]
    grad_enabled: bool
    inference_mode: bool

    @classmethod
    def take(cls, model: nn.Module) -> ModelSnapshot:
        """Record the model's current state."""
        state_bits = {
            name: (value.dtype, tuple(value.shape), _bits(value))
            for name, value in model.state_dict(keep_vars=False).items()
            if isinstance(value, torch.Tensor)
        }
        modules = dict(model.named_modules(remove_duplicate=False))
        training_flags = {name: module.training for name, module in modules.items()}
        module_hooks = {
            name: {hooks: _hook_keys(getattr(module, hooks, None)) for hooks in _MODULE_HOOK_DICTS}
            for name, module in modules.items()
        }
        parameters = dict(model.named_parameters(remove_duplicate=False))
        return cls(
            state_bits=state_bits,
            training_flags=training_flags,
            module_hooks=module_hooks,
            global_hooks=_global_hooks(),
            requires_grad={name: p.requires_grad for name, p in parameters.items()},
            grads={
                name: (p.grad, None if p.grad is None else p.grad.detach().clone()) for name, p in parameters.items()
            },
            tensor_hooks={name: _hook_keys(p._backward_hooks) for name, p in parameters.items()},
            grad_enabled=torch.is_grad_enabled(),
            inference_mode=torch.is_inference_mode_enabled(),
        )

    def differences(self, model: nn.Module) -> list[str]:
        """What changed since the snapshot, as readable lines (empty list: nothing)."""
        now = ModelSnapshot.take(model)
        problems: list[str] = []
        if now.state_bits.keys() != self.state_bits.keys():
            problems.append(f"state_dict keys changed: {sorted(now.state_bits.keys() ^ self.state_bits.keys())}")
        for name, (dtype, shape, bits) in self.state_bits.items():
            if name not in now.state_bits:
                continue
            new_dtype, new_shape, new_bits = now.state_bits[name]
            if (dtype, shape) != (new_dtype, new_shape) or not torch.equal(bits, new_bits):
                problems.append(f"state_dict entry '{name}' changed")
        for name, flag in self.training_flags.items():
            if now.training_flags.get(name) != flag:
                problems.append(f"module '{name}'.training was {flag}, now {now.training_flags.get(name)}")
        for name, hooks in self.module_hooks.items():
            if now.module_hooks.get(name) != hooks:
                problems.append(f"hooks of module '{name}' changed: {hooks} -> {now.module_hooks.get(name)}")
        if now.global_hooks != self.global_hooks:
            problems.append(f"global module hooks changed: {self.global_hooks} -> {now.global_hooks}")
        parameters = dict(model.named_parameters(remove_duplicate=False))
        for name, flag in self.requires_grad.items():
            if now.requires_grad.get(name) != flag:
                problems.append(f"parameter '{name}'.requires_grad was {flag}, now {now.requires_grad.get(name)}")
        for name, (grad_object, grad_values) in self.grads.items():
            current = parameters[name].grad
            if current is not grad_object:
                problems.append(
                    f"parameter '{name}'.grad was replaced (was {'None' if grad_object is None else 'a tensor'})"
                )
            elif grad_values is not None and not torch.equal(_bits(current), _bits(grad_values)):
                problems.append(f"parameter '{name}'.grad values changed")
        if now.tensor_hooks != self.tensor_hooks:
            problems.append("tensor hooks on parameters changed")
        if now.grad_enabled != self.grad_enabled:
            problems.append(f"grad mode was {self.grad_enabled}, now {now.grad_enabled}")
        if now.inference_mode != self.inference_mode:
            problems.append(f"inference mode was {self.inference_mode}, now {now.inference_mode}")
        return problems

    def assert_unchanged(self, model: nn.Module) -> None:
        """Raise AssertionError listing every difference from the snapshot."""
        problems = self.differences(model)
        if problems:
            raise AssertionError("The model was changed:\n  " + "\n  ".join(problems))


def give_existing_grads(model: nn.Module, seed: int = 0) -> None:
    """Fill every parameter's .grad with random values, as in the middle of training."""
    generator = torch.Generator().manual_seed(seed)
    for parameter in model.parameters():
        parameter.grad = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)


class TinyGapNet(nn.Module):
    """A small CNN ending in global average pooling + one linear layer (CAM applies exactly).

    ``features`` output: (N, channels, H/4, W/4); ``fc``: Linear(channels, num_classes).
    Contains BatchNorm and Dropout so that train/eval behaviour matters.
    """

    def __init__(self, num_classes: int = 5, channels: int = 8, inplace: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, stride=2, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=inplace),
            nn.Conv2d(6, channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.features(x))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running stats, so train and eval behaviour differ."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            dtype = module.running_mean.dtype
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator).to(dtype) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator).to(dtype) + 0.5)


def token_gradients(
    model: nn.Module, x: torch.Tensor, module_name: str, class_idx: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Independent reference for transformer layers: a module's output tokens, ∂y^c/∂tokens and the logits.

    Plain autograd on an eval-mode copy of the model: a forward hook keeps the tokens with
    ``retain_grad``, one ``backward`` of Σ_n y^{c_n}. All three tensors as they are, unfolded:
    tokens and gradients (N, prefix + h·w, C), logits (N, num_classes).
    """
    model = copy.deepcopy(model).eval()
    stored = {}

    def keep(module, inputs, output):
        output.retain_grad()
        stored["tokens"] = output

    handle = model.get_submodule(module_name).register_forward_hook(keep)
    with torch.enable_grad():
        logits = model(x)
        logits[torch.arange(len(x)), torch.as_tensor(class_idx)].sum().backward()
    handle.remove()
    return stored["tokens"].detach(), stored["tokens"].grad, logits.detach()


def run_in_forked_child(work, seconds: float) -> int | None:
    """Fork; the child runs ``work()`` and exits 0 (1 if it raised). Returns the child's exit code, or None if it
    did not finish within ``seconds`` (it is then killed): the fork tests' bound on a hang."""
    import os
    import signal
    import time

    pid = os.fork()
    if pid == 0:
        try:
            work()
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the forked child reports any failure by its exit status
            os._exit(1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@contextmanager
def held_by_another_thread(lock):
    """Hold ``lock`` in a second thread for the duration of the block (as an explanation in progress would)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join()

"""Host overhead of ``cam_utils.grad_cam`` against a minimal hook + ``autograd.grad`` Grad-CAM.

Usage: .venv/bin/python benchmarks/bench_overhead.py [--rounds 300] [--size 32] [--batch 1] [--device cpu]

On a GPU at batch 1 every call is bound by the host (Python, kernel launches), so the price of the
library's guarantees (input checks, the model left untouched, thread safety) shows up as a ratio
over the leanest code that computes the same map. A tiny input (32×32 by default) makes the CPU
behave the same way: the convolutions are cheap and the host time dominates.

The minimal implementation assumes what the library checks: the model is already in eval mode,
x is a valid batch, the layer is a module that runs once; it registers one forward hook that makes
the layer's output a leaf (the same trick as ``forward_with_features``), runs the forward, calls
``torch.autograd.grad`` and combines the maps. The script asserts that both give the same maps.

Models: EfficientNet-Lite0 (layer ``bn2``) and ResNet-50 (``layer4``), random weights, eval mode.
Every round times each variant for ``--calls`` calls, in an order rotated by one per round
(interleaved, so a drift of a shared machine affects all alike); the table shows medians over
the rounds, and the ratio is the median of the per-round ratios (wall clock and process CPU time).
Target: grad_cam ≤ 1.03× minimal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

from cam_utils.gradcam import grad_cam
from cam_utils.models import load_model


def minimal_grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM for each image's top-1 class with no checks: one hook, one forward, one autograd.grad."""
    stored: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        stored["A"] = leaf = output.detach().requires_grad_(True)
        torch.set_grad_enabled(True)
        return leaf * 1

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    feature_maps = stored["A"]
    scores = logits.gather(1, logits.detach().argmax(dim=1, keepdim=True)).sum()
    (gradients,) = torch.autograd.grad(scores, feature_maps)
    weights = gradients.mean(dim=(2, 3))  # α (N, C)
    return torch.relu(torch.einsum("nc,nchw->nhw", weights, feature_maps.detach()))


class Timings:
    """Per-round milliseconds per call of each variant, on the wall clock and in CPU time.

    The CPU time is this process's (all threads): on a shared machine it counts the work done,
    while the wall clock also counts the waits for a core.
    """

    def __init__(self, names: list[str]) -> None:
        self.wall: dict[str, list[float]] = {name: [] for name in names}
        self.cpu: dict[str, list[float]] = {name: [] for name in names}

    def median(self, clock: str, name: str) -> float:
        return statistics.median(getattr(self, clock)[name])

    def paired_ratio(self, clock: str, name: str, baseline: str) -> float:
        """Median over rounds of name / baseline within each round: a slow drift of the machine cancels."""
        times = getattr(self, clock)
        return statistics.median(a / b for a, b in zip(times[name], times[baseline], strict=True))


def time_rounds(variants: dict[str, Callable[[], object]], rounds: int, calls: int) -> Timings:
    """Time every variant ``calls`` times per round; round r starts with variant r mod V (interleaved)."""
    names = list(variants)
    timings = Timings(names)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(calls):
                variants[name]()
            timings.wall[name].append((time.perf_counter() - wall_start) * 1000 / calls)
            timings.cpu[name].append((time.process_time() - cpu_start) * 1000 / calls)
    return timings


def timed_calls(
    model: nn.Module, x: torch.Tensor, layer: nn.Module, layer_name: str, device: str
) -> dict[str, Callable[[], object]]:
    """The three calls compared on one network: a plain forward, the minimal Grad-CAM and cam_utils' grad_cam."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    return {
        "forward": lambda: (forward(), sync()),
        "minimal": lambda: (minimal_grad_cam(model, x, layer), sync()),
        "grad_cam": lambda: (grad_cam(model, x, layer_name), sync()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--calls", type=int, default=3, help="calls per timing")
    parser.add_argument("--size", type=int, default=32, help="input height = width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    networks = {
        "efficientnet_lite0": (load_model("efficientnet_lite0", pretrained=False).model, "bn2"),
        "resnet50": (torchvision.models.resnet50().eval(), "layer4"),
    }
    print(
        f"batch {args.batch}, input {args.size}×{args.size}, device {args.device}, threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}; median ms per call over {args.rounds} rounds of {args.calls} calls"
    )
    print(f"{'model':<20s} {'clock':<5s} {'forward':>9s} {'minimal':>9s} {'grad_cam':>9s}  grad_cam / minimal")
    for name, (model, layer_name) in networks.items():
        model = model.to(args.device)
        layer = model.get_submodule(layer_name)
        x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
        expected = minimal_grad_cam(model, x, layer)
        torch.testing.assert_close(grad_cam(model, x, layer_name), expected, rtol=1e-5, atol=1e-7)

        variants = timed_calls(model, x, layer, layer_name, device=args.device)
        time_rounds(variants, rounds=max(3, args.rounds // 20), calls=args.calls)  # warm-up
        timings = time_rounds(variants, args.rounds, args.calls)
        for clock in ("wall", "cpu"):
            medians = {variant: timings.median(clock, variant) for variant in variants}
            ratio = timings.paired_ratio(clock, "grad_cam", "minimal")
            print(
                f"{name:<20s} {clock:<5s} {medians['forward']:9.3f} {medians['minimal']:9.3f} "
                f"{medians['grad_cam']:9.3f}  {ratio:.3f}×"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Draw where each kind of hook runs in the forward and the backward pass (docs/images/hooks_diagram.svg).

Usage: python tools/draw_hook_figure.py [OUTPUT_DIR]     (default: docs/images)

Notebook 03 shows the figure. Its numbers (1 to 4) are the order in which PyTorch calls the hooks, and that
order is not typed in: :func:`firing_order` registers the four hooks on a small network, runs one forward
and one backward pass and records the calls, so the figure cannot drift from PyTorch. The fifth tool,
``torch.autograd.grad``, is no hook; the figure shows the part of the backward pass it runs.
The figure draws the usual case, a module whose input requires a gradient (any layer after one with
parameters). When no input of the module requires one (a first layer fed a plain image), PyTorch calls the
full backward hook as soon as the gradient at the output is ready, before the tensor hook, with a warning:
``firing_order(input_requires_grad=False)`` records that order.
The SVG is reproducible: fixed element ids, no date, text kept as text (readable at the notebook's width:
10 inches wide, no text under 11 points).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ is not a package
from draw_diagrams import save_svg  # one reproducible SVG writer for every figure

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_PATH = REPO_ROOT / "docs" / "images" / "hooks_diagram.svg"

# The four hooks, by the name firing_order() records; the figure draws them in that order.
PRE_HOOK, FORWARD_HOOK, TENSOR_HOOK, BACKWARD_HOOK = (
    "forward pre-hook",
    "forward hook",
    "tensor hook on the output",
    "full backward hook",
)

# Colours by role, as in tools/draw_diagrams.py: the forward pass, the backward pass, the hooks.
FORWARD, GRADIENT, HOOK, AUTOGRAD = "#dbe8f6", "#f6dbe4", "#fde7c8", "#7a1f3f"
TEXT_SIZE, SMALL_SIZE = 12.5, 11.5


def firing_order(input_requires_grad: bool = True) -> list[str]:
    """The order in which PyTorch calls the four hooks of one module during a forward and a backward pass.

    ``input_requires_grad=True`` hooks the ReLU after a linear layer (the figure's case);
    ``False`` hooks the first linear layer, whose input requires no gradient.
    """
    calls: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        x = torch.randn(1, 3)
    module = network[1] if input_requires_grad else network[0]

    def forward_hook(hooked: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        calls.append(FORWARD_HOOK)
        output.register_hook(lambda gradient: calls.append(TENSOR_HOOK))

    handles = [
        module.register_forward_pre_hook(lambda hooked, inputs: calls.append(PRE_HOOK)),
        module.register_forward_hook(forward_hook),
        module.register_full_backward_hook(lambda hooked, grad_input, grad_output: calls.append(BACKWARD_HOOK)),
    ]
    try:
        score = network(x)[0, 0]
        with warnings.catch_warnings():  # "Full backward hook is firing ... since no inputs require gradients"
            warnings.simplefilter("ignore")
            torch.autograd.grad(score, network[0].weight)  # reaches the module's input: every hook runs
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _box(axis, x: float, y: float, text: str, colour: str, width: float = 1.9, height: float = 0.85) -> None:
    """A rounded box centred at (x, y) with a (possibly two-line) label."""
    axis.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=colour,
            edgecolor="#555555",
            linewidth=1.0,
        )
    )
    axis.text(x, y, text, ha="center", va="center", fontsize=TEXT_SIZE)


def _arrow(
    axis,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    label_y: float = 0.3,
    colour: str = "#333333",
) -> None:
    """An arrow from start to end with its label above the middle."""
    axis.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.4, color=colour, shrinkA=0, shrinkB=0
        )
    )
    if label:
        axis.text(
            (start[0] + end[0]) / 2,
            start[1] + label_y,
            label,
            ha="center",
            va="bottom",
            fontsize=SMALL_SIZE,
            color="#1f3f7a",
        )


def _marker(axis, x: float, y: float, number: int) -> None:
    """A numbered circle: where a hook runs, numbered by when."""
    axis.add_patch(Circle((x, y), 0.2, facecolor=HOOK, edgecolor="#b06000", linewidth=1.6, zorder=3))
    axis.text(x, y, str(number), ha="center", va="center", fontsize=TEXT_SIZE, fontweight="bold", zorder=4)


def draw_hooks(order: list[str]) -> Figure:
    """The figure, with the hooks numbered in the given firing order."""
    number = {name: order.index(name) + 1 for name in (PRE_HOOK, FORWARD_HOOK, TENSOR_HOOK, BACKWARD_HOOK)}
    figure = Figure(figsize=(10.0, 6.8))
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, 10.0)
    axis.set_ylim(0, 6.8)
    axis.set_axis_off()
    axis.text(
        0.2,
        6.5,
        "Where each hook runs (numbers: the order in which PyTorch calls them)",
        ha="left",
        va="center",
        fontsize=13.5,
        fontweight="bold",
    )

    # Forward pass, left to right.
    top = 5.4
    axis.text(0.2, top + 0.6, "forward pass  →", fontsize=SMALL_SIZE, style="italic", color="#555555")
    _box(axis, 1.0, top, "input of\nthe module", FORWARD, width=1.6)
    _box(axis, 4.0, top, "module\n(a layer)", FORWARD, width=1.7)
    _box(axis, 6.9, top, "rest of the\nnetwork", FORWARD, width=1.7)
    _box(axis, 9.15, top, "score $y^c$", FORWARD, width=1.4)
    _arrow(axis, (1.8, top), (3.15, top), "inputs")
    _arrow(axis, (4.85, top), (6.05, top), "output $A$")
    _arrow(axis, (7.75, top), (8.45, top))
    _marker(axis, 2.75, top, number[PRE_HOOK])
    _marker(axis, 5.25, top, number[FORWARD_HOOK])

    # Backward pass, right to left, under the forward pass.
    bottom = 3.7
    axis.text(9.8, bottom + 0.6, "←  backward pass", ha="right", fontsize=SMALL_SIZE, style="italic", color="#555555")
    _box(axis, 1.0, bottom, "gradient at\nthe input", GRADIENT, width=1.6)
    _box(axis, 4.0, bottom, "module's\nbackward", GRADIENT, width=1.7)
    _box(axis, 6.9, bottom, "backward of\nthe rest", GRADIENT, width=1.7)
    _box(axis, 9.15, bottom, "start at $y^c$", GRADIENT, width=1.4)
    _arrow(axis, (8.45, bottom), (7.75, bottom))
    _arrow(axis, (6.05, bottom), (4.85, bottom), "$\\partial y^c / \\partial A$")
    _arrow(axis, (3.15, bottom), (1.8, bottom), "$\\partial y^c / \\partial$ inputs")
    _marker(axis, 5.25, bottom, number[TENSOR_HOOK])
    _marker(axis, 2.75, bottom, number[BACKWARD_HOOK])

    # torch.autograd.grad(y^c, A): the stretch of the backward pass it runs, from y^c back to A only.
    span_y = bottom - 0.72
    axis.add_patch(
        FancyArrowPatch(
            (9.7, span_y),
            (4.95, span_y),
            arrowstyle="-|>",
            mutation_scale=16,
            linewidth=2.2,
            color=AUTOGRAD,
            shrinkA=0,
            shrinkB=0,
        )
    )
    axis.text(
        9.8,
        span_y - 0.14,
        "torch.autograd.grad($y^c$, $A$) runs only this part and returns "
        "$\\partial y^c / \\partial A$;\nhook 3 runs, hook 4 does not (it waits for the gradient at the input), "
        "no .grad is written",
        ha="right",
        va="top",
        fontsize=SMALL_SIZE,
        color=AUTOGRAD,
    )

    # The legend: how each hook is registered and what it receives.
    rows = [
        (
            number[PRE_HOOK],
            "module.register_forward_pre_hook(hook)",
            "hook(module, inputs)",
            "before forward; may replace the inputs",
        ),
        (
            number[FORWARD_HOOK],
            "module.register_forward_hook(hook)",
            "hook(module, inputs, output)",
            "after forward; may replace the output",
        ),
        (
            number[TENSOR_HOOK],
            "A.register_hook(hook)  (A: the output)",
            "hook(gradient)",
            "when the gradient at A is ready; may replace it",
        ),
        (
            number[BACKWARD_HOOK],
            "module.register_full_backward_hook(hook)",
            "hook(module, grad_input, grad_output)",
            "when the gradient at the inputs is ready",
        ),
    ]
    for row, (index, registered, called, when) in enumerate(sorted(rows)):
        y = 1.95 - 0.52 * row
        _marker(axis, 0.45, y, index)
        axis.text(0.8, y, registered, va="center", fontsize=SMALL_SIZE, family="monospace")
        axis.text(0.8, y - 0.22, f"calls {called}: {when}", va="center", fontsize=SMALL_SIZE - 0.5, color="#333333")
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", type=Path, default=OUTPUT_PATH.parent)
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / OUTPUT_PATH.name
    save_svg(draw_hooks(firing_order()), path)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

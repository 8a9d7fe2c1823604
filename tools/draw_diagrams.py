"""Draw the CAM and Grad-CAM data-flow diagrams (docs/images/*.svg) with matplotlib.

Usage: python tools/draw_diagrams.py [OUTPUT_DIR]     (default: docs/images)

Each diagram shows what happens to one 224 x 224 image, box by box, with the tensor shapes
written on the arrows. The shapes are not typed in: they are read from EfficientNet-Lite0
(the offline default network) by one forward pass, so the figure cannot drift from the model.
Notebook 02 shows cam_diagram.svg, notebook 04 grad_cam_diagram.svg, the README both.
The SVG files are reproducible: fixed element ids, no date, text kept as text.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = REPO_ROOT / "docs" / "images"
FILE_NAMES = {"cam": "cam_diagram.svg", "grad_cam": "grad_cam_diagram.svg"}

# Colours by role: the network's forward pass, what the method computes, the picture.
FORWARD, METHOD, PICTURE, GRADIENT = "#dbe8f6", "#fde7c8", "#e3f1dc", "#f6dbe4"


@dataclass(frozen=True)
class Shapes:
    """The sizes the diagrams write on their arrows, for one image."""

    image: int  # the input is image x image pixels
    channels: int  # K, channels of the feature map A
    grid: int  # A is grid x grid
    classes: int  # number of class scores

    @property
    def feature_maps(self) -> str:
        return f"{self.channels}×{self.grid}×{self.grid}"


def lite0_shapes() -> Shapes:
    """Read the shapes from EfficientNet-Lite0 with one forward pass on a blank 224 x 224 photo."""
    from PIL import Image

    from cam_utils import load_model, record_output

    loaded = load_model()
    x = loaded.preprocess(Image.new("RGB", (224, 224)))  # 1 x 3 x 224 x 224
    with record_output(loaded.feature_layer) as recording, torch.no_grad():
        logits = loaded.model(x)  # 1 x classes
    _, channels, grid, _ = recording.output.shape  # 1 x K x h x w
    return Shapes(image=x.shape[-1], channels=channels, grid=grid, classes=logits.shape[1])


def _box(axis, x: float, y: float, text: str, colour: str, width: float = 1.9, height: float = 0.8) -> None:
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
    axis.text(x, y, text, ha="center", va="center", fontsize=10.5)


def _arrow(
    axis,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    label_offset: tuple[float, float] = (0.0, 0.17),
    dashed: bool = False,
    bend: float = 0.0,
) -> None:
    """An arrow from start to end with its label (a shape) written next to its middle."""
    axis.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=13,
            linewidth=1.3,
            color="#333333",
            linestyle="--" if dashed else "-",
            connectionstyle=f"arc3,rad={bend}",
            shrinkA=0,
            shrinkB=0,
        )
    )
    if label:
        middle_x = (start[0] + end[0]) / 2 + label_offset[0]
        middle_y = (start[1] + end[1]) / 2 + label_offset[1]
        axis.text(middle_x, middle_y, label, ha="center", va="bottom", fontsize=9.5, color="#1f3f7a")


def _canvas(title: str) -> tuple[Figure, object]:
    figure = Figure(figsize=(13.0, 4.6))
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, 13.0)
    axis.set_ylim(0.2, 4.8)
    axis.set_axis_off()
    axis.text(0.2, 4.55, title, ha="left", va="center", fontsize=12.5, fontweight="bold")
    return figure, axis


# Rows and the column of the weighted sum, shared by both diagrams.
TOP, MIDDLE, BOTTOM, SUM_X = 3.8, 2.3, 0.8, 5.25


def _forward_start(axis, shapes: Shapes, second_box: str) -> None:
    """Top left of both diagrams: image -> layers -> A, with A also sent down to the weighted sum."""
    _box(axis, 0.9, TOP, "image $x$", PICTURE, width=1.4)
    _box(axis, 3.6, TOP, second_box, FORWARD)
    _arrow(axis, (1.6, TOP), (2.65, TOP), f"3×{shapes.image}×{shapes.image}")
    _arrow(axis, (SUM_X, TOP), (SUM_X, MIDDLE + 0.45), f"$A$: {shapes.feature_maps}", label_offset=(-0.85, -0.12))


def _picture_row(axis, shapes: Shapes, relu: str) -> None:
    """Bottom row of both diagrams: the map -> ReLU -> upsample -> normalise and overlay."""
    grid, image = f"{shapes.grid}×{shapes.grid}", f"{shapes.image}×{shapes.image}"
    _box(axis, SUM_X, BOTTOM, relu, METHOD)
    _box(axis, 8.0, BOTTOM, "upsample\n(bilinear)", PICTURE)
    _box(axis, 10.95, BOTTOM, "normalise to [0, 1]\n+ overlay on the image", PICTURE, width=2.5)
    _arrow(axis, (SUM_X, MIDDLE - 0.45), (SUM_X, BOTTOM + 0.4), f"map: {grid}", label_offset=(0.55, -0.12))
    _arrow(axis, (SUM_X + 0.95, BOTTOM), (8.0 - 0.95, BOTTOM), grid)
    _arrow(axis, (8.95, BOTTOM), (10.95 - 1.25, BOTTOM), image)


def draw_cam(shapes: Shapes) -> Figure:
    """CAM: image -> A -> GAP -> linear -> y^c; row c of W weights A -> (ReLU) -> upsample -> overlay."""
    figure, axis = _canvas("CAM (Zhou et al., 2016): the classifier's weights say which feature maps matter")
    _forward_start(axis, shapes, "convolutional\nlayers")
    _box(axis, 6.9, TOP, "GAP\n(mean over $i, j$)", FORWARD)
    _box(axis, 9.4, TOP, "linear layer\n$W$, $b$", FORWARD, width=1.6)
    _box(axis, 11.95, TOP, "class score $y^c$", FORWARD, width=1.7)
    _arrow(axis, (4.55, TOP), (5.95, TOP), f"$A$: {shapes.feature_maps}")
    _arrow(axis, (7.85, TOP), (8.6, TOP), f"$F$: {shapes.channels}")
    _arrow(axis, (10.2, TOP), (11.1, TOP), f"$y$: {shapes.classes}")

    _box(axis, SUM_X, MIDDLE, "weighted sum\n$M_c = \\Sigma_k\\, w_k^c A^k$", METHOD, width=2.4, height=0.9)
    _arrow(
        axis,
        (9.4, TOP - 0.4),
        (SUM_X + 1.2, MIDDLE),
        f"$w^c$: {shapes.channels} (row $c$ of $W$)",
        label_offset=(1.35, -0.2),
    )
    axis.text(9.6, 1.75, "identity: $y^c = \\mathrm{mean}(M_c) + b_c$", ha="center", fontsize=10.5)
    _picture_row(axis, shapes, "ReLU\n(optional)")
    return figure


def draw_grad_cam(shapes: Shapes) -> Figure:
    """Grad-CAM: image -> A -> rest -> y^c; ∂y^c/∂A -> GAP -> α -> weighted sum -> ReLU -> upsample -> overlay."""
    figure, axis = _canvas("Grad-CAM (Selvaraju et al., 2017): gradients say which feature maps matter")
    _forward_start(axis, shapes, "layers up to\nthe target layer")
    _box(axis, 7.75, TOP, "rest of the network\n(any head)", FORWARD, width=2.2)
    _box(axis, 11.8, TOP, "class score $y^c$", FORWARD, width=1.7)
    _arrow(axis, (4.55, TOP), (6.65, TOP), f"$A$: {shapes.feature_maps}")
    _arrow(axis, (8.85, TOP), (10.95, TOP), f"$y$: {shapes.classes}")

    _box(
        axis,
        11.8,
        MIDDLE,
        "gradient $\\partial y^c / \\partial A$\n(autograd, backward)",
        GRADIENT,
        width=2.2,
        height=0.9,
    )
    _box(
        axis,
        8.5,
        MIDDLE,
        "GAP of the gradient\n$\\alpha_k^c = (1/Z)\\,\\Sigma_{ij}\\,\\partial y^c / \\partial A^k_{ij}$",
        GRADIENT,
        width=2.4,
        height=0.9,
    )
    _box(axis, SUM_X, MIDDLE, "weighted sum\n$\\Sigma_k\\, \\alpha_k^c A^k$", METHOD, width=2.2, height=0.9)
    _arrow(axis, (11.8, TOP - 0.4), (11.8, MIDDLE + 0.45))
    _arrow(axis, (10.7, MIDDLE), (9.7, MIDDLE), shapes.feature_maps)
    _arrow(axis, (7.3, MIDDLE), (SUM_X + 1.1, MIDDLE), f"$\\alpha^c$: {shapes.channels}")
    _picture_row(axis, shapes, "ReLU")
    return figure


def save_svg(figure: Figure, path: Path) -> None:
    """Write a reproducible SVG: fixed ids (hash salt), no date, text as text."""
    with matplotlib.rc_context({"svg.hashsalt": "cam-tutorial", "svg.fonttype": "none"}):
        figure.savefig(path, format="svg", metadata={"Date": None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    shapes = lite0_shapes()
    for kind, draw in (("cam", draw_cam), ("grad_cam", draw_grad_cam)):
        path = args.output_dir / FILE_NAMES[kind]
        save_svg(draw(shapes), path)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

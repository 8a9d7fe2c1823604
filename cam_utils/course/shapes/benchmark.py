"""The localisation benchmark: explanation methods scored against the exact object masks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cam_utils.metrics import energy_share, mask_iou, pointing_game

from .data import IMAGE_SIZE, make_shapes
from .training import load_shapes_model

if TYPE_CHECKING:  # only for type hints; imported lazily at run time
    from matplotlib.axes import Axes

# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------

ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""An explanation method: (model, x (N,3,H,W), class_idx (N,)) -> maps (N, h, w)."""


@dataclass
class BenchmarkRow:
    """Localisation scores of one method, averaged over the benchmark's images.

    Attributes:
        method: the method's name (a key of ``methods``, or "centre baseline" / "random baseline").
        pointing_game: fraction of images whose map maximum lies on the object (within tolerance).
        energy_share: mean fraction of the map's positive energy on the object.
        iou: mean IoU of the thresholded map with the object mask.
    """

    method: str
    pointing_game: float
    energy_share: float
    iou: float


def centre_baseline(n: int, size: int = IMAGE_SIZE) -> Tensor:
    """(n, size, size) maps: a Gaussian at the image centre, sigma = size / 4. Ignores the image."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5 - size / 2
    gaussian = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * (size / 4) ** 2))
    return gaussian.expand(n, size, size).clone()


def random_baseline(n: int, size: int = IMAGE_SIZE, seed: int = 0) -> Tensor:
    """(n, 8, 8) maps of uniform noise (the resolution of ShapesGapNet's CAM), seeded."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, size // 8, size // 8, generator=generator)


def localisation_benchmark(
    methods: Mapping[str, ExplainFn],
    n_images: int = 500,
    seed: int = 2024,
    model: nn.Module | None = None,
    threshold: float = 0.5,
    tolerance: float = 0.0,
    batch_size: int = 100,
    baselines: bool = True,
) -> list[BenchmarkRow]:
    """Score explanation methods against the exact object masks of :func:`make_shapes`.

    Every method explains the *true* class of each image (the one whose object the mask
    marks), on ``make_shapes(n_images, seed)``; the default seed is not one used for training.
    Maps are upsampled bilinearly to 64x64 inside the metrics:

    * pointing game: the map's maximum is on the object (:func:`cam_utils.metrics.pointing_game`);
    * energy share: fraction of the positive map on the object (:func:`cam_utils.metrics.energy_share`);
    * IoU: region >= ``threshold`` x max against the mask (:func:`cam_utils.metrics.mask_iou`).

    Args:
        methods: name -> fn(model, x, class_idx) returning (N, h, w) maps, e.g.
            ``{"Grad-CAM": lambda m, x, c: grad_cam(m, x, "features", c)}``.
        n_images: number of test images.
        seed: seed of the test images.
        model: the classifier to explain; None loads :func:`load_shapes_model`.
        threshold: IoU threshold, a fraction of each map's maximum.
        tolerance: pointing-game tolerance in pixels.
        batch_size: images per call of a method.
        baselines: also score a centre Gaussian and a random map, which ignore the image.

    Returns:
        One BenchmarkRow per method (in the order given), then the baselines.
    """
    if model is None:
        model = load_shapes_model().model
    if not methods and not baselines:
        raise ValueError("Nothing to score: pass at least one method or baselines=True.")
    data = make_shapes(n_images, seed=seed)
    device = next(model.parameters()).device

    all_maps: dict[str, Tensor] = {}
    for name, explain in methods.items():
        batches = []
        for start in range(0, n_images, batch_size):
            x = data.images[start : start + batch_size].to(device)
            class_idx = data.labels[start : start + batch_size].to(device)
            maps = explain(model, x, class_idx)
            if not isinstance(maps, Tensor) or maps.dim() != 3 or maps.shape[0] != x.shape[0]:
                shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
                raise ValueError(
                    f"Method {name!r} returned {shape}; it must return one map per image, shape ({x.shape[0]}, h, w)."
                )
            batches.append(maps.detach().float().cpu())
        all_maps[name] = torch.cat(batches)  # (n_images, h, w)
    if baselines:
        all_maps["centre baseline"] = centre_baseline(n_images)
        all_maps["random baseline"] = random_baseline(n_images, seed=seed)

    rows = []
    for name, maps in all_maps.items():
        rows.append(
            BenchmarkRow(
                method=name,
                pointing_game=pointing_game(maps, data.masks, tolerance).float().mean().item(),
                energy_share=energy_share(maps, data.masks).mean().item(),
                iou=mask_iou(maps, data.masks, threshold).mean().item(),
            )
        )
    return rows


def format_benchmark_table(rows: Sequence[BenchmarkRow]) -> str:
    """The rows as a plain-text table (one line per method)."""
    width = max([len("method")] + [len(row.method) for row in rows])
    lines = [f"{'method':<{width}}  pointing game  energy share    IoU"]
    for row in rows:
        lines.append(f"{row.method:<{width}}  {row.pointing_game:13.3f}  {row.energy_share:12.3f}  {row.iou:5.3f}")
    return "\n".join(lines)


def plot_benchmark(rows: Sequence[BenchmarkRow], ax: Axes | None = None) -> Axes:
    """Grouped bar chart: one group per metric, one bar per method. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    metrics = ["pointing_game", "energy_share", "iou"]
    bar_width = 0.8 / max(len(rows), 1)
    for index, row in enumerate(rows):
        values = [getattr(row, metric) for metric in metrics]
        positions = [m + (index - (len(rows) - 1) / 2) * bar_width for m in range(len(metrics))]
        ax.bar(positions, values, width=bar_width, label=row.method)
    ax.set_xticks(range(len(metrics)), ["pointing game", "energy share", "IoU"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (higher is better)")
    ax.legend(fontsize="small")
    return ax

"""A localisation benchmark with exact ground truth, made entirely offline.

Real photos have no per-pixel answer to "where is the object?", so we draw our own:

1. :func:`make_shapes` draws one *class object* (circle, square, triangle, cross or ring) per
   64x64 RGB image, on a cluttered background with distractors (lines, dots, thin ellipses,
   in the same colours as the object). Only the shape tells the class, and we know the exact
   pixels of the object: its mask.
2. :class:`ShapesGapNet` is a small CNN whose last conv feature map (8x8) is followed by global
   average pooling and a single ``nn.Linear``: exactly the architecture CAM needs.
3. :func:`train_shapes_model` trains it deterministically on the CPU in about a minute;
   ``python -m cam_utils.synthetic train --out cam_utils/data/shapes_gapnet.pt`` writes the
   weights that ship with the package, and :func:`load_shapes_model` loads them.
4. :func:`localisation_benchmark` scores explanation methods (pointing game, energy share,
   IoU of the thresholded map) against the masks, next to a centre and a random baseline.

Everything is generated from a seed with a private ``torch.Generator``: the same seed gives the
same images on every run, and the global random state is never touched.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_utils.metrics import energy_share, mask_iou, pointing_game
from cam_utils.model_state import explaining

if TYPE_CHECKING:  # only for type hints; imported lazily at run time
    import matplotlib.pyplot as plt
    from PIL import Image

    from cam_utils.models import LoadedModel

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
"""The five classes; the label of an image is the index of its object's shape here."""

IMAGE_SIZE = 64
"""Side of the square images, in pixels."""

SHAPES_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
SHAPES_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)
"""Normalisation: x = (pixel - 0.5) / 0.5, so pixels in [0, 1] become values in [-1, 1]."""

WEIGHTS_PATH = Path(__file__).parent / "data" / "shapes_gapnet.pt"
"""Where the trained weights of :class:`ShapesGapNet` ship inside the package."""

# Object sizes, in pixels: the "radius" is half the side of the shape's bounding box.
_MIN_RADIUS, _MAX_RADIUS = 8, 15
# Distractors are thinner or smaller than any class object.
_N_DISTRACTORS = (3, 7)  # inclusive range of distractors per image


@dataclass
class ShapesData:
    """A batch of synthetic images with their labels and exact object masks.

    Attributes:
        images: (N, 3, H, W) float tensor, normalised with SHAPES_MEAN / SHAPES_STD.
        labels: (N,) int64 tensor, an index into CLASS_NAMES.
        masks:  (N, H, W) bool tensor, True exactly on the visible pixels of the class object.
    """

    images: Tensor
    labels: Tensor
    masks: Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]


# ----------------------------------------------------------------------------------------------
# Drawing: every shape is a boolean function of pixel coordinates, evaluated for N images at once
# ----------------------------------------------------------------------------------------------

def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> Tensor:
    """(n,) floats drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand(n, generator=generator)


def _shape_masks(kind: Tensor, dy: Tensor, dx: Tensor, radius: Tensor, angle: Tensor) -> Tensor:
    """Boolean masks of each image's shape.

    Args:
        kind: (N,) class index into CLASS_NAMES.
        dy, dx: (N, H, W) pixel-centre offsets from the shape's centre.
        radius: (N,) half-size of the shape, in pixels.
        angle: (N,) rotation in radians (circles and rings ignore it).

    Returns:
        (N, H, W) bool: True inside the shape.
    """
    r = radius[:, None, None]
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    u = cos * dx + sin * dy  # coordinates in the shape's own (rotated) frame
    v = -sin * dx + cos * dy
    distance = torch.sqrt(dx**2 + dy**2)

    circle = distance <= r
    square = (u.abs() <= 0.8 * r) & (v.abs() <= 0.8 * r)  # 0.8: same area scale as the circle
    # Equilateral triangle with circumradius r, one vertex pointing "up" in the rotated frame:
    # inside when on the inner side of its three edges (each at distance r/2 from the centre).
    edges = [(0.0, 1.0), (math.sqrt(3) / 2, -0.5), (-math.sqrt(3) / 2, -0.5)]
    triangle = torch.ones_like(circle)
    for normal_u, normal_v in edges:
        triangle &= (normal_u * u + normal_v * v) <= r / 2
    arm = 0.3 * r  # half-width of the cross's arms
    cross = ((u.abs() <= arm) & (v.abs() <= r)) | ((v.abs() <= arm) & (u.abs() <= r))
    ring = (distance <= r) & (distance >= 0.55 * r)

    by_kind = torch.stack([circle, square, triangle, cross, ring])  # (5, N, H, W)
    return by_kind[kind, torch.arange(kind.shape[0])]


def _distractor_masks(generator: torch.Generator, dy: Tensor, dx: Tensor) -> Tensor:
    """(N, H, W) bool masks of one distractor per image: a line, a dot or a thin ellipse.

    ``dy, dx`` are (N, H, W) pixel coordinates relative to the image origin.
    """
    n, height, width = dy.shape
    centre_y = _uniform(generator, n, 0, height)[:, None, None]
    centre_x = _uniform(generator, n, 0, width)[:, None, None]
    angle = _uniform(generator, n, 0, math.pi)[:, None, None]
    y, x = dy - centre_y, dx - centre_x
    u = torch.cos(angle) * x + torch.sin(angle) * y
    v = -torch.sin(angle) * x + torch.cos(angle) * y

    half_length = _uniform(generator, n, 6, 20)[:, None, None]
    line = (u.abs() <= half_length) & (v.abs() <= _uniform(generator, n, 0.5, 1.2)[:, None, None])
    dot = (x**2 + y**2) <= _uniform(generator, n, 1.5, 3.5)[:, None, None] ** 2
    ellipse_a = _uniform(generator, n, 6, 12)[:, None, None]
    ellipse = (u / ellipse_a) ** 2 + (v / (ellipse_a / 4)) ** 2 <= 1  # aspect ratio 4:1

    kind = torch.randint(0, 3, (n,), generator=generator)
    by_kind = torch.stack([line, dot, ellipse])  # (3, N, H, W)
    return by_kind[kind, torch.arange(n)]


def _contrasting_colour(generator: torch.Generator, local_background: Tensor) -> Tensor:
    """(N, 3) colours that differ from the local background colour by 0.3-0.5 per channel.

    The object could otherwise vanish into the background; with a contrast on every channel,
    colour says nothing about the class (distractors get colours from the same rule).
    """
    n = local_background.shape[0]
    offset = 0.3 + 0.2 * torch.rand(n, 3, generator=generator)
    sign = torch.where(local_background > 0.5, -1.0, 1.0)  # move away from the background
    return (local_background + sign * offset).clamp(0, 1)


def make_shapes(n: int, seed: int = 0, size: int = IMAGE_SIZE) -> ShapesData:
    """Draw ``n`` synthetic images, deterministic given ``seed``.

    Each image: a smooth random background with pixel noise, 3-7 distractors (lines, dots,
    4:1 ellipses), then one class object (circle, square, triangle, cross or ring; radius 8-15
    px at size 64, random position fully inside the image, random rotation) drawn on top. The
    mask is exactly the object's pixels (a ring's hole is not part of it).

    Args:
        n: number of images.
        seed: seed of the private torch.Generator; the global random state is not used.
        size: side of the images in pixels (object sizes scale with it).

    Returns:
        ShapesData with images (n, 3, size, size) normalised, labels (n,), masks (n, size, size).
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}.")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels for the shapes to be drawable, got {size}.")
    generator = torch.Generator().manual_seed(seed)
    scale = size / IMAGE_SIZE

    # Pixel-centre coordinates, broadcast to (n, size, size).
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    grid_y = coords[None, :, None].expand(n, size, size)
    grid_x = coords[None, None, :].expand(n, size, size)

    # Background: a smooth colour field (4x4 noise, bilinearly upsampled) plus fine pixel noise.
    coarse = 0.25 + 0.5 * torch.rand(n, 3, 4, 4, generator=generator)
    pixels = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    pixels = pixels + 0.06 * torch.randn(n, 3, size, size, generator=generator)  # (n, 3, size, size)

    # Distractors, each in a colour contrasting with the background around it.
    counts = torch.randint(_N_DISTRACTORS[0], _N_DISTRACTORS[1] + 1, (n,), generator=generator)
    for index in range(_N_DISTRACTORS[1]):
        drawn = _distractor_masks(generator, grid_y, grid_x) & (index < counts)[:, None, None]
        colour = _contrasting_colour(generator, pixels.mean(dim=(2, 3)))
        pixels = torch.where(drawn[:, None], colour[:, :, None, None], pixels)

    # The class object, fully inside the image.
    labels = torch.randint(0, len(CLASS_NAMES), (n,), generator=generator)
    radius = _uniform(generator, n, _MIN_RADIUS * scale, _MAX_RADIUS * scale)
    centre_y = radius + 1 + (size - 2 * radius - 2) * torch.rand(n, generator=generator)
    centre_x = radius + 1 + (size - 2 * radius - 2) * torch.rand(n, generator=generator)
    angle = _uniform(generator, n, 0, 2 * math.pi)
    masks = _shape_masks(
        labels, grid_y - centre_y[:, None, None], grid_x - centre_x[:, None, None], radius, angle
    )  # (n, size, size) bool
    local_background = (pixels * masks[:, None]).sum(dim=(2, 3)) / masks.sum(dim=(1, 2))[:, None]
    colour = _contrasting_colour(generator, local_background)
    pixels = torch.where(masks[:, None], colour[:, :, None, None], pixels).clamp(0, 1)

    mean = torch.tensor(SHAPES_MEAN)[None, :, None, None]
    std = torch.tensor(SHAPES_STD)[None, :, None, None]
    images = (pixels - mean) / std
    return ShapesData(images=images, labels=labels, masks=masks)


def denormalize_shapes(images: Tensor) -> Tensor:
    """Undo the normalisation: (N, 3, H, W) model inputs -> pixels in [0, 1], for display."""
    mean = torch.tensor(SHAPES_MEAN, device=images.device)[None, :, None, None]
    std = torch.tensor(SHAPES_STD, device=images.device)[None, :, None, None]
    return (images * std + mean).clamp(0, 1)


# ----------------------------------------------------------------------------------------------
# The model: conv blocks -> 8x8 feature map -> global average pooling -> one linear layer
# ----------------------------------------------------------------------------------------------

def _conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU (not in-place, so hooks see the true output)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class ShapesGapNet(nn.Module):
    """A small GAP CNN, the architecture CAM was defined for.

    ``features`` maps a (N, 3, 64, 64) image to A, the (N, 64, 8, 8) last conv feature map;
    global average pooling gives (N, 64); ``classifier`` (one nn.Linear) gives the 5 logits y.
    So y^c = sum_k w_k^c mean_ij(A^k_ij) + b_c, and CAM is M_c = sum_k w_k^c A^k.

    Attributes:
        feature_layer: name of the module whose output is A ("features").
        classifier_layer: name of the linear head ("classifier").
        categories: the class names, CLASS_NAMES.
    """

    feature_layer = "features"
    classifier_layer = "classifier"
    categories = list(CLASS_NAMES)

    def __init__(self, num_classes: int = len(CLASS_NAMES)) -> None:
        super().__init__()
        # Small and cheap (trains in about a minute on 2 CPU cores); the receptive field of
        # one cell of A is 53 px, enough to see a whole object (at most 30 px across).
        self.features = nn.Sequential(
            _conv_block(3, 16, stride=2),  # (N, 16, 32, 32)
            _conv_block(16, 24),  # (N, 24, 32, 32)
            nn.MaxPool2d(2),  # (N, 24, 16, 16)
            _conv_block(24, 48),  # (N, 48, 16, 16)
            nn.MaxPool2d(2),  # (N, 48, 8, 8)
            _conv_block(48, 64),  # (N, 64, 8, 8)
            _conv_block(64, 64),  # (N, 64, 8, 8): A, the K = 64 maps that CAM weighs
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, num_classes) logits."""
        feature_maps = self.features(x)  # (N, K, h, w)
        pooled = self.pool(feature_maps).flatten(1)  # (N, K): GAP
        return self.classifier(pooled)  # (N, num_classes)


# ----------------------------------------------------------------------------------------------
# Training (deterministic, CPU) and loading the shipped weights
# ----------------------------------------------------------------------------------------------


def accuracy(model: nn.Module, data: ShapesData, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data``, in [0, 1] (eval behaviour, no gradients; flags restored)."""
    correct = 0
    with explaining(model), torch.no_grad():
        device = next(model.parameters()).device
        for start in range(0, len(data), batch_size):
            logits = model(data.images[start : start + batch_size].to(device))
            correct += int((logits.argmax(dim=1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def train_shapes_model(
    n_train: int = 6000,
    epochs: int = 8,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> ShapesGapNet:
    """Train a :class:`ShapesGapNet` from scratch, deterministically, on the CPU.

    The training set is ``make_shapes(n_train, seed=seed)``; the weights are initialised and the
    batches shuffled from ``seed`` too, and torch's deterministic algorithms are switched on for
    the duration (then restored), so the same arguments give the same weights on the same
    machine. Adam with a cosine learning-rate schedule, cross-entropy loss.

    Args:
        n_train: number of training images.
        epochs: passes over the training set.
        batch_size: images per optimisation step.
        learning_rate: Adam's initial learning rate.
        seed: seed for data, initialisation and shuffling.
        log: called with one line per epoch; None for silence.

    Returns:
        The trained model, in eval mode.
    """
    if n_train < batch_size:
        raise ValueError(f"n_train ({n_train}) must be at least batch_size ({batch_size}).")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        data = make_shapes(n_train, seed=seed)
        with torch.random.fork_rng(devices=[]):  # leave the caller's global random state alone
            torch.manual_seed(seed)
            model = ShapesGapNet()
        generator = torch.Generator().manual_seed(seed + 1)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        steps_per_epoch = n_train // batch_size
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(n_train, generator=generator)
            total_loss = 0.0
            for step in range(steps_per_epoch):
                batch = order[step * batch_size : (step + 1) * batch_size]
                logits = model(data.images[batch])  # (B, 5)
                loss = F.cross_entropy(logits, data.labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item()
            if log is not None:
                log(f"epoch {epoch + 1}/{epochs}: mean training loss {total_loss / steps_per_epoch:.4f}")
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return model.eval()


def _shapes_transform(image: "Image.Image") -> Tensor:
    """PIL image -> (3, 64, 64) tensor normalised like :func:`make_shapes` (for LoadedModel)."""
    from torchvision.transforms import functional as TF

    pixels = TF.to_tensor(image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE)))  # (3, 64, 64) in [0, 1]
    return TF.normalize(pixels, SHAPES_MEAN, SHAPES_STD)


def load_shapes_model(weights: str | Path | None = None) -> "LoadedModel":
    """The trained :class:`ShapesGapNet`, ready to be explained, as a :class:`cam_utils.models.LoadedModel`.

    Args:
        weights: a state_dict saved by ``python -m cam_utils.synthetic train``; None loads the
            weights that ship with the package (``cam_utils/data/shapes_gapnet.pt``).

    Returns:
        LoadedModel with ``model`` in eval mode, ``feature_layer`` (the 8x8 map A, "features"),
        ``classifier`` (the linear head), ``categories`` (CLASS_NAMES) and a ``transform``
        from PIL images to normalised 64x64 tensors.
    """
    from cam_utils.models import LoadedModel

    path = Path(weights) if weights is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"No weights at {path}. Train them with "
            f"`python -m cam_utils.synthetic train --out {path}` (about a minute on a CPU)."
        )
    model = ShapesGapNet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    return LoadedModel(
        name="shapes_gapnet",
        model=model,
        transform=_shapes_transform,
        categories=list(CLASS_NAMES),
        feature_layer_name=ShapesGapNet.feature_layer,
        feature_layer=model.features,
        classifier=model.classifier,
        stages=["features.1", "features.3", "features.5", "features.6"],
    )


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
                    f"Method {name!r} returned {shape}; it must return one map per image, "
                    f"shape ({x.shape[0]}, h, w)."
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


def plot_benchmark(rows: Sequence[BenchmarkRow], ax: "plt.Axes | None" = None) -> "plt.Axes":
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


# ----------------------------------------------------------------------------------------------
# Command line: python -m cam_utils.synthetic train --out cam_utils/data/shapes_gapnet.pt
# ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; see ``python -m cam_utils.synthetic --help``."""
    parser = argparse.ArgumentParser(prog="python -m cam_utils.synthetic", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train ShapesGapNet and save its state_dict")
    train.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where to save the weights")
    train.add_argument("--n-train", type=int, default=6000)
    train.add_argument("--epochs", type=int, default=8)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-test", type=int, default=1000, help="held-out images for the accuracy report")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = train_shapes_model(n_train=args.n_train, epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    held_out = accuracy(model, make_shapes(args.n_test, seed=args.seed + 10_000))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"trained in {seconds:.0f} s; accuracy on {args.n_test} held-out images {held_out:.1%}; saved {args.out}")


if __name__ == "__main__":
    main()

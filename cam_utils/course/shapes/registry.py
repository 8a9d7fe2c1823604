"""The shapes networks by name: one entry per architecture (class, weights file, layers, training recipe).

Training (``python -m cam_utils.course.shapes train --model NAME``), loading
(:func:`cam_utils.course.shapes.load_shapes_model`) and the notebooks look an architecture up here,
so adding a network is one more :func:`register_shapes_model` call (at the end of this file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from cam_utils.tokens import Reshape, vit_reshape
from .gapnet import ShapesGapNet
from .mlpnet import ShapesMLPNet
from .vit import ShapesViT

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Where the trained weights ship inside the package (``cam_utils/course/shapes/data/*.pt``)."""


@dataclass(frozen=True)
class ShapesArchitecture:
    """One trainable architecture for the synthetic shapes.

    Attributes:
        name: the registry key (``--model NAME``).
        build: makes an untrained model (e.g. the class itself).
        weights_file: file name of the shipped weights in ``cam_utils/data``.
        feature_layer: dotted name of the last feature map A (what CAM and Grad-CAM explain).
        classifier_layer: dotted name of the last nn.Linear layer.
        stages: feature layers from shallow to deep, for layer studies and the explorer's layer menu;
            they include ``feature_layer``.
        description: one line for ``python -m cam_utils.course.shapes list``.
        n_train, epochs, learning_rate: the recipe that produced the shipped weights.
        reshape: None for a CNN; for a transformer, the ``reshape=`` its layers need
            (``vit_reshape``: tokens (N, 1 + h·w, C) -> maps (N, C, h, w)).
        gap_head: True when the classifier reads the global average of the feature layer, so
            CAM applies (M_c = Σ_k w_k^c A^k); False for any other head (flatten + MLP, class token).
    """

    name: str
    build: Callable[[], nn.Module]
    weights_file: str
    feature_layer: str
    classifier_layer: str
    stages: tuple[str, ...]
    description: str
    n_train: int = 6000
    epochs: int = 8
    learning_rate: float = 3e-3
    reshape: Reshape | None = None
    gap_head: bool = False

    @property
    def weights_path(self) -> Path:
        """Absolute path of the shipped weights."""
        return DATA_DIR / self.weights_file


SHAPES_MODELS: dict[str, ShapesArchitecture] = {}
"""Every registered architecture, by name."""


def register_shapes_model(architecture: ShapesArchitecture) -> ShapesArchitecture:
    """Add ``architecture`` to :data:`SHAPES_MODELS` (its name must be new); returns it."""
    if architecture.name in SHAPES_MODELS:
        raise ValueError(f"A shapes model named {architecture.name!r} is already registered.")
    SHAPES_MODELS[architecture.name] = architecture
    return architecture


def shapes_architecture(name: str) -> ShapesArchitecture:
    """The registered architecture called ``name``; a clear error listing the names otherwise."""
    if not isinstance(name, str) or name not in SHAPES_MODELS:
        raise ValueError(f"Unknown shapes model {name!r}. Registered: {', '.join(sorted(SHAPES_MODELS))}.")
    return SHAPES_MODELS[name]


register_shapes_model(
    ShapesArchitecture(
        name="gapnet",
        build=ShapesGapNet,
        weights_file="shapes_gapnet.pt",
        feature_layer="features",
        classifier_layer="classifier",
        stages=("features.1", "features.3", "features.5", "features"),
        description="5 conv blocks -> 64 x 8 x 8 -> global average pooling -> one linear layer (CAM's architecture)",
        gap_head=True,
    )
)
register_shapes_model(
    ShapesArchitecture(
        name="mlpnet",
        build=ShapesMLPNet,
        weights_file="shapes_mlpnet.pt",
        feature_layer="features",
        classifier_layer="classifier",
        stages=("features.1", "features.3", "features.5", "features"),
        description="5 conv blocks -> 32 x 8 x 8 -> flatten -> linear 64 + ReLU -> linear (no GAP: CAM cannot read it)",
    )
)
register_shapes_model(
    ShapesArchitecture(
        name="vit",
        build=ShapesViT,
        weights_file="shapes_vit.pt",
        feature_layer="blocks.2",
        classifier_layer="head",
        stages=("blocks.0", "blocks.1", "blocks.2", "blocks.3.norm1"),
        description="conv stem -> 8 x 8 patch tokens + class token -> 4 transformer blocks (width 64) -> head on the class token",
        n_train=12000,
        epochs=6,
        learning_rate=1e-3,
        reshape=vit_reshape,
    )
)

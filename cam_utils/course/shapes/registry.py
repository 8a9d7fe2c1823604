"""The shapes networks by name: one entry per architecture (class, weights file, layers, training recipe).

Training (``python -m cam_utils.course.shapes train --model NAME``) and the notebooks look an architecture
up here; adding a network is one more :func:`register_shapes_model` call (at the end of this file). Each
architecture is also a model of the library's one registry, ``load_model("shapes_NAME")``: the package's
entry point (group ``cam_utils.models`` in pyproject.toml) calls :func:`register_models` the first time
``cam_utils.models`` looks a name up, so the library never imports the course.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cam_utils.errors import RegistryError
from cam_utils.models import ModelSpec, register_model
from cam_utils.tokens import Reshape, vit_reshape

from .data import CLASS_NAMES, IMAGE_SIZE, SHAPES_MEAN, SHAPES_STD, shape_samples
from .gapnet import ShapesGapNet
from .mlpnet import ShapesMLPNet
from .vit import ShapesViT

if TYPE_CHECKING:  # only for type hints
    from PIL import Image

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Where the trained weights ship inside the package (``cam_utils/course/shapes/data/*.pt``)."""

#: ``load_model(MODEL_PREFIX + name)`` loads the shapes network ``name``.
MODEL_PREFIX = "shapes_"


class ShapesTransform:
    """PIL image -> (3, 64, 64) tensor normalised like :func:`make_shapes` (a LoadedModel's transform).

    ``mean`` and ``std`` say how it normalises, so that :func:`cam_utils.model_view` can turn a
    model input back into the picture the model sees.
    """

    mean = SHAPES_MEAN
    std = SHAPES_STD

    def __call__(self, image: Image.Image) -> Tensor:
        from torchvision.transforms import functional as TF

        pixels = TF.to_tensor(image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE)))  # (3, 64, 64) in [0, 1]
        return TF.normalize(pixels, self.mean, self.std)


@dataclass(frozen=True)
class ShapesArchitecture:
    """One trainable architecture for the synthetic shapes: its layers (as in
    :class:`cam_utils.models.ModelSpec`, with the same defaults), its weights file and its training recipe.

    Attributes:
        name: the registry key (``--model NAME``); ``load_model("shapes_NAME")`` loads it.
        build: makes an untrained model (e.g. the class itself).
        weights_file: file name of the shipped weights in ``cam_utils/course/shapes/data``.
        feature_layer: dotted name of the last feature map A (what CAM and Grad-CAM explain).
        classifier: dotted name of the last nn.Linear layer.
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
    classifier: str
    stages: tuple[str, ...]
    description: str
    n_train: int = 6000
    epochs: int = 8
    learning_rate: float = 3e-3
    reshape: Reshape | None = None
    gap_head: bool = ModelSpec.gap_head  # the library's one default

    @property
    def weights_path(self) -> Path:
        """Absolute path of the shipped weights."""
        return DATA_DIR / self.weights_file

    def model_spec(self, weights: str | Path | None = None) -> ModelSpec:
        """This architecture as a model of the library's registry, ``shapes_NAME``.

        Args:
            weights: a state_dict file saved by ``python -m cam_utils.course.shapes train``; None: the shipped one.
        """
        return ModelSpec(
            name=MODEL_PREFIX + self.name,
            build=partial(_build, self, None if weights is None else Path(weights)),
            feature_layer=self.feature_layer,
            classifier=self.classifier,
            stages=tuple(self.stages),
            categories=lambda: CLASS_NAMES,
            gap_head=self.gap_head,
            reshape=self.reshape,
            samples=shape_samples,
            description=self.description,
        )


def _build(
    architecture: ShapesArchitecture, weights: Path | None, pretrained: bool
) -> tuple[nn.Module, ShapesTransform]:
    """The network (with ``weights``, or the shipped ones, when ``pretrained``) and its preprocessing."""
    model = architecture.build()
    if pretrained:
        path = architecture.weights_path if weights is None else weights
        if not path.is_file():
            raise FileNotFoundError(
                f"No weights at {path}. Train them with `python -m cam_utils.course.shapes train "
                f"--model {architecture.name} --out {path}` (about a minute on a CPU)."
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model, ShapesTransform()


SHAPES_MODELS: dict[str, ShapesArchitecture] = {}
"""Every registered architecture, by name."""

_in_the_library = False  # True once register_models has run: new architectures go to load_model too


def register_shapes_model(architecture: ShapesArchitecture) -> ShapesArchitecture:
    """Add ``architecture`` to :data:`SHAPES_MODELS` (its name must be new), and to the library's
    models as ``shapes_NAME`` once they have been read; returns it."""
    if architecture.name in SHAPES_MODELS:
        raise RegistryError(
            f"A shapes model named {architecture.name!r} is already registered.", value=architecture.name
        )
    SHAPES_MODELS[architecture.name] = architecture
    if _in_the_library:
        register_model(architecture.model_spec())
    return architecture


def register_models() -> None:
    """The entry point of group ``cam_utils.models``: every shapes network as ``load_model("shapes_NAME")``."""
    global _in_the_library
    _in_the_library = True
    for architecture in SHAPES_MODELS.values():
        register_model(architecture.model_spec())


def shapes_architecture(name: str) -> ShapesArchitecture:
    """The registered architecture called ``name``; a clear error listing the names otherwise."""
    if not isinstance(name, str) or name not in SHAPES_MODELS:
        raise RegistryError(
            f"Unknown shapes model {name!r}.", value=name, suggestion=f"Registered: {', '.join(sorted(SHAPES_MODELS))}."
        )
    return SHAPES_MODELS[name]


register_shapes_model(
    ShapesArchitecture(
        name="gapnet",
        build=ShapesGapNet,
        weights_file="shapes_gapnet.pt",
        feature_layer=ShapesGapNet.feature_layer,
        classifier=ShapesGapNet.classifier_layer,
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
        feature_layer=ShapesMLPNet.feature_layer,
        classifier=ShapesMLPNet.classifier_layer,
        stages=("features.1", "features.3", "features.5", "features"),
        description="5 conv blocks -> 32 x 8 x 8 -> flatten -> linear 64 + ReLU -> linear (no GAP: CAM cannot read it)",
    )
)
register_shapes_model(
    ShapesArchitecture(
        name="vit",
        build=ShapesViT,
        weights_file="shapes_vit.pt",
        feature_layer=ShapesViT.feature_layer,
        classifier=ShapesViT.classifier_layer,
        stages=("blocks.0", "blocks.1", "blocks.2", "blocks.3.norm1"),
        description="conv stem -> 8 x 8 patch tokens + class token -> 4 transformer blocks (width 64) -> head on the class token",
        n_train=12000,
        epochs=6,
        learning_rate=1e-3,
        reshape=vit_reshape,
    )
)

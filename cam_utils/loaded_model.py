"""A classifier together with everything needed to explain it (:class:`LoadedModel`), and the picture it sees.

:func:`cam_utils.models.load_model` makes one from a registered :class:`cam_utils.models.ModelSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import nn

from .images import MAX_ASPECT_RATIO, check_aspect_ratio
from .model_state import explaining
from .tokens import Reshape

__all__ = ["ImageLike", "LoadedModel", "Transform", "model_view"]

#: What ``preprocess`` takes: a PIL image or an H x W x 3 ``uint8`` array (RGB).
ImageLike = Image.Image | np.ndarray
#: A model's preprocessing: PIL image -> (3, H, W) float tensor.
Transform = Callable[[Image.Image], torch.Tensor]


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
    gap_head: bool = False
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
        return [
            (int(index), self.categories[int(index)], float(value))
            for value, index in zip(values, indices, strict=True)
        ]

    def predict(self, image: ImageLike, k: int = 5) -> list[tuple[int, str, float]]:
        """Preprocess ``image``, run the model without gradients and return :meth:`top_k`.

        The model runs in eval mode; every module's train/eval flag is restored afterwards.
        """
        device = next(self.model.parameters()).device
        batch = self.preprocess(image).to(device)  # 1 x 3 x 224 x 224
        with explaining(self.model), torch.no_grad():
            logits = self.model(batch)  # 1 x num_classes
        return self.top_k(logits, k)


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

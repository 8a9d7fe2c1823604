"""The architectures the oracles run on: fixed seeds, untrained (weights=None) except the offline EfficientNet-Lite0.

Each :class:`Case` is one model and one layer. Three layers are followed by an in-place operation, the trap of
notebook 03: the layer's output tensor is overwritten after the layer ran, so a library that keeps a reference to
it (instead of a copy) reads the overwritten values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache

import torch
import torchvision
from torch import nn

from cam_utils import record_output
from tests.helpers import TinyGapNet, randomize_batchnorm


@dataclass(frozen=True)
class Case:
    """One model and one of its layers.

    Attributes:
        model: a key of :func:`model_and_input`.
        layer: the layer's dotted name.
        inplace_after: what overwrites the layer's output in place after it ran ("" when nothing does).
        overwritten_by: the module whose output is that same tensor once overwritten (what a library that keeps a
            reference to the layer's output reads instead).
    """

    model: str
    layer: str
    inplace_after: str = ""
    overwritten_by: str = ""

    @property
    def label(self) -> str:
        return f"{self.model} {self.layer}"


CASES = (
    Case("tiny_gapnet", "features.3"),
    Case("tiny_gapnet", "features", inplace_after="ReLU(inplace=True)", overwritten_by="act"),
    Case("resnet18", "layer4"),
    Case("resnet18", "layer3"),
    Case("resnet18", "layer4.1.bn2", inplace_after="out += identity", overwritten_by="layer4.1"),
    Case("mobilenet_v2", "features.18"),
    Case("mobilenet_v2", "features.14"),
    Case("mobilenet_v2", "features.18.1", inplace_after="ReLU6(inplace=True)", overwritten_by="features.18"),
    Case("efficientnet_lite0", "bn2"),
    Case("efficientnet_lite0", "blocks.4"),
)
#: The layers whose output nothing overwrites: where every library must agree with cam_utils.
CLEAN_CASES = tuple(case for case in CASES if not case.inplace_after)
INPLACE_CASES = tuple(case for case in CASES if case.inplace_after)
#: A trained network's last layer, whose gradients are small (about 1e-3): where Grad-CAM++'s variants part.
LITE0_BN2 = next(case for case in CASES if case.label == "efficientnet_lite0 bn2")


class SameResolutionGapNet(nn.Module):
    """A small GAP network without any stride: its ``features`` output has the input's size (N, 6, H, W).

    Score-CAM upsamples each channel to the input size; at this layer the upsampling is the identity in every
    library (pytorch-grad-cam's ``align_corners=True``, torchcam's and cam_utils' ``False``), so the masks, and
    the masked scores, are comparable exactly.
    """

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(  # (N, 3, H, W) -> (N, 6, H, W): BatchNorm last, so no channel is constant
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, 6, 3, padding=1),
            nn.BatchNorm2d(6),
        )
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.act(self.features(x))).flatten(1))


def _random_input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@cache
def _built(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if name == "tiny_gapnet":  # (2, 3, 32, 32) -> features (2, 8, 8, 8)
        model, x = TinyGapNet(num_classes=5, channels=8), _random_input((2, 3, 32, 32), 1)
    elif name == "same_resolution_gapnet":  # (2, 3, 12, 12) -> features (2, 6, 12, 12)
        model, x = SameResolutionGapNet(), _random_input((2, 3, 12, 12), 2)
        with torch.no_grad():  # masked images' probabilities then differ by tenths, not thousandths (untrained)
            model.fc.weight.mul_(20)
    elif name == "resnet18":  # (2, 3, 96, 96) -> layer4 (2, 512, 3, 3)
        model, x = torchvision.models.resnet18(weights=None, num_classes=10), _random_input((2, 3, 96, 96), 3)
    elif name == "mobilenet_v2":  # (2, 3, 96, 96) -> features.18 (2, 1280, 3, 3)
        model, x = torchvision.models.mobilenet_v2(weights=None, num_classes=10), _random_input((2, 3, 96, 96), 4)
    elif name == "efficientnet_lite0":  # one photo (1, 3, 224, 224) -> bn2 (1, 1280, 7, 7)
        from cam_utils import load_model, sample_image

        loaded = load_model("efficientnet_lite0")
        model, x = loaded.model, loaded.preprocess(sample_image("cat_and_coffee"))
    else:
        raise ValueError(f"no oracle model {name!r}")
    if name != "efficientnet_lite0":
        randomize_batchnorm(model)  # running statistics that are not 0 and 1: BatchNorm does something
    return model.eval(), x


def model_and_input(name: str) -> tuple[nn.Module, torch.Tensor]:
    """(a fresh copy of the model, in eval mode, its input batch): the libraries may write .grad and hooks, and no
    test sees another's."""
    model, x = _built(name)
    return copy.deepcopy(model), x.clone()


class ScaledLogits(nn.Module):
    """``factor`` times the network's logits: the same maps for every gradient method except Grad-CAM++, whose α
    depends on the gradients' size. Used to make pytorch-grad-cam's 1e-6 epsilon negligible (see
    ``gradient_comparisons.grad_cam_plus_plus_vs_pytorch_grad_cam``). The layers keep their names under ``net.``."""

    def __init__(self, net: nn.Module, factor: float) -> None:
        super().__init__()
        self.net, self.factor = net, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.factor


def outputs_around_the_inplace_op(model: nn.Module, x: torch.Tensor, case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """(the layer's output as it left the layer, what the in-place operation after it left: ``overwritten_by``'s
    output), both copied during one forward pass."""
    with (
        record_output(model.get_submodule(case.layer)) as layer,
        record_output(model.get_submodule(case.overwritten_by)) as after,
    ):
        model(x)
    assert layer.output is not None and after.output is not None
    return layer.output, after.output


def top_classes(model: nn.Module, x: torch.Tensor) -> list[int]:
    """Each image's top-1 class, the class every comparison explains."""
    with torch.no_grad():
        return model(x).argmax(dim=1).tolist()

"""CAM: the identity y^c = mean(M_c) + b_c, class_idx="all", and networks CAM does not fit."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from cam_utils.cam import cam_from_features, class_activation_map
from tests.helpers import TinyGapNet, randomize_batchnorm


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@pytest.fixture(scope="module")
def resnet_double():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=12).double().eval()
    randomize_batchnorm(model)
    return model


def test_score_is_mean_of_map_plus_bias_float64(resnet_double):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    logits = logits_of(resnet_double, x)
    bias = resnet_double.fc.bias.detach()
    for class_idx in (0, 5, 11):
        maps = class_activation_map(resnet_double, x, "layer4", "fc", class_idx=class_idx)
        assert maps.shape == (2, 2, 2) and maps.dtype == torch.float64
        torch.testing.assert_close(maps.mean(dim=(1, 2)) + bias[class_idx], logits[:, class_idx], rtol=0, atol=1e-10)


def test_score_is_mean_of_map_plus_bias_float32_lite0():
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=20).eval()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 64, 64)
    logits = logits_of(model, x)
    for class_idx in ([1, 2], [19, 0]):
        maps = class_activation_map(model, x, model.bn2, model.classifier, class_idx=class_idx)
        expected = logits[torch.arange(2), torch.tensor(class_idx)]
        reconstructed = maps.mean(dim=(1, 2)) + model.classifier.bias.detach()[class_idx]
        torch.testing.assert_close(reconstructed, expected, rtol=1e-4, atol=1e-5)


def test_all_classes_from_one_forward_equal_per_class_maps(resnet_double):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    all_maps = class_activation_map(resnet_double, x, "layer4", "fc", class_idx="all")
    assert all_maps.shape == (2, 12, 2, 2)
    for class_idx in (0, 7, 11):
        torch.testing.assert_close(
            all_maps[:, class_idx],
            class_activation_map(resnet_double, x, "layer4", "fc", class_idx),
            rtol=0,
            atol=1e-12,
        )


def test_default_class_is_top1_and_map_is_raw(resnet_double):
    x = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    top1 = logits_of(resnet_double, x).argmax(dim=1)
    maps = class_activation_map(resnet_double, x, "layer4", "fc")
    torch.testing.assert_close(maps, class_activation_map(resnet_double, x, "layer4", "fc", top1.tolist()))
    all_maps = class_activation_map(resnet_double, x, "layer4", "fc", "all")
    assert (all_maps < 0).any(), "CAM is raw: no ReLU"


def test_cam_from_features_is_weighted_sum():
    torch.manual_seed(0)
    feature_maps = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    class_weights = torch.randn(2, 4, dtype=torch.float64)
    expected = torch.stack([(class_weights[n][:, None, None] * feature_maps[n]).sum(0) for n in range(2)])
    torch.testing.assert_close(cam_from_features(feature_maps, class_weights), expected)
    with pytest.raises(ValueError, match="class_weights"):
        cam_from_features(feature_maps, class_weights[:, :3])


def test_cam_works_inside_inference_mode():
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    x = torch.randn(2, 3, 16, 16)
    expected = class_activation_map(model, x, "act", "fc", 1)
    with torch.inference_mode():
        inside = class_activation_map(model, x, "act", "fc", 1)
    torch.testing.assert_close(inside.clone(), expected)


def test_max_pooling_network_is_rejected_numerically():
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    model.pool = nn.AdaptiveMaxPool2d(1)  # in_features still matches: only the numeric check can tell
    with pytest.raises(ValueError, match=r"global average pooling.*grad_cam"):
        class_activation_map(model, torch.randn(2, 3, 16, 16), "act", "fc")


def test_classifier_must_be_linear():
    model = TinyGapNet().eval()
    with pytest.raises(TypeError, match=r"nn\.Linear"):
        class_activation_map(model, torch.randn(1, 3, 16, 16), "act", "pool")

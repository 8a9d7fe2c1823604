"""Grad-CAM against independent references and the CAM identity."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from cam_utils.cam import class_activation_map
from cam_utils.gradcam import class_gradients, grad_cam, grad_cam_from_forward
from cam_utils.hooks import forward_with_features
from tests.helpers import TinyGapNet, randomize_batchnorm


def reference_gradients(model: nn.Module, x: torch.Tensor, layer_name: str, class_idx: list[int]):
    """∂y^c/∂A and A with plain autograd: a full graph from x, retain_grad on the layer output.

    During the reference pass, in-place activations are switched off (they would break
    retain_grad on A) and parameters are frozen (so no 100M-parameter .grad is written);
    the test model is restored afterwards.
    """
    assert not model.training
    inplace_modules = [m for m in model.modules() if getattr(m, "inplace", False)]
    trainable = [p for p in model.parameters() if p.requires_grad]
    stored = {}
    handle = model.get_submodule(layer_name).register_forward_hook(lambda m, i, o: stored.setdefault("A", o))
    try:
        for module in inplace_modules:
            module.inplace = False
        for parameter in trainable:
            parameter.requires_grad_(False)
        logits = model(x.clone().requires_grad_(True))  # the full graph, from the input on
        feature_maps = stored["A"]
        feature_maps.retain_grad()
        logits[torch.arange(len(class_idx)), torch.tensor(class_idx)].sum().backward()
    finally:
        handle.remove()
        for module in inplace_modules:
            module.inplace = True
        for parameter in trainable:
            parameter.requires_grad_(True)
    return feature_maps.grad.detach(), feature_maps.detach()


def grad_cam_by_hand(gradients: torch.Tensor, feature_maps: torch.Tensor, counterfactual: bool = False):
    """L = ReLU(Σ_k α_k A^k), α_k = mean_ij of the (possibly negated) gradients, by broadcasting."""
    if counterfactual:
        gradients = -gradients
    alpha = gradients.mean(dim=(2, 3))  # (N, C)
    return torch.relu((alpha[:, :, None, None] * feature_maps).sum(dim=1))


def reference_grad_cam(model, x, layer_name, class_idx, counterfactual=False):
    gradients, feature_maps = reference_gradients(model, x, layer_name, class_idx)
    return grad_cam_by_hand(gradients, feature_maps, counterfactual)


def assert_both_signs_match_reference(model, x, layers, class_idx) -> None:
    """grad_cam, plain and counterfactual, equals the plain-autograd reference at each layer (float32).

    Both signs: on a small map one of them may be all zero after the ReLU.
    """
    for layer in layers:
        results = [grad_cam(model, x, layer, class_idx, counterfactual=c) for c in (False, True)]
        gradients, feature_maps = reference_gradients(model, x, layer, class_idx)
        expected = [grad_cam_by_hand(gradients, feature_maps, counterfactual=c) for c in (False, True)]
        scale = max(float(e.abs().max()) for e in expected)
        assert scale > 0
        for result, reference in zip(results, expected, strict=True):
            torch.testing.assert_close(result, reference, rtol=1e-4, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def resnet64():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).double().eval()
    randomize_batchnorm(model)
    return model


@pytest.fixture(scope="module")
def vgg11():
    torch.manual_seed(0)
    return torchvision.models.vgg11(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=10).eval()
    randomize_batchnorm(model)
    return model


@pytest.fixture(scope="module")
def lite0_random():
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10).eval()
    randomize_batchnorm(model)
    return model


def test_grad_cam_equals_float64_autograd_reference(resnet64):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for class_idx in ([3, 7], [0, 0]):
        expected = reference_grad_cam(resnet64, x, "layer3", class_idx)
        result = grad_cam(resnet64, x, "layer3", class_idx=class_idx)
        assert result.shape == (2, 4, 4)
        assert result.dtype == torch.float64
        assert expected.abs().max() > 0
        torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-12)


def test_counterfactual_negates_gradients(resnet64):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    expected = reference_grad_cam(resnet64, x, "layer4", [2, 5], counterfactual=True)
    result = grad_cam(resnet64, x, "layer4", class_idx=[2, 5], counterfactual=True)
    torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-12)
    plain = grad_cam(resnet64, x, "layer4", class_idx=[2, 5])
    assert not torch.allclose(plain, result)


def test_class_gradients_match_reference(resnet64):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    forward = forward_with_features(resnet64, x, "layer4")
    gradients = class_gradients(forward, torch.tensor([1, 8]))
    expected, _ = reference_gradients(resnet64, x, "layer4", [1, 8])
    torch.testing.assert_close(gradients, expected, rtol=1e-10, atol=1e-14)


def test_grad_cam_from_forward_switches_class_without_new_forward(resnet64):
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    forward = forward_with_features(resnet64, x, "layer4")
    for class_idx in (4, 9):
        torch.testing.assert_close(
            grad_cam_from_forward(forward, class_idx), grad_cam(resnet64, x, "layer4", class_idx), rtol=0, atol=0
        )


def test_default_class_is_each_images_top1(resnet64):
    x = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        top1 = resnet64(x).argmax(dim=1)
    torch.testing.assert_close(grad_cam(resnet64, x, "layer4"), grad_cam(resnet64, x, "layer4", class_idx=top1))


def test_int_and_tensor_class_idx_are_equivalent(resnet64):
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    by_int = grad_cam(resnet64, x, "layer4", class_idx=6)
    by_list = grad_cam(resnet64, x, "layer4", class_idx=[6, 6])
    by_tensor = grad_cam(resnet64, x, "layer4", class_idx=torch.tensor([6, 6]))
    by_scalar_tensor = grad_cam(resnet64, x, "layer4", class_idx=torch.tensor(6))
    for other in (by_list, by_tensor, by_scalar_tensor):
        torch.testing.assert_close(by_int, other, rtol=0, atol=0)


def test_batch_equals_images_one_at_a_time():
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    randomize_batchnorm(model)
    x = torch.randn(3, 3, 64, 64)
    classes = [1, 4, 7]
    batch = grad_cam(model, x, "layer4", class_idx=classes)
    singles = torch.cat([grad_cam(model, x[i : i + 1], "layer4", class_idx=c) for i, c in enumerate(classes)])
    torch.testing.assert_close(batch, singles, rtol=1e-4, atol=1e-6)


def test_train_mode_model_is_explained_at_inference():
    torch.manual_seed(0)
    model = TinyGapNet().train()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16)
    in_train_mode = grad_cam(model, x, "features", class_idx=[1, 2])
    assert model.training and model.features[1].training
    model.eval()
    torch.testing.assert_close(in_train_mode, grad_cam(model, x, "features", class_idx=[1, 2]), rtol=0, atol=0)


@pytest.mark.parametrize(
    "fixture, feature_layer, classifier, size",
    [
        ("resnet64", "layer4", "fc", 64),
        ("mobilenet", "features", "classifier.1", 64),
        ("lite0_random", "bn2", "classifier", 64),
    ],
)
def test_grad_cam_is_relu_cam_over_z_on_gap_networks(request, fixture, feature_layer, classifier, size):
    model = request.getfixturevalue(fixture)
    dtype = next(model.parameters()).dtype
    x = torch.randn(2, 3, size, size, dtype=dtype)
    all_cams = class_activation_map(model, x, feature_layer, classifier, class_idx="all")
    assert (all_cams < 0).any() and (all_cams > 0).any(), "a useful check needs both signs"
    for class_idx in ([0, 3], [9, 9], [5, 1]):
        cam = class_activation_map(model, x, feature_layer, classifier, class_idx=class_idx)
        gradcam = grad_cam(model, x, feature_layer, class_idx=class_idx)
        z = cam.shape[1] * cam.shape[2]
        assert cam.shape == gradcam.shape
        tolerance = 1e-12 if dtype == torch.float64 else 1e-5 * float(cam.abs().max())
        torch.testing.assert_close(gradcam, torch.relu(cam) / z, rtol=1e-5, atol=tolerance)


def test_lite0_before_the_in_place_relu6_of_bn2(lite0_random):
    """bn2 = BatchNorm, drop (Identity), then ReLU6(inplace=True) on the same tensor.

    At "bn2.drop" the next op overwrites the layer output in place: A must stay the
    pre-activation values and the gradients must be exact. "conv_head" and "bn2" are
    checked too.
    """
    x = torch.randn(1, 3, 64, 64)
    assert_both_signs_match_reference(lite0_random, x, ("bn2.drop", "conv_head", "bn2"), [3])
    forward = forward_with_features(lite0_random, x, "bn2.drop")
    assert (forward.feature_maps < 0).any(), "A at bn2.drop is taken before the ReLU6"


def test_pretrained_lite0_on_a_photo(lite0):
    """The default model and a shipped photo: Grad-CAM = ReLU(CAM)/Z, and the top class is explained."""
    from cam_utils.images import sample_image

    x = lite0.preprocess(sample_image("cat"))  # (1, 3, 224, 224)
    cam = class_activation_map(lite0.model, x, lite0.feature_layer, lite0.classifier)
    gradcam = grad_cam(lite0.model, x, lite0.feature_layer_name)
    assert gradcam.shape == (1, 7, 7)
    torch.testing.assert_close(gradcam, torch.relu(cam) / 49, rtol=1e-4, atol=1e-6 * float(cam.abs().max()))
    assert gradcam.max() > 0


def test_vgg11_grad_cam_at_inplace_relu_conv_and_last_layers(vgg11):
    x = torch.randn(1, 3, 64, 64)
    assert_both_signs_match_reference(vgg11, x, ("features.18", "features.19", "features.20", "features"), [2])
    assert grad_cam(vgg11, x, "features.18").shape == (1, 4, 4)


def test_vgg11_cam_raises_clear_error(vgg11):
    x = torch.randn(1, 3, 64, 64)
    for classifier in ("classifier.0", "classifier.6"):
        with pytest.raises(ValueError, match="grad_cam"):
            class_activation_map(vgg11, x, "features", classifier)


def test_grad_cam_inside_no_grad_and_enable_grad_restores_mode(resnet64):
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    expected = grad_cam(resnet64, x, "layer4", 1)
    with torch.no_grad():
        inside = grad_cam(resnet64, x, "layer4", 1)
        assert not torch.is_grad_enabled()
    with torch.enable_grad():
        grad_cam(resnet64, x, "layer4", 1)
        assert torch.is_grad_enabled()
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)
    assert not inside.requires_grad


def test_grad_cam_inside_inference_mode_raises_and_restores(resnet64):
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.inference_mode():
        with pytest.raises(RuntimeError, match="inference_mode"):
            grad_cam(resnet64, x, "layer4")
        assert torch.is_inference_mode_enabled()
    assert torch.is_grad_enabled()


def test_grad_cam_stays_on_the_input_device():
    """On the meta device tensors have no values: any .cpu(), .item() or numpy call would fail."""
    model = TinyGapNet().to("meta").eval()
    x = torch.randn(2, 3, 16, 16, device="meta")
    for class_idx in (None, 1, [1, 2], torch.tensor([0, 3], device="meta")):
        maps = grad_cam(model, x, "features", class_idx=class_idx, counterfactual=isinstance(class_idx, int))
        assert maps.device.type == "meta" and maps.shape == (2, 4, 4)

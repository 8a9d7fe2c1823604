"""One method table (cam_utils.methods) and one model table (cam_utils.models): adding a method or a model is one
entry, which the command line, the explorer and the docs then know; the core never imports the course."""

from __future__ import annotations

import importlib.metadata
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms

import cam_utils
import cam_utils.course.cli as cli
from cam_utils import methods, models
from cam_utils.cam import class_activation_map
from cam_utils.course.explorer import METHODS, Method, explore
from cam_utils.hooks import forward_with_features
from cam_utils.methods import CamMethod, get_method, method_names, register_method, unregister_method
from cam_utils.models import ModelSpec, load_model, model_names, register_model
from tests.helpers import TinyGapNet

ROOT = Path(__file__).resolve().parent.parent
TOY_CLASSES = ["apple", "banana", "cherry", "damson", "elderberry"]


@pytest.fixture(autouse=True)
def clean_registries(monkeypatch):
    """Every test registers into copies of the two tables, put back afterwards."""
    model_names()  # the entry points (the shapes networks) are read before the copy
    monkeypatch.setattr(methods, "_METHODS", dict(methods._METHODS))
    monkeypatch.setattr(models, "_MODELS", dict(models._MODELS))


def channel_sum(net, x, layer, class_idx, *, reshape=None, progress=False):
    """Σ_k A^k: where the layer is active at all, whatever the class."""
    return forward_with_features(net.model, x, layer, reshape).feature_maps.detach().sum(dim=1)  # (N, h, w)


CHANNEL_SUM = CamMethod(
    name="channelsum",
    label="Channel sum",
    compute=channel_sum,
    description="Σ_k A^k, the same map for every class",
    needs_gradients=False,
)


def build_toy(pretrained: bool) -> tuple[torch.nn.Module, transforms.Compose]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = TinyGapNet(num_classes=len(TOY_CLASSES))
    preprocess = transforms.Compose(
        [transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)]
    )
    return model, preprocess


TOY_MODEL = ModelSpec(
    name="toy_gapnet",
    build=build_toy,
    feature_layer="act",
    classifier="fc",
    stages=("features.2", "act"),
    categories=lambda: TOY_CLASSES,
    gap_head=True,
)


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "picture.png"
    Image.fromarray((torch.rand(40, 48, 3, generator=torch.Generator().manual_seed(0)) * 255).byte().numpy()).save(path)
    return path


def method_choices() -> list[str]:
    (action,) = [action for action in cli.build_parser()._actions if action.dest == "method"]
    return list(action.choices)


def test_a_registered_method_is_a_cli_choice_an_explorer_entry_and_computes_a_map(picture, tmp_path, capsys):
    assert "channelsum" not in method_choices() and "Channel sum" not in METHODS
    register_method(CHANNEL_SUM)
    assert method_names()[-1] == "channelsum" and method_choices() == method_names()
    assert "Channel sum" in cli.build_parser().format_help()

    shapes = load_model("shapes_gapnet")
    assert list(explore(shapes).method.options)[-1] == "Channel sum"
    assert METHODS["Channel sum"] is CHANNEL_SUM

    output = tmp_path / "figure.png"
    assert cli.main([str(picture), "--model", "shapes_gapnet", "--method", "channelsum", "-o", str(output)]) == 0
    assert output.is_file() and "Channel sum map (8, 8) for class" in capsys.readouterr().out
    x = shapes.preprocess(Image.open(picture))
    expected = forward_with_features(shapes.model, x, "features").feature_maps.detach().sum(dim=1)
    torch.testing.assert_close(CHANNEL_SUM.compute(shapes, x, "features", 0), expected)


def test_a_registered_model_loads_by_name_and_the_cli_takes_it(picture, tmp_path, capsys):
    assert "toy_gapnet" not in model_names()
    register_model(TOY_MODEL)
    assert model_names()[-1] == "toy_gapnet"
    net = load_model("toy_gapnet")
    assert net.categories == TOY_CLASSES and net.gap_head and net.classifier is net.model.fc
    assert net.feature_layer is net.model.act and net.stages == ["features.2", "act"] and not net.model.training

    output = tmp_path / "cam.png"
    assert (
        cli.main([str(picture), "--model", "toy_gapnet", "--method", "cam", "--class", "cherry", "-o", str(output)])
        == 0
    )
    assert "CAM map (8, 8) for class 2 'cherry'" in capsys.readouterr().out and output.is_file()
    x = net.preprocess(Image.open(picture))
    cam = get_method("cam").compute(net, x, "act", 2)
    torch.testing.assert_close(cam, class_activation_map(net.model, x, "act", "fc", 2))


def test_one_gap_head_default_and_the_shapes_networks_keep_theirs():
    assert ModelSpec.gap_head is False
    spec = ModelSpec("plain", build_toy, "act", "fc", ("act",), lambda: TOY_CLASSES)
    assert spec.gap_head is False  # the safe default: CAM withheld until the head is declared a GAP head
    assert [load_model(f"shapes_{name}", pretrained=False).gap_head for name in ("gapnet", "mlpnet", "vit")] == [
        True,
        False,
        False,
    ]


def test_duplicate_names_and_bad_entries_are_refused_clearly():
    with pytest.raises(ValueError, match=r"'gradcam' .* already registered.*replace=True"):
        register_method(CamMethod("gradcam", "My Grad-CAM", channel_sum, "a copy"))
    with pytest.raises(ValueError, match="label 'Grad-CAM'"):
        register_method(CamMethod("mygradcam", "Grad-CAM", channel_sum, "a copy"))
    with pytest.raises(ValueError, match="one lower-case word"):
        register_method(CamMethod("Channel Sum", "Channel sum", channel_sum, "spaces"))
    with pytest.raises(TypeError, match="compute of 'channelsum' must be a function"):
        register_method(CamMethod("channelsum", "Channel sum", "channel_sum", "a name, not a function"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expects a cam_utils.methods.CamMethod"):
        register_method(channel_sum)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Unknown method 'gradcm'. Did you mean 'gradcam'\?.*scorecam"):
        get_method("gradcm")
    assert method_names() == ["cam", "gradcam", "counterfactual", "gradcam++", "hirescam", "scorecam"]

    register_model(TOY_MODEL)
    with pytest.raises(ValueError, match="'toy_gapnet' is already registered"):
        register_model(TOY_MODEL)
    assert register_model(TOY_MODEL, replace=True) is TOY_MODEL
    with pytest.raises(ValueError, match="must include the feature layer 'act'"):
        register_model(ModelSpec("toy2", build_toy, "act", "fc", ("features.2",), lambda: TOY_CLASSES))
    with pytest.raises(TypeError, match="gap_head of 'toy2' must be True or False"):
        register_model(ModelSpec("toy2", build_toy, "act", "fc", ("act",), lambda: TOY_CLASSES, gap_head="yes"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Unknown model 'toy_gapnte'. Did you mean 'toy_gapnet'\?"):
        load_model("toy_gapnte")
    register_model(ModelSpec("toy3", build_toy, "akt", "fc", ("akt",), lambda: TOY_CLASSES))
    with pytest.raises(ValueError, match=r"feature_layer names 'akt'.*Close names: act"):
        load_model("toy3")
    register_model(ModelSpec("toy4", build_toy, "act", "pool", ("act",), lambda: TOY_CLASSES))
    with pytest.raises(ValueError, match=r"classifier 'pool' is a AdaptiveAvgPool2d.*nn.Linear"):
        load_model("toy4")


def test_the_explorer_menu_is_a_view_of_the_method_table():
    METHODS["Negative Grad-CAM"] = Method(lambda request: -channel_sum(request.net, request.x, request.layer, 0))
    assert method_names()[-1] == "negative-grad-cam" and get_method("negative-grad-cam").label == "Negative Grad-CAM"
    METHODS["Negative Grad-CAM"] = Method(lambda request: channel_sum(request.net, request.x, request.layer, 0))
    assert list(METHODS).count("Negative Grad-CAM") == 1  # re-running the cell replaces it
    del METHODS["Negative Grad-CAM"]
    assert "negative-grad-cam" not in method_names()
    with pytest.raises(ValueError, match="'gradcam' is taken by 'Grad-CAM'"):
        METHODS["GradCAM"] = Method(lambda request: request.forward.feature_maps.sum(dim=1))
    assert unregister_method("scorecam").label == "Score-CAM" and "Score-CAM" not in METHODS


def test_a_broken_model_plugin_is_a_warning_and_the_others_still_load(monkeypatch):
    broken = importlib.metadata.EntryPoint("broken", "no_such_package.models:register", models.ENTRY_POINT_GROUP)
    monkeypatch.setattr(models, "entry_points", lambda group: [broken] if group == models.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(models, "_entry_points_read", False)
    with pytest.warns(RuntimeWarning, match=r"entry point 'broken' .*were not registered: ModuleNotFoundError"):
        names = model_names()
    assert "efficientnet_lite0" in names


def test_the_design_notes_list_the_method_table():
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    section = text.split("## Adding a method or a model: one entry in one registry", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|", section, flags=re.MULTILINE)[1:]  # no header
    assert [(name, label) for name, label, _ in rows] == [(m.name, m.label) for m in methods.registered_methods()]
    for (_, _, needs), method in zip(rows, methods.registered_methods(), strict=True):
        assert ("GAP head" in needs) == method.needs_gap_head and ("no gradient" in needs) != method.needs_gradients


def test_the_design_notes_snippets_run(monkeypatch):
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    section = text.split("## Adding a method or a model: one entry in one registry", 1)[1]
    method_snippet, model_snippet = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    exec(method_snippet, {})
    assert get_method("channelsum").label == "Channel sum" and not get_method("channelsum").needs_gradients
    real_load_model = models.load_model
    monkeypatch.setattr(models, "load_model", lambda name: real_load_model(name, pretrained=False))  # no download
    namespace: dict[str, object] = {}
    exec(model_snippet, namespace)
    net = namespace["net"]
    assert net.name == "mobilenet_v3_small" and not net.gap_head and len(net.categories) == 1000  # type: ignore[attr-defined]


def _core_modules() -> list[str]:
    """Every module of cam_utils outside cam_utils.course (``__main__`` runs the command line: left out)."""
    return sorted(
        module.name
        for module in pkgutil.walk_packages(cam_utils.__path__, prefix="cam_utils.")
        if not module.name.startswith("cam_utils.course") and module.name != "cam_utils.__main__"
    )


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_core_never_imports_the_course():
    modules = _core_modules()
    assert {"cam_utils.methods", "cam_utils.models", "cam_utils.scorecam", "cam_utils.sanity.cascade"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import cam_utils.methods as m; m.method_names(); m.get_method('cam')\n"
        "print(sorted(name for name in sys.modules if name.startswith('cam_utils.course')))\n"
    )
    assert _run(code).strip() == "[]"


def test_the_shapes_networks_arrive_through_the_entry_point():
    code = (
        "import sys\n"
        "import cam_utils.models as models\n"
        "assert not [name for name in sys.modules if name.startswith('cam_utils.course')]\n"
        "net = models.load_model('shapes_vit')\n"
        "print(net.name, net.reshape is not None, models.model_names()[-3:])\n"
        "print(sorted({name.split('.')[2] for name in sys.modules if name.startswith('cam_utils.course.')}))\n"
    )
    first, second = _run(code).strip().splitlines()
    assert first == "shapes_vit True ['shapes_gapnet', 'shapes_mlpnet', 'shapes_vit']"
    assert second == "['shapes']"  # the entry point imports the shapes package only: no explorer, no CLI


def test_a_registered_gap_head_method_gets_the_cli_checks_cam_gets(picture, tmp_path, capsys):
    """The CLI asks the registry which methods read a GAP head's class weights, not the name "cam"."""
    register_method(
        CamMethod(
            name="classweights",
            label="Class weights",
            compute=get_method("cam").compute,
            description="CAM under another name",
            needs_gap_head=True,
        )
    )
    output = tmp_path / "figure.png"
    assert cli.main([str(picture), "--model", "shapes_mlpnet", "--method", "classweights", "-o", str(output)]) == 1
    error = capsys.readouterr().err
    assert "--method classweights needs a classifier that reads the global average" in error
    assert "classweights" not in error.split("Use --method", 1)[1]  # not suggested as an alternative to itself
    assert not output.exists()
    assert (
        cli.main(
            [
                str(picture),
                "--model",
                "shapes_gapnet",
                "--method",
                "classweights",
                "--layer",
                "features.1",
                "-o",
                str(output),
            ]
        )
        == 1
    )
    assert "--method classweights works only at shapes_gapnet's feature layer" in capsys.readouterr().err

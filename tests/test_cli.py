"""The command line ``python -m cam_utils IMAGE -o figure.png``.

Four tests run the real entry point as a subprocess (each starts Python and loads torch,
a few seconds); the others call ``main(argv)`` in-process with the session's model.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import warnings

import pytest
import torch
from PIL import Image

import cam_utils.course._cli_checks as cli_checks
import cam_utils.course.cli as cli
import cam_utils.plotting as plotting
from cam_utils.cam import class_activation_map
from cam_utils.gradcam import grad_cam
from cam_utils.images import load_image, sample_image
from cam_utils.models import load_model
from cam_utils.scorecam import score_cam
from cam_utils.tokens import vit_reshape
from tests.helpers import TinyGapNet

CAT_CLASSES = ("tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat")


@pytest.fixture(scope="module")
def cat_jpg(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "cat.jpg"
    sample_image("cat").save(path, quality=90)
    return path


@pytest.fixture
def cached_model(monkeypatch, lite0):
    """main() uses the session's pretrained model instead of loading it again (saves ~1 s per call)."""
    monkeypatch.setattr(cli_checks, "load_model", lambda name="efficientnet_lite0": lite0)
    return lite0


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the command gets as far as loading a model (its checks must come first)."""

    def refuse(name="efficientnet_lite0"):
        raise AssertionError("the model was loaded: the check came after the computation started")

    monkeypatch.setattr(cli_checks, "load_model", refuse)


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cam_utils", *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- the real entry point, as a subprocess --------------------------------------------------------


def test_subprocess_writes_figure_and_prints_top5(cat_jpg, tmp_path):
    output = tmp_path / "figure.png"
    result = run_module(cat_jpg, "-o", output)
    assert result.returncode == 0, result.stderr
    with Image.open(output) as figure:
        figure.verify()
    with Image.open(output) as figure:
        assert figure.format == "PNG" and figure.width > 800 and figure.height > 200
    ranked = [line for line in result.stdout.splitlines() if line.strip()[:2] in {"1.", "2.", "3.", "4.", "5."}]
    assert len(ranked) == 5
    assert any(name in ranked[0] for name in CAT_CLASSES)
    assert f"written to {output}" in result.stdout


def test_subprocess_help():
    result = run_module("--help")
    assert result.returncode == 0
    for fragment in ("Where does the network look?", "examples:", "--class", "--layer", "--method", "scorecam"):
        assert fragment in result.stdout


def test_subprocess_bad_file_gives_one_line_error(tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("these are not pixels")
    result = run_module(not_an_image, "-o", tmp_path / "out.png")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "not an image")
    assert not (tmp_path / "out.png").exists()


# --- main(argv) in-process ------------------------------------------------------------------------


def _truncated_jpg(path):
    sample_image("cat").save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "make_file, fragment",
    [
        (lambda path: None, "No file"),
        (lambda path: path.mkdir(), "not a regular file"),
        (lambda path: path.write_bytes(b""), "empty"),
        (lambda path: path.write_text("hello"), "not an image"),
        (_truncated_jpg, "truncated or corrupt"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated"],
)
def test_bad_image_files(tmp_path, capsys, make_file, fragment):
    path = tmp_path / "photo.jpg"
    make_file(path)
    assert cli.main([str(path), "-o", str(tmp_path / "out.png")]) == 1
    assert_one_line_error(capsys.readouterr().err, fragment)


@pytest.mark.parametrize(
    "class_text, fragments",
    [
        ("kitten", ["no class name contains 'kitten'", "mitten"]),
        ("cat", ["matches 8 classes", "285 'Egyptian cat'", "more)"]),
        ("1000", ["class index 1000 is out of range", "0 to 999"]),
        ("-1", ["class index -1 is out of range"]),
    ],
)
def test_bad_class(cat_jpg, tmp_path, capsys, cached_model, class_text, fragments):
    output = tmp_path / "out.png"
    assert cli.main([str(cat_jpg), "--class", class_text, "-o", str(output)]) == 1
    assert_one_line_error(capsys.readouterr().err, *fragments)
    assert not output.exists()


@pytest.mark.parametrize(
    "options, fragments",
    [
        (
            ["--layer", "blocks.9"],
            ["--layer 'blocks.9' is not a module of efficientnet_lite0", "--layer blocks.6", "bn2"],
        ),
        (["--layer", ""], ["--layer is empty", "feature layer bn2"]),
        (["--layer", "classifier"], ["--layer classifier outputs (1, 1000), not feature maps", "blocks.0"]),
        (["--layer", "blocks.5", "--method", "cam"], ["--method cam works only at", "bn2", "--method gradcam"]),
    ],
    ids=["unknown", "empty", "not-a-feature-map", "cam-elsewhere"],
)
def test_layer_and_method_errors_name_the_options(cat_jpg, tmp_path, capsys, cached_model, options, fragments):
    assert cli.main([str(cat_jpg), *options, "-o", str(tmp_path / "out.png")]) == 1
    error = capsys.readouterr().err
    assert_one_line_error(error, *fragments)
    assert "model.named_modules" not in error and "grad_cam(" not in error


def test_library_advice_is_said_with_options_from_the_errors_fields():
    """The command line words a library error from its fields (problem + its own suggestion), not by
    rewording the library's sentence: the library can reword its suggestion freely."""
    model = TinyGapNet().eval()
    model.extra = torch.nn.Linear(7, 5)  # not the classifier after GAP
    with pytest.raises(ValueError, match="takes 7 inputs") as info:
        class_activation_map(model, torch.randn(1, 3, 16, 16), "act", "extra")
    assert "grad_cam(model, x, target_layer)" in str(info.value)
    said = cli_checks.in_cli_terms(info.value)
    assert said == f"{info.value.problem} Use --method gradcam for other networks and layers."
    info.value.suggestion = "Some rewording of the library's advice."
    assert cli_checks.in_cli_terms(info.value) == said
    with pytest.raises(ValueError, match="too large") as info:
        load_image(png_bytes(Image.new("RGB", (20, 20))), max_pixels=100)
    assert cli_checks.in_cli_terms(info.value).endswith("or pass a larger --max-pixels if you trust it.")
    plain = cli.CommandLineError("--layer is empty.")
    assert cli_checks.in_cli_terms(plain) == str(plain) == "--layer is empty."


def test_debug_adds_the_traceback_to_a_user_error(tmp_path, capsys, no_model):
    photo = tmp_path / "notes.jpg"
    photo.write_text("these are not pixels")
    assert cli.main([str(photo), "-o", str(tmp_path / "out.png"), "--debug"]) == 1
    error = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error and "ImageLoadError" in error
    assert error.strip().splitlines()[-1].startswith("error: ") and "not an image" in error


@pytest.mark.parametrize("bug", [ZeroDivisionError("division by zero"), ValueError("a library check misfired")])
def test_a_bug_is_reported_as_an_internal_error_not_as_the_users_mistake(monkeypatch, cat_jpg, tmp_path, capsys, bug):
    def run_with_a_bug(args):
        raise bug

    monkeypatch.setattr(cli, "run", run_with_a_bug)
    argv = [str(cat_jpg), "-o", str(tmp_path / "figure.png")]
    assert cli.main(argv) == cli.EXIT_INTERNAL_ERROR != cli.EXIT_ERROR
    error = capsys.readouterr().err
    assert_one_line_error(error, "internal error", type(bug).__name__, str(bug), "--debug", "report")
    assert cli.main([*argv, "--debug"]) == cli.EXIT_INTERNAL_ERROR
    error = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error and "run_with_a_bug" in error
    assert error.strip().splitlines()[-1].startswith("error: internal error")


@pytest.mark.parametrize(
    "output, fragment", [("figure.xyz", "cannot tell the figure format"), ("missing/figure.png", "does not exist")]
)
def test_bad_output_path(cat_jpg, tmp_path, capsys, no_model, output, fragment):
    assert cli.main([str(cat_jpg), "-o", str(tmp_path / output)]) == 1
    assert_one_line_error(capsys.readouterr().err, fragment)


@pytest.mark.parametrize("spelling", ["same", "other-path", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused_before_computing(tmp_path, capsys, no_model, spelling):
    photo = tmp_path / "photos" / "photo.jpg"
    photo.parent.mkdir()
    sample_image("cat").save(photo, quality=90)
    original = photo.read_bytes()
    output = {
        "same": photo,
        "other-path": tmp_path / "photos" / ".." / "photos" / "photo.jpg",
        "symlink": tmp_path / "link.jpg",
        "hardlink": tmp_path / "hard.jpg",
    }[spelling]
    if spelling == "symlink":
        output.symlink_to(photo)
    elif spelling == "hardlink":
        os.link(photo, output)
    assert cli.main([str(photo), "-o", str(output)]) == 1
    assert_one_line_error(capsys.readouterr().err, "is the input image", "would replace your photo", "-o photo_cam.png")
    assert photo.read_bytes() == original


def test_output_that_is_a_folder_or_unwritable_is_refused_before_computing(cat_jpg, tmp_path, capsys, no_model):
    folder = tmp_path / "figure.png"
    folder.mkdir()
    assert cli.main([str(cat_jpg), "-o", str(folder)]) == 1
    assert_one_line_error(capsys.readouterr().err, "is a folder; give a file name")
    # sysfs refuses new files even to root: a folder nobody can write to
    assert cli.main([str(cat_jpg), "-o", "/sys/figure.png"]) == 1
    assert_one_line_error(capsys.readouterr().err, "cannot write '/sys/figure.png'", "Choose a file in a folder")


def test_extreme_images_fail_in_one_line(tmp_path, capsys, no_model):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (30000, 2)).save(strip)
    assert cli.main([str(strip), "-o", str(tmp_path / "out.png")]) == 1
    assert_one_line_error(capsys.readouterr().err, "30000 x 2 pixels", "at most 50:1")
    square = tmp_path / "square.png"
    Image.new("RGB", (40, 40)).save(square)
    assert cli.main([str(square), "--max-pixels", "1000", "-o", str(tmp_path / "out.png")]) == 1
    assert_one_line_error(capsys.readouterr().err, "more than 1,000 pixels", "pass a larger --max-pixels")


def test_offline_torchvision_model_says_what_to_type(cat_jpg, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert cli.main([str(cat_jpg), "--model", "resnet18", "-o", str(tmp_path / "out.png")]) == 1
    error = capsys.readouterr().err
    assert_one_line_error(
        error, "could not get the pretrained weights of resnet18", "no network", "--model efficientnet_lite0"
    )
    assert "load_model(" not in error and "Downloading" not in error
    assert not (tmp_path / "torch").exists()  # no empty cache folder


def test_invalid_method_is_an_argparse_usage_error(cat_jpg, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(cat_jpg), "--method", "lime", "-o", str(tmp_path / "o.png")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'lime'" in capsys.readouterr().err


@pytest.fixture
def plotted(monkeypatch):
    """Record the map that main() hands to plot_steps."""
    seen = {}
    real_plot_steps = plotting.plot_steps

    def spy(image, cam, **kwargs):
        seen["image"], seen["cam"], seen["title"] = image, cam, kwargs.get("title")
        return real_plot_steps(image, cam, **kwargs)

    monkeypatch.setattr(plotting, "plot_steps", spy)
    return seen


def test_default_is_grad_cam_of_top1_at_feature_layer(cat_jpg, tmp_path, capsys, cached_model, plotted):
    output = tmp_path / "figure.png"
    assert cli.main([str(cat_jpg), "-o", str(output)]) == 0
    assert output.stat().st_size > 10_000
    x = cached_model.preprocess(Image.open(cat_jpg).convert("RGB"))
    top1 = cached_model.predict(Image.open(cat_jpg).convert("RGB"), k=1)[0][0]
    expected = grad_cam(cached_model.model, x, "bn2", top1)[0]
    torch.testing.assert_close(plotted["cam"], expected)
    assert plotted["image"].size == (224, 224)  # the crop the model sees
    assert f"Grad-CAM for class {top1}" in plotted["title"]
    assert "top-5 classes" in capsys.readouterr().out


@pytest.mark.parametrize("method, label", [("cam", "CAM"), ("gradcam++", "Grad-CAM++"), ("hirescam", "HiResCAM")])
def test_methods_and_class_by_name(cat_jpg, tmp_path, capsys, cached_model, plotted, method, label):
    output = tmp_path / f"{method}.png"
    assert cli.main([str(cat_jpg), "--class", "EGYPTIAN", "--method", method, "-o", str(output)]) == 0
    assert output.exists()
    assert plotted["title"].startswith(f"{label} for class 285 'Egyptian cat'")
    assert plotted["cam"].shape == (7, 7)
    if method == "cam":
        x = cached_model.preprocess(Image.open(cat_jpg).convert("RGB"))
        expected = class_activation_map(cached_model.model, x, "bn2", "classifier", 285)[0]
        torch.testing.assert_close(plotted["cam"], expected)
    assert f"{label} map (7, 7) for class 285" in capsys.readouterr().out


def test_scorecam_choice_computes_score_cam_with_progress(tmp_path, capsys, plotted):
    """--method scorecam: the method table's Score-CAM; with --progress its tqdm bar on stderr (channels done of
    the channels that get a forward pass), without it no bar when stderr is not a terminal (a log, a pipe)."""
    from cam_utils.course.shapes import shape_samples

    picture = tmp_path / "ring.png"
    shape_samples()["ring"].save(picture)
    output = tmp_path / "scorecam.png"
    arguments = [str(picture), "--model", "shapes_gapnet", "--method", "scorecam", "-o", str(output)]
    assert cli.main([*arguments, "--progress"]) == 0
    net = load_model("shapes_gapnet")
    expected = score_cam(net.model, net.preprocess(Image.open(picture)), "features", net.categories.index("ring"))
    torch.testing.assert_close(plotted["cam"], expected[0])
    progress = re.findall(r"Score-CAM: +\d+%\|.*?\| (\d+)/(\d+) channels", capsys.readouterr().err)
    assert progress[0][0] == "0" and progress[-1][0] == progress[-1][1] != "0"  # from no channel to all of them

    assert not sys.stderr.isatty()  # capsys
    assert cli.main(arguments) == 0
    assert "Score-CAM" not in capsys.readouterr().err


def test_a_vision_transformer_gets_its_token_maps(cat_jpg, tmp_path, capsys, monkeypatch, plotted):
    torch.manual_seed(0)
    vit = load_model("vit_b_16", pretrained=False)
    torch.nn.init.normal_(vit.classifier.weight)  # torchvision starts the head at zero
    monkeypatch.setattr(cli_checks, "load_model", lambda name: vit if name == "vit_b_16" else None)
    output = tmp_path / "vit.png"
    assert cli.main([str(cat_jpg), "--model", "vit_b_16", "--class", "7", "-o", str(output)]) == 0
    x = vit.preprocess(Image.open(cat_jpg).convert("RGB"))
    expected = grad_cam(vit.model, x, "encoder.layers.encoder_layer_10", 7, reshape=vit_reshape)[0]
    torch.testing.assert_close(plotted["cam"], expected)
    assert "Grad-CAM map (14, 14) for class 7" in capsys.readouterr().out


def test_cam_is_refused_for_a_network_without_a_gap_head(cat_jpg, tmp_path, capsys, monkeypatch):
    """vit_b_16's head reads the class token: --method cam would weigh tokens with unrelated weights."""
    vit = load_model("vit_b_16", pretrained=False)
    monkeypatch.setattr(cli_checks, "load_model", lambda name: vit if name == "vit_b_16" else None)
    output = tmp_path / "vit_cam.png"
    assert cli.main([str(cat_jpg), "--model", "vit_b_16", "--method", "cam", "-o", str(output)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: --method cam needs a classifier that reads the global average")
    assert "--method gradcam" in error and not output.exists()


@pytest.mark.parametrize("name, layer", [("shapes_vit", "blocks.1"), ("shapes_mlpnet", None), ("shapes_gapnet", None)])
def test_the_shapes_networks_from_the_command_line(tmp_path, capsys, plotted, name, layer):
    """--model shapes_NAME: the networks trained on the synthetic shapes (offline), the ViT's tokens as maps."""
    from cam_utils.course.shapes import shape_samples

    picture = tmp_path / "ring.png"
    shape_samples()["ring"].save(picture)
    net = load_model(name)
    output = tmp_path / f"{name}.png"
    argv = [str(picture), "--model", name, "-o", str(output)] + (["--layer", layer] if layer else [])
    assert cli.main(argv) == 0 and output.exists()
    x = net.preprocess(Image.open(picture))
    expected = grad_cam(
        net.model, x, layer or net.feature_layer_name, net.categories.index("ring"), reshape=net.reshape
    )
    torch.testing.assert_close(plotted["cam"], expected[0])
    assert plotted["image"].size == (64, 64)  # the picture the network sees
    out = capsys.readouterr().out
    assert f"top-5 classes ({name})" in out and "1.    4 ring" in out
    assert "Grad-CAM map (8, 8) for class 4 'ring'" in out
    cam_status = cli.main([str(picture), "--model", name, "--method", "cam", "-o", str(tmp_path / "cam.png")])
    assert cam_status == (0 if net.gap_head else 1)


def test_resolve_class():
    categories = cached_categories()
    assert cli.resolve_class("285", categories) == 285
    assert cli.resolve_class(" Egyptian Cat ", categories) == 285
    assert cli.resolve_class("tabby", categories) == 281
    assert cli.resolve_class("crane", categories) == 517  # exact name beats 'crane bird'
    assert cli.resolve_class("Cardigan", categories) == 264  # the dog
    assert cli.resolve_class("cardigan", categories) == 474  # the jacket
    with pytest.raises(cli.CommandLineError, match="matches 2 classes: 264 'Cardigan', 474 'cardigan'"):
        cli.resolve_class("CARDIGAN", categories)
    with pytest.raises(cli.CommandLineError, match="empty"):
        cli.resolve_class("  ", categories)


def cached_categories() -> list[str]:
    from cam_utils.models import _imagenet_categories

    return _imagenet_categories()


def test_a_library_warning_is_one_line_in_option_terms(tmp_path, capsys):
    """HiResCAM at the ViT's block output cancels (the next LayerNorm ignores each token's scale): the command
    still writes the figure, and says so in one line that names options, not Python calls."""
    from cam_utils.course.shapes import shape_samples

    picture = tmp_path / "ring.png"
    shape_samples()["ring"].save(picture)
    output = tmp_path / "figure.png"
    assert cli.main([str(picture), "--model", "shapes_vit", "--method", "hirescam", "-o", str(output)]) == 0
    assert output.exists()
    warning_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: HiResCAM cancels at this layer")
    assert "--layer blocks.3.norm1" in warning_lines[0] and "--method gradcam" in warning_lines[0]
    assert "grad_cam" not in warning_lines[0]

    assert (
        cli.main(
            [
                str(picture),
                "--model",
                "shapes_vit",
                "--method",
                "hirescam",
                "--layer",
                "blocks.3.norm1",
                "-o",
                str(output),
            ]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err


def test_other_libraries_warnings_are_shown_once_as_python_shows_them(monkeypatch, capsys, cat_jpg, tmp_path):
    """A warning from outside cam_utils (here: from this test) is passed on unchanged, once; the command goes on."""

    def run_that_warns(args):
        warnings.warn("a warning from another library", UserWarning, stacklevel=1)  # this test is the "other library"

    monkeypatch.setattr(cli, "run", run_that_warns)
    with warnings.catch_warnings(record=True) as shown:  # what Python would print
        warnings.simplefilter("always")
        assert cli.main([str(cat_jpg), "-o", str(tmp_path / "figure.png")]) == 0
    assert [(str(w.message), w.category) for w in shown] == [("a warning from another library", UserWarning)]
    assert "warning:" not in capsys.readouterr().err  # not reworded as one of ours


# --- issue 19, items 8 and 17: the figure is written whole, and bad outputs fail before any computation ---


def test_an_interrupted_write_leaves_the_previous_figure_whole(tmp_path, cat_jpg, monkeypatch, cached_model):
    from matplotlib.figure import Figure

    output = tmp_path / "figure.svg"
    assert cli.main([str(cat_jpg), "-o", str(output)]) == 0
    before = output.read_bytes()

    def interrupted_savefig(self, file, **options):
        file.write(b"<svg")  # a truncated start, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted_savefig)
    assert cli.main([str(cat_jpg), "-o", str(output)]) == 130
    assert output.read_bytes() == before, "the previous figure was damaged"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figure.svg"], "a temporary file was left"


@pytest.mark.parametrize(
    "make_output, fragment",
    [
        (lambda path: os.mkfifo(path), "not a regular file"),
        (
            lambda path: os.symlink(path.parent / "missing" / "x.png", path),
            "symbolic link to a file that does not exist",
        ),
        (lambda path: None, "characters long"),
        (lambda path: None, "cannot tell the figure format"),
    ],
    ids=["fifo", "dangling-symlink", "long-name", "pgf"],
)
def test_bad_outputs_fail_before_the_computation(tmp_path, cat_jpg, make_output, fragment):
    name = {"characters long": "x" * 300 + ".png", "cannot tell the figure format": "figure.pgf"}.get(
        fragment, "out.png"
    )
    output = tmp_path / name
    make_output(output)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cam_utils", str(cat_jpg), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result.stderr, fragment)
    assert time.perf_counter() - started < 60


def test_a_closed_pipe_after_the_figure_is_not_an_error(tmp_path, cat_jpg):
    output = tmp_path / "figure.png"
    command = f"{sys.executable} -m cam_utils {cat_jpg} -o {output} | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Broken pipe" not in result.stderr and output.stat().st_size > 0


def test_a_five_class_model_is_told_its_own_index_range():
    from cam_utils.course.shapes import CLASS_NAMES

    with pytest.raises(cli.CommandLineError, match="0-4"):
        cli.resolve_class("hexagon", list(CLASS_NAMES))  # not a shape it knows


# --- issue 22: a long map stops cleanly on Ctrl-C --------------------------------------------------

# The CLI in a subprocess, with every forward pass of a batch of masked images slowed down (a global forward
# hook of torch), so that Score-CAM on the small shapes network lasts long enough to be interrupted midway.
_SLOW_CLI = """
import signal, sys, time
import torch

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, also if the parent ignores it
torch.nn.modules.module.register_module_forward_hook(
    lambda module, inputs, output: time.sleep(0.1) if inputs[0].shape[0] > 1 else None
)
from cam_utils.course.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_score_cam_stops_cleanly_with_no_figure(tmp_path):
    """SIGINT once the progress bar shows: exit status 130, one line on stderr (the bar is erased), no figure
    and no temporary file."""
    from cam_utils.course.shapes import shape_samples

    picture = tmp_path / "ring.png"
    shape_samples()["ring"].save(picture)
    output = tmp_path / "scorecam.png"
    command = [sys.executable, "-c", _SLOW_CLI, str(picture), "--model", "shapes_gapnet", "--method", "scorecam"]
    process = subprocess.Popen(
        [*command, "--progress", "-o", str(output)], stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    received = bytearray()
    deadline = time.monotonic() + 120
    moved = re.compile(rb"\| [1-9]\d*/\d+ channels \[")  # the bar, once the first masked batch is done
    while not moved.search(received) and time.monotonic() < deadline and process.poll() is None:
        received += os.read(process.stderr.fileno(), 4096)
    assert moved.search(received), received
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=60)
    stderr = (received + rest).decode()
    assert process.returncode == 130, stderr
    lines = [line.split("\r")[-1].strip() for line in stderr.rstrip("\n").split("\n")]  # what a terminal shows
    assert lines == ["error: interrupted (Ctrl-C)"], stderr
    assert "top-5 classes" in stdout.decode()  # it got as far as the map
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ring.png"], "a figure or a temporary file was left"

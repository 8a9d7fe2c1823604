"""Run the notebooks under strict nbval as other machines would: other SIMD widths, other thread counts.

A learner's laptop is not the machine that saved the notebooks' outputs. Another instruction set (AVX2
instead of AVX-512, or no vector unit PyTorch knows, as on arm64) or another number of threads changes
the order of floating-point sums, so a printed number that sits on a rounding boundary flips its last
digit, and a discrete result (a pixel ranked first, an image counted as a hit) can flip too. This script
runs the same comparison as ``make test`` with such a machine emulated on this one, through the switches
PyTorch's CPU libraries read at start-up:

* ``ATEN_CPU_CAPABILITY``: which of PyTorch's own vectorised kernels run (``avx512``, ``avx2``, ``default``);
* ``ONEDNN_MAX_CPU_ISA``: the widest instructions oneDNN (convolutions) may use;
* ``MKL_ENABLE_INSTRUCTIONS``: the same for MKL (matrix products);
* ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``: how many threads split a reduction.

Usage::

    python tools/emulate_machines.py                 # every variant, one after the other
    python tools/emulate_machines.py avx2 threads1   # some of them
    python tools/emulate_machines.py avx2 --notebooks notebooks/04_grad_cam_step_by_step.ipynb
    python tools/emulate_machines.py --list

Each variant is one pytest run over ``notebooks/`` (about two minutes on 2 cores); the exit status is
non-zero if any variant fails. ``make test-machines VARIANTS="avx2"`` runs it from the Makefile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: name -> (what it stands for, environment switches)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "avx2": (
        "a laptop or server without AVX-512 (most Intel laptops, older AMD)",
        {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    ),
    "novector": (
        "no vector unit PyTorch's x86 kernels know (the closest to arm64 here)",
        {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    ),
    "threads1": (
        "one thread: sums in another order than on a multi-core machine",
        {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    ),
    "threads4": ("four threads (more than this 2-core machine has)", {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}),
}


def pytest_command(notebooks: list[str], extra: list[str]) -> list[str]:
    """The same notebook comparison ``make test`` runs (strict nbval, the project's sanitizer)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *(notebooks or ["notebooks"]),
        "--nbval",
        "--nbval-sanitize-with",
        "notebooks/nbval_sanitize.cfg",
        "--nbval-cell-timeout=600",
        "-p",
        "no:cacheprovider",
        "-q",
        *extra,
    ]


def run_variant(name: str, notebooks: list[str], extra: list[str]) -> int:
    description, switches = VARIANTS[name]
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **switches}
    shown = " ".join(f"{key}={value}" for key, value in switches.items())
    print(f"== {name}: {description}\n   {shown}", flush=True)
    return subprocess.call(pytest_command(notebooks, extra), cwd=ROOT, env=environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the notebooks under nbval with other machines emulated.")
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), help=f"some of: {', '.join(VARIANTS)}")
    parser.add_argument(
        "--notebooks", nargs="+", default=[], metavar="PATH", help="only these notebooks (default: notebooks/)"
    )
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args, extra = parser.parse_known_args(argv)
    if args.list:
        for name, (description, switches) in VARIANTS.items():
            print(f"{name:10s} {description}: {' '.join(f'{k}={v}' for k, v in switches.items())}")
        return 0
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    failed = [name for name in args.variants if run_variant(name, args.notebooks, extra) != 0]
    print("all variants passed" if not failed else f"variants that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

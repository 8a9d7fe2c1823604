"""Each notebook's peak memory and run time, executed in a fresh "cam-tutorial" kernel.

Usage: python benchmarks/bench_notebooks.py [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)

For every notebook: wall-clock seconds (kernel start included, as under nbval), the kernel's CPU
seconds (user + system, all its threads: less sensitive to other load on the machine than the wall
clock), and its peak resident memory (VmHWM from /proc, Linux only). The notebook file is not
modified. Targets: every notebook <= 1.2 GB peak (Binder gives 2 GB, and a classroom laptop runs a
browser too) and all of them together <= 2 minutes under nbval on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "cam-tutorial"
REPO_ROOT = Path(__file__).resolve().parent.parent
MEMORY_TARGET_GB = 1.2
# Appended to a copy of the notebook: what the kernel itself measured at the end of the run.
_PROBE = (
    "import os as _os, re as _re\n"
    "_status = open('/proc/self/status').read()\n"
    "_times = _os.times()\n"
    "print('VmHWM_kB', int(_re.search(r'VmHWM:\\s+(\\d+)', _status).group(1)), "
    "'cpu_s', _times.user + _times.system)"
)


def measure(path: Path, timeout: int = 600) -> tuple[float, float, float]:
    """Execute a copy of ``path``; return (wall seconds, kernel CPU seconds, peak resident GB)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(_PROBE))
    client = NotebookClient(
        notebook, kernel_name=KERNEL_NAME, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    fields = text.split()
    peak_gb = int(fields[fields.index("VmHWM_kB") + 1]) / 1024**2
    cpu = float(fields[fields.index("cpu_s") + 1])
    return wall, cpu, peak_gb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'notebook':45s} {'wall s':>7s} {'CPU s':>7s} {'peak GB':>8s}")
    total_wall, worst_peak = 0.0, 0.0
    for path in paths:
        wall, cpu, peak = measure(path)
        total_wall += wall
        worst_peak = max(worst_peak, peak)
        flag = "" if peak <= MEMORY_TARGET_GB else f"  > {MEMORY_TARGET_GB} GB target"
        print(f"{path.name:45s} {wall:7.1f} {cpu:7.1f} {peak:8.2f}{flag}", flush=True)
    print(f"{'total':45s} {total_wall:7.1f}")
    print(
        f"largest peak {worst_peak:.2f} GB (target <= {MEMORY_TARGET_GB} GB); load average after: {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

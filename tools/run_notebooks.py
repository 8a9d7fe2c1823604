"""Re-execute notebooks in place, top to bottom, each in a fresh "cam-tutorial" kernel.

Usage: python tools/run_notebooks.py [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)

The saved outputs are what `make test` (pytest --nbval) compares against, so run this
after editing a notebook. Execution counts come out as 1..N; no timing metadata is kept; consecutive printed lines are kept
as one output (the split into stream messages depends on timing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "cam-tutorial"
REPO_ROOT = Path(__file__).resolve().parent.parent


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive stdout (or stderr) outputs into one, as nbval compares them.

    How a cell's printed lines are split into stream messages depends on timing, so without this
    every re-execution would change the saved file although nothing printed changed.
    """
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] = previous["text"] + output["text"]
        else:
            merged.append(output)
    return merged


def run_notebook(path: Path, timeout: int = 600) -> float:
    """Execute one notebook in place (working directory: its folder); return the seconds taken."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": f"Python ({KERNEL_NAME})",
        "language": "python",
    }
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        record_timing=False,  # keep diffs free of timestamps
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("No notebooks found.", file=sys.stderr)
        return 1
    for path in paths:
        seconds = run_notebook(path, args.timeout)
        print(f"{path}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

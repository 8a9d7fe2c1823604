"""A learner changes the parameters cell and runs the whole notebook: nothing may fail.

Each notebook lists, in its metadata under ``tinker``, the other parameter values a learner is likely to try
(another photo, another class, another layer). For each, the parameters are injected after the cell tagged
``parameters`` (as papermill does) and the notebook runs top to bottom in the project's kernel. The notebooks
carry their solutions, so no cell may raise: a check cell whose sentence was written for the default
parameters prints a one-line note instead (``cam_utils.course.claims``), and that note must appear when a claim's
numbers differ, never an error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.libraries import skip_where_absent

pytestmark = pytest.mark.slow

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _variants() -> list[object]:
    """(path, parameters) of every variant, as pytest parameters: notebook 11's skipped where the "libraries"
    extra is absent (tests/libraries.py)."""
    found = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for parameters in notebook.metadata.get("tinker", []):
            found.append(pytest.param(path, parameters, marks=skip_where_absent(path)))
    return found


def _parameters_index(notebook: nbformat.NotebookNode) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell is tagged 'parameters'"
    return tagged[0]


def inject(notebook: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """A copy of the notebook with ``NAME = value`` lines in a cell right after its parameters cell."""
    notebook = nbformat.from_dict(notebook)
    index = _parameters_index(notebook)
    defaults: dict = {}
    exec(notebook.cells[index].source, {}, defaults)  # the parameters cell is plain assignments of literals
    unknown = sorted(set(parameters) - set(defaults))
    assert not unknown, f"tinker names {unknown}, which the parameters cell does not define"
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_offers_parameters_to_tinker_with(path):
    notebook = nbformat.read(path, as_version=4)
    index = _parameters_index(notebook)
    defaults: dict = {}
    exec(notebook.cells[index].source, {}, defaults)
    variants = notebook.metadata.get("tinker", [])
    assert variants, "metadata 'tinker' lists at least one set of other parameters"
    changed = {name for variant in variants for name in variant}
    assert changed == set(defaults), f"every parameter is changed by some variant (never: {set(defaults) - changed})"
    for variant in variants:
        assert any(variant[name] != defaults[name] for name in variant), f"{variant} changes nothing"


@pytest.mark.parametrize(
    "path, parameters", _variants(), ids=lambda value: value.name if isinstance(value, Path) else str(value)
)
def test_notebook_runs_with_other_parameters(path, parameters):
    from nbclient import NotebookClient

    notebook = inject(nbformat.read(path, as_version=4), parameters)
    client = NotebookClient(
        notebook,
        kernel_name=notebook.metadata["kernelspec"]["name"],
        timeout=600,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    printed = [output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])]
    notes = sum(text.count("ⓘ Written for") for text in printed)
    print(f"{path.name} with {parameters}: {notes} claims noted as written for the defaults")

"""The shipped notebooks run top to bottom (at small sizes: STRESSGEN_SMALL=1) and are stored without outputs."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
OURS = ["01_quickstart.ipynb", "02_write_a_strategy.ipynb", "03_compare_generators.ipynb", "04_latent_map.ipynb",
        "05_stress_scenarios.ipynb"]


@pytest.mark.parametrize("name", OURS)
def test_stored_without_outputs(name):
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs before commit"


@pytest.mark.parametrize("name", OURS)
def test_notebook_runs(name, monkeypatch, tmp_path):
    monkeypatch.setenv("STRESSGEN_SMALL", "1")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(book, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env={**os.environ, "STRESSGEN_SMALL": "1"})
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors

"""The shipped notebooks run top to bottom (at small sizes: STRESSGEN_SMALL=1, compiled at -O0) and are stored
without outputs."""

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
    # The kernel compiles with LLVM at -O0. Why: these tests check that every cell runs, not its numbers (the
    # other tests check those, compiled as users compile them), and compiling is most of a notebook's time
    # (measured in the full suite: the five took 182 s of a worker's time at the default level, 137 s at -O0).
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
    client.execute(env={**os.environ, "STRESSGEN_SMALL": "1", "XLA_FLAGS": flags})
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors

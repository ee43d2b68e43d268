"""The shipped notebooks are stored without outputs. That they run top to bottom is an acceptance run
(bench/acceptance/test_notebooks_run.py): each fits models of its own, 17-87 s of a core apiece."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
OURS = ["01_quickstart.ipynb", "02_write_a_strategy.ipynb", "03_compare_generators.ipynb", "04_latent_map.ipynb",
        "05_stress_scenarios.ipynb"]


@pytest.mark.parametrize("name", OURS)
def test_stored_without_outputs(name):
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs before commit"

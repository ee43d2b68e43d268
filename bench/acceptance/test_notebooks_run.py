"""The shipped notebooks run top to bottom, at small sizes (STRESSGEN_SMALL=1: the same code) and compiled at -O0.

An acceptance run (see conftest.py): every notebook fits models of its own (notebook 03 fits every family and
runs the calibration study over all of them) in a kernel of its own, 17-87 s of a core apiece, 150-180 s in
all. tests/test_notebooks.py checks in the suite that they are stored without outputs.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_is_here():
    assert len(NAMES) >= 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name):
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

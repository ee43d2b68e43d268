"""Architecture: the import-linter contracts of pyproject.toml ([tool.importlinter]) hold.

The layers run data -> generators -> engine -> metrics -> studies -> report -> cli; the engine loads no
strategy plugins; shared kernels (numerics, risk, indicators, strategy, atomic, ...) import no layer, so no
cycle runs through them. A broken contract fails here with import-linter's report of the offending chain.
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    # in a child process: import-linter's command line takes over (and closes) the standard streams, which
    # pytest's capture owns; run from the repository root so that grimp finds `stressgen` and `strategies`
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
                          "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_engine_caches_are_bounded():
    from stressgen.engine import _causality, _run

    for cache in (_causality._PROVEN, _run._LIBRARY_FREE, _run._PLACED):
        assert 0 < cache.maxsize <= 256

"""The run's output files: a failed or interrupted run leaves the previous outputs or none, never half a file.

Everything is rendered in memory first, then written with the project's one atomic writer
(`stressgen.atomic.write_files`): every file is staged next to its target and fsynced, and only when all are
staged are they renamed into place, ``report.html`` last, so a present report always comes with its summary,
metrics and arrays. `atomic_write` and `write_files` are re-exported from `stressgen.atomic` for callers
that found them here.
"""

from __future__ import annotations

import io
from pathlib import Path

from safetensors.numpy import save as save_safetensors

from ..atomic import atomic_write as atomic_write
from ..atomic import write_files as write_files
from ..results import RunResult
from . import _store
from .render import render_html
from .summary import SUMMARY_FILE, summary_json

__all__ = ["REPORT_FILE", "atomic_write", "write_files", "render_outputs", "write_outputs"]

REPORT_FILE = "report.html"


def render_outputs(result: RunResult) -> dict[str, bytes]:
    """Every output file of `result` as bytes, in the order they are renamed into place (report last)."""
    tensors, manifest = _store.encode(result)
    arrays = save_safetensors(tensors, metadata={_store.META_KEY: _store.manifest_json(manifest)})
    buf = io.BytesIO()
    _store.metrics_frame(result).to_parquet(buf, index=False)
    return {
        _store.ARRAYS_FILE: arrays,
        _store.METRICS_FILE: buf.getvalue(),
        SUMMARY_FILE: summary_json(result).encode("utf-8"),
        REPORT_FILE: render_html(result).encode("utf-8"),
    }


def write_outputs(result: RunResult, out_dir) -> Path:
    """Write ``report.html``, ``summary.json``, ``metrics.parquet`` and the arrays file; return the report path.

    Everything is rendered in memory first, then written atomically (see the module docstring).
    """
    out_dir = Path(out_dir)
    write_files(out_dir, render_outputs(result))
    return out_dir / REPORT_FILE

"""The run's output files: a failed, interrupted or killed run leaves the previous outputs or the new ones,
complete, never a mix.

Everything is rendered in memory first (the per-world metrics are streamed into their file), then published
as one set with `stressgen.atomic.publish_files` (group ``"run"``): the four files are written and fsynced
into a new version directory under ``<out>/.stressgen/versions/``, and one symlink switch makes
``report.html``, ``summary.json``, ``metrics.parquet`` and ``results.safetensors`` (fixed symlinks through
``.stressgen/run``) name the new set at once. `atomic_write` and `write_files` are re-exported from
`stressgen.atomic` for callers that found them here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from safetensors.numpy import save as save_safetensors

from ..atomic import atomic_write as atomic_write
from ..atomic import publish_files
from ..atomic import write_files as write_files
from ..errors import ConfigError
from ..results import RunResult
from . import _store
from .render import render_html
from .summary import SUMMARY_FILE, summary_json

__all__ = ["REPORT_FILE", "atomic_write", "write_files", "render_outputs", "write_outputs",
           "check_output_dir"]

REPORT_FILE = "report.html"


def render_outputs(result: RunResult) -> dict[str, bytes | Callable[[BinaryIO], None]]:
    """Every output file of `result` as bytes, or as a function writing it into an open file (the per-world
    metrics: streamed, see `_store.write_metrics`), in the order they are renamed into place (report last)."""
    tensors, manifest = _store.encode(result)
    arrays = save_safetensors(tensors, metadata={_store.META_KEY: _store.manifest_json(manifest)})
    return {
        _store.ARRAYS_FILE: arrays,
        _store.METRICS_FILE: functools.partial(_store.write_metrics, result),
        SUMMARY_FILE: summary_json(result).encode("utf-8"),
        REPORT_FILE: render_html(result).encode("utf-8"),
    }


def check_output_dir(out_dir) -> Path:
    """Refuse, before any compute, a results directory that cannot be written: a path that is a file (or
    lies under one), or whose nearest existing directory is not writable. Raises `ConfigError`."""
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: the results directory ([report] out or --out) is a file; "
                          "name a directory")
    parent = out_dir
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{out_dir}: cannot create the results directory: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{out_dir}: cannot write the results directory: {parent} is not writable")
    return out_dir


def write_outputs(result: RunResult, out_dir) -> Path:
    """Write ``report.html``, ``summary.json``, ``metrics.parquet`` and the arrays file; return the report
    path.

    Everything but the per-world metrics is rendered in memory first; all is written atomically (see the
    module docstring).
    """
    out_dir = Path(out_dir)
    publish_files(out_dir, render_outputs(result), group="run")
    return out_dir / REPORT_FILE

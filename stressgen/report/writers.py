"""Atomic output writers: a failed or interrupted run leaves the previous outputs or none, never half a file.

Every file is first written in full to a temporary file in the target directory (same file system, so the
final `os.replace` is an atomic rename), flushed and fsynced; only when every file of a run is staged are they
renamed into place, ``report.html`` last, so a present report always comes with its summary, metrics and
arrays. An exception at any point before the renames (rendering, encoding, a full disk, Ctrl-C) removes the
temporary files and leaves the directory as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from safetensors.numpy import save as save_safetensors

from ..results import RunResult
from . import _store
from .render import render_html
from .summary import SUMMARY_FILE, summary_json

__all__ = ["REPORT_FILE", "atomic_write", "write_files", "render_outputs", "write_outputs"]

REPORT_FILE = "report.html"


def _stage(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` to a new temporary file next to ``directory / name``; return its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; outputs get the permissions of any new file (0666 less the umask)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # make the renames themselves durable; not every platform can open a directory
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_files(directory, files: Mapping[str, bytes]) -> None:
    """Write every ``name -> bytes`` into `directory` all-or-nothing (up to the final renames), in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            staged.append((_stage(directory, name, data), directory / name))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    _fsync_dir(directory)


def atomic_write(path, data: bytes | str) -> Path:
    """Write one file atomically (text is UTF-8); other pages (the fidelity evaluation) use this too."""
    path = Path(path)
    write_files(path.parent, {path.name: data.encode("utf-8") if isinstance(data, str) else data})
    return path


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

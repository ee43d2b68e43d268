"""`load_results(dir)`: read a results directory back into a `RunResult`, so a report can be re-rendered.

Reads ``results.safetensors`` (arrays and a JSON manifest) and ``metrics.parquet``; never unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from safetensors import SafetensorError, safe_open

from ..errors import DataFileNotFoundError, MalformedFileError
from ..results import RunResult
from . import _store

__all__ = ["load_results"]


def load_results(results_dir) -> RunResult:
    """The `RunResult` that `write_outputs` wrote into `results_dir`.

    Raises:
        DataFileNotFoundError: the directory or one of its two data files is missing.
        MalformedFileError: a file is not what stressgen writes (foreign, truncated or of another version).
    """
    d = Path(results_dir)
    arrays, metrics_path = d / _store.ARRAYS_FILE, d / _store.METRICS_FILE
    for p in (arrays, metrics_path):
        if not p.is_file():
            raise DataFileNotFoundError("results file not found", path=p,
                                        expected=f"a directory written by `stressgen run` holding "
                                                 f"{_store.ARRAYS_FILE} and {_store.METRICS_FILE}")
    try:
        with safe_open(str(arrays), framework="numpy") as f:
            meta = f.metadata() or {}
            if _store.META_KEY not in meta:
                raise MalformedFileError("no stressgen manifest in the file's metadata", path=arrays,
                                         expected="a results file written by stressgen.report.write_outputs")
            manifest = json.loads(meta[_store.META_KEY])
            if manifest.get("format") != _store.FORMAT or manifest.get("format_version") != _store.FORMAT_VERSION:
                raise MalformedFileError(
                    f"format {manifest.get('format')!r} version {manifest.get('format_version')!r}", path=arrays,
                    expected=f"format {_store.FORMAT!r} version {_store.FORMAT_VERSION}")
            names = set(f.keys())

            def tensor(name: str):
                if name not in names:
                    raise MalformedFileError(f"array {name!r} is missing", path=arrays,
                                             expected="every array the manifest lists")
                return f.get_tensor(name)

            try:
                metrics = pd.read_parquet(metrics_path)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise MalformedFileError(f"cannot read Parquet ({e})", path=metrics_path,
                                         expected="metrics.parquet written by stressgen") from e
            missing = {"strategy", "world"} - set(metrics.columns)
            if missing:
                raise MalformedFileError(f"columns {sorted(missing)} are missing", path=metrics_path,
                                         expected="columns strategy, params, world, then metrics")
            try:
                return _store.decode(manifest, tensor, metrics)
            except (KeyError, TypeError, ValueError) as e:
                if isinstance(e, MalformedFileError):
                    raise
                raise MalformedFileError(f"inconsistent results ({type(e).__name__}: {e})", path=d,
                                         expected="files written together by one stressgen run") from e
    except SafetensorError as e:
        raise MalformedFileError(f"not a readable safetensors file ({e})", path=arrays,
                                 expected="results.safetensors written by stressgen") from e
    except json.JSONDecodeError as e:
        raise MalformedFileError(f"manifest is not JSON ({e})", path=arrays,
                                 expected="a results file written by stressgen") from e

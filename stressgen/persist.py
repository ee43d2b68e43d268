"""Saving and loading fitted generators: a JSON manifest plus named arrays in safetensors, never pickle.

A model directory holds two files:

* ``model.json``: format name and version, the generator's registry name, the package version, the
  generator's JSON-able meta (config, history context, fit digest, ...) and a manifest of the arrays
  (name -> dtype and shape, plus the SHA-256 and byte size of the arrays file);
* ``arrays.safetensors``: the named arrays.

Structure is rebuilt from code: `load_model` looks the family up in the generator registry and calls its
`restore_fitted(meta, arrays)`. Loading reads JSON and raw tensors only, so a foreign or tampered file can
never run code; anything that does not match the manifest is refused with `ModelFileError` naming the file.
Saving is atomic: both files are written into a temporary directory next to the target, which is then
renamed into place, so an interrupted save leaves either the old model or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from . import generators
from ._version import __version__
from .atomic import publish_files
from .errors import ConfigError, ModelFileError, StressgenError, UnknownNameError
from .generators import AbstractGenerator

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_JSON", "ARRAYS_FILE", "save_model", "load_model", "read_manifest"]

FORMAT = "stressgen-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
ARRAYS_FILE = "arrays.safetensors"
_MAX_JSON_BYTES = 16 * 2**20  # a manifest is kilobytes; a bigger "model.json" is not ours
_PICKLE_MAGIC = (b"\x80", b"(", b"c")  # protocol 2+ opcode, and protocol 0's MARK/GLOBAL openings


def _version() -> str:
    return __version__


def save_model(directory: str | os.PathLike, generator: AbstractGenerator, fitted: Any) -> Path:
    """Write `fitted` (of `generator`'s family) to `directory` atomically; returns the directory.

    An existing model directory is replaced; an existing directory that is not a model (it has other
    files and no ``model.json``) is refused rather than overwritten.
    """
    target = Path(directory)
    meta, arrays = generator.export_fitted(fitted)
    arrays = {str(k): np.ascontiguousarray(np.asarray(v)) for k, v in arrays.items()}
    for name, a in arrays.items():
        if a.dtype.kind not in "biuf":  # object or string arrays cannot be stored without pickle
            raise ConfigError(f"generator {generator.name!r} exported array {name!r} of dtype {a.dtype}; "
                              "only numeric arrays can be saved")
    blob = safetensors.numpy.save(arrays)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": generator.name,
        "stressgen_version": _version(),
        "meta": meta,
        "arrays": {
            "file": ARRAYS_FILE,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "tensors": {k: {"dtype": str(a.dtype), "shape": list(a.shape)} for k, a in arrays.items()},
        },
    }
    try:
        text = json.dumps(doc, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"generator {generator.name!r} exported meta that is not plain JSON: {exc}") from exc

    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a directory; choose another model directory")
    if target.is_dir() and any(target.iterdir()) and not (target / MODEL_JSON).is_file():
        raise ConfigError(f"{target}: directory is not empty and holds no {MODEL_JSON}; refusing to overwrite it")
    # one set: a kill at any moment leaves the previous model or the new one, complete (atomic.publish_files)
    publish_files(target, {ARRAYS_FILE: blob, MODEL_JSON: text.encode()}, group="model")
    return target


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The validated ``model.json`` of a model directory (no arrays read)."""
    root = Path(directory)
    path = root / MODEL_JSON
    if not root.is_dir():
        raise ModelFileError("model directory not found" if not root.exists() else "not a directory",
                             path=root, expected=f"a directory written by `stressgen fit` with {MODEL_JSON}")
    if not path.is_file():
        raise ModelFileError(f"no {MODEL_JSON} in the model directory", path=root,
                             expected=f"{MODEL_JSON} and {ARRAYS_FILE} written by `stressgen fit`")
    size = path.stat().st_size
    if size > _MAX_JSON_BYTES:
        raise ModelFileError(f"file is {size} bytes, too large for a model manifest", path=path)
    raw = path.read_bytes()
    if raw[:1] in _PICKLE_MAGIC:
        raise ModelFileError("looks like a Python pickle; stressgen never unpickles model files", path=path,
                             expected="a JSON manifest written by stressgen.persist.save_model")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"not valid JSON ({exc}); the file is foreign, corrupt or truncated", path=path,
                             expected="a JSON manifest written by stressgen.persist.save_model") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ModelFileError(f"not a stressgen model manifest (format {found!r})", path=path,
                             expected=f"format {FORMAT!r}")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"format version {version!r} is not supported", path=path,
                             expected=f"format_version {FORMAT_VERSION}")
    for key, kind in (("generator", str), ("meta", dict), ("arrays", dict)):
        if not isinstance(doc.get(key), kind):
            raise ModelFileError(f"key {key!r} is missing or not a {kind.__name__}", path=path)
    manifest = doc["arrays"]
    if not (isinstance(manifest.get("sha256"), str) and isinstance(manifest.get("bytes"), int)
            and isinstance(manifest.get("tensors"), dict) and manifest.get("file") == ARRAYS_FILE):
        raise ModelFileError("the arrays manifest is incomplete", path=path,
                             expected=f"arrays.file = {ARRAYS_FILE!r}, sha256, bytes and tensors")
    return doc


def _read_arrays(root: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    path = root / ARRAYS_FILE
    if not path.is_file():
        raise ModelFileError("arrays file is missing", path=path, expected=f"{ARRAYS_FILE} next to {MODEL_JSON}")
    blob = path.read_bytes()
    if len(blob) != manifest["bytes"]:
        raise ModelFileError(f"file has {len(blob)} bytes, the manifest says {manifest['bytes']}; truncated or "
                             "replaced", path=path)
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise ModelFileError("SHA-256 does not match the manifest; the file is corrupt or not the one saved",
                             path=path)
    try:
        arrays = safetensors.numpy.load(blob)  # parses a JSON header and raw buffers only: no code runs
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ModelFileError(f"not a readable safetensors file ({exc})", path=path) from None
    tensors = manifest["tensors"]
    if set(arrays) != set(tensors):
        raise ModelFileError(f"holds arrays {sorted(arrays)}, the manifest lists {sorted(tensors)}", path=path)
    for name, a in arrays.items():
        spec = tensors[name]
        if not isinstance(spec, dict) or spec.get("dtype") != str(a.dtype) or spec.get("shape") != list(a.shape):
            raise ModelFileError(f"array {name!r} is {a.dtype}{list(a.shape)}, the manifest says {spec}", path=path)
    return arrays


def load_model(directory: str | os.PathLike) -> tuple[AbstractGenerator, Any]:
    """Read a model directory back: ``(generator, fitted)``. Never executes code from the files."""
    root = Path(directory)
    doc = read_manifest(root)
    try:
        generator = generators.get(doc["generator"])
    except UnknownNameError as exc:
        raise ModelFileError(f"saved by generator {doc['generator']!r}, which is not installed ({exc})",
                             path=root / MODEL_JSON) from None
    arrays = _read_arrays(root, doc["arrays"])
    try:
        fitted = generator.restore_fitted(doc["meta"], arrays)
    except ModelFileError as exc:
        raise ModelFileError(exc.problem if exc.path is None else str(exc), path=exc.path or root / MODEL_JSON,
                             expected=exc.expected) from None
    except (StressgenError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"generator {generator.name!r} cannot restore this model: {exc}",
                             path=root / MODEL_JSON) from exc
    return generator, fitted

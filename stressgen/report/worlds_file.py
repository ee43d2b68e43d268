"""The worlds file of ``stressgen sample``: chunks of worlds streamed into one safetensors file.

Tensors: ``log_returns [worlds, horizon, assets]`` float32, ``history [time, assets]`` (the real prefix) and
``anchor_prices [assets]``; the file's metadata (string -> string) holds ``format``, ``assets`` (JSON),
``generator``, ``params_digest``, ``seed``, ``first_world``, ``freq`` and ``history_end``.

Why written by hand rather than with `safetensors.numpy.save`: that call needs every tensor in memory, and a
million worlds do not fit. The header (whose offsets only need the shapes) is written first and each chunk
appended, so memory is bounded by one chunk. The file is staged under a temporary name and renamed into
place (`stressgen.atomic.atomic_file`), so an interrupted run leaves no half-written file. Anyone reads it
with `safetensors.safe_open`.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..atomic import atomic_file
from ..errors import ConfigError
from ..types import Scenarios

__all__ = ["WORLDS_FORMAT", "write_worlds"]

WORLDS_FORMAT = "stressgen-worlds"


def write_worlds(path: str | os.PathLike, chunks: Iterator[Scenarios], *, n_worlds: int, horizon: int,
                 generator: str, params_digest: str, seed: int,
                 progress: Callable[[int], None] = lambda done: None) -> Path:
    """Stream `chunks` (worlds 0, 1, ... in order, `n_worlds` in all) into the safetensors file `path`."""
    target = Path(path)
    if target.suffix != ".safetensors":
        raise ConfigError(f"{target}: worlds are written as safetensors; name the file *.safetensors")
    first = next(chunks)
    history = np.ascontiguousarray(np.asarray(first.history, np.float32))
    anchor = np.ascontiguousarray(np.asarray(first.anchor_prices, np.float32))
    shape = (n_worlds, horizon, first.n_assets)
    sizes = [("anchor_prices", anchor.shape, anchor.nbytes), ("history", history.shape, history.nbytes),
             ("log_returns", shape, 4 * int(np.prod(shape)))]
    header, offset = {}, 0
    for name, shp, nbytes in sizes:
        header[name] = {"dtype": "F32", "shape": list(shp), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {
        "format": WORLDS_FORMAT, "assets": json.dumps(list(first.assets)), "generator": generator,
        "params_digest": params_digest, "seed": str(seed), "first_world": "0",
        "freq": first.freq, "history_end": first.history_end,
    }
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # safetensors pads the header to 8 bytes so that tensors stay aligned
    with atomic_file(target) as f:  # the project's one atomic writer: the file appears complete or not at all
        f.write(struct.pack("<Q", len(blob)) + blob + anchor.tobytes() + history.tobytes())
        done = 0
        for chunk in itertools.chain([first], chunks):
            f.write(np.ascontiguousarray(np.asarray(chunk.log_returns, np.float32)).tobytes())
            done += chunk.n_worlds
            progress(done)
        if done != n_worlds:  # the header promised n_worlds: a short stream would leave a corrupt file
            raise ConfigError(f"{target}: {done} worlds were drawn, the header says {n_worlds}")
    return target

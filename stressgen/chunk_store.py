"""Chunks of a run as files and as tasks: resumable runs, a million worlds in bounded memory, and any executor.

Each chunk of worlds (`stressgen.chunks`) is a pure task, `chunk_task(task, chunk_dir, index)`: it reads the
spec (the task names the spec file and the command line's overrides) and the run's saved model, draws and
backtests its worlds, and writes two files once, each atomically:

* ``chunk-000012.safetensors``: the chunk's reductions (fidelity sums, plausibility partial state, and the
  first worlds' paths where it holds them) with a JSON header naming the run's digest;
* ``chunk-000012.parquet``: its per-world metrics, one row per (parameter set, world). Written last, so a
  chunk counts as done only when both are there.

`chunk_run.sample_chunked` is the driver: it fits nothing itself (the run's fit is saved to ``model/`` in the chunk
directory for the tasks), skips the chunks already written, hands the others to an executor (None: this
process, in order; a `concurrent.futures.Executor`: a process pool, `stressgen.executors.RayExecutor`), then
folds every chunk file in chunk order (`chunks.fold`). The result is the same, bit for bit, whatever ran the
chunks and however often a run was interrupted: world i depends only on the seed and i, and the fold always
reads the same files in the same order.

The chunk directory is named by a digest of everything the chunks depend on (the resolved spec, the fitted
parameters, the strategy files, stressgen's version and the digest of its sources), so a rerun of the same
spec finds its chunks and a changed spec or code never reuses another's. Memory: the driver holds one
chunk's arrays at a time plus the per-world metrics (8 bytes or less per world, strategy and metric).
Nothing here is pickled; the files are Parquet and safetensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import safetensors.numpy

from . import atomic, chunks
from ._version import __version__, source_digest
from .errors import ConfigError
from .metrics import run_summary

__all__ = ["CHUNK_FORMAT", "MODEL_DIR", "TaskSpec", "run_digest", "write_chunk",
           "read_chunk", "is_done"]

CHUNK_FORMAT = "stressgen-chunk/1"
MODEL_DIR = "model"


def _sha(path: str | None) -> str | None:
    if path is None:
        return None
    with contextlib.suppress(OSError):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return "unreadable"


def run_digest(spec: Any, params_digest: str) -> str:
    """A digest of what a chunk's numbers depend on (see the module doc)."""
    # not the spec's own path (a worker reads it by its absolute path, the driver may have used a relative
    # one) nor the results directory: neither changes a chunk
    resolved = {k: v for k, v in spec.to_dict().items() if k != "source"}
    resolved["report"] = {k: v for k, v in resolved["report"].items() if k != "out"}
    # the sources, not only the version: a sampler changed under an unchanged config and fit would otherwise
    # resume into the chunks its old code wrote
    doc = {"spec": resolved, "params": params_digest, "stressgen": __version__, "code": source_digest(),
           "files": [_sha(s.file) for s in spec.strategies]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What a chunk task needs to rebuild the run: the spec file and the command line's overrides, and the
    run's digest (a task refuses to run when its rebuilt run differs). Travels as JSON text."""

    spec: str
    seed: int
    worlds: int
    horizon: int
    chunk_size: int
    out: str
    digest: str

    @staticmethod
    def of(spec: Any, digest: str) -> TaskSpec:
        path = Path(spec.source)
        if not path.is_file():
            raise ConfigError(f"{spec.source}: a run on an executor needs a spec read from a file (each task "
                              "reads it); save the spec as TOML and load it with load_spec")
        sim = spec.simulation
        return TaskSpec(str(path.absolute()), sim.seed, sim.worlds, sim.horizon, sim.chunk_size,
                        str(spec.out_dir), digest)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


# ------------------------------------------------------------------------------------------------ files

def _name(index: int, suffix: str) -> str:
    return f"chunk-{index:06d}.{suffix}"


def _header(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(Exception):  # a missing, truncated or foreign file is simply not a done chunk
        with safetensors.safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        return json.loads(meta.get("chunk", "null"))
    return None


def is_done(chunk_dir: Path, index: int, digest: str) -> bool:
    """Whether chunk `index` of the run `digest` is written (its Parquet file is written last)."""
    head = _header(chunk_dir / _name(index, "safetensors"))
    return (chunk_dir / _name(index, "parquet")).is_file() and head is not None and \
        head.get("digest") == digest and head.get("index") == index


def write_chunk(chunk_dir: Path, out: chunks.ChunkOut, digest: str, set_names: list[list[str]]) -> None:
    """Write chunk `out` as its two files (see the module doc), each atomically, the Parquet file last."""
    s = out.summary
    arrays = {"summary/powers": s.powers, "summary/cross": s.cross, "summary/acf_sum": s.acf_sum,
              "summary/lags": s.lags, "first_paths": out.first_paths, "fan": out.fan, "scored": out.scored,
              **{f"gate/{k}": v for k, v in out.gate.items()}, **{f"market/{k}": v for k, v in out.market.items()}}
    if out.weights is not None:
        arrays["weights"] = out.weights
    head = {"format": CHUNK_FORMAT, "digest": digest, "index": out.index, "first_world": out.first_world,
            "n": out.n, "summary_n": s.n, "acf_n": s.acf_n}
    blob = safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                                  metadata={"chunk": json.dumps(head)})
    atomic.atomic_write(chunk_dir / _name(out.index, "safetensors"), blob)
    worlds = np.arange(out.first_world, out.first_world + out.n, dtype=np.int64)
    columns: dict[str, list[np.ndarray]] = {"plan": [], "set": [], "strategy": [], "world": []}
    names = list(out.metrics[0]) if out.metrics else []
    for j, m in enumerate(out.metrics):
        if list(m) != names:
            raise ValueError(f"plan {j} has metrics {list(m)}, plan 0 {names}")
        for p in range(m[names[0]].shape[0]):
            columns["plan"].append(np.full(out.n, j, np.int32))
            columns["set"].append(np.full(out.n, p, np.int32))
            columns["strategy"].append(np.full(out.n, set_names[j][p], object))
            columns["world"].append(worlds)
            for k in names:
                columns.setdefault(k, []).append(np.asarray(m[k][p]))
    table = pa.table({k: pa.array(np.concatenate(v)) for k, v in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic.atomic_write(chunk_dir / _name(out.index, "parquet"), sink.getvalue().to_pybytes())


def read_chunk(chunk_dir: Path, index: int, digest: str) -> chunks.ChunkOut:
    """Chunk `index` back from its files, exactly as written."""
    path = chunk_dir / _name(index, "safetensors")
    head = _header(path)
    if head is None or head.get("digest") != digest or head.get("format") != CHUNK_FORMAT:
        raise ConfigError(f"{path}: not a chunk of this run (expected format {CHUNK_FORMAT}, digest "
                          f"{digest[:16]}); delete {chunk_dir} and run again")
    a = safetensors.numpy.load_file(str(path))
    table = pq.read_table(chunk_dir / _name(index, "parquet"))
    plan, n = table.column("plan").to_numpy(), int(head["n"])
    columns = {c: table.column(c).to_numpy() for c in table.column_names
               if c not in ("plan", "set", "strategy", "world")}
    metrics = []
    for j in range(int(plan.max()) + 1 if plan.size else 0):
        rows = np.flatnonzero(plan == j)
        metrics.append({k: v[rows].reshape(rows.size // n, n) for k, v in columns.items()})
    summary = run_summary.SummaryState(int(head["summary_n"]), a["summary/powers"], a["summary/cross"],
                                       a["summary/acf_sum"], int(head["acf_n"]), a["summary/lags"])
    pick = lambda prefix: {k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)}  # noqa: E731
    return chunks.ChunkOut(index=index, first_world=int(head["first_world"]), n=n, metrics=tuple(metrics),
                           summary=summary, gate=pick("gate/"), first_paths=a["first_paths"], fan=a["fan"],
                           scored=a["scored"], weights=a.get("weights"), market=pick("market/"))

"""Running a stress run's chunks anywhere: the pure chunk task and the driver that resumes, dispatches and folds.

`sample_chunked` (the driver) and `chunk_task` (what a worker runs) are described in `stressgen.chunk_store`,
which holds the files they exchange. A worker rebuilds the run from the spec file and the saved model, so a
task's arguments are plain text and an integer.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax

from . import chunks, devices, engine, persist, rng
from .atomic import STORE
from .chunk_store import MODEL_DIR, TaskSpec, is_done, read_chunk, run_digest, write_chunk
from .engine._cache import LRU
from .errors import ConfigError
from .metrics import RiskConfig, plausibility

__all__ = ["chunk_task", "sample_chunked", "default_root", "run_dir", "remove"]


@dataclasses.dataclass(frozen=True)
class _Run:
    inputs: chunks.ChunkInputs
    base: plausibility.State
    set_names: list[list[str]]


# A worker process keeps the runs it rebuilt last: the next task of the same run skips reading the spec, the
# data and the model, and the engine finds its compiled programs for the same strategy objects.
_RUNS = LRU(2)


def _rebuild(task: TaskSpec, directory: Path) -> _Run:
    from . import stages  # the stages import the engine and metrics: only a worker running a task needs them
    from .spec import load_spec

    spec = load_spec(task.spec).with_overrides(seed=task.seed, worlds=task.worlds, horizon=task.horizon,
                                               chunk_size=task.chunk_size, out=task.out)
    generator, params = persist.load_model(directory / MODEL_DIR)
    if run_digest(spec, str(getattr(params, "digest", ""))) != task.digest:
        raise ConfigError(f"{task.spec}: the spec, its strategy files, the saved model in {directory} or "
                          "stressgen's code changed since the run started; rerun it (a new run gets its own chunk "
                          "directory)")
    market = stages.load_market(spec)
    plans = stages.build_strategies(spec)
    bt, risk = stages.run_configs(spec, market)
    fit = stages.FittedGenerator(generator, params, info=None)  # type: ignore[arg-type]  # chunks read no info
    inputs = stages.chunk_inputs(spec, fit, plans, bt, risk,
                                 key=rng.stream(rng.root(spec.simulation.seed), rng.SAMPLE))
    return _Run(inputs, chunks.gate_base(market, task.horizon, task.worlds),
                [[name for name, _ in plan.sets] for plan in plans])


def chunk_task(task: str, chunk_dir: str, index: int) -> int:
    """The pure task: chunk `index` of the run `task` (`TaskSpec` JSON), written into `chunk_dir`.

    Idempotent: a chunk already written is left as it is, so a retried or duplicated task is harmless.
    Returns `index`."""
    devices.use_cpu_cores()  # before this process's first JAX call: the same devices as a local run
    spec = TaskSpec(**json.loads(task))
    directory = Path(chunk_dir)
    if is_done(directory, index, spec.digest):
        return index
    run = _RUNS.get_or_compute((task, chunk_dir), lambda: _rebuild(spec, directory))
    out, _ = chunks.run_chunk(run.inputs, index, run.base)
    write_chunk(directory, out, spec.digest, run.set_names)
    return index


def default_root(spec: Any) -> Path:
    """``<results dir>/.stressgen/chunks``: next to the outputs, so a rerun finds its chunks."""
    return Path(spec.out_dir) / STORE / "chunks"


def run_dir(spec: Any, params_digest: str, root: str | os.PathLike | None = None, *,
            digest: str | None = None) -> Path:
    """The run's chunk directory: ``<root>/<digest>`` (`default_root` when `root` is None); `digest` is
    `run_digest`'s, when the caller has it already."""
    digest = digest or run_digest(spec, params_digest)
    return Path(root if root is not None else default_root(spec)) / digest[:16]


def remove(spec: Any, params_digest: str, root: str | os.PathLike | None = None) -> None:
    """Delete the run's chunk directory (once its outputs are published nothing reads it again, and worlds
    the strict gate refused are not worth resuming), and the directories made for it when empty."""
    directory = run_dir(spec, params_digest, root)
    shutil.rmtree(directory, ignore_errors=True)
    _prune(directory, spec, root)


def _prune(directory: Path, spec: Any, root: str | os.PathLike | None) -> None:
    """Remove the empty directories above a deleted chunk directory, up to the results directory, when the
    chunks lived inside it (a results directory with earlier outputs is not empty, and stays; a chunk
    directory the user named stays too)."""
    if root is not None and Path(root) != default_root(spec):
        return
    for path in (directory.parent, directory.parent.parent, Path(spec.out_dir)):
        with contextlib.suppress(OSError):
            path.rmdir()


def _raise_cause(exc: BaseException) -> None:
    # Ray wraps a task's exception (RayTaskError, with the worker's traceback in its text); users get the
    # error the task raised, e.g. a strategy's ConfigError, as one line
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        raise cause from None
    raise exc


def _clean(directory: Path) -> None:
    """Remove what killed writers left behind (`atomic.atomic_write`'s staged ``.<name>.<random>.tmp``)."""
    for tmp in directory.glob(".chunk-*.tmp"):
        tmp.unlink(missing_ok=True)


def sample_chunked(spec: Any, market: Any, fit: Any, plans: tuple[Any, ...], bt: engine.BacktestConfig,
                   risk: RiskConfig, *, key: jax.Array, executor: concurrent.futures.Executor | None = None,
                   root: str | os.PathLike | None = None, progress=None) -> chunks.Sampled:
    """The run's worlds through chunk files (see `stressgen.chunk_store`): chunks already written are skipped,
    the others run on `executor` (None: in this process, in order), then every chunk is folded in order.

    `fit` is the run's `stages.FittedGenerator`; it is saved into the chunk directory for the tasks.
    Progress: ``"resumed"`` (chunks found written, once) and ``"worlds"`` (worlds done)."""
    from . import stages

    progress = progress or stages.no_progress
    t0 = time.perf_counter()
    digest = run_digest(spec, fit.info.params_digest)
    directory = run_dir(spec, fit.info.params_digest, root, digest=digest)
    directory.mkdir(parents=True, exist_ok=True)
    _clean(directory)
    model = directory / MODEL_DIR
    # only tasks elsewhere read the saved model (in this process the fit is at hand, and a plugin family
    # that cannot be saved still runs); the directory's name holds the fit's digest
    if executor is not None and not (model / persist.MODEL_JSON).is_file():
        try:
            persist.save_model(model, fit.generator, fit.params)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; chunk tasks on an executor load the saved model, so this generator "
                              "runs with --executor local only") from None
    inputs = stages.chunk_inputs(spec, fit, plans, bt, risk, key=key)
    layout = inputs.layout
    base = chunks.gate_base(market, spec.simulation.horizon, layout.n_worlds)
    todo = [i for i in range(layout.n_chunks) if not is_done(directory, i, digest)]
    if len(todo) < layout.n_chunks:  # said, not silent: these worlds come from an earlier, interrupted run
        progress("resumed", layout.n_chunks - len(todo), layout.n_chunks)
    done = layout.n_worlds - sum(layout.bounds(i)[1] for i in todo)
    progress("worlds", done, layout.n_worlds)
    set_names = [[name for name, _ in plan.sets] for plan in plans]
    try:
        done = _dispatch(inputs, base, todo, directory, digest, set_names, done, spec, executor, progress)
    except BaseException:
        _drop_if_empty(directory, spec, root)  # a run refused at its first chunk leaves nothing behind
        raise
    folded = chunks.fold((read_chunk(directory, i, digest) for i in range(layout.n_chunks)), base,
                         lambda: chunks.sample_chunk(inputs, 0), layout=layout)
    return dataclasses.replace(folded, seconds=time.perf_counter() - t0)


def _drop_if_empty(directory: Path, spec: Any, root: str | os.PathLike | None) -> None:
    """Remove the run's chunk directory when no chunk was written (nothing to resume)."""
    if not any(directory.glob("chunk-*.parquet")):
        shutil.rmtree(directory, ignore_errors=True)
        _prune(directory, spec, root)


def _dispatch(inputs: chunks.ChunkInputs, base: plausibility.State, todo: list[int], directory: Path,
              digest: str, set_names: list[list[str]], done: int, spec: Any,
              executor: concurrent.futures.Executor | None, progress) -> int:
    """Run the chunks `todo` (in this process, or as tasks on `executor`); returns the worlds done."""
    layout = inputs.layout
    if executor is None:
        for i in todo:
            out, _ = chunks.run_chunk(inputs, i, base, progress=lambda j, n: progress("strategies", j, n))
            write_chunk(directory, out, digest, set_names)
            done += out.n
            progress("worlds", done, layout.n_worlds)
    else:
        task = TaskSpec.of(spec, digest).to_json()
        futures = {executor.submit(chunk_task, task, str(directory), i): i for i in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - re-raised as the task's own error
                    _raise_cause(exc)
                done += layout.bounds(futures[future])[1]
                progress("worlds", done, layout.n_worlds)
        finally:
            for future in futures:
                future.cancel()
    return done

"""Chunked runs (stressgen.chunks, chunk_store, chunk_run): per-chunk reductions merged in order equal one
pass over every world; chunk files read back exactly; a run through chunk files, resumed after a kill, or
spread over a process pool is bit-identical to the in-process run."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stressgen import chunk_run, chunk_store, pipeline
from stressgen.errors import ConfigError
from stressgen.metrics import plausibility, run_summary
from stressgen.numerics import hill_index
from stressgen.report import _store
from stressgen.spec import load_spec

SMALL = Path(__file__).parent / "data" / "specs" / "small.toml"


def _worlds(seed: int, n: int = 230, h: int = 40, a: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.01 * rng.standard_t(3.0, size=(n, h, a))).astype(np.float32)


def _cuts(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(size, n - s)) for s in range(0, n, size)]


def test_plausibility_merge_equals_one_pass_and_caps_the_hill_index(monkeypatch):
    monkeypatch.setattr(plausibility, "HILL_WORLDS", 150)  # the cap falls inside a chunk
    r, history = _worlds(1), _worlds(2, n=1, h=900)[0]
    assets = ("A", "B", "C")
    one = plausibility.finalize(plausibility.update(
        plausibility.init(history, assets, 40, 252, n_worlds=r.shape[0]), r, 0))
    base = plausibility.init(history, assets, 40, 252, n_worlds=r.shape[0])
    state = base
    for start, size in reversed(_cuts(r.shape[0], 70)):  # any order of chunks merges to the same state
        part = plausibility.update(base, r[start:start + size], start)
        state = plausibility.merge(state, plausibility.import_partial(base, plausibility.export_partial(part)))
    merged = plausibility.finalize(state)
    assert [c.message for c in merged.checks] == [c.message for c in one.checks]
    # independent of the accumulator: the Hill index of the worlds below the cap, straight from the returns
    k = int(np.ceil(0.01 * 150 * 40))
    for j, asset in enumerate(assets):
        check = next(c for c in merged.checks if c.check == "hill_index" and c.asset == asset)
        assert check.value == hill_index(np.abs(r[:150, :, j].astype(np.float64)).ravel(), k)
        assert "of the first 150 worlds" in check.message
    # the largest |r| and its world still come from every world
    big = next(c for c in merged.checks if c.check == "big_moves")
    flat = np.abs(r).reshape(r.shape[0], -1).max(axis=1)
    assert big.worst_world == int(np.argmax(flat))


def test_run_summary_partials_merge_to_one_pass(monkeypatch):
    monkeypatch.setattr(run_summary, "ACF_WORLDS", 100)
    r = _worlds(3)
    one = run_summary.update(run_summary.init(3, 40), r)
    merged = None
    for start, size in _cuts(r.shape[0], 64):
        part = run_summary.partial(r[start:start + size], start, 40)
        merged = part if merged is None else run_summary.merge(merged, part)
    assert merged.n == one.n and merged.acf_n == one.acf_n == 100
    for name in ("powers", "cross"):  # float64 sums: only the order of additions differs
        np.testing.assert_allclose(getattr(merged, name), getattr(one, name), rtol=1e-12, atol=1e-15)
    # the ACF is summed in float32 (one world's ACF at a time): eps 1.2e-7 times up to 100 terms
    np.testing.assert_allclose(merged.acf_sum, one.acf_sum, rtol=2e-5)


def _arrays(result) -> tuple[dict[str, np.ndarray], object]:
    tensors, _ = _store.encode(result)
    return tensors, _store.metrics_frame(result)


def _assert_same(a, b) -> None:
    ta, fa = _arrays(a)
    tb, fb = _arrays(b)
    assert ta.keys() == tb.keys()
    assert [k for k in ta if not np.array_equal(ta[k], tb[k], equal_nan=True)] == []
    assert fa.equals(fb)
    assert [c.message for c in a.plausibility.checks] == [c.message for c in b.plausibility.checks]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return load_spec(SMALL).with_overrides(out=tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def local(spec):
    return pipeline.run(spec)


def test_a_short_last_chunk_runs_the_programs_of_a_full_one(spec, local, count_compiles):
    """150 worlds in chunks of 64 end with a chunk of 22, drawn and backtested at 64 worlds (the extra worlds'
    numbers are dropped), so the run compiles no sampler or backtest program that the 200-world run, whose
    last chunk was 8, did not; its worlds are the first 150 of that run."""
    with count_compiles() as compiles:
        fewer = pipeline.run(spec.with_overrides(worlds=150))
    assert not {"_sample", "_program"} & set(compiles.names), compiles.names
    for a, b in zip(fewer.strategies, local.strategies, strict=True):
        pd.testing.assert_frame_equal(a.metrics, b.metrics.iloc[:150])


def test_chunk_files_round_trip(spec, local, tmp_path):
    events = []
    result = pipeline.run(spec, chunks=tmp_path, progress=lambda *e: events.append(e))
    _assert_same(local, result)
    directory = chunk_run.run_dir(spec, result.generator.params_digest, tmp_path)
    digest = chunk_store.run_digest(spec, result.generator.params_digest)
    assert sorted(p.name for p in directory.glob("chunk-*")) == \
        [f"chunk-{i:06d}.{s}" for i in range(4) for s in ("parquet", "safetensors")]
    assert all(chunk_store.is_done(directory, i, digest) for i in range(4))
    assert not chunk_store.is_done(directory, 0, "another run")
    assert ("resumed", 4, 4) not in events and ("worlds", 200, 200) in events
    out = chunk_store.read_chunk(directory, 1, digest)
    assert (out.index, out.first_world, out.n) == (1, 64, 64)
    assert [m["total_return"].shape for m in out.metrics] == [(1, 64), (2, 64)]  # the grid has two sets
    chunk_run.remove(spec, result.generator.params_digest, tmp_path)
    assert not directory.exists()


def test_the_run_digest_moves_with_the_package_code(spec, local, monkeypatch):
    # a sampler changed under an unchanged spec and fit must not resume into its old code's chunks
    before = chunk_store.run_digest(spec, local.generator.params_digest)
    monkeypatch.setattr(chunk_store, "source_digest", lambda: "0" * 64)
    assert chunk_store.run_digest(spec, local.generator.params_digest) != before


def test_a_killed_run_resumes_to_the_same_result(spec, local, tmp_path):
    first = pipeline.run(spec, chunks=tmp_path)
    directory = chunk_run.run_dir(spec, first.generator.params_digest, tmp_path)
    # killed between chunk 2's two renames and while staging chunk 3's Parquet file; chunk 1 was written
    (directory / "chunk-000002.parquet").unlink()
    shutil.move(directory / "chunk-000003.parquet", directory / ".chunk-000003.parquet.x1y2.tmp")
    (directory / "chunk-000000.safetensors").write_bytes(b"truncated")  # a foreign or broken file is redone
    events = []
    again = pipeline.run(spec, chunks=tmp_path, progress=lambda *e: events.append(e))
    _assert_same(local, again)
    assert ("resumed", 1, 4) in events and ("worlds", 64, 200) in events  # only chunk 1 was whole
    assert not list(directory.glob(".chunk-*.tmp"))  # ... the debris is gone
    events.clear()
    _assert_same(local, pipeline.run(spec, chunks=tmp_path, progress=lambda *e: events.append(e)))
    assert ("resumed", 4, 4) in events


def test_a_changed_spec_never_reuses_chunks(spec, local, tmp_path):
    other = spec.with_overrides(seed=8)
    a = chunk_run.run_dir(spec, local.generator.params_digest, tmp_path)
    assert a != chunk_run.run_dir(other, local.generator.params_digest, tmp_path)
    assert a != chunk_run.run_dir(spec, "another fit", tmp_path)
    # a task whose rebuilt run differs from the driver's refuses to write (tasks in a thread pool: the task
    # path, with the saved model, in this process)
    with cf.ThreadPoolExecutor(1) as pool:
        _assert_same(local, pipeline.run(spec, executor=pool, chunks=tmp_path))
    assert (a / chunk_store.MODEL_DIR / "model.json").is_file()
    task = chunk_store.TaskSpec.of(other, chunk_store.run_digest(spec, local.generator.params_digest))
    (a / "chunk-000000.parquet").unlink()
    with pytest.raises(ConfigError, match="changed since the run started"):
        chunk_run.chunk_task(task.to_json(), str(a), 0)


def test_an_executor_run_needs_a_spec_file(spec, tmp_path):
    import dataclasses

    with pytest.raises(ConfigError, match="spec read from a file"):
        chunk_store.TaskSpec.of(dataclasses.replace(spec, source="<notebook>"), "d")


def test_process_pool_run_equals_local_run(spec, local, tmp_path):
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        _assert_same(local, pipeline.run(spec, executor=pool, chunks=tmp_path))


def test_cli_executor_options_are_checked_before_any_compute(tmp_path):
    from typer.testing import CliRunner

    from stressgen.cli import app

    runner = CliRunner()
    for args, needle in ((["--executor", "dask"], "expected one of local, processes, ray"),
                         (["--address", "10.0.0.1:6379"], "for executor 'ray' only"),
                         (["--workers", "2"], "for executor 'processes' only")):
        result = runner.invoke(app, ["run", str(SMALL), "--out", str(tmp_path / "out"), "-q", *args])
        assert result.exit_code == 1, result.output
        assert needle in result.output and not (tmp_path / "out").exists()


def test_cli_run_removes_its_chunks_once_published(tmp_path):
    from typer.testing import CliRunner

    from stressgen.cli import app

    result = CliRunner().invoke(app, ["run", str(SMALL), "--out", str(tmp_path / "out"), "-q",
                                      "--chunk-dir", str(tmp_path / "chunks")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").is_file()
    assert list((tmp_path / "chunks").iterdir()) == []  # the run's own directory is gone

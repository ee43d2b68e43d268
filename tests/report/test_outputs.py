"""write_outputs / load_results: the files, their round trip, and atomicity under failure."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from stressgen import atomic
from stressgen.errors import DataFileNotFoundError, MalformedFileError
from stressgen.metrics import Aggregate
from stressgen.report import load_results, write_outputs, writers

FILES = {"report.html", "summary.json", "metrics.parquet", "results.safetensors"}


def _same_dict(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), k
        else:
            assert x == y, k


def assert_results_equal(a, b) -> None:
    for name in ("spec", "data", "generator", "seed", "n_worlds", "horizon", "assets", "conventions",
                 "versions", "timings"):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.real_paths, b.real_paths)
    np.testing.assert_array_equal(a.sample_paths, b.sample_paths)
    assert a.real_paths.dtype == b.real_paths.dtype
    assert list(a.fan) == list(b.fan)
    for k in a.fan:
        np.testing.assert_array_equal(a.fan[k], b.fan[k])
    assert sorted(a.worst_paths) == sorted(b.worst_paths)
    for k in a.worst_paths:
        np.testing.assert_array_equal(a.worst_paths[k], b.worst_paths[k])
    pd.testing.assert_frame_equal(a.head_to_head, b.head_to_head)
    assert len(a.strategies) == len(b.strategies)
    for s, t in zip(a.strategies, b.strategies):
        assert (s.name, s.plugin, s.params, s.worst_worlds) == (t.name, t.plugin, t.params, t.worst_worlds)
        pd.testing.assert_frame_equal(s.metrics, t.metrics, check_exact=True)
        for k in Aggregate.TABLES:
            pd.testing.assert_frame_equal(getattr(s.aggregate, k), getattr(t.aggregate, k), check_exact=True)
        _same_dict(s.real, t.real)
        _same_dict(s.real_rank, t.real_rank)
        np.testing.assert_array_equal(s.worst_equity, t.worst_equity)
        np.testing.assert_array_equal(s.real_equity, t.real_equity)
    for f in dataclasses.fields(a.fidelity):
        v, w = getattr(a.fidelity, f.name), getattr(b.fidelity, f.name)
        if isinstance(v, pd.DataFrame):
            pd.testing.assert_frame_equal(v, w, check_exact=True)
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, w)
        else:
            assert v == w
    assert (a.data, a.generator) == (b.data, b.generator)
    assert (a.real_history is None) == (b.real_history is None)
    if a.real_history is not None:
        assert a.real_history.dates == b.real_history.dates
        np.testing.assert_array_equal(a.real_history.benchmark, b.real_history.benchmark)


def test_write_then_load_round_trips(run_result, tmp_path):
    report = write_outputs(run_result, tmp_path / "out")
    assert report == tmp_path / "out" / "report.html"
    assert {p.name for p in (tmp_path / "out").iterdir()} == FILES | {atomic.STORE}
    mask = os.umask(0)
    os.umask(mask)
    for name in FILES:  # ordinary permissions (through the link), not a temporary file's 0600
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o666 & ~mask
    assert_results_equal(run_result, load_results(tmp_path / "out"))


def test_round_trip_keeps_nan_inf_and_failures(failing_result, tmp_path):
    s0 = failing_result.strategies[0]
    odd = pd.DataFrame(s0.metrics).copy()
    odd.loc[0, "sharpe"] = np.nan
    odd.loc[1, "calmar"] = np.inf
    s = dataclasses.replace(s0, metrics=odd, real={**s0.real, "sharpe": float("nan")})
    r = dataclasses.replace(failing_result, strategies=[s, *failing_result.strategies[1:]])
    write_outputs(r, tmp_path)
    assert_results_equal(r, load_results(tmp_path))


def test_metrics_parquet_layout(run_result, tmp_path):
    write_outputs(run_result, tmp_path)
    df = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(df.columns[:3]) == ["strategy", "params", "world"]
    assert len(df) == run_result.n_worlds * len(run_result.strategies)
    for s in run_result.strategies:
        rows = df[df["strategy"] == s.name]
        assert json.loads(rows["params"].iloc[0]) == s.params
        np.testing.assert_array_equal(rows["world"].to_numpy(), s.metrics.index.to_numpy())
        for col in s.metrics.columns:
            np.testing.assert_array_equal(rows[col].to_numpy(), s.metrics[col].to_numpy())
            assert rows[col].dtype == s.metrics[col].dtype


def _snapshot(directory):
    """The public files as a reader sees them (through the links), plus the set of version directories."""
    files = {name: (directory / name).read_bytes() for name in FILES if (directory / name).exists()}
    versions = sorted(p.name for p in (directory / atomic.STORE / "versions").iterdir())
    return files, versions


@pytest.mark.parametrize("fail_at", [0, 2, 3, 4])
def test_interrupted_write_keeps_previous_outputs(run_result, failing_result, tmp_path, monkeypatch, fail_at):
    """A failure while the new set is written (disk full after `fail_at` files) or at the switch itself
    (fail_at 4): the previous outputs stay, byte for byte, and no version is left behind."""
    write_outputs(run_result, tmp_path)
    before = _snapshot(tmp_path)
    real_write, real_link, calls = atomic.fsync_write, atomic._symlink_atomically, []

    def write(path, data):
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        calls.append(path)
        return real_write(path, data)

    def switch(target, link):
        if fail_at == 4:
            raise KeyboardInterrupt
        return real_link(target, link)

    monkeypatch.setattr(atomic, "fsync_write", write)
    monkeypatch.setattr(atomic, "_symlink_atomically", switch)
    with pytest.raises((OSError, KeyboardInterrupt)):
        write_outputs(failing_result, tmp_path)
    assert _snapshot(tmp_path) == before


def test_interrupt_inside_a_file_leaves_nothing(run_result, tmp_path, monkeypatch):
    """A KeyboardInterrupt in the middle of writing one file's bytes: no public file appears at all."""
    def half(path, data):
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "fsync_write", half)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(run_result, tmp_path / "new")
    assert not any((tmp_path / "new" / name).exists() for name in FILES)
    assert list((tmp_path / "new" / atomic.STORE / "versions").iterdir()) == []


def test_render_failure_writes_nothing(run_result, tmp_path, monkeypatch):
    def boom(result):
        raise RuntimeError("render failed")

    monkeypatch.setattr(writers, "render_html", boom)
    with pytest.raises(RuntimeError, match="render failed"):
        write_outputs(run_result, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_load_errors_name_the_file(run_result, tmp_path):
    with pytest.raises(DataFileNotFoundError, match="results.safetensors"):
        load_results(tmp_path / "nowhere")
    write_outputs(run_result, tmp_path)
    arrays = tmp_path / "results.safetensors"
    arrays.write_bytes(arrays.read_bytes()[:100])  # truncated
    with pytest.raises(MalformedFileError, match="results.safetensors"):
        load_results(tmp_path)
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(arrays))  # a foreign safetensors file: no manifest
    with pytest.raises(MalformedFileError, match="no stressgen manifest"):
        load_results(tmp_path)
    (tmp_path / "metrics.parquet").write_bytes(b"PAR1 not really")
    write_outputs(run_result, tmp_path / "b")
    (tmp_path / "b" / "metrics.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(MalformedFileError, match="metrics.parquet"):
        load_results(tmp_path / "b")

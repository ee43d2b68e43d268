"""Lossless encoding of a `RunResult` as plain tensors, a JSON manifest and one per-world metrics table.

A results directory holds, besides the report, ``results.safetensors`` (every array of the result and every
numeric column of its tables, with a JSON manifest describing the structure in the file's metadata) and
``metrics.parquet`` (per-world metrics of every strategy). Nothing is pickled: loading parses JSON,
safetensors and Parquet only, so a foreign file cannot run code.

Tables are stored column by column: numeric and boolean columns as tensors (dtype kept bit for bit), other
columns as JSON lists; index and column labels as JSON (MultiIndex tuples as lists).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..metrics.aggregate import Aggregate
from ..metrics.diversity import Diversity
from ..metrics.pooling import ViewFit
from ..metrics.plausibility import PlausibilityReport
from ..metrics.run_summary import FidelitySummary
from ..metrics.weighted import Estimate
from ..results import (DatasetInfo, GeneratorInfo, OverfitResult, RealHistory, RegimeHistory, RunResult,
                       StrategyResult, StressCase, StressStrategy)
from ..types import Suspect
from ._store_reverse import get_reverse, put_reverse

__all__ = ["FORMAT", "FORMAT_VERSION", "ARRAYS_FILE", "METRICS_FILE", "encode", "decode", "json_safe",
           "manifest_json", "metrics_frame", "write_metrics", "to_json_value"]

FORMAT = "stressgen-results"
# 2: typed results (dataset, generator, fidelity, aggregate), real-history tear sheet; the optional "overfit"
# list (issue 18) was added within 2: files written before it read back with no overfitting results; so was
# the optional "regimes" entry (a regime-mixture run's decoded history), and the optional "stress" list (the
# base case and each [[stress]] case; files without it read back with no stress cases), and the optional
# "reverse" list (a spec's [reverse] results, `_store_reverse`; files without it read back with none)
FORMAT_VERSION = 2
ARRAYS_FILE = "results.safetensors"
METRICS_FILE = "metrics.parquet"
META_KEY = "stressgen"


def to_json_value(x: Any) -> Any:
    """NumPy scalars and arrays, tuples and pandas labels as plain JSON values (NaN kept as float NaN)."""
    if isinstance(x, dict):
        return {str(k): to_json_value(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json_value(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_json_value(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    return x


def json_safe(x: Any) -> Any:
    """`to_json_value`, with non-finite floats as None (strict JSON has no NaN or infinity)."""
    x = to_json_value(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [json_safe(v) for v in x]
    return x


def _label(x: Any) -> Any:
    return [to_json_value(v) for v in x] if isinstance(x, tuple) else to_json_value(x)


def _enc_index(idx: pd.Index) -> dict:
    return {"multi": isinstance(idx, pd.MultiIndex), "names": [to_json_value(n) for n in idx.names],
            "values": [_label(v) for v in idx]}


def _dec_index(d: dict) -> pd.Index:
    if d["multi"]:
        if not d["values"]:
            return pd.MultiIndex.from_arrays([[] for _ in d["names"]], names=d["names"])
        return pd.MultiIndex.from_tuples([tuple(v) for v in d["values"]], names=d["names"])
    return pd.Index(d["values"], name=d["names"][0])


def _put_table(df: pd.DataFrame, prefix: str, tensors: dict[str, np.ndarray]) -> dict:
    cols = []
    for j, c in enumerate(df.columns):
        v = df.iloc[:, j].to_numpy()
        if v.dtype.kind in "biuf":
            name = f"{prefix}/col{j}"
            tensors[name] = np.ascontiguousarray(v)
            cols.append({"tensor": name})
        else:
            cols.append({"values": to_json_value(list(v))})
    return {"index": _enc_index(df.index), "columns": _enc_index(df.columns), "data": cols}


def _get_table(d: dict, tensors) -> pd.DataFrame:
    index, columns = _dec_index(d["index"]), _dec_index(d["columns"])
    data = {j: (tensors(c["tensor"]) if "tensor" in c else np.asarray(c["values"], dtype=object))
            for j, c in enumerate(d["data"])}
    df = pd.DataFrame(data, index=index)
    df.columns = columns
    return df


def metrics_frame(result: RunResult) -> pd.DataFrame:
    """Long table of per-world metrics: ``strategy``, ``params`` (sorted-key JSON), ``world``, then metrics."""
    parts = []
    for s in result.strategies:
        m = s.metrics.copy()
        m.index = pd.Index(np.asarray(m.index, np.int64), name="world")
        m = m.reset_index()
        m.insert(0, "params", json.dumps(to_json_value(s.params), sort_keys=True))
        m.insert(0, "strategy", s.name)
        parts.append(m)
    if not parts:
        return pd.DataFrame({"strategy": pd.Series(dtype=str), "params": pd.Series(dtype=str),
                             "world": pd.Series(dtype=np.int64)})
    return pd.concat(parts, ignore_index=True)


def write_metrics(result: RunResult, sink: BinaryIO) -> None:
    """`metrics_frame` as Parquet into `sink`, one row group per strategy: never the whole long table (or its
    bytes) in memory, which at a million worlds x 7 strategies would be about 2 GB. Reads back as
    `metrics_frame` (same columns, types and order)."""
    if not result.strategies:
        metrics_frame(result).to_parquet(sink, index=False)
        return
    columns: dict[str, Any] = {}
    for s in result.strategies:  # the union of every strategy's metrics, first dtype seen
        for c, d in zip(s.metrics.columns, s.metrics.dtypes):
            columns.setdefault(str(c), d)
    fields = [pa.field("strategy", pa.string()), pa.field("params", pa.string()), pa.field("world", pa.int64())]
    schema = pa.schema(fields + [pa.field(c, pa.from_numpy_dtype(d)) for c, d in columns.items()])
    with pq.ParquetWriter(sink, schema) as writer:
        for s in result.strategies:
            n = len(s.metrics)
            data = {"strategy": pa.array(np.full(n, s.name, object), pa.string()),
                    "params": pa.array(np.full(n, json.dumps(to_json_value(s.params), sort_keys=True), object),
                                       pa.string()),
                    "world": pa.array(np.asarray(s.metrics.index, np.int64))}
            for c, d in columns.items():
                values = s.metrics[c].to_numpy() if c in s.metrics else np.full(n, np.nan, d)
                data[c] = pa.array(values, pa.from_numpy_dtype(d))
            writer.write_table(pa.table(data, schema=schema))


def _put_fidelity(f: FidelitySummary, t: dict[str, np.ndarray]) -> dict:
    for name in ("corr_real", "corr_syn"):
        t[f"fidelity/{name}"] = np.ascontiguousarray(getattr(f, name))
    return {
        "moments": _put_table(f.moments, "fidelity/moments", t),
        "acf_abs": _put_table(f.acf_abs, "fidelity/acf_abs", t),
        "scorecard": None if f.scorecard is None else _put_table(f.scorecard, "fidelity/scorecard", t),
        "failures": list(f.failures), "skipped": list(f.skipped),
        "diversity": None if f.diversity is None else to_json_value(dataclasses.asdict(f.diversity)),
    }


def _get_fidelity(d: dict, tensors) -> FidelitySummary:
    return FidelitySummary(
        moments=_get_table(d["moments"], tensors), acf_abs=_get_table(d["acf_abs"], tensors),
        corr_real=tensors("fidelity/corr_real"), corr_syn=tensors("fidelity/corr_syn"),
        scorecard=None if d["scorecard"] is None else _get_table(d["scorecard"], tensors),
        failures=tuple(d["failures"]), skipped=tuple(d["skipped"]),
        diversity=None if d["diversity"] is None else Diversity(**d["diversity"]))


_OVERFIT_ARRAYS = ("real_sharpe", "rank_shares")


def _put_overfit(o: OverfitResult, i: int, t: dict[str, np.ndarray]) -> dict:
    out = {}
    for f in dataclasses.fields(o):
        value = getattr(o, f.name)
        if f.name in _OVERFIT_ARRAYS:
            t[f"overfit/{i}/{f.name}"] = np.ascontiguousarray(value, dtype=np.float64)
        else:
            out[f.name] = to_json_value(value)
    return out


def _get_overfit(d: dict, i: int, tensors) -> OverfitResult:
    arrays = {name: tensors(f"overfit/{i}/{name}") for name in _OVERFIT_ARRAYS}
    floats = {f.name: _float(d[f.name]) for f in dataclasses.fields(OverfitResult) if f.type == "float"}
    return OverfitResult(**{**d, **floats, **arrays, "sets": tuple(d["sets"]), "warnings": tuple(d["warnings"])})


def _put_regimes(r: RegimeHistory | None, t: dict[str, np.ndarray]) -> dict | None:
    if r is None:
        return None
    t["regimes/viterbi"] = np.ascontiguousarray(r.viterbi, dtype=np.int64)
    t["regimes/smoothed"] = np.ascontiguousarray(r.smoothed, dtype=np.float64)
    return {"dates": list(r.dates), "labels": list(r.labels)}


def _get_regimes(d: dict | None, tensors) -> RegimeHistory | None:
    # files written before regimes were kept have no key: they read back without a regime path
    if d is None:
        return None
    return RegimeHistory(dates=tuple(d["dates"]), labels=tuple(d["labels"]), viterbi=tensors("regimes/viterbi"),
                         smoothed=tensors("regimes/smoothed"))


def _put_stress(c: StressCase, i: int, t: dict[str, np.ndarray]) -> dict:
    """Arrays as tensors (dtypes kept); estimates and view fits as JSON (floats round-trip exactly, NaN kept)."""
    p = f"stress/{i}"
    for label, v in c.fan.items():
        t[f"{p}/fan/{label}"] = np.ascontiguousarray(v)
    t[f"{p}/total_return"] = np.ascontiguousarray(c.total_return)
    t[f"{p}/ew_return"] = np.ascontiguousarray(c.ew_return)
    if c.weights is not None:
        t[f"{p}/weights"] = np.ascontiguousarray(c.weights)
    arrays = {"fan", "total_return", "ew_return", "weights", "strategies", "views"}
    return {**{f.name: to_json_value(getattr(c, f.name)) for f in dataclasses.fields(c) if f.name not in arrays},
            "fan": list(c.fan), "weights": c.weights is not None,
            "views": [to_json_value(dataclasses.asdict(v)) for v in c.views],
            "strategies": [{"name": s.name, "var": _put_estimate(s.var), "es": _put_estimate(s.es),
                            "p_loss": _put_estimate(s.p_loss), "median_return": to_json_value(s.median_return),
                            "p_drawdown": [[x, _put_estimate(e)] for x, e in s.p_drawdown]} for s in c.strategies]}


def _put_estimate(e: Estimate) -> dict:
    return to_json_value(dataclasses.asdict(e))


def _get_estimate(d: dict) -> Estimate:
    return Estimate(**{k: v if k == "method" else _float(v) for k, v in d.items()})


def _get_stress(d: dict, i: int, tensors) -> StressCase:
    p = f"stress/{i}"
    strategies = tuple(StressStrategy(
        name=s["name"], var=_get_estimate(s["var"]), es=_get_estimate(s["es"]), p_loss=_get_estimate(s["p_loss"]),
        p_drawdown=tuple((float(x), _get_estimate(e)) for x, e in s["p_drawdown"]),
        median_return=_float(s["median_return"])) for s in d["strategies"])
    views = tuple(ViewFit(**{**v, **{k: _float(v[k]) for k in ("prior", "posterior", "residual")},
                             "multipliers": tuple(_float(m) for m in v["multipliers"])}) for v in d["views"])
    return StressCase(
        name=d["name"], description=d["description"], condition=d["condition"], start=d["start"], views=views,
        n_worlds=d["n_worlds"], ess_kish=_float(d["ess_kish"]), ess_entropy=_float(d["ess_entropy"]),
        low_ess=d["low_ess"], level=_float(d["level"]), strategies=strategies,
        fan={label: tensors(f"{p}/fan/{label}") for label in d["fan"]},
        weights=tensors(f"{p}/weights") if d["weights"] else None, total_return=tensors(f"{p}/total_return"),
        ew_return=tensors(f"{p}/ew_return"), notes=tuple(d["notes"]))


def encode(result: RunResult) -> tuple[dict[str, np.ndarray], dict]:
    """``(tensors, manifest)`` holding every field of `result` except the per-world metrics' values."""
    t: dict[str, np.ndarray] = {
        "real_paths": np.ascontiguousarray(result.real_paths),
        "sample_paths": np.ascontiguousarray(result.sample_paths),
    }
    for label, v in result.fan.items():
        t[f"fan/{label}"] = np.ascontiguousarray(v)
    for w, v in result.worst_paths.items():
        t[f"worst_paths/{int(w)}"] = np.ascontiguousarray(v)
    strategies = []
    for i, s in enumerate(result.strategies):
        t[f"strategies/{i}/worst_equity"] = np.ascontiguousarray(s.worst_equity)
        t[f"strategies/{i}/real_equity"] = np.ascontiguousarray(s.real_equity)
        strategies.append({
            "name": s.name, "plugin": s.plugin, "params": to_json_value(s.params),
            "metrics_columns": [str(c) for c in s.metrics.columns],
            "metrics_dtypes": [str(d) for d in s.metrics.dtypes],
            "aggregate": {k: _put_table(getattr(s.aggregate, k), f"strategies/{i}/aggregate/{k}", t)
                          for k in Aggregate.TABLES},
            "real": to_json_value(s.real), "real_rank": to_json_value(s.real_rank),
            "worst_worlds": [int(w) for w in s.worst_worlds],
        })
    real_history = None
    if result.real_history is not None:
        t["real_history/benchmark"] = np.ascontiguousarray(result.real_history.benchmark)
        real_history = {"dates": list(result.real_history.dates), "warmup": result.real_history.warmup}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "spec": to_json_value(result.spec), "data": to_json_value(dataclasses.asdict(result.data)),
        "generator": to_json_value(dataclasses.asdict(result.generator)), "seed": int(result.seed),
        "n_worlds": int(result.n_worlds), "horizon": int(result.horizon), "assets": list(result.assets),
        "conventions": to_json_value(result.conventions), "versions": to_json_value(result.versions),
        "timings": to_json_value(result.timings),
        "fan": list(result.fan), "worst_paths": [int(w) for w in result.worst_paths],
        "head_to_head": _put_table(result.head_to_head, "head_to_head", t),
        "fidelity": _put_fidelity(result.fidelity, t), "strategies": strategies,
        "plausibility": None if result.plausibility is None else to_json_value(result.plausibility.to_dict()),
        "suspects": [to_json_value(dataclasses.asdict(x)) for x in result.suspects],
        "real_history": real_history,
        "overfit": [_put_overfit(o, i, t) for i, o in enumerate(result.overfit)],
        "regimes": _put_regimes(result.regimes, t),
        "stress": [_put_stress(c, i, t) for i, c in enumerate(result.stress)],
        "reverse": [put_reverse(r, i, t) for i, r in enumerate(result.reverse)],
    }
    return t, manifest


def manifest_json(manifest: dict) -> str:
    # NaN/inf are kept as Python's JSON tokens: this manifest is read back only by `decode`
    return json.dumps(manifest, allow_nan=True, sort_keys=False)


def decode(manifest: dict, tensors, metrics: pd.DataFrame) -> RunResult:
    """Rebuild the `RunResult` from `encode`'s manifest, a tensor getter ``name -> array`` and the metrics."""
    strategies = []
    for i, s in enumerate(manifest["strategies"]):
        rows = metrics[metrics["strategy"] == s["name"]]
        m = rows.set_index("world")[s["metrics_columns"]]
        m = m.astype(dict(zip(s["metrics_columns"], s["metrics_dtypes"])))
        m.index = pd.Index(m.index.to_numpy(np.int64), name="world")
        m.columns = pd.Index(s["metrics_columns"])
        strategies.append(StrategyResult(
            name=s["name"], plugin=s["plugin"], params=s["params"], metrics=m,
            aggregate=Aggregate(**{k: _get_table(s["aggregate"][k], tensors) for k in Aggregate.TABLES}),
            real={k: _float(v) for k, v in s["real"].items()},
            real_rank={k: _float(v) for k, v in s["real_rank"].items()},
            worst_worlds=tuple(s["worst_worlds"]), worst_equity=tensors(f"strategies/{i}/worst_equity"),
            real_equity=tensors(f"strategies/{i}/real_equity")))
    rh = manifest["real_history"]
    data, gen = manifest["data"], manifest["generator"]
    return RunResult(
        spec=manifest["spec"], data=DatasetInfo(**{**data, "assets": tuple(data["assets"])}),
        generator=GeneratorInfo(**{**gen, "warnings": tuple(gen["warnings"])}), seed=manifest["seed"],
        n_worlds=manifest["n_worlds"], horizon=manifest["horizon"], assets=tuple(manifest["assets"]),
        conventions=manifest["conventions"], versions=manifest["versions"],
        real_paths=tensors("real_paths"), sample_paths=tensors("sample_paths"),
        fan={label: tensors(f"fan/{label}") for label in manifest["fan"]},
        worst_paths={int(w): tensors(f"worst_paths/{int(w)}") for w in manifest["worst_paths"]},
        strategies=tuple(strategies), head_to_head=_get_table(manifest["head_to_head"], tensors),
        fidelity=_get_fidelity(manifest["fidelity"], tensors), timings=manifest["timings"],
        plausibility=None if manifest["plausibility"] is None else
        PlausibilityReport.from_dict(manifest["plausibility"]),
        suspects=tuple(Suspect(**x) for x in manifest["suspects"]),
        real_history=None if rh is None else RealHistory(dates=tuple(rh["dates"]), warmup=rh["warmup"],
                                                         benchmark=tensors("real_history/benchmark")),
        overfit=tuple(_get_overfit(d, i, tensors) for i, d in enumerate(manifest.get("overfit", []))),
        regimes=_get_regimes(manifest.get("regimes"), tensors),
        # files written before stress cases were kept have no "stress" key: no cases
        stress=tuple(_get_stress(d, i, tensors) for i, d in enumerate(manifest.get("stress", []))),
        # nor have files written before reverse stress results were kept
        reverse=tuple(get_reverse(d, i, tensors) for i, d in enumerate(manifest.get("reverse", []))))


def _float(v) -> float:
    return math.nan if v is None else float(v)

"""``summary.json``: the machine-readable summary of a run, with a versioned, documented schema.

The schema (JSON Schema, draft 2020-12) is `SUMMARY_SCHEMA`; docs/report.md explains every key. The version
is ``results.SUMMARY_SCHEMA_VERSION``: it changes when a key changes meaning or disappears; new keys may be
added without a bump, so readers must ignore keys they do not know.

The file is strict JSON: numbers that are not finite (an undefined Sharpe ratio, an interval the bootstrap
could not form) are written as ``null``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd

from ..metrics.run_summary import FidelitySummary
from ..metrics.weighted import Estimate
from ..results import SUMMARY_SCHEMA_VERSION, OverfitResult, RunResult, StrategyResult, StressCase
from ._store import ARRAYS_FILE, METRICS_FILE, json_safe
from .reverse_summary import REVERSE_SCHEMA, reverse_summary
from .stress import base_strategy, shift_rows

__all__ = ["SUMMARY_FILE", "SUMMARY_SCHEMA", "build_summary", "summary_json", "overfit_summary",
           "regimes_summary", "stress_summary"]

SUMMARY_FILE = "summary.json"

_NUM = {"type": ["number", "null"]}
_INTERVAL = {"type": "object", "required": ["value", "ci_low", "ci_high"],
             "properties": {"value": _NUM, "ci_low": _NUM, "ci_high": _NUM}, "additionalProperties": False}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NUM_MAP = {"type": "object", "additionalProperties": _NUM}

_PROB = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_OVERFIT_KEYS = ["strategy", "plugin", "sets", "winner", "n_periods", "periods_per_year", "n_trials",
                 "real_sharpe", "psr", "dsr", "dsr_benchmark_sharpe", "pbo", "pbo_splits", "pbo_combinations",
                 "pbo_prob_oos_loss", "rank", "chance", "robust", "warnings"]
_OVERFIT = {
    "type": "object", "required": _OVERFIT_KEYS, "additionalProperties": False,
    "properties": {
        "strategy": {"type": "string"}, "plugin": {"type": "string"},
        "sets": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "winner": {"type": "string"},
        "n_periods": {"type": "integer", "minimum": 1}, "periods_per_year": {"type": "integer", "minimum": 1},
        "n_trials": {"type": "integer", "minimum": 1},
        "real_sharpe": _NUM_MAP, "psr": _PROB, "dsr": _PROB, "dsr_benchmark_sharpe": _NUM, "pbo": _PROB,
        "pbo_splits": {"type": "integer", "minimum": 2}, "pbo_combinations": {"type": "integer", "minimum": 1},
        "pbo_prob_oos_loss": _PROB,
        "rank": {"type": "object", "additionalProperties": False,
                 "required": ["n_worlds", "shares", "median", "p_best", "p_below_median", "p_below_median_se"],
                 "properties": {"n_worlds": {"type": "integer", "minimum": 1},
                                "shares": {"type": "array", "items": _PROB}, "median": _NUM, "p_best": _PROB,
                                "p_below_median": _PROB, "p_below_median_se": _NUM}},
        "chance": {"type": "object", "additionalProperties": False,
                   "required": ["edge_removed", "n_worlds", "share", "se", "p_value", "null_sharpe_median"],
                   "properties": {"edge_removed": {"type": "string"}, "n_worlds": {"type": "integer", "minimum": 1},
                                  "share": _PROB, "se": _NUM, "p_value": _PROB, "null_sharpe_median": _NUM}},
        "robust": {"type": "boolean"}, "warnings": {"type": "array", "items": {"type": "string"}},
    }}
EDGE_REMOVED = "log returns de-meaned per asset within each world"

_ESTIMATE = {"type": "object", "required": ["value", "lo", "hi", "se"], "additionalProperties": False,
             "properties": {"value": _NUM, "lo": _NUM, "hi": _NUM, "se": _NUM}}
_SHIFT = {"type": "object", "required": ["var", "es", "p_loss", "p_drawdown"], "additionalProperties": False,
          "properties": {"var": _NUM, "es": _NUM, "p_loss": _NUM, "p_drawdown": _NUM_MAP}}
_STRESS_STRATEGY = {
    "type": "object", "required": ["var", "es", "p_loss", "p_drawdown", "median_return", "shift"],
    "additionalProperties": False,
    "properties": {"var": _ESTIMATE, "es": _ESTIMATE, "p_loss": _ESTIMATE,
                   "p_drawdown": {"type": "object", "additionalProperties": _ESTIMATE}, "median_return": _NUM,
                   "shift": {"oneOf": [{"type": "null"}, _SHIFT]}}}
_STRESS_KEYS = ["name", "description", "condition", "start", "n_worlds", "ess", "low_ess", "level", "notes",
                "views", "strategies"]
_STRESS = {
    "type": "object", "required": _STRESS_KEYS, "additionalProperties": False,
    "properties": {
        "name": {"type": "string"}, "description": {"type": "string"},
        "condition": {"type": ["string", "null"]}, "start": {"type": ["string", "null"]},
        "n_worlds": {"type": "integer", "minimum": 1},
        "ess": {"type": "object", "required": ["kish", "entropy"], "additionalProperties": False,
                "properties": {"kish": _NUM, "entropy": _NUM}},
        "low_ess": {"type": "boolean"}, "level": _PROB, "notes": {"type": "array", "items": {"type": "string"}},
        "views": {"type": "array", "items": {
            "type": "object", "required": ["label", "prior", "posterior", "residual", "binding"],
            "additionalProperties": False,
            "properties": {"label": {"type": "string"}, "prior": _NUM, "posterior": _NUM, "residual": _NUM,
                           "binding": {"type": "boolean"}}}},
        "strategies": {"type": "object", "additionalProperties": _STRESS_STRATEGY},
    }}

SUMMARY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "stressgen/summary.schema.json",
    "title": "stressgen run summary",
    "type": "object",
    "required": ["schema_version", "run", "data", "generator", "conventions", "versions", "timings",
                 "strategies", "head_to_head", "fidelity", "overfitting", "regimes", "stress", "reverse",
                 "files"],
    "properties": {
        "schema_version": {"const": SUMMARY_SCHEMA_VERSION},
        "run": {"type": "object", "required": ["seed", "n_worlds", "horizon", "n_assets", "assets", "spec"],
                "properties": {"seed": {"type": "integer", "minimum": 0},
                               "n_worlds": {"type": "integer", "minimum": 1},
                               "horizon": {"type": "integer", "minimum": 1},
                               "n_assets": {"type": "integer", "minimum": 1},
                               "assets": {"type": "array", "items": {"type": "string"}},
                               "spec": {"type": "object"}}},
        "data": {"type": "object"},
        "generator": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"}, "config": {"type": "object"},
                                     "params_digest": {"type": "string"},
                                     "warnings": {"type": "array", "items": {"type": "string"}}}},
        "conventions": _STR_MAP,
        "versions": _STR_MAP,
        "timings": _NUM_MAP,
        "strategies": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "plugin", "params", "summary", "tails", "probabilities", "real", "real_rank",
                         "worst_worlds"],
            "properties": {
                "name": {"type": "string"}, "plugin": {"type": "string"}, "params": {"type": "object"},
                "summary": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": _INTERVAL}},
                "tails": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": _INTERVAL}},
                "probabilities": {"type": "object", "additionalProperties": _INTERVAL},
                "real": _NUM_MAP,
                "real_rank": _NUM_MAP,
                "worst_worlds": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            }}},
        "head_to_head": {"type": "object", "required": ["metric", "strategies", "p_row_beats_column"],
                         "properties": {"metric": {"type": "string"},
                                        "strategies": {"type": "array", "items": {"type": "string"}},
                                        "p_row_beats_column": {"type": "array",
                                                               "items": {"type": "array", "items": _NUM}}}},
        "fidelity": {"type": "object", "required": ["failures"],
                     "properties": {"failures": {"type": "array", "items": {"type": "string"}},
                                    "moments": {"type": "object", "additionalProperties": _NUM_MAP},
                                    "acf_abs": {"type": "object", "required": ["lags"],
                                                "properties": {"lags": {"type": "array"}},
                                                "additionalProperties": {"type": "array", "items": _NUM}},
                                    "mean_corr_real": _NUM, "mean_corr_syn": _NUM,
                                    "max_abs_corr_gap": _NUM,
                                    "scorecard": {"type": "array", "items": {"type": "object"}}}},
        # null for results written before the gate existed; not required, so older summaries still validate
        "plausibility": {"type": ["object", "null"], "required": ["passed", "confidence", "checks"],
                         "properties": {"passed": {"type": "boolean"}, "confidence": _NUM,
                                        "n_worlds": {"type": "integer"}, "horizon": {"type": "integer"},
                                        "checks": {"type": "array", "items": {
                                            "type": "object",
                                            "required": ["check", "asset", "value", "bound", "passed",
                                                         "worst_world", "message"],
                                            "properties": {"check": {"type": "string"},
                                                           "asset": {"type": ["string", "null"]},
                                                           "value": _NUM, "bound": _NUM,
                                                           "passed": {"type": "boolean"},
                                                           "worst_world": {"type": ["integer", "null"]},
                                                           "message": {"type": "string"}}}}}},
        # one entry per strategy with a parameter grid, in spec order (empty without grids)
        "overfitting": {"type": "array", "items": _OVERFIT},
        # the history's decoded regime path of a regime-mixture run; null for every other generator family
        "regimes": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["labels", "share_of_days", "mean_spell_days", "last_day", "last_regime"],
            "properties": {"labels": {"type": "array", "items": {"type": "string"}},
                           "share_of_days": {"type": "array", "items": _NUM},
                           "mean_spell_days": {"type": "array", "items": _NUM},
                           "last_day": {"type": "array", "items": _NUM},
                           "last_regime": {"type": "string"}}}]},
        # the base case then each [[stress]] case, in spec order (empty without [[stress]])
        "stress": {"type": "array", "items": _STRESS},
        # one entry per parameter set the spec's [reverse] stresses, in run order (empty without [reverse])
        "reverse": {"type": "array", "items": REVERSE_SCHEMA},
        "files": {"type": "object", "required": ["report", "metrics", "arrays"], "properties": {
            "report": {"type": "string"}, "metrics": {"type": "string"}, "arrays": {"type": "string"}}},
    },
}


def _intervals(df: pd.DataFrame) -> dict:
    """``{level0: {level1: {value, ci_low, ci_high}}}`` (or one level for a flat index)."""
    out: dict = {}
    for key, row in df.iterrows():
        cell = {c: row[c] for c in ("value", "ci_low", "ci_high")}
        if isinstance(key, tuple):
            out.setdefault(str(key[0]), {})[str(key[1])] = cell
        else:
            out[str(key)] = cell
    return out


def _strategy(s: StrategyResult) -> dict:
    agg = s.aggregate
    return {"name": s.name, "plugin": s.plugin, "params": s.params,
            "summary": _intervals(agg.summary), "tails": _intervals(agg.tails),
            "probabilities": _intervals(agg.probabilities),
            "real": s.real, "real_rank": s.real_rank, "worst_worlds": [int(w) for w in s.worst_worlds]}


def _corr_stats(cr, cs) -> dict:
    cr, cs = np.asarray(cr, np.float64), np.asarray(cs, np.float64)
    off = ~np.eye(cr.shape[0], dtype=bool)
    if not off.any():
        return {}
    return {"mean_corr_real": float(cr[off].mean()), "mean_corr_syn": float(cs[off].mean()),
            "max_abs_corr_gap": float(np.abs(cr - cs)[off].max())}


def _fidelity(f: FidelitySummary) -> dict:
    acf = f.acf_abs
    out: dict[str, Any] = {
        "failures": [str(x) for x in f.failures], "skipped": [str(x) for x in f.skipped],
        "moments": {str(a): {str(c): v for c, v in row.items()} for a, row in f.moments.iterrows()},
        "acf_abs": {"lags": list(acf.index), **{str(c): list(acf[c]) for c in acf.columns}},
        **_corr_stats(f.corr_real, f.corr_syn),
    }
    if f.scorecard is not None:
        out["scorecard"] = f.scorecard.reset_index().to_dict(orient="records")
    if f.diversity is not None:
        out["diversity"] = dataclasses.asdict(f.diversity)
    return out


def overfit_summary(o: OverfitResult) -> dict:
    """One ``overfitting`` entry of summary.json (docs/report.md lists every key)."""
    return {
        "strategy": o.strategy, "plugin": o.plugin, "sets": list(o.sets), "winner": o.winner_name,
        "n_periods": o.n_periods, "periods_per_year": o.periods_per_year, "n_trials": o.n_trials,
        "real_sharpe": {name: float(v) for name, v in zip(o.sets, o.real_sharpe)},
        "psr": o.psr, "dsr": o.dsr, "dsr_benchmark_sharpe": o.dsr_benchmark, "pbo": o.pbo,
        "pbo_splits": o.pbo_splits, "pbo_combinations": o.pbo_combinations, "pbo_prob_oos_loss": o.pbo_prob_oos_loss,
        "rank": {"n_worlds": o.n_worlds, "shares": [float(v) for v in o.rank_shares], "median": o.median_rank,
                 "p_best": o.p_best, "p_below_median": o.p_below_median, "p_below_median_se": o.p_below_median_se},
        "chance": {"edge_removed": EDGE_REMOVED, "n_worlds": o.null_worlds, "share": o.chance_share,
                   "se": o.chance_se, "p_value": o.chance_p_value, "null_sharpe_median": o.null_sharpe_median},
        "robust": bool(o.robust), "warnings": list(o.warnings),
    }


def regimes_summary(result: RunResult) -> dict | None:
    """The ``regimes`` key of summary.json: per regime (calmest first) the share of the history's days and the
    mean stay in days on the most likely path, and its probability on the last day given the whole history."""
    r = result.regimes
    if r is None:
        return None
    return {"labels": list(r.labels), "share_of_days": [float(v) for v in r.share_of_days()],
            "mean_spell_days": [float(v) for v in r.mean_spell_days()],
            "last_day": [float(v) for v in r.smoothed[-1]], "last_regime": r.labels[int(r.viterbi[-1])]}


def _estimate(e: Estimate) -> dict:
    return {"value": e.value, "lo": e.lo, "hi": e.hi, "se": e.se}


def _dd_key(x: float) -> str:
    return f"{x:g}"  # 0.1 -> "0.1": the drawdown depth as the spec writes it


def _stress_case(c: StressCase, cases: tuple[StressCase, ...], is_base: bool) -> dict:
    strategies = {}
    for s in c.strategies:
        shift = None
        if not is_base:  # the base case has nothing to be shifted from
            rows = shift_rows(s, base_strategy(cases, s.name), c.level)
            shift = {"var": None, "es": None, "p_loss": None, "p_drawdown": {}}
            for r in rows:
                if r.key == "p_drawdown":
                    shift["p_drawdown"][_dd_key(r.threshold)] = r.shift
                else:
                    shift[r.key] = r.shift
        strategies[s.name] = {"var": _estimate(s.var), "es": _estimate(s.es), "p_loss": _estimate(s.p_loss),
                              "p_drawdown": {_dd_key(x): _estimate(e) for x, e in s.p_drawdown},
                              "median_return": s.median_return, "shift": shift}
    return {"name": c.name, "description": c.description, "condition": c.condition, "start": c.start,
            "n_worlds": c.n_worlds, "ess": {"kish": c.ess_kish, "entropy": c.ess_entropy},
            "low_ess": bool(c.low_ess), "level": c.level, "notes": list(c.notes),
            "views": [{"label": v.label, "prior": v.prior, "posterior": v.posterior, "residual": v.residual,
                       "binding": bool(v.binding)} for v in c.views],
            "strategies": strategies}


def stress_summary(result: RunResult) -> list[dict]:
    """The ``stress`` key of summary.json: the base case then each ``[[stress]]`` case (docs/report.md); shifts
    are the case's value minus the base case's (``null`` for the base case itself)."""
    return [_stress_case(c, result.stress, i == 0) for i, c in enumerate(result.stress)]


def _plausibility(result: RunResult) -> dict | None:
    p = result.plausibility
    return None if p is None else {"passed": not p.failures, **p.to_dict()}


def build_summary(result: RunResult) -> dict:
    """The summary of `result` as a JSON-ready dict that validates against `SUMMARY_SCHEMA`."""
    h2h = result.head_to_head
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "run": {"seed": result.seed, "n_worlds": result.n_worlds, "horizon": result.horizon,
                "n_assets": len(result.assets), "assets": list(result.assets), "spec": result.spec},
        "data": {**dataclasses.asdict(result.data), "suspects": [dataclasses.asdict(x) for x in result.suspects]},
        "generator": dataclasses.asdict(result.generator),
        "conventions": {str(k): str(v) for k, v in result.conventions.items()},
        "versions": {str(k): str(v) for k, v in result.versions.items()},
        "timings": result.timings,
        "strategies": [_strategy(s) for s in result.strategies],
        "head_to_head": {"metric": "total_return", "strategies": [str(c) for c in h2h.columns],
                         "p_row_beats_column": h2h.to_numpy().tolist()},
        "fidelity": _fidelity(result.fidelity),
        "plausibility": _plausibility(result),
        "overfitting": [overfit_summary(o) for o in result.overfit],
        "regimes": regimes_summary(result),
        "stress": stress_summary(result),
        "reverse": reverse_summary(result),
        "files": {"report": "report.html", "metrics": METRICS_FILE, "arrays": ARRAYS_FILE},
    }
    return json_safe(summary)


def summary_json(result: RunResult) -> str:
    """`build_summary` as indented, strict JSON text (``allow_nan=False``: a NaN here is a bug)."""
    return json.dumps(build_summary(result), indent=2, allow_nan=False) + "\n"

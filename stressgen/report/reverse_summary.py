"""The ``reverse`` key of summary.json: one entry per parameter set a spec's ``[reverse]`` stresses
(docs/report.md), with its JSON Schema `REVERSE_SCHEMA`. Paths themselves stay in ``results.safetensors``; the
summary carries what a reader compares: losses, plausibility, percentiles and the top drivers."""

from __future__ import annotations

from typing import Any

from ..results import RunResult
from ..results_reverse import LosingWorld, ReverseOptResult, ReverseResult

__all__ = ["REVERSE_SCHEMA", "reverse_summary", "TOP_DRIVERS"]

TOP_DRIVERS = 3  # assets listed per world: the three that lost the most

_NUM = {"type": ["number", "null"]}
_PROB = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_DRIVER = {"type": "object", "required": ["asset", "contribution"], "additionalProperties": False,
           "properties": {"asset": {"type": "string"}, "contribution": _NUM}}
_WORLD = {"type": "object", "additionalProperties": False,
          "required": ["world", "loss", "plausibility", "percentile", "probability", "drivers"],
          "properties": {"world": {"type": "integer", "minimum": 0}, "loss": _NUM, "plausibility": _NUM,
                         "percentile": _NUM, "probability": _PROB,
                         "drivers": {"type": "array", "items": _DRIVER, "maxItems": TOP_DRIVERS}}}
_OPT = {"type": "object", "additionalProperties": False,
        "required": ["target", "starts", "met", "loss", "exact", "best_met", "log_lik", "mahalanobis", "percentile"],
        "properties": {"target": _NUM, "starts": {"type": "integer", "minimum": 1},
                       "met": {"type": "integer", "minimum": 0}, "loss": _NUM, "exact": {"type": "boolean"},
                       "best_met": {"type": "boolean"}, "log_lik": _NUM, "mahalanobis": _NUM, "percentile": _PROB}}
_KEYS = ["strategy", "loss", "method", "generator", "tilt", "plausibility", "n_worlds", "horizon", "n_losing",
         "probability", "ess_kish", "ess_losing", "largest_loss", "most_plausible", "optimised", "worst", "drivers",
         "notes"]
REVERSE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": _KEYS, "additionalProperties": False,
    "properties": {
        "strategy": {"type": "string"}, "loss": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "method": {"enum": ["empirical", "optimised"]}, "generator": {"type": "string"},
        "tilt": {"type": ["string", "null"]}, "plausibility": {"type": "string"},
        "n_worlds": {"type": "integer", "minimum": 1}, "horizon": {"type": "integer", "minimum": 1},
        "n_losing": {"type": "integer", "minimum": 0},
        "probability": {"type": "object", "additionalProperties": False,
                        "required": ["value", "lo", "hi", "se", "ci_level", "ess", "method"],
                        "properties": {"value": _PROB, "lo": _PROB, "hi": _PROB, "se": _NUM, "ci_level": _NUM,
                                       "ess": _NUM, "method": {"type": "string"}}},
        "ess_kish": _NUM, "ess_losing": _NUM, "largest_loss": _NUM,
        "most_plausible": {"type": "array", "items": _WORLD},
        "optimised": {"oneOf": [{"type": "null"}, _OPT]},
        "worst": {"type": "array", "items": _WORLD},
        "drivers": {"type": "object", "additionalProperties": False,
                    "required": ["contributions", "cash", "costs", "corr_losing", "corr_all"],
                    "properties": {"contributions": {"type": "object", "additionalProperties": _NUM},
                                   "cash": _NUM, "costs": _NUM, "corr_losing": _NUM, "corr_all": _NUM}},
        "notes": {"type": "array", "items": {"type": "string"}},
    }}


def _world(w: LosingWorld) -> dict:
    return {"world": w.world, "loss": w.loss, "plausibility": w.plausibility, "percentile": w.percentile,
            "probability": w.probability,
            "drivers": [{"asset": a, "contribution": v} for a, v in w.contributions.top(TOP_DRIVERS)]}


def _optimised(o: ReverseOptResult | None) -> dict | None:
    """The best path (rows are best first) and how many starts met the loss."""
    if o is None or not len(o.met):
        return None
    return {"target": o.target, "starts": int(len(o.met)), "met": int(o.met.sum()),
            "loss": float(o.best_loss()[0]), "exact": o.exact_loss is not None, "best_met": bool(o.met[0]),
            "log_lik": float(o.log_lik[0]), "mahalanobis": float(o.mahalanobis[0]),
            "percentile": float(o.percentile[0])}


def _entry(r: ReverseResult) -> dict:
    c, p, d = r.config, r.probability, r.drivers
    return {
        "strategy": c.strategy, "loss": float(c.loss), "method": c.method, "generator": r.generator,
        "tilt": r.tilt, "plausibility": r.plausibility_method, "n_worlds": int(c.n_worlds or 0),
        "horizon": int(c.horizon or 0), "n_losing": r.n_losing,
        "probability": {"value": p.value, "lo": p.lo, "hi": p.hi, "se": p.se, "ci_level": p.ci_level,
                        "ess": p.ess, "method": p.method},
        "ess_kish": r.ess_kish, "ess_losing": r.ess_losing, "largest_loss": r.largest_loss,
        "most_plausible": [_world(w) for w in r.most_plausible], "optimised": _optimised(r.optimised),
        "worst": [_world(w) for w in r.worst],
        "drivers": {"contributions": dict(zip(r.assets, map(float, d.contributions.per_asset))),
                    "cash": d.contributions.cash, "costs": d.contributions.costs, "corr_losing": d.corr_losing,
                    "corr_all": d.corr_all},
        "notes": list(r.notes),
    }


def reverse_summary(result: RunResult) -> list[dict]:
    """The ``reverse`` key (docs/report.md); an empty list without ``[reverse]``."""
    return [_entry(r) for r in result.reverse]

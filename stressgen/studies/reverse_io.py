"""A `ReverseResult` on disk: ``reverse.json`` (typed, schema-versioned) and ``reverse.safetensors`` (its paths).

Both are published as one set (`atomic.publish_files`, group ``"reverse"``): a kill leaves the previous pair or
the new one, never a mix. Nothing is pickled. docs/reverse.md documents every field; in short:

``reverse.json`` (``format = "stressgen-reverse"``, ``version = 1``): ``config`` (the request, horizon and
worlds resolved), ``assets``, ``generator``, ``tilt`` (null: plain worlds), ``plausibility`` (the score's
definition), ``n_losing``, ``probability`` (value, se, lo, hi, ci_level, ess, method), ``ess_kish``,
``ess_losing``, ``largest_loss``, ``most_plausible`` and ``worst`` (one object per world: world, loss,
plausibility, percentile, probability, contributions {asset: value}, cash, costs, total), ``drivers``
(contributions as above, corr_losing, corr_all), ``notes``, ``optimised`` (null, or target, starts, met and
the best path's loss, log_lik, mahalanobis, percentile), ``tilt_choice`` (null unless z was automatic: the
chosen z, pilot_worlds, min_events and the grid of {z, rv, n_event}), ``n_reference`` (the plain reference
worlds the percentiles compare with), and ``arrays``: name -> shape and meaning of each
tensor of ``reverse.safetensors``. Non-finite numbers are null.

``reverse.safetensors`` (float64): ``mean_path [horizon, assets]``, ``most_plausible/paths [k, horizon,
assets]``, ``most_plausible/equity [k, horizon + 1]``, ``most_plausible/weights [k, horizon, assets]``,
``worst/paths``, ``worst/equity``, ``worst/weights``,
``drivers/vol_losing [horizon]``, ``drivers/vol_all [horizon]``, and for the optimised method
``optimised/log_returns [met, horizon, assets]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from ..atomic import publish_files
from ..results_reverse import Contributions, LosingWorld, ReverseOptResult, ReverseResult, TiltChoice
from .reverse_tilt import MIN_PILOT_EVENTS

__all__ = ["FORMAT", "FORMAT_VERSION", "JSON_FILE", "ARRAYS_FILE", "to_json", "arrays", "write_reverse"]

FORMAT = "stressgen-reverse"
FORMAT_VERSION = 1
JSON_FILE = "reverse.json"
ARRAYS_FILE = "reverse.safetensors"

_ARRAYS = {
    "mean_path": "[horizon, assets] E[cumulative log return | loss >= l], weighted",
    "most_plausible/paths": "[k, horizon, assets] daily log returns of the most plausible losing worlds",
    "most_plausible/equity": "[k, horizon + 1] the strategy's equity on them, 1 at the start",
    "most_plausible/weights": "[k, horizon, assets] the weights the engine executed on them",
    "worst/paths": "[k, horizon, assets] daily log returns of the worst sampled worlds",
    "worst/equity": "[k, horizon + 1] the strategy's equity on them",
    "worst/weights": "[k, horizon, assets] the weights the engine executed on them",
    "drivers/vol_losing": "[horizon] mean annualised realised volatility per day, losing worlds",
    "drivers/vol_all": "[horizon] the same over all worlds",
    "optimised/log_returns": "[met, horizon, assets] the optimised method's paths that meet l, best first "
                             "(method 'optimised' only)",
}


def _num(x: Any) -> Any:
    x = float(x)
    return x if math.isfinite(x) else None


def _contrib(c: Contributions) -> dict[str, Any]:
    return {"contributions": {a: _num(v) for a, v in zip(c.assets, c.per_asset)}, "cash": _num(c.cash),
            "costs": _num(c.costs), "total": _num(c.total)}


def _world(w: LosingWorld) -> dict[str, Any]:
    return {"world": w.world, "loss": _num(w.loss), "plausibility": _num(w.plausibility),
            "percentile": _num(w.percentile), "probability": _num(w.probability), **_contrib(w.contributions)}


def _optimised(opt: ReverseOptResult) -> dict[str, Any]:
    """The optimised method's best path (`ReverseOptResult`, best first) and how many starts met l."""
    loss = opt.best_loss()
    return {"target": _num(opt.target), "starts": int(opt.z.shape[0]), "met": int(np.sum(opt.met)),
            "relaxation": opt.relaxation,
            "best": {"loss": _num(loss[0]), "met": bool(opt.met[0]), "log_lik": _num(opt.log_lik[0]),
                     "mahalanobis": _num(opt.mahalanobis[0]), "percentile": _num(opt.percentile[0])}}


def _choice(c: TiltChoice | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"z": c.z, "pilot_worlds": c.pilot_worlds, "min_events": MIN_PILOT_EVENTS,
            "grid": [{"z": z, "rv": _num(rv), "n_event": n} for z, rv, n in zip(c.grid, c.rv, c.n_event)]}


def to_json(result: ReverseResult) -> dict[str, Any]:
    """The JSON document of `result` (module docstring)."""
    p = result.probability
    d = result.drivers
    opt = result.optimised
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "config": dataclasses.asdict(result.config), "assets": list(result.assets),
        "generator": result.generator, "tilt": result.tilt, "plausibility": result.plausibility_method,
        "n_losing": result.n_losing,
        "probability": {"value": _num(p.value), "se": _num(p.se), "lo": _num(p.lo), "hi": _num(p.hi),
                        "ci_level": p.ci_level, "ess": _num(p.ess), "method": p.method},
        "ess_kish": _num(result.ess_kish), "ess_losing": _num(result.ess_losing),
        "largest_loss": _num(result.largest_loss),
        "most_plausible": [_world(w) for w in result.most_plausible],
        "worst": [_world(w) for w in result.worst],
        "drivers": {**_contrib(d.contributions), "corr_losing": _num(d.corr_losing), "corr_all": _num(d.corr_all)},
        "notes": list(result.notes), "optimised": None if opt is None else _optimised(opt),
        "tilt_choice": _choice(result.tilt_choice), "n_reference": result.n_reference,
        "seconds": _num(result.seconds), "arrays": {"file": ARRAYS_FILE, **{k: _ARRAYS[k] for k in arrays(result)}},
    }


def arrays(result: ReverseResult) -> dict[str, np.ndarray]:
    """The tensors of ``reverse.safetensors`` (float64, contiguous)."""
    def stack(worlds: tuple[LosingWorld, ...], field: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.stack([getattr(w, field) for w in worlds]) if worlds else np.zeros((0,) + shape)

    h, a = result.mean_path.shape
    out = {
        "mean_path": result.mean_path,
        "most_plausible/paths": stack(result.most_plausible, "path", (h, a)),
        "most_plausible/equity": stack(result.most_plausible, "equity", (h + 1,)),
        "most_plausible/weights": stack(result.most_plausible, "weights", (h, a)),
        "worst/paths": stack(result.worst, "path", (h, a)),
        "worst/equity": stack(result.worst, "equity", (h + 1,)),
        "worst/weights": stack(result.worst, "weights", (h, a)),
        "drivers/vol_losing": result.drivers.vol_losing,
        "drivers/vol_all": result.drivers.vol_all,
    }
    if result.optimised is not None:
        out["optimised/log_returns"] = np.asarray(result.optimised.log_returns)[np.asarray(result.optimised.met)]
    return {k: np.ascontiguousarray(v, np.float64) for k, v in out.items()}


def write_reverse(result: ReverseResult, directory: str | Path) -> Path:
    """Publish ``reverse.safetensors`` then ``reverse.json`` into `directory`; returns the JSON's path."""
    directory = Path(directory)
    doc = json.dumps(to_json(result), indent=1, allow_nan=False)
    publish_files(directory, {ARRAYS_FILE: save(arrays(result), metadata={"format": FORMAT}),
                              JSON_FILE: doc.encode("utf-8")}, group="reverse")
    return directory / JSON_FILE

"""Lossless encoding of ``RunResult.reverse`` for the results file (`stressgen.report._store`).

Arrays go to tensors under ``reverse/<i>/...`` (dtypes kept bit for bit); scalars, names and the request go to
the JSON manifest (Python floats round-trip exactly through JSON; NaN is kept, the manifest allows it). A
manifest written before reverse results were kept has no ``reverse`` key and reads back with none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..metrics.weighted import Estimate
from ..results_reverse import (Contributions, Drivers, LosingWorld, ReverseConfig, ReverseOptResult,
                               ReverseResult, TiltChoice)

__all__ = ["put_reverse", "get_reverse"]

Tensors = Callable[[str], np.ndarray]
_WORLD_ARRAYS = ("path", "equity", "weights")


def _f(x: Any) -> float:
    return float(x)


def _arr(t: dict[str, np.ndarray], name: str, value: np.ndarray) -> None:
    t[name] = np.ascontiguousarray(value)


def _put_contrib(c: Contributions, name: str, t: dict[str, np.ndarray]) -> dict:
    _arr(t, f"{name}/per_asset", c.per_asset)
    return {"assets": list(c.assets), "cash": _f(c.cash), "costs": _f(c.costs)}


def _get_contrib(d: dict, name: str, tensors: Tensors) -> Contributions:
    return Contributions(tuple(d["assets"]), tensors(f"{name}/per_asset"), float(d["cash"]), float(d["costs"]))


def _put_world(w: LosingWorld, name: str, t: dict[str, np.ndarray]) -> dict:
    for field in _WORLD_ARRAYS:
        _arr(t, f"{name}/{field}", getattr(w, field))
    return {"world": int(w.world), "loss": _f(w.loss), "plausibility": _f(w.plausibility),
            "percentile": _f(w.percentile), "probability": _f(w.probability),
            "contributions": _put_contrib(w.contributions, f"{name}/contributions", t)}


def _get_world(d: dict, name: str, tensors: Tensors) -> LosingWorld:
    return LosingWorld(world=int(d["world"]), loss=float(d["loss"]), plausibility=float(d["plausibility"]),
                       percentile=float(d["percentile"]), probability=float(d["probability"]),
                       contributions=_get_contrib(d["contributions"], f"{name}/contributions", tensors),
                       **{f: tensors(f"{name}/{f}") for f in _WORLD_ARRAYS})


def _put_opt(o: ReverseOptResult | None, name: str, t: dict[str, np.ndarray]) -> dict | None:
    if o is None:
        return None
    present = [a for a in ReverseOptResult.ARRAYS if getattr(o, a) is not None]
    for a in present:
        _arr(t, f"{name}/{a}", getattr(o, a))
    return {"arrays": present, "target": _f(o.target), "tol": _f(o.tol), "steps": int(o.steps),
            "compile_s": _f(o.compile_s), "run_s": _f(o.run_s), "relaxation": o.relaxation}


def _get_opt(d: dict | None, name: str, tensors: Tensors) -> ReverseOptResult | None:
    if d is None:
        return None
    arrays = {a: (tensors(f"{name}/{a}") if a in d["arrays"] else None) for a in ReverseOptResult.ARRAYS}
    return ReverseOptResult(**arrays, target=float(d["target"]), tol=float(d["tol"]), steps=int(d["steps"]),
                            compile_s=float(d["compile_s"]), run_s=float(d["run_s"]), relaxation=d["relaxation"])


def _put_choice(c: TiltChoice | None, name: str, t: dict[str, np.ndarray]) -> dict | None:
    if c is None:
        return None
    _arr(t, f"{name}/loss", c.loss)
    _arr(t, f"{name}/raw_w", c.raw_w)
    return {"z": _f(c.z), "grid": [_f(z) for z in c.grid], "rv": [_f(v) for v in c.rv],
            "n_event": [int(n) for n in c.n_event], "pilot_worlds": int(c.pilot_worlds)}


def _get_choice(d: dict | None, name: str, tensors: Tensors) -> TiltChoice | None:
    if d is None:
        return None
    return TiltChoice(z=float(d["z"]), grid=tuple(float(z) for z in d["grid"]), rv=tuple(float(v) for v in d["rv"]),
                      n_event=tuple(int(n) for n in d["n_event"]), pilot_worlds=int(d["pilot_worlds"]),
                      loss=tensors(f"{name}/loss"), raw_w=tensors(f"{name}/raw_w"))


def put_reverse(r: ReverseResult, i: int, t: dict[str, np.ndarray]) -> dict:
    """The manifest entry of `r` (the `i`-th result); its arrays go into `t`."""
    p = f"reverse/{i}"
    _arr(t, f"{p}/mean_path", r.mean_path)
    d = r.drivers
    _arr(t, f"{p}/drivers/vol_losing", d.vol_losing)
    _arr(t, f"{p}/drivers/vol_all", d.vol_all)
    return {
        "config": dataclasses.asdict(r.config), "assets": list(r.assets), "generator": r.generator, "tilt": r.tilt,
        "plausibility_method": r.plausibility_method, "n_losing": int(r.n_losing),
        "probability": {k: (v if k == "method" else _f(v)) for k, v in dataclasses.asdict(r.probability).items()},
        "ess_kish": _f(r.ess_kish), "ess_losing": _f(r.ess_losing), "largest_loss": _f(r.largest_loss),
        "most_plausible": [_put_world(w, f"{p}/most_plausible/{j}", t) for j, w in enumerate(r.most_plausible)],
        "worst": [_put_world(w, f"{p}/worst/{j}", t) for j, w in enumerate(r.worst)],
        "drivers": {"contributions": _put_contrib(d.contributions, f"{p}/drivers/contributions", t),
                    "corr_losing": _f(d.corr_losing), "corr_all": _f(d.corr_all)},
        "optimised": _put_opt(r.optimised, f"{p}/optimised", t),
        "notes": list(r.notes), "seconds": _f(r.seconds),
        "tilt_choice": _put_choice(r.tilt_choice, f"{p}/tilt_choice", t), "n_reference": int(r.n_reference),
    }


def get_reverse(d: dict, i: int, tensors: Tensors) -> ReverseResult:
    """`put_reverse`'s inverse."""
    p = f"reverse/{i}"
    dd = d["drivers"]
    return ReverseResult(
        config=ReverseConfig(**d["config"]), assets=tuple(d["assets"]), generator=d["generator"], tilt=d["tilt"],
        plausibility_method=d["plausibility_method"], n_losing=int(d["n_losing"]),
        probability=Estimate(**{k: (v if k == "method" else float(v)) for k, v in d["probability"].items()}),
        ess_kish=float(d["ess_kish"]), ess_losing=float(d["ess_losing"]), largest_loss=float(d["largest_loss"]),
        mean_path=tensors(f"{p}/mean_path"),
        most_plausible=tuple(_get_world(w, f"{p}/most_plausible/{j}", tensors)
                             for j, w in enumerate(d["most_plausible"])),
        worst=tuple(_get_world(w, f"{p}/worst/{j}", tensors) for j, w in enumerate(d["worst"])),
        drivers=Drivers(contributions=_get_contrib(dd["contributions"], f"{p}/drivers/contributions", tensors),
                        vol_losing=tensors(f"{p}/drivers/vol_losing"), vol_all=tensors(f"{p}/drivers/vol_all"),
                        corr_losing=float(dd["corr_losing"]), corr_all=float(dd["corr_all"])),
        optimised=_get_opt(d["optimised"], f"{p}/optimised", tensors), notes=tuple(d["notes"]),
        seconds=float(d["seconds"]), tilt_choice=_get_choice(d.get("tilt_choice"), f"{p}/tilt_choice", tensors),
        n_reference=int(d.get("n_reference", 0)))

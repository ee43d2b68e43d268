"""The stress conditions garch's `sample` takes, turned into the sampler's extra inputs.

`condition_inputs` maps a `Tilt`, a `PathShock` or a `CrisisReplay` to the arrays `_garch_sim.simulate` reads
and the compile-time flag that switches its path (``tilted``, ``shocked``, ``replayed``); no condition gives no
inputs and the plain program. Kept apart from garch.py so that the family's fit and its conditions each stay a
module of one concept.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from . import _garch_tilt as gtl
from ._replay import CrisisReplay
from ._shock import PathShock, shock_weights
from ._tilt import Tilt

__all__ = ["CONDITIONS", "condition_inputs"]

CONDITIONS = (Tilt, PathShock, CrisisReplay)


def condition_inputs(fitted: Any, condition: Any, horizon: int, kind: str) -> tuple[dict[str, Any], str | None]:
    """``(extra sampler inputs, flag)`` for `condition` on the fitted garch (`kind`: `garch._kind`); ``({},
    None)`` without one. Refuses, naming the field, what the condition cannot do on this fit."""
    if condition is None:
        return {}, None
    if isinstance(condition, Tilt):
        if kind == "fhs-state":
            raise ConfigError("garch: a Tilt needs i.i.d. or year-matched rows (fhs_matching = 'none' or 'year') or "
                              "a copula; state-matched rows are drawn among neighbours that move with the world's "
                              "own state, which the tilt does not reweight")
        if kind == "fhs-year":
            return gtl.year_tilt_params(fitted.resid, fitted.level_starts, int(fitted.state_neighbours),
                                        fitted.state_shrink, condition), "tilted"
        return gtl.tilt_params(fitted.resid, fitted.copula_chol, fitted.config.innovations, condition), "tilted"
    if isinstance(condition, PathShock):
        w = shock_weights(condition, fitted.context.asset_names, horizon)
        # FHS spreads the shock by the residual rows' own correlation (the law it replays); the copulas by the
        # copula correlation, that of the normal scores (close to the margins' own for these t margins)
        corr = np.corrcoef(np.asarray(fitted.resid, np.float64).T) if fitted.config.innovations == "fhs" \
            else np.asarray(fitted.copula_corr, np.float64)
        return {"shock_w": jnp.asarray(w, jnp.float32), "shock_corr": jnp.asarray(corr, jnp.float32),
                "shock_size": jnp.float32(condition.size), "shock_day": jnp.int32(condition.day - 1)}, "shocked"
    if isinstance(condition, CrisisReplay):
        return {"replay_y": jnp.asarray(condition.check(fitted.context.asset_names, horizon))}, "replayed"
    raise TypeError(f"not a garch condition: {condition!r}")  # sample() refuses other conditions first

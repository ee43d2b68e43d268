"""GARCH's drawn long-run level (`_levels` has the law and why): each world's omega is multiplied by a
factor drawn at its start. The persistence, the news coefficients and the innovations are unchanged, so the
moment conditions of `_garch_tails` still hold. Here is how GARCH measures ``v_model``, the spread of yearly
levels its own paths make: the same statistic over one-year paths simulated from the fit (stationary start,
FHS rows). ``GarchConfig.level = "fixed"`` keeps the single fitted level (the textbook GARCH).

With year-matched rows (``GarchConfig.fhs_matching = "year"``, `_garch_state.year_windows`) a world also
replays the residual rows of its drawn window, so the year brings its correlation with its level; ``v_model``
is then measured with those rows, and the window is drawn among all of them whatever the start (the caller
passes ``conditional=False``): a world that replays a year's rows from the neighbours of the last one
replays few episodes, and on both data sets measured the draw among all years was the better calibrated
(docs/fidelity.md, "Year-matched rows"). The start state still drives the first months, through the
conditional variance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import numpy as np

from .. import rng
from . import _levels as lv

if TYPE_CHECKING:
    from ._garch_state import YearRows

__all__ = ["simulated_levels", "level_factors"]

def simulated_levels(params: np.ndarray, resid: np.ndarray, variance: np.ndarray, year: int, *,
                     key: jax.Array, rows: YearRows | None = None) -> np.ndarray:
    """``[paths]`` the same statistic over stationary one-year paths of the fitted model (float64 NumPy
    recursion on FHS rows of `resid`, drawn from `key`). `params` is ``[assets, 6]``. Rows are i.i.d. over
    all dates, or, with year-matched `rows` (`_garch_state.year_windows`), each path's rows are those of one
    window drawn uniformly, scaled as the sampler does."""
    if rows is None:
        dates = np.asarray(jax.random.randint(key, (lv.SIM_BURN + year, lv.SIM_PATHS), 0, resid.shape[0]))
        shrink = None
    else:
        pick = np.asarray(jax.random.randint(rng.stream(key, 1), (lv.SIM_PATHS,), 0, rows.starts.size))
        dates = rows.starts[pick] + np.asarray(jax.random.randint(key, (lv.SIM_BURN + year, lv.SIM_PATHS), 0,
                                                                  rows.length))
        shrink = rows.scale[pick]  # [paths, assets]
    omega, alpha, gamma, beta = (params[:, j] for j in range(1, 5))
    persistence = np.minimum(alpha + gamma * np.mean(resid**2 * (resid < 0), axis=0) / np.mean(resid**2, axis=0)
                             + beta, 0.9999)
    sigma2 = np.broadcast_to(omega / (1.0 - persistence), (lv.SIM_PATHS, params.shape[0])).copy()
    out = np.zeros((lv.SIM_PATHS, params.shape[0]))
    for t in range(lv.SIM_BURN + year):
        e = resid[dates[t]] if shrink is None else resid[dates[t]] * shrink
        eps = np.sqrt(sigma2) * e
        if t >= lv.SIM_BURN:
            out += eps**2
        sigma2 = omega + (alpha + gamma * (eps < 0)) * eps**2 + beta * sigma2
    return np.mean(np.log(out / year / variance), axis=1)


def level_factors(y100: np.ndarray, params: np.ndarray, resid: np.ndarray, year: int, *,
                  conditional: bool, rows: YearRows | None = None) -> lv.Levels:
    """The `_levels.Levels` a world's long-run level is drawn from (`_levels.drawn_levels`), with ``v_model``
    from `simulated_levels`. `rows`: the year-matched rows the sampler replays (`_garch_state.year_windows`,
    one window per `_levels.window_starts` entry): the model's own spread is then measured with them."""
    if not lv.learns_levels(y100.shape[0], year):
        return lv.one_level()
    # a fixed key: the fit stays deterministic, and refits on the same data give the same factors
    v_model = float(np.var(simulated_levels(params, resid, np.var(y100, axis=0), year,
                                            key=rng.stream(rng.root(0), rng.FIT), rows=rows)))
    return lv.drawn_levels(y100, year, v_model, conditional=conditional)

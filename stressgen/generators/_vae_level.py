"""The VAE's drawn long-run level (`_levels` has the law and why): each world's variance prior has its constant
``w`` multiplied by a factor f drawn at the world's start, so the prior ``f w + sum_s c_s v_s`` (weights
summing to 1, `_vae_prior`) reverts to a long-run variance of f instead of 1. The network reads its inputs and
writes its log-scale relative to the prior (`_vae_nn.VaeNet.condition`, `VaeNet.place`), so it is unchanged.

Why here too. Measured before (docs/fidelity.md): across sp500-20's years the yearly level has variance 0.353,
one-year paths of the VAE's prior alone 0.021; 42.6% of the real one-year drawdowns fell outside the worlds'
5-95% band (17 of 54 deeper), as GARCH's did before its drawn level.

``v_model``, the spread the model makes itself, is measured on one-year paths of the prior alone (its
recursion with the fitted unit-variance innovations, from its long-run level, after a burn-in): the network's
correction is centred at the conditional prior's mean of z (`VaeNet.decode_raw`) and its mean square targeted
to 1 (`_vae_after.target_moments`), so it adds day-to-day noise, not yearly levels.

The level is drawn among all of the history's years (`_levels.drawn_levels` with ``conditional=False``), as
GARCH's default (year-matched rows) draws it; the worlds' first months still follow the history's end, through
the prior's state there. Drawn instead among the years that followed a year like the last one (GARCH's rule
with i.i.d. rows), the real one-year drawdowns outside the worlds' 5-95% band on sp500-20 were 37.0% (all
years: 27.8%; one level: 42.6%): from the calm origins before 2008 and 2020 (2007-06, 2007-12, 2019-07,
2019-12) the real drawdown lay above 99% of the worlds' (docs/fidelity.md has both, and the check on wti).
"""

from __future__ import annotations

import jax
import numpy as np

from .. import rng
from . import _levels as lv
from . import _tables as tb

__all__ = ["prior_levels", "vae_levels"]

def prior_levels(prior: np.ndarray, decays: np.ndarray, t_table: np.ndarray, t_grid: np.ndarray, year: int, *,
                 student_t: bool, key: jax.Array) -> np.ndarray:
    """``[paths]`` the yearly level of `_levels` (mean over assets of the log of the year's mean square; the
    long-run variance is 1) of one-year paths of the variance prior ``[1 + 2H, A]`` alone, after
    `_levels.SIM_BURN` days from its long-run level. Innovations: standard normals from `key` through the
    unit-variance t table ``t_table [A, G, 2]`` (the sampler's, `_tables`) with `student_t`, else the normals
    themselves. The recursion is `_vae_nn.update_vol_states` in float64 NumPy."""
    w, c = np.asarray(prior, np.float64)[0], np.asarray(prior, np.float64)[1:]  # [A], [2H, A]
    lam = np.tile(np.asarray(decays, np.float64), 2)[:, None]  # [2H, 1]
    h = lam.shape[0] // 2
    normals = jax.random.normal(key, (lv.SIM_BURN + year, lv.SIM_PATHS, w.size))
    e = np.asarray(tb.interp(t_table, t_grid, normals, np.uint32(0)) if student_t else normals, np.float64)
    v = np.ones((lv.SIM_PATHS, lam.shape[0], w.size))
    total = np.zeros((lv.SIM_PATHS, w.size))
    for t in range(lv.SIM_BURN + year):
        x = np.sqrt(w + np.einsum("psa,sa->pa", v, c)) * e[t]
        if t >= lv.SIM_BURN:
            total += x * x
        sq = np.concatenate([np.repeat((x * x)[:, None], h, axis=1),
                             np.repeat((2.0 * np.minimum(x, 0.0) ** 2)[:, None], h, axis=1)], axis=1)
        v = lam * v + (1.0 - lam) * sq
    return np.mean(np.log(total / year), axis=1)


def vae_levels(x: np.ndarray, prior: np.ndarray, decays: np.ndarray, t_table: np.ndarray, t_grid: np.ndarray,
               year: int, *, student_t: bool) -> np.ndarray:
    """``[windows]`` the factors a world's ``w`` is multiplied by, drawn uniformly (`_levels.drawn_levels` over
    all the years of ``x [time, assets]``, the standardized history the worlds continue), with ``v_model`` from
    `prior_levels`. A history shorter than `_levels.MIN_YEARS` years gives ``[1]``."""
    if not lv.learns_levels(x.shape[0], year):
        return lv.one_level().factors
    # a fixed key: the fit stays deterministic, and re-anchoring a fit to its own history gives it back
    v_model = float(np.var(prior_levels(prior, decays, t_table, t_grid, year, student_t=student_t,
                                        key=rng.stream(rng.root(0), rng.FIT))))
    return lv.drawn_levels(np.asarray(x, np.float64), year, v_model, conditional=False).factors

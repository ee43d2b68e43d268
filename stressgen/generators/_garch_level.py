"""The long-run volatility level a GARCH world reverts to, drawn per world (docs/fidelity.md, "The start state
drives the spread").

Why. A GARCH(1,1) reverts to one long-run variance, ``omega / (1 - persistence)``, within weeks to months,
and every world reverts to the same one. History does not: whole years sit well below or above any long-run
level. On sp500-20 (1990-2023) the yearly level defined below spans a factor of about 12 between the
calmest and the wildest year, and its variance across years is 0.35 where the fitted GARCH's own one-year
paths give 0.06. Rolling-origin calibration sees the gap: with one level, the drawdowns of calm years are
too deep in the worlds and those of crisis years too shallow (27.8% of real one-year drawdowns outside the
worlds' 5-95% band, where 10% is expected), and the real year's equal-weight volatility falls outside its
band at 68% of 58 half-yearly origins.

What. Each world's omega is multiplied by a level factor drawn at its start (the persistence, the news
coefficients and the innovations are unchanged, so the moment conditions of `_garch_tails` still hold):

* the history's one-year levels: for each one-year window of the fit sample (stepping by a month), the
  mean over assets of ``log(realised variance / sample variance)``, an empirical law of market-wide
  regimes with the history's own bounds;
* the part of their spread that the fitted GARCH already produces is taken out: the same statistic over
  one-year paths simulated from the fit (stationary start, FHS rows) has variance ``v_model``, the history's
  ``v_hist``, and the levels are shrunk towards their mean by ``c = sqrt(max(0, 1 - v_model / v_hist))``,
  so that the worlds' spread of yearly levels is the history's, not more;
* a world's factor is ``exp(c (L_j - mean L))``, divided by the mean of these factors over all windows (so
  that the average long-run variance over the history's years is unchanged), for a window j drawn
  uniformly among: with a conditional start, the ``sqrt(n)`` windows whose previous year was nearest in
  level to the last year of the history (years are persistent: a calm year is followed by calm ones more
  often than not; `neighbour_windows`); with an unconditional start, all windows.

A drawn factor is bounded by the history's calmest and wildest years (shrunk by c): nothing beyond what the
data show. ``GarchConfig.level = "fixed"`` keeps the single fitted level (the textbook GARCH).

With year-matched rows (``GarchConfig.fhs_matching = "year"``, `_garch_state.year_windows`) a world also
replays the residual rows of its drawn window, so the year brings its correlation with its level; ``v_model``
is then measured with those rows, and the window is drawn among all of them whatever the start (the caller
passes ``conditional=False``): a world that replays a year's rows from the neighbours of the last one
replays few episodes, and on both data sets measured the draw among all years was the better calibrated
(docs/fidelity.md, "Year-matched rows"). The start state still drives the first months, through the
conditional variance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax
import numpy as np

from .. import rng

if TYPE_CHECKING:
    from ._garch_state import YearRows

__all__ = ["LEVELS", "MIN_YEARS", "Levels", "learns_levels", "window_starts", "yearly_levels", "simulated_levels",
           "neighbour_windows", "level_factors"]

LEVELS = ("drawn", "fixed")
_STEP = 21  # one-year windows start a month apart: 12 per year, overlapping, as many as the data allow
_SIM_PATHS, _SIM_BURN = 512, 500
MIN_YEARS = 3  # fewer years teach no spread of levels, let alone how they follow each other


def learns_levels(n: int, year: int) -> bool:
    """Whether an `n`-day sample is long enough (`MIN_YEARS` years) to learn yearly levels from."""
    return n >= MIN_YEARS * year


def window_starts(n: int, year: int) -> np.ndarray:
    """The first day of each one-year window of an `n`-day sample: every `_STEP` days that leave a whole year."""
    return np.arange(0, n - year + 1, _STEP)


def yearly_levels(y100: np.ndarray, variance: np.ndarray, year: int, starts: np.ndarray | None = None) -> np.ndarray:
    """``[windows]`` mean over assets of ``log(realised variance / variance)`` of the `year`-long windows of
    ``y100 [time, assets]`` that begin at `starts` (default: every `_STEP` days that leave a whole window)."""
    n = y100.shape[0]
    starts = window_starts(n, year) if starts is None else np.asarray(starts)
    centred = y100 - y100.mean(axis=0)
    csum = np.concatenate([np.zeros((1, y100.shape[1])), np.cumsum(centred**2, axis=0)])
    rv = (csum[starts + year] - csum[starts]) / year  # [windows, assets]
    return np.mean(np.log(np.maximum(rv, 1e-12) / variance), axis=1)


def simulated_levels(params: np.ndarray, resid: np.ndarray, variance: np.ndarray, year: int, *,
                     key: jax.Array, rows: YearRows | None = None) -> np.ndarray:
    """``[paths]`` the same statistic over stationary one-year paths of the fitted model (float64 NumPy
    recursion on FHS rows of `resid`, drawn from `key`). `params` is ``[assets, 6]``. Rows are i.i.d. over
    all dates, or, with year-matched `rows` (`_garch_state.year_windows`), each path's rows are those of one
    window drawn uniformly, scaled as the sampler does."""
    if rows is None:
        dates = np.asarray(jax.random.randint(key, (_SIM_BURN + year, _SIM_PATHS), 0, resid.shape[0]))
        shrink = None
    else:
        pick = np.asarray(jax.random.randint(rng.stream(key, 1), (_SIM_PATHS,), 0, rows.starts.size))
        dates = rows.starts[pick] + np.asarray(jax.random.randint(key, (_SIM_BURN + year, _SIM_PATHS), 0,
                                                                  rows.length))
        shrink = rows.scale[pick]  # [paths, assets]
    omega, alpha, gamma, beta = (params[:, j] for j in range(1, 5))
    persistence = np.minimum(alpha + gamma * np.mean(resid**2 * (resid < 0), axis=0) / np.mean(resid**2, axis=0)
                             + beta, 0.9999)
    sigma2 = np.broadcast_to(omega / (1.0 - persistence), (_SIM_PATHS, params.shape[0])).copy()
    out = np.zeros((_SIM_PATHS, params.shape[0]))
    for t in range(_SIM_BURN + year):
        e = resid[dates[t]] if shrink is None else resid[dates[t]] * shrink
        eps = np.sqrt(sigma2) * e
        if t >= _SIM_BURN:
            out += eps**2
        sigma2 = omega + (alpha + gamma * (eps < 0)) * eps**2 + beta * sigma2
    return np.mean(np.log(out / year / variance), axis=1)


def neighbour_windows(n_windows: int) -> int:
    """How many of `n_windows` one-year windows a conditional level is drawn from: ``sqrt(n_windows)``
    (Lall and Sharma's k), at least 1. The windows overlap twelve to a year, so these come from one or two
    episodes; counting sqrt(years) years of windows instead was measured alike on the calibration bar
    (docs/fidelity.md), and the published count is kept."""
    return max(1, int(round(np.sqrt(n_windows))))


class Levels(NamedTuple):
    """What a world's level is drawn from: ``factors [windows]`` (omega's multiplier), ``index [windows]``
    (each factor's one-year window, a position in `window_starts`: year-matched rows replay that year) and
    the shrink ``c`` of the module doc."""

    factors: np.ndarray
    index: np.ndarray
    shrink: float


def level_factors(y100: np.ndarray, params: np.ndarray, resid: np.ndarray, year: int, *,
                  conditional: bool, rows: YearRows | None = None) -> Levels:
    """The `Levels` a world's long-run level is drawn from, see the module doc. `conditional`: only the years that
    followed a year like the last one of the sample (the `neighbour_windows` nearest in level); else all. `rows`:
    the year-matched rows the sampler replays (`_garch_state.year_windows`, one window per `window_starts` entry):
    the model's own spread is then measured with them. A sample too short to learn levels from (`learns_levels`)
    gives the single factor 1 (index ``[0]``)."""
    n = y100.shape[0]
    if not learns_levels(n, year):
        return Levels(np.ones(1), np.zeros(1, np.int64), 0.0)
    variance = np.var(y100, axis=0)
    starts = window_starts(n, year)
    hist = yearly_levels(y100, variance, year, starts)
    # a fixed key: the fit stays deterministic, and refits on the same data give the same factors
    v_model = float(np.var(simulated_levels(params, resid, variance, year, key=rng.stream(rng.root(0), rng.FIT),
                                            rows=rows)))
    v_hist = float(np.var(hist))
    c = float(np.sqrt(max(0.0, 1.0 - v_model / v_hist))) if v_hist > 0 else 0.0
    factors = np.exp(c * (hist - hist.mean()))
    factors = factors / factors.mean()  # the average long-run variance over the history's years is kept
    index = np.arange(starts.size)
    if not conditional:
        return Levels(factors, index, c)
    # years are persistent: draw from the years whose previous year was nearest in level to the last one
    follows = starts >= year
    prev = yearly_levels(y100, variance, year, starts[follows] - year)
    now = yearly_levels(y100, variance, year, np.array([n - year]))[0]
    k = neighbour_windows(prev.size)
    nearest = np.argsort(np.abs(prev - now), kind="stable")[:k]
    return Levels(factors[follows][nearest], index[follows][nearest], c)

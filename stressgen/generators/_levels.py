"""The long-run volatility level a world reverts to, drawn per world: the law shared by GARCH (`_garch_level`)
and the VAE (`_vae_level`). docs/fidelity.md, "The start state drives the spread", has the figures.

Why. A GARCH-type variance reverts to one long-run level within weeks to months, and every world reverts to
the same one. History does not: whole years sit well below or above any long-run level. On sp500-20
(1990-2023) the yearly level defined below spans a factor of about 12 between the calmest and the wildest
year, and its variance across years is 0.35, where one-year paths of the fitted GARCH give 0.06 and those of
the VAE's variance prior 0.02. With one level, the drawdowns of calm years are too deep in the worlds and
those of crisis years too shallow.

What. A world's long-run variance is multiplied by a factor drawn at its start:

* the history's one-year levels: for each one-year window of the sample (stepping by a month), the mean over
  assets of ``log(realised variance / sample variance)``, an empirical law of market-wide regimes with the
  history's own bounds;
* the part of their spread that the model already produces is taken out: the same statistic over one-year
  paths simulated from the fit has variance ``v_model`` (the family measures it), the history's ``v_hist``,
  and the levels are shrunk towards their mean by ``c = sqrt(max(0, 1 - v_model / v_hist))``, so that the
  worlds' spread of yearly levels is the history's, not more;
* a world's factor is ``exp(c (L_j - mean L))``, divided by the mean of these factors over all windows (so
  that the average long-run variance over the history's years is unchanged), for a window j drawn uniformly
  among: with a conditional start, the ``sqrt(n)`` windows whose previous year was nearest in level to the
  last year of the sample (years are persistent: a calm year is followed by calm ones more often than not;
  `neighbour_windows`); with an unconditional start, all windows.

A drawn factor is bounded by the history's calmest and wildest years (shrunk by c): nothing beyond what the
data show. A sample shorter than `MIN_YEARS` years teaches no spread of levels: its worlds keep one level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["LEVELS", "MIN_YEARS", "SIM_PATHS", "SIM_BURN", "Levels", "learns_levels", "window_starts",
           "yearly_levels", "neighbour_windows", "one_level", "drawn_levels"]

LEVELS = ("drawn", "fixed")  # the choices of a config's `level`: drawn per world (above), or the fit's one level
MONTHS = 12  # one-year windows start a month apart: 12 per year, overlapping, as many as the data allow
MIN_YEARS = 3  # fewer years teach no spread of levels, let alone how they follow each other
# a family's v_model: its own one-year paths, how many, and the days burned before each (from any start)
SIM_PATHS, SIM_BURN = 512, 500


def learns_levels(n: int, year: int) -> bool:
    """Whether an `n`-day sample is long enough (`MIN_YEARS` years) to learn yearly levels from."""
    return n >= MIN_YEARS * year


def window_starts(n: int, year: int) -> np.ndarray:
    """The first period of each one-year window of an `n`-period sample with `year` periods a year: every
    month (``round(year / 12)`` periods: 21 business days, 4 weeks, 1 month) that leaves a whole year."""
    return np.arange(0, n - year + 1, max(1, round(year / MONTHS)))


def yearly_levels(y: np.ndarray, variance: np.ndarray, year: int, starts: np.ndarray | None = None) -> np.ndarray:
    """``[windows]`` mean over assets of ``log(realised variance / variance)`` of the `year`-long windows of
    ``y [time, assets]`` that begin at `starts` (default: `window_starts`)."""
    n = y.shape[0]
    starts = window_starts(n, year) if starts is None else np.asarray(starts)
    centred = y - y.mean(axis=0)
    csum = np.concatenate([np.zeros((1, y.shape[1])), np.cumsum(centred**2, axis=0)])
    rv = (csum[starts + year] - csum[starts]) / year  # [windows, assets]
    return np.mean(np.log(np.maximum(rv, 1e-12) / variance), axis=1)


def neighbour_windows(n_windows: int) -> int:
    """How many of `n_windows` one-year windows a conditional level is drawn from: ``sqrt(n_windows)``
    (Lall and Sharma's k), at least 1. The windows overlap twelve to a year, so these come from one or two
    episodes; counting sqrt(years) years of windows instead was measured alike on the calibration bar
    (docs/fidelity.md), and the published count is kept."""
    return max(1, int(round(np.sqrt(n_windows))))


class Levels(NamedTuple):
    """What a world's level is drawn from: ``factors [windows]`` (the long-run variance's multiplier),
    ``index [windows]`` (each factor's one-year window, a position in `window_starts`) and the shrink ``c`` of
    the module doc."""

    factors: np.ndarray
    index: np.ndarray
    shrink: float


def one_level() -> Levels:
    """Every world at the fit's own long-run level: the single factor 1."""
    return Levels(np.ones(1), np.zeros(1, np.int64), 0.0)


def drawn_levels(y: np.ndarray, year: int, v_model: float, *, conditional: bool) -> Levels:
    """The `Levels` a world's long-run level is drawn from (the module doc), given the sample ``y [time,
    assets]`` and the variance ``v_model`` of the yearly level over one-year paths of the fitted model.
    `conditional`: only the years that followed a year like the last one of the sample (the
    `neighbour_windows` nearest in level); else all. A sample too short to learn levels from (`learns_levels`)
    gives `one_level`."""
    n = y.shape[0]
    if not learns_levels(n, year):
        return one_level()
    variance = np.var(y, axis=0)
    starts = window_starts(n, year)
    hist = yearly_levels(y, variance, year, starts)
    v_hist = float(np.var(hist))
    c = float(np.sqrt(max(0.0, 1.0 - v_model / v_hist))) if v_hist > 0 else 0.0
    factors = np.exp(c * (hist - hist.mean()))
    factors = factors / factors.mean()  # the average long-run variance over the history's years is kept
    index = np.arange(starts.size)
    if not conditional:
        return Levels(factors, index, c)
    # years are persistent: draw from the years whose previous year was nearest in level to the last one
    follows = starts >= year
    prev = yearly_levels(y, variance, year, starts[follows] - year)
    now = yearly_levels(y, variance, year, np.array([n - year]))[0]
    k = neighbour_windows(prev.size)
    nearest = np.argsort(np.abs(prev - now), kind="stable")[:k]
    return Levels(factors[follows][nearest], index[follows][nearest], c)

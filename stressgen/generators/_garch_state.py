"""State-matched filtered historical simulation: the residual row replayed on a day depends on a slow state
of the world's own recent residuals (docs/fidelity.md, "The start state drives the spread").

Why. Plain FHS treats the standardized residuals as i.i.d.: any historical date may follow any day. They
are not. A GARCH(1,1) forgets a volatility regime within weeks (persistence 0.97-0.99: half-lives of 23-69
days), while real volatility regimes last for years: measured on sp500-20 over 54 rolling one-year
horizons, the real equal-weight volatility of the next year fell outside the worlds' 5-95% band 45% of the
time (from 7% in 2017 to 47% in 2008, where the worlds' medians stayed within 11-22%). What the GARCH
forgets shows up in its residuals: through a calm regime they stay small (E[e^2] < 1) for months, through a
stressed one large. Replaying rows regardless of that makes calm worlds too wild and stressed worlds too
tame: the U-shaped drawdown miss of rolling-origin calibration.

What. On each simulated day a row is drawn among the dates whose state was nearest to the world's own, a
nearest-neighbour conditional resampling (Lall and Sharma 1996), as the state-matched bootstrap does:

* the state is the exponentially weighted mean, over past days, of the cross-sectional mean squared
  residual ``mean_i e_ti^2``, with decay `GarchConfig.state_decay` (0.99 by default: the persistence of
  the long-run component in Engle and Lee's component GARCH, whose estimates on equity indices are
  0.99-0.999). It is the slow volatility component the GARCH(1,1) lacks, measured in units of what the
  GARCH predicts. History's state of a day uses only the days before it; a world's state moves with the
  rows it replays, and starts at the state after the last real day (the conditional start) or at the
  sample mean (the unconditional one);
* the row is drawn uniformly from the ``k`` dates nearest in state rank, ``k = round(sqrt(n))`` by default
  (Lall and Sharma's choice).

Stationarity. `_garch_tails.moment_guard` makes the *unconditional* residual law satisfy
``E[A^(kappa/2)] <= 1`` and ``E[A] <= max_persistence`` (``A = (alpha + gamma [e < 0]) e^2 + beta``). Under
state matching each window of k dates is a law of its own, and the windows of high states are wilder than
the average: a world that enters them stays, and its variance can explode (measured without the step
below, sp500-20 cut at 2000-06-30: 4.6% of worlds with a daily |log r| > 1). So the law around every state
must satisfy the same two conditions. ``E[A^(kappa/2)]`` is checked on the band of the `BAND` (10%) of dates
nearest in state around each window, not on its k dates alone: it is a fourth-moment statistic, and over
sqrt(n) dates a single tail residual decides it, while a world's state wanders over such a band within
weeks; ``E[A]``, whose excess makes the variance grow geometrically, is checked on the window itself.
Where a law fails them, the window's residuals of that asset are shrunk by the largest factor in (0, 1]
that restores them (`window_shrink`): the window keeps its dates, its cross-section and its signs, and
only its scale, for that asset, is reduced. Windows that satisfy them are never inflated. The factors are
computed on the rows before centring (below), which only lowers a window's second moment.

Drift. Each window's own mean residual is subtracted from the rows it replays, so that the conditional
mean of every state's law is zero and the worlds' drift stays the fitted mean ``mu``. Kept, the negative
mean of stressed windows deepens crisis drawdowns but biases every world's drift (measured in
docs/fidelity.md: the one-year return then misses on the held-out index).

Year-matched rows (``fhs_matching="year"``, the default; `year_windows`). A world replays, for its whole life, the
rows of the one-year window its long-run level was drawn from, among all the history's years whatever the start
(`_garch_level`), so the year brings its cross-section (the correlation of a crisis year, or of a calm one) and
its drift along with its level. Each window's rows are scaled to unit variance per asset about their mean (the
drawn level carries the year's scale; without the scaling the scale was counted twice, and the worlds' spread of
one-year equal-weight variances was wider than the history's), then held to the moment conditions above on exactly
its own rows, which are all the world replays. They are not centred: a crisis year's residuals lean negative and a
calm rising year's positive, and a world that replays the year keeps that lean with its level, as the year had
them together. Unlike state-matched windows, whose worlds stay in stressed states and whose kept means therefore
biased every world's drift, a year is drawn uniformly among all years, so the leans average over the history's
years, not over a few episodes (the worlds' mean one-year equal-weight log return is 0.15 against the history's
0.17 on sp500-20, 0.05 against 0.04 on the held-out index; `bench/correlation_regimes.py`). Centred, the drawdowns
of crisis years were too shallow and those of calm rising years too deep. Its calibration, with and without the
drift, is in docs/fidelity.md ("Year-matched rows (the default)").

A fit that draws neither stores empty state arrays (`empty_state_arrays`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _levels as lv
from . import _tables as tb

__all__ = ["MATCHING", "default_neighbours", "state_series", "state_arrays", "YearRows", "year_windows", "year_arrays",
           "empty_state_arrays", "window_shrink", "next_state", "matched_rows", "year_rows"]

MATCHING = ("state", "year", "none")
SHRINK_GRID = np.linspace(0.05, 1.0, 96)  # candidate factors: about 1% apart, the largest that holds is kept
BAND = 0.1  # the share of dates, nearest in state, on whose law the moment conditions are checked
BISECTIONS = 12  # a year window's factor to within 2^-12 of (0.05, 1]


def default_neighbours(n_days: int) -> int:
    """``round(sqrt(n))``, at least 1 and at most n."""
    return int(min(n_days, max(1, round(np.sqrt(n_days)))))


def state_series(e: np.ndarray, decay: float) -> tuple[np.ndarray, float, float]:
    """(state before each day ``[time]``, state after the last day, sample mean) of the residuals ``e [time,
    assets]``: the exponentially weighted mean of ``mean_i e_ti^2``, started at its sample mean."""
    x = np.mean(e * e, axis=1)
    state = np.empty_like(x)
    s = float(np.mean(x))
    for t, v in enumerate(x):
        state[t] = s
        s = decay * s + (1.0 - decay) * v
    return state, s, float(np.mean(x))


def window_shrink(e: np.ndarray, news: np.ndarray, leverage: np.ndarray, beta: np.ndarray, power: np.ndarray,
                  max_persistence: float, k: int) -> np.ndarray:
    """``[n - k + 1, assets]`` factor for the residuals ``e [n, assets]`` (rows in state order) of each window
    of k consecutive rows: the largest in (0, 1] (on `SHRINK_GRID`) with which the law of the band of
    ``max(k, BAND * n)`` rows centred on the window satisfies ``E[A^power] <= 1`` and ``E[A] <=
    max_persistence`` per asset, where ``A = (news + leverage [e < 0]) e^2 + beta`` (alpha, gamma, beta, and
    kappa / 2, all ``[assets]``). Where even the smallest factor fails (beta alone at the bound) the smallest
    is kept; `moment_guard` has already made that impossible."""
    n, n_assets = e.shape
    width = min(n, max(k, int(round(BAND * n))))
    band = np.clip(np.arange(n - k + 1) + k // 2 - width // 2, 0, n - width)  # the band of each window
    out = np.empty((n - k + 1, n_assets))
    for i in range(n_assets):
        coef = (news[i] + leverage[i] * (e[:, i] < 0)) * e[:, i] ** 2  # [n]
        a = SHRINK_GRID[:, None] ** 2 * coef[None, :] + beta[i]  # [grid, n]: A under each factor

        def window_mean(x: np.ndarray, w: int, at: np.ndarray) -> np.ndarray:
            c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
            return (c[:, w:] - c[:, :-w])[:, at] / w  # [grid, n - k + 1]

        ok = ((window_mean(a ** power[i], width, band) <= 1.0 + 1e-9)
              & (window_mean(a, k, np.arange(n - k + 1)) <= max_persistence + 1e-9))
        # the moments grow with the factor, so the factors that hold are a prefix of the grid
        last = np.where(ok.any(axis=0), ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 0)
        out[:, i] = SHRINK_GRID[last]
    return out


def state_arrays(e: np.ndarray, decay: float, neighbours: int | None, *, params: np.ndarray | None,
                 power: np.ndarray, max_persistence: float) -> dict[str, np.ndarray]:
    """The arrays the sampler matches with (float32 unless said): states before each day sorted ascending,
    the day of each (int32), the state after the last day and the mean state, the decay, the number of
    neighbours (int32) and the residual factor of each window (`window_shrink`; all ones when `params` is
    None: no moment condition is imposed). `params` is ``[assets, 6]`` in `_garch_fit.PARAM_NAMES` order."""
    state, end, mean = state_series(e, decay)
    order = np.argsort(state, kind="stable")
    k = default_neighbours(len(state)) if neighbours is None else min(int(neighbours), len(state))
    # each window's own mean residual, which the sampler subtracts (see the module doc, "Drift")
    csum = np.concatenate([np.zeros((1, e.shape[1])), np.cumsum(e[order], axis=0)])
    center = (csum[k:] - csum[:-k]) / k
    if params is None:
        shrink = np.ones((len(state) - k + 1, e.shape[1]))
    else:
        shrink = window_shrink(e[order], params[:, 2], params[:, 3], params[:, 4], power, max_persistence, k)
    f32 = np.float32
    return {"state_sorted": state[order].astype(f32), "state_order": order.astype(np.int32),
            "state_end": np.asarray(end, f32), "state_mean": np.asarray(mean, f32),
            "state_decay": np.asarray(decay, f32), "state_neighbours": np.asarray(k, np.int32),
            "state_shrink": shrink.astype(f32), "state_center": center.astype(f32)}


class YearRows(NamedTuple):
    """The windows a year-matched world can replay (`year_windows`): ``starts [windows]`` (first fit day),
    ``length`` (days in each), and per window and asset ``scale`` (a replayed row is ``e_t * scale``) and
    ``factor`` (the moment-condition part of the scale, <= 1)."""

    starts: np.ndarray
    length: int
    scale: np.ndarray
    factor: np.ndarray


def year_windows(e: np.ndarray, year: int, *, params: np.ndarray | None, power: np.ndarray,
                 max_persistence: float) -> YearRows:
    """The one-year windows of ``e [time, assets]`` (`_levels.window_starts`; a sample too short to
    learn levels from is one window of all its rows) and how a world replays each.

    The scale makes each window's law unit-variance per asset about the window's mean (the world's long-run level,
    drawn with the window, carries the year's scale; the rows carry its correlation, drift and shape), reduced
    where that law breaks the moment conditions of `_garch_tails` (``E[A^power] <= 1`` and ``E[A] <=
    max_persistence``, ``A = (alpha + gamma [x < 0]) x^2 + beta``): a world replays exactly these rows for its
    whole life, so the conditions are checked on them, and the largest factor in (0, 1] that holds is found by
    bisection (the moments grow with it). `params` None imposes no condition."""
    n, n_assets = e.shape
    starts, k = ((lv.window_starts(n, year), year) if lv.learns_levels(n, year)
                 else (np.zeros(1, np.int64), n))
    take = starts[:, None] + np.arange(k)  # [windows, k] the dates of each window
    scale, factor = np.ones((starts.size, n_assets)), np.ones((starts.size, n_assets))
    for i in range(n_assets):  # one asset at a time: [windows, k] arrays, whatever the width of the universe
        x = e[take, i]  # not centred: the world keeps the year's drift (module doc)
        unit = 1.0 / np.sqrt(np.maximum(np.var(x, axis=1), 1e-12))  # [windows] the spread about the year's mean
        scale[:, i] = unit
        if params is None:
            continue
        coef = (params[i, 2] + params[i, 3] * (x < 0)) * (x * unit[:, None]) ** 2  # [windows, k]

        def holds(r: np.ndarray) -> np.ndarray:
            a = r[:, None] ** 2 * coef + params[i, 4]
            return (np.mean(a ** power[i], axis=1) <= 1.0 + 1e-9) & (np.mean(a, axis=1) <= max_persistence + 1e-9)

        lo, hi = np.full(starts.size, SHRINK_GRID[0]), np.ones(starts.size)
        for _ in range(BISECTIONS):
            mid = 0.5 * (lo + hi)
            good = holds(mid)
            lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
        factor[:, i] = np.where(holds(np.ones(starts.size)), 1.0, lo)
    return YearRows(starts, k, scale * factor, factor)


def year_arrays(rows: YearRows, index: np.ndarray) -> dict[str, np.ndarray]:
    """`state_arrays`' fields for year-matched rows (``fhs_matching="year"``), for the windows `index` of
    `rows` (those the fit's level factors are drawn from, in their order): ``state_neighbours`` is the
    window length, with each window's scale (``state_center`` is empty: a year's rows are not centred);
    nothing is sorted by state."""
    f32 = np.float32
    return {"state_sorted": np.zeros(0, f32), "state_order": np.zeros(0, np.int32),
            "state_end": np.asarray(0.0, f32), "state_mean": np.asarray(0.0, f32),
            "state_decay": np.asarray(0.0, f32), "state_neighbours": np.asarray(rows.length, np.int32),
            "state_shrink": rows.scale[index].astype(f32),
            "state_center": np.zeros((0, rows.scale.shape[1]), f32)}


def empty_state_arrays(n_assets: int) -> dict[str, np.ndarray]:
    """`state_arrays`' fields for a fit that replays i.i.d. rows: nothing to match with, nothing stored."""
    f32 = np.float32
    return {"state_sorted": np.zeros(0, f32), "state_order": np.zeros(0, np.int32),
            "state_end": np.asarray(0.0, f32), "state_mean": np.asarray(0.0, f32),
            "state_decay": np.asarray(0.0, f32), "state_neighbours": np.asarray(0, np.int32),
            "state_shrink": np.zeros((0, n_assets), f32), "state_center": np.zeros((0, n_assets), f32)}


def next_state(state: jax.Array, e: jax.Array, decay: jax.Array, fence: jax.Array) -> jax.Array:
    """``[worlds]`` state after a day whose replayed residuals are ``e [worlds, assets]``.

    The sum over assets runs in a fixed order (a loop over columns, not a reduction whose association XLA
    may choose per shape) and every product is rounded before it is added (`_tables.rounded`), so that
    world i's state, and hence its rows, do not depend on the chunk size.
    """
    sq = tb.rounded(e * e, fence).T  # [assets, worlds]
    total = jax.lax.fori_loop(1, sq.shape[0], lambda i, acc: acc + sq[i], sq[0])
    return tb.rounded(decay * state, fence) + tb.rounded((1.0 - decay) * (total / sq.shape[0]), fence)


def matched_rows(keys: jax.Array, state: jax.Array, sorted_state: jax.Array, order: jax.Array,
                 neighbours: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``([worlds] historical row, [worlds] window)`` per world: the row is uniform among the `neighbours`
    dates nearest in state rank, the window is the rank of the first of them (`window_shrink`'s index).

    The window of ranks is centred on the world's state and kept inside the sample, so a world beyond the
    history's calmest or wildest day replays from its extreme ``k`` days.
    """
    n = sorted_state.shape[0]
    k = jnp.minimum(neighbours, n)
    pos = jnp.searchsorted(sorted_state, state)
    lo = jnp.clip(pos - k // 2, 0, n - k)
    pick = jax.vmap(lambda key: jax.random.randint(key, (), 0, k))(keys)
    return order[lo + pick], lo


def year_rows(keys: jax.Array, first: jax.Array, length: jax.Array) -> jax.Array:
    """``[worlds]`` a date uniform among the `length` dates of each world's window, which begins at `first`."""
    return first + jax.vmap(lambda key: jax.random.randint(key, (), 0, length))(keys)

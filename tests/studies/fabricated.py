"""Fabricated strategies for the strategy-selection test (issue 18, point 3): they memorise the real path, so
they look brilliant on the real history and have nothing to offer anywhere else.

* `DateOracle`: a lookup keyed on the close's date. For a share `skill` of the real closes it holds the
  asset that rises most the next day on the real history; for the others, an asset drawn at random when the
  table was built. A date it has never seen (every date of a world: worlds are dated after the history)
  falls on the entry ``date mod K``, as a hashed lookup would.
* `PatternMemo`: a lookup keyed on the signs of each asset's last `lags` daily returns, holding the asset
  with the best mean next-day return after that pattern over the whole real sample (mined in sample).

Both hold one asset at a time, fully invested and long only. Their tables are built from the same real
history the test backtests them on (`date_oracle`, `pattern_memo`): that is the fabrication. Neither reads
a later close through `obs`, so the engine's causality rules let them run; what they know of the future
they carry in their fields, which no check can see.

Also used by bench/bench_selection.py.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd

from stressgen.strategy import Obs, StepStrategy, static
from stressgen.types import future_dates

__all__ = ["DateOracle", "PatternMemo", "close_dates", "date_oracle", "pattern_memo"]


def close_dates(history_end: str, freq: str, n: int) -> np.ndarray:
    """``[n]`` days since 1970-01-01 of closes 0..n-1 of a backtest starting at `history_end` (close 0), as
    `obs.calendar.date` shows them: the history's calendar continued after close 0."""
    end = pd.Timestamp(history_end)
    days = pd.DatetimeIndex([end]).append(future_dates(end, freq, n - 1))
    return ((days - pd.Timestamp("1970-01-01")).days).to_numpy(np.int32)


@dataclasses.dataclass(frozen=True)
class DateOracle(StepStrategy):
    """Hold ``best[i]`` at the close dated ``dates[i]`` (``best[date mod K]`` at a date not in the table)."""

    dates: np.ndarray  # [K] int32, sorted: days since 1970 of the memorised closes
    best: np.ndarray  # [K] int32: the asset to hold from that close to the next

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        d = obs.calendar.date
        k = self.dates.shape[0]
        i = jnp.clip(jnp.searchsorted(self.dates, d), 0, k - 1)
        asset = jnp.where(self.dates[i] == d, self.best[i], self.best[d % k])
        return state, jnp.zeros(obs.log_return.shape[0], jnp.float32).at[asset].set(1.0)


def date_oracle(log_returns: np.ndarray, dates: np.ndarray, skill: float, seed: int) -> DateOracle:
    """A `DateOracle` that knows the next day's best asset on a share `skill` of the real closes.

    `log_returns` ``[T, assets]`` are the real returns the backtest trades (row t earned from close t to t+1)
    and `dates` ``[T]`` the days of closes 0..T-1 (`close_dates`). The closes it knows and the random assets
    of the others come from ``numpy.random.default_rng(seed)``.
    """
    g = np.random.default_rng(seed)
    t, n = log_returns.shape
    best = g.integers(0, n, size=t)
    known = g.random(t) < skill
    best[known] = np.argmax(log_returns[known], axis=1)
    return DateOracle(dates=np.asarray(dates, np.int32), best=best.astype(np.int32))


@dataclasses.dataclass(frozen=True)
class PatternMemo(StepStrategy):
    """Hold ``table[pattern]``, the pattern being the signs of each asset's last `lags` returns (bit
    ``j * assets + a`` set when asset a rose `j` closes ago)."""

    table: np.ndarray  # [2 ** (lags * assets)] int32
    lags: int = static(1)  # a Python range(): part of the program

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        n = obs.log_return.shape[0]
        index = jnp.int32(0)
        for j in range(self.lags):
            up = (obs.log_return_ago(j) > 0).astype(jnp.int32)
            index = index + jnp.sum(up << (j * n + jnp.arange(n, dtype=jnp.int32)))
        return state, jnp.zeros(n, jnp.float32).at[self.table[index]].set(1.0)


def pattern_memo(log_returns: np.ndarray, lags: int, history: np.ndarray | None = None) -> PatternMemo:
    """A `PatternMemo` mined on `log_returns` ``[T, assets]`` (the real returns the backtest trades): for
    each pattern of the last `lags` days' signs, the asset with the best mean return the next day. `history`
    ``[H, assets]`` are the warm-up returns before them (so the first closes have a pattern too)."""
    r = log_returns if history is None else np.concatenate([history, log_returns])
    start = 0 if history is None else history.shape[0]
    n = r.shape[1]
    up = (r > 0).astype(np.int64)
    sums = np.zeros((2 ** (lags * n), n))
    counts = np.zeros(2 ** (lags * n))
    for t in range(max(start, lags) - 1, r.shape[0] - 1):
        # the pattern at close t (returns t, t-1, ... ), traded on the return of t + 1
        index = sum(int(up[t - j, a]) << (j * n + a) for j in range(lags) for a in range(n))
        if t + 1 >= start:
            sums[index] += r[t + 1]
            counts[index] += 1
    table = np.argmax(sums / np.maximum(counts, 1)[:, None], axis=1)
    return PatternMemo(table=table.astype(np.int32), lags=lags)

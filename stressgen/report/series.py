"""Derived series of one real-history equity curve, for the tear sheet's plots and headline table.

These are the only numbers the report derives itself, and only from `StrategyResult.real_equity` (or the
benchmark's equity): the per-world statistics all come from the pipeline. They follow the conventions of
`stressgen.metrics.risk` so the tear sheet and the risk tables agree:

* period returns are simple returns ``E_t / E_{t-1} - 1`` of the equity curve (which starts at 1.0);
* drawdown is ``1 - E_t / max(E_0..E_t)``, a positive depth, measured from the running peak including the
  starting equity;
* standard deviations use ddof=1; annualisation multiplies by ``sqrt(periods_per_year)`` (252 for business
  days); Sharpe subtracts the per-period risk-free rate ``(1 + rf)**(1 / periods_per_year) - 1``;
* a month's (a year's) return compounds the daily returns within it: ``E_last / E_before - 1`` where
  ``E_before`` is the last equity before the month (the start equity for the first, partial, month);
* rolling statistics at date t use the `ROLLING_WINDOW` returns ending at t (NaN before a full window).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

__all__ = ["ROLLING_WINDOW", "HeadlineStats", "drawdown", "headline_stats", "monthly_returns",
           "monthly_table", "period_returns", "rf_per_period", "rolling_sharpe", "rolling_volatility",
           "yearly_returns"]

# About three months of business days: short enough to show regimes, long enough to be stable.
ROLLING_WINDOW = 63


def rf_per_period(rf: float, periods_per_year: int) -> float:
    """The annual rate `rf` compounded down to one period (as `stressgen.metrics.risk.rf_per_period`)."""
    return (1.0 + rf) ** (1.0 / periods_per_year) - 1.0


def period_returns(equity: np.ndarray) -> np.ndarray:
    """``[T + 1] -> [T]`` simple returns of an equity curve."""
    e = np.asarray(equity, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a wiped-out curve: inf / NaN, shown as a dash
        return e[1:] / e[:-1] - 1.0


def drawdown(equity: np.ndarray) -> np.ndarray:
    """``[T + 1]`` drawdown depth from the running peak (0 at a new high), the start included."""
    e = np.asarray(equity, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - e / np.maximum.accumulate(e)


def _compounded(equity: np.ndarray, dates: pd.DatetimeIndex, freq: str) -> pd.Series:
    """Return of each calendar period from the equity at its last date and at the previous period's last."""
    s = pd.Series(np.asarray(equity, np.float64), index=pd.DatetimeIndex(dates))
    ends = s.groupby(s.index.to_period(freq)).last()
    before = np.concatenate([[float(np.asarray(equity, np.float64)[0])], ends.to_numpy()[:-1]])
    return pd.Series(ends.to_numpy() / before - 1.0, index=ends.index)


def monthly_returns(equity: np.ndarray, dates: pd.DatetimeIndex) -> pd.Series:
    """Compounded return of each calendar month, index `pd.Period` (monthly)."""
    return _compounded(equity, dates, "M")


def yearly_returns(equity: np.ndarray, dates: pd.DatetimeIndex) -> pd.Series:
    """Compounded return of each calendar year, index `pd.Period` (yearly)."""
    return _compounded(equity, dates, "Y")


def monthly_table(equity: np.ndarray, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Years x months (columns 1..12) of monthly returns, NaN where the history has no such month, and a
    last column ``"year"`` with the compounded return of the year (of its months in the history)."""
    m = monthly_returns(equity, dates)
    table = pd.DataFrame(np.nan, index=pd.Index(sorted({p.year for p in m.index}), name="year"),
                         columns=list(range(1, 13)))
    for p, v in m.items():
        table.loc[p.year, p.month] = v
    y = yearly_returns(equity, dates)
    table["year"] = [y[pd.Period(year=int(yr), freq="Y")] for yr in table.index]
    return table


def _rolling(r: np.ndarray, window: int):
    """Rolling mean and ddof=1 std of the last `window` values, ``[T]``, NaN before the first full window."""
    n = len(r)
    mean, std = np.full(n, np.nan), np.full(n, np.nan)
    if window < 2 or n < window:
        return mean, std
    # each window on its own (T x window flops, nothing for decades of days): running sums would cancel
    # catastrophically, giving a flat stretch a tiny non-zero std and a huge Sharpe ratio
    w = np.lib.stride_tricks.sliding_window_view(r, window)
    mean[window - 1:] = w.mean(axis=1)
    std[window - 1:] = w.std(axis=1, ddof=1)
    return mean, std


def rolling_volatility(equity: np.ndarray, *, window: int = ROLLING_WINDOW, periods_per_year: int = 252
                       ) -> np.ndarray:
    """``[T + 1]`` annualised volatility of the `window` returns ending at each date (NaN before)."""
    _, std = _rolling(period_returns(equity), window)
    return np.concatenate([[np.nan], std * np.sqrt(periods_per_year)])


def rolling_sharpe(equity: np.ndarray, *, window: int = ROLLING_WINDOW, periods_per_year: int = 252,
                   rf: float = 0.0) -> np.ndarray:
    """``[T + 1]`` annualised Sharpe ratio of the `window` returns ending at each date (NaN before; NaN where
    the window's returns are constant, as a world in cash)."""
    mean, std = _rolling(period_returns(equity), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (mean - rf_per_period(rf, periods_per_year)) / np.where(std > 0, std, np.nan)
    return np.concatenate([[np.nan], s * np.sqrt(periods_per_year)])


@dataclasses.dataclass(frozen=True)
class HeadlineStats:
    """The tear sheet's table row of one equity curve (fractions, not percent)."""

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    max_drawdown: float
    best_month: float
    worst_month: float


def headline_stats(equity: np.ndarray, dates: pd.DatetimeIndex, *, periods_per_year: int = 252,
                   rf: float = 0.0) -> HeadlineStats:
    """Total return, CAGR ``(E_T / E_0)**(periods_per_year / T) - 1``, annualised volatility and Sharpe,
    maximum drawdown, and the best and worst calendar month of one equity curve ``[T + 1]``."""
    e = np.asarray(equity, np.float64)
    r = period_returns(e)
    total = e[-1] / e[0] - 1.0
    if len(r) < 2:
        nan = float("nan")
        return HeadlineStats(float(total), nan, nan, nan, float(drawdown(e).max()), nan, nan)
    std = float(np.std(r, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = (e[-1] / e[0]) ** (periods_per_year / len(r)) - 1.0 if e[-1] > 0 else float("nan")
        sharpe = (np.mean(r) - rf_per_period(rf, periods_per_year)) / std * np.sqrt(periods_per_year) \
            if std > 0 else float("nan")
    months = monthly_returns(e, dates)
    return HeadlineStats(total_return=float(total), cagr=float(growth),
                         volatility=std * float(np.sqrt(periods_per_year)), sharpe=float(sharpe),
                         max_drawdown=float(drawdown(e).max()), best_month=float(months.max()),
                         worst_month=float(months.min()))

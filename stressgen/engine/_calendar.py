"""The calendar rows a step strategy reads as `Obs.calendar`: one row per close of the warm-up and the horizon.

Why a table built on the host: dates are pandas' business (for daily data) calendar, which has no jax.numpy
form, and they are the same for every world, so one small ``[closes, 6]`` int32 table is computed once per
run and read by index inside the loop.

Dates: the synthetic closes are the dates the results carry (`stressgen.types.future_dates` after
``Scenarios.history_end``); the warm-up closes are counted back from ``history_end`` on the same calendar, so
a holiday in the real history shifts the warm-up's earlier dates by a day (the horizon's dates, where P&L
counts, are exact).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..types import _FUTURE_OFFSETS, future_dates

__all__ = ["calendar_table"]


# Every backtest call asks for it (each strategy, each chunk of a run) with the same four arguments, and pandas
# takes about 1 ms to build it: a few recent tables are kept (read-only, so a caller cannot change them).
@functools.lru_cache(maxsize=16)
def calendar_table(history_end: str, freq: str, n_hist: int, horizon: int) -> np.ndarray | None:
    """``[max(n_hist, 1) + horizon, 6]`` int32 rows ``(date, weekday, week_end, month_end, quarter_end,
    year_end)``, row ``max(n_hist, 1) - 1 + t`` for close t (the engine's tape layout); None without
    ``history_end`` (hand-built scenarios carry no dates). A flag ``*_end`` says that the next close falls
    in a new week, month, quarter or year; the horizon's last close looks one close further on the calendar."""
    if not history_end or freq not in _FUTURE_OFFSETS:
        return None
    end = pd.Timestamp(history_end)
    offset = _FUTURE_OFFSETS[freq]
    n_past = max(n_hist, 1)
    past = pd.date_range(end=end, periods=n_past, freq=offset) if offset.is_on_offset(end) else \
        pd.date_range(end=end - offset, periods=n_past - 1, freq=offset).append(pd.DatetimeIndex([end]))
    dates = past.append(future_dates(end, freq, horizon + 1))  # one extra close: the last row's "next"
    nxt = dates[1:]
    dates = dates[:-1]
    week = lambda d: d.to_period("W-SUN")  # noqa: E731  (weeks run Monday to Sunday)
    rows = np.stack([
        (dates.values.astype("datetime64[D]").astype(np.int64)),
        dates.day_of_week,
        week(nxt) != week(dates),
        nxt.month != dates.month,
        nxt.quarter != dates.quarter,
        nxt.year != dates.year,
    ], axis=1)
    rows = rows.astype(np.int32)
    rows.setflags(write=False)
    return rows

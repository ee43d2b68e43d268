"""Selecting a date window and a subset of assets; one rule for bundled data, files and `MarketData`.

The same `window` function serves `select(market, ...)` and the loaders (which select before deciding
what to do about missing prices, so that a gap outside the asked-for window never matters).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, InsufficientHistoryError, UnknownAssetError
from ..types import MarketData, Repair
from ._repair import suspects_within
from ._table import iso

__all__ = ["select", "window", "as_timestamp", "check_min_obs", "require_enough", "repairs_within"]

DateLike = str | dt.date | pd.Timestamp | np.datetime64


def as_timestamp(value: DateLike | None, name: str) -> pd.Timestamp | None:
    """`value` as a naive Timestamp (None stays None); ConfigError naming the argument when it is no date."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{name}={value!r} is not a date; expected an ISO date such as '2020-01-31' "
                          "or a Timestamp") from err
    if pd.isna(ts):
        raise ConfigError(f"{name}={value!r} is not a date; expected an ISO date such as '2020-01-31'")
    return ts.tz_localize(None) if ts.tz is not None else ts


def check_min_obs(min_obs: int) -> int:
    if isinstance(min_obs, bool) or not isinstance(min_obs, (int, np.integer)) or min_obs < 2:
        raise ConfigError(f"min_obs={min_obs!r} is not valid; expected an integer >= 2 "
                          "(one log return needs two prices)")
    return int(min_obs)


def _asset_indices(all_assets: tuple[str, ...], assets: str | Sequence[str] | None, source: str) -> list[int]:
    if assets is None:
        return list(range(len(all_assets)))
    wanted = [assets] if isinstance(assets, str) else [str(a) for a in assets]
    if not wanted:
        raise ConfigError("assets=[] selects nothing; expected None (all assets) or a list of asset names")
    repeated = sorted({a for a in wanted if wanted.count(a) > 1})
    if repeated:
        raise ConfigError(f"assets lists {', '.join(map(repr, repeated))} more than once; "
                          "expected each asset once")
    unknown = [a for a in wanted if a not in all_assets]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise UnknownAssetError(f"unknown asset{plural} {', '.join(map(repr, unknown))}",
                                choices=all_assets, path=source,
                                expected=f"names from: {', '.join(all_assets)}")
    return [all_assets.index(a) for a in wanted]


def window(dates: pd.DatetimeIndex, all_assets: tuple[str, ...], *, start: DateLike | None,
           end: DateLike | None, assets: str | Sequence[str] | None, source: str) -> tuple[slice, list[int]]:
    """Rows (a slice of sorted `dates`, both ends inclusive) and asset column indices (in the asked order)."""
    lo, hi = as_timestamp(start, "start"), as_timestamp(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"start={iso(lo)} is after end={iso(hi)}; expected start <= end")
    i0 = 0 if lo is None else int(dates.searchsorted(lo, side="left"))
    if hi is None:
        i1 = len(dates)
    elif hi == hi.normalize():
        # A plain date as `end` means the whole day, also when rows carry a time (e.g. 16:00 closes).
        i1 = int(dates.searchsorted(hi + pd.Timedelta(days=1), side="left"))
    else:
        i1 = int(dates.searchsorted(hi, side="right"))
    return slice(i0, max(i0, i1)), _asset_indices(all_assets, assets, source)


def require_enough(n: int, *, min_obs: int, source: str, start: DateLike | None = None,
                   end: DateLike | None = None, available: pd.DatetimeIndex | None = None,
                   after: str = "") -> None:
    """InsufficientHistoryError when fewer than `min_obs` observations are left."""
    if n >= min_obs:
        return
    asked = f"at least {min_obs} observations"
    if start is not None or end is not None:
        lo = iso(as_timestamp(start, "start")) if start is not None else "the first date"
        hi = iso(as_timestamp(end, "end")) if end is not None else "the last date"
        asked += f" from {lo} to {hi}"
    have = f" (the data covers {iso(available[0])}..{iso(available[-1])})" if available is not None and len(
        available) else ""
    raise InsufficientHistoryError(f"too little history: asked for {asked}, got {n}{after}{have}",
                                   path=source,
                                   expected=f"{min_obs} or more rows; widen start/end or lower min_obs")


def select(market: MarketData, *, start: DateLike | None = None, end: DateLike | None = None,
           assets: str | Sequence[str] | None = None, min_obs: int = 2) -> MarketData:
    """Dates from `start` to `end` (inclusive; None = open) and `assets` (in the given order) of `market`.

    The window is clipped to the dates the data has. Raises InsufficientHistoryError when fewer than
    `min_obs` dates remain, UnknownAssetError (listing the valid names) for an asset the data lacks.
    Repairs are kept when they concern the selection (forward fills are cut to the selected dates), and so
    are the suspects whose return lies inside it (not checked again, so a suspect is the same in every cut).
    """
    min_obs = check_min_obs(min_obs)
    rows, cols = window(market.dates, market.assets, start=start, end=end, assets=assets,
                        source=market.source)
    dates = market.dates[rows]
    require_enough(len(dates), min_obs=min_obs, source=market.source, start=start, end=end,
                   available=market.dates)
    names = tuple(market.assets[c] for c in cols)
    return MarketData(prices=market.prices[rows][:, cols], dates=dates, assets=names, freq=market.freq,
                      source=market.source, repairs=repairs_within(market.repairs, dates, names),
                      suspects=suspects_within(market.suspects, dates, names))


def repairs_within(repairs: tuple[Repair, ...], dates: pd.DatetimeIndex,
                   assets: tuple[str, ...]) -> tuple[Repair, ...]:
    """The repairs that concern a part of the data: forward fills and bad-print repairs cut to its dates and
    assets, split adjustments of its assets kept when the part holds a price before the split date (the
    prices the adjustment scaled), trims and guesses (delimiter, date format) kept (they describe how the
    source was read and its window built, which stays true of any part of it)."""
    kept = set(iso(d) for d in dates)
    out = []
    for r in repairs:
        if r.kind in ("forward_fill", "repair_bad_print"):
            inside = tuple(d for d in r.dates if d in kept)
            if r.column in assets and inside:
                out.append(dataclasses.replace(r, dates=inside) if inside != r.dates else r)
        elif r.kind == "adjust_split":
            if r.column in assets and len(dates) and dates[0] < pd.Timestamp(r.dates[0]):
                out.append(r)
        else:
            out.append(r)
    return tuple(out)

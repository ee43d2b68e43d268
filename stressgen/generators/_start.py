"""The `StartState` condition: worlds that continue from the state of a chosen historical day instead of the
last day of the data (docs/stress.md, "Start state").

A start is either a date (``StartState(date="2008-09-12")``) or a volatility level given as a percentile of
history (``StartState(vol_percentile=95)``). `StartState.resolve` turns either into one trading day of a
`MarketData`; `start_from` cuts the market at that day and hands the cut to the family's `reanchor`, so the
fitted estimates are kept and only "now" (the history context, the filtered state at its end) moves. A
family without a `reanchor` is refused: the start state never refits behind the caller's back.

Volatility is the one the bootstrap's regime labels use (`_bootstrap_regime.trailing_volatility`: the RMS of
the equal-weight log return over a day and the 20 before), annualised with the data's periods per year. A
day's percentile is its rank among all history days with a full window, scaled to 0 (the calmest day) .. 100
(the wildest), ties averaged; ``np.percentile(vols, p)`` of that day's percentile p is its volatility again.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np
import pandas as pd

from ..data import select
from ..data._select import as_timestamp
from ..errors import ConfigError
from ..types import MarketData
from ._bootstrap_regime import trailing_volatility

__all__ = ["StartState", "ResolvedStart", "start_from", "start_volatility", "percentile_ranks", "MIN_RETURNS",
           "min_start_returns", "TOLERANCE"]

# A start day needs one year of returns up to and including it (`min_start_returns`), and never fewer than
# MIN_RETURNS. The year keeps a start away from the first days of data, where the filters have not forgotten
# their initial state. The floor is what the families' re-anchors need, counted in returns whatever their
# frequency: GARCH's filter and residual copula want 100, the GAN's noise context its receptive field (128 by
# default); the regime filter and the bootstrap's pool want fewer. A year of daily data (252) is above it; a
# year of weekly (52) or monthly (12) data is not, and a fixed 252 would have asked for 5 or 21 years of
# history there. One minimum for every family, so the same StartState resolves to the same day whatever
# generator then uses it.
MIN_RETURNS = 128


def min_start_returns(periods_per_year: int) -> int:
    """Returns a start day needs up to and including it: one year of `periods_per_year`, at least MIN_RETURNS."""
    return max(int(periods_per_year), MIN_RETURNS)


# Half-width, in percentile points, of the band around a `vol_percentile` target in which a day is accepted.
TOLERANCE = 1.0


@dataclasses.dataclass(frozen=True)
class ResolvedStart:
    """The day the worlds start from.

    Attributes:
        date: ISO date of the trading day (the last price and return of the cut).
        volatility: annualised trailing 21-day equal-weight volatility on that day.
        percentile: that volatility's percentile rank (0..100) among all history days with a full window.
        note: why the day differs from what was asked (a non-trading date rolled back, no day within the
            percentile tolerance), or an empty string.
    """

    date: str
    volatility: float
    percentile: float
    note: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartState:
    """Continue from a historical day's state: give exactly one of `date` and `vol_percentile`.

    Attributes:
        date: an ISO date; a day that is not a trading day of the data rolls back to the last one before it.
        vol_percentile: in [0, 100]; the latest day whose equal-weight 21-day volatility lies within
            `TOLERANCE` percentile points of it (see `resolve`).
    """

    date: str | None = None
    vol_percentile: float | None = None

    def __post_init__(self) -> None:
        if (self.date is None) == (self.vol_percentile is None):
            raise ConfigError("give exactly one of start.date and start.vol_percentile (a date such as "
                              f"'2008-09-12' or a percentile in [0, 100]), got date={self.date!r}, "
                              f"vol_percentile={self.vol_percentile!r}")
        if self.date is not None:
            as_timestamp(self.date, "start.date")
        else:
            q = self.vol_percentile
            if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)) or not (
                    math.isfinite(q) and 0.0 <= q <= 100.0):
                raise ConfigError(f"start.vol_percentile must be a number in [0, 100], got {q!r}")
            object.__setattr__(self, "vol_percentile", float(q))

    def describe(self) -> str:
        """Short text for logs and provenance."""
        if self.date is not None:
            return f"start(date={self.date})"
        return f"start(vol_percentile={self.vol_percentile:g})"

    def resolve(self, market: MarketData) -> ResolvedStart:
        """The trading day of `market` whose state the worlds start from (ConfigError naming the field when
        none fits).

        `date`: that day, or the last trading day before it (said in `note`). It must leave at least
        `min_start_returns(market.periods_per_year)` returns up to it and not be after the last day.

        `vol_percentile`: among the days with at least that many returns up to them, the latest whose
        percentile rank lies within `TOLERANCE` points of the target. Latest, because the nearest past is
        the most like the present (markets' structure drifts); deterministic, as a tie-free rule must be.
        When no eligible day lies in the band (a target met only in the first year of data), the eligible
        day nearest in percentile (the latest among equals) is taken and `note` says how far it is.
        """
        vol, ranks = start_volatility(market)
        need = min_start_returns(market.periods_per_year)
        if vol.size < need:
            raise ConfigError(f"start: {market.source} has {vol.size} returns; a start day needs at least "
                              f"{_needed(need, market.periods_per_year)} (up to and including the day)")
        # return t (0-based) is dated return_dates[t], price date t + 1: the cut at it holds t + 1 returns
        dates = market.return_dates
        if self.date is not None:
            return self._resolve_date(market, dates, vol, ranks, need)
        q = float(self.vol_percentile)
        eligible = np.arange(need - 1, vol.size)
        dist = np.abs(ranks[eligible] - q)
        inside = eligible[dist <= TOLERANCE + 1e-9]
        if inside.size:
            t, note = int(inside[-1]), ""
        else:
            best = dist.min()
            t = int(eligible[np.flatnonzero(dist == best)[-1]])
            note = (f"no day with {need} returns before it lies within {TOLERANCE:g} points of "
                    f"percentile {q:g}; took the nearest, at percentile {ranks[t]:.1f}")
        return ResolvedStart(date=str(dates[t].date()), volatility=float(vol[t]), percentile=float(ranks[t]),
                             note=note)

    def _resolve_date(self, market: MarketData, dates: pd.DatetimeIndex, vol: np.ndarray, ranks: np.ndarray,
                      need: int) -> ResolvedStart:
        asked = as_timestamp(self.date, "start.date")
        span = f"{market.dates[0].date()}..{market.dates[-1].date()}"
        if asked > dates[-1]:
            raise ConfigError(f"start.date {self.date} is after the last day of {market.source} ({span}); "
                              "expected a date inside the history")
        t = int(dates.searchsorted(asked, side="right")) - 1  # the last return date on or before `asked`
        if t < need - 1:
            first = dates[need - 1].date()
            raise ConfigError(f"start.date {self.date} leaves {max(t + 1, 0)} returns of {market.source} ({span}) "
                              f"up to it; expected a date on or after {first} (at least "
                              f"{_needed(need, market.periods_per_year)})")
        day = dates[t]
        note = "" if day == asked else f"{asked.date()} is not a trading day; rolled back to {day.date()}"
        return ResolvedStart(date=str(day.date()), volatility=float(vol[t]), percentile=float(ranks[t]), note=note)


def _needed(need: int, periods_per_year: int) -> str:
    """``"128 returns: why"``: the count a start needs, and why (one year, or the re-anchors' floor)."""
    if need == periods_per_year:
        return f"{need} returns: one year"
    return (f"{need} returns: a year of this data is {periods_per_year}, below the {MIN_RETURNS} every "
            "family's re-anchor needs")


def start_volatility(market: MarketData) -> tuple[np.ndarray, np.ndarray]:
    """(``[returns]`` annualised trailing equal-weight volatility, ``[returns]`` its percentile ranks), NaN on
    the first WINDOW - 1 returns."""
    vol = trailing_volatility(market.log_returns) * math.sqrt(market.periods_per_year)
    return vol, percentile_ranks(vol)


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each finite value's rank among the finite values, 0 (smallest) .. 100 (largest), ties averaged (NaN
    stays NaN). Linear in the rank, as `np.percentile`'s default interpolation, so the two invert each other."""
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    v = values[ok]
    if v.size == 1:
        out[ok] = 50.0
    elif v.size > 1:
        # average rank of ties: the mean of the first and last sorted position of each value
        s = np.sort(v)
        lo, hi = np.searchsorted(s, v, side="left"), np.searchsorted(s, v, side="right") - 1
        out[ok] = 100.0 * (lo + hi) / 2.0 / (v.size - 1)
    return out


def start_from(generator: Any, fitted: Any, market: MarketData, state: StartState, *,
               key: jax.Array) -> tuple[Any, ResolvedStart]:
    """`fitted` made to continue from the day `state` resolves to in `market` (the fit's estimates kept),
    and that day.

    `market` is cut to its prices up to and including the day and given to ``generator.reanchor``; its
    assets must be the fitted ones, in order. A family whose `reanchor` returns None (it cannot continue
    from another state without a refit, e.g. a plugin family without the hook) raises a ConfigError naming
    it: refitting is left to the caller, who then knows the estimates changed.
    """
    if not isinstance(state, StartState):
        raise ConfigError(f"start: expected a StartState, got {type(state).__name__}")
    name = getattr(generator, "name", type(generator).__name__)
    context = getattr(fitted, "context", None)
    fitted_assets = tuple(getattr(context, "assets", ()) or ())
    if fitted_assets and tuple(market.assets) != fitted_assets:
        raise ConfigError(f"start: generator {name!r} was fitted on assets {list(fitted_assets)}; the market "
                          f"has {list(market.assets)}; expected the same assets in the same order")
    # a family that keeps the base class's reanchor (None) is refused before any work is done
    if not generator.can_reanchor:
        raise _no_reanchor(name)
    resolved = state.resolve(market)
    cut = select(market, end=resolved.date)
    moved = generator.reanchor(fitted, cut, key=key)
    if moved is None:
        raise _no_reanchor(name)
    return moved, resolved


def _no_reanchor(name: str) -> ConfigError:
    return ConfigError(f"start: generator {name!r} cannot continue from another day's state (it has no "
                       "reanchor, and a start state never refits); fit it on the data cut at the start day "
                       "(stressgen.data.select(market, end=day)) instead")


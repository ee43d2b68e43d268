"""Core types: validated market history (`MarketData`) and synthetic worlds (`Scenarios`).

Axis names, used everywhere: ``worlds``, ``time``, ``assets``.

`MarketData` is host-side data (NumPy, a pandas calendar) that never enters a jitted function, so it is a
plain frozen dataclass. `Scenarios` crosses into compiled code (the engine vmaps over its worlds), so it is
a frozen pytree: arrays are leaves, everything else is static metadata.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import struct

__all__ = ["Repair", "Suspect", "MarketData", "Provenance", "Scenarios", "future_dates", "period_words",
           "business_days", "BUSINESS_DAYS"]

# pandas offsets used to extend a calendar past the end of history, by MarketData.freq.
_FUTURE_OFFSETS = {"B": pd.offsets.BDay(1), "D": pd.offsets.Day(1), "W": pd.offsets.Week(1),
                   "M": pd.offsets.MonthEnd(1)}
PERIODS_PER_YEAR = {"B": 252, "D": 365, "W": 52, "M": 12}
# What one period is called, by periods per year: a monthly history's worlds hold 12 months, not 12 days.
_PERIOD_WORDS = {252: ("day", "daily"), 365: ("day", "daily"), 52: ("week", "weekly"), 12: ("month", "monthly")}


def period_words(periods_per_year: int) -> tuple[str, str]:
    """``(noun, adjective)`` for one period of a history with `periods_per_year` periods: ``("day", "daily")``
    for daily data, ``("month", "monthly")`` for monthly; ``("period", "per-period")`` for any other count."""
    return _PERIOD_WORDS.get(int(periods_per_year), ("period", "per-period"))


BUSINESS_DAYS = "business_days"  # field metadata key: "span" or "per_year" (see `business_days`)


def business_days(default: int | float, *, per_year: bool = False, static_field: bool = False) -> Any:
    """Declare a dataclass field (a strategy's or a generator config's) whose default counts business days
    (252 a year): a window, a lag, a rebalancing period or a warm-up (a span), or with ``per_year=True`` an
    annualisation factor (periods in a year); ``static_field=True`` also makes a strategy's field static.

    Why: a default chosen for daily data means something else on weekly or monthly data (a 252-close
    lookback is 21 years of months). A run on data of another frequency names every such field left at its
    default, what it spans there and the value of the same span (`stressgen.day_defaults`), rather than
    change it silently. A window that counts closes whatever their frequency (``every = 1``) is not one.
    """
    meta = {BUSINESS_DAYS: "per_year" if per_year else "span"}
    if static_field:
        meta["static"] = True
    return dataclasses.field(default=default, metadata=meta)


def future_dates(end: pd.Timestamp, freq: str, periods: int) -> pd.DatetimeIndex:
    """The `periods` dates after `end` on a history's calendar (business days for ``freq="B"``)."""
    offset = _FUTURE_OFFSETS[freq]
    return pd.date_range(pd.Timestamp(end) + offset, periods=periods, freq=offset)


@dataclasses.dataclass(frozen=True)
class Repair:
    """One change a loader made to the data, reported so that nothing is altered silently.

    Attributes:
        kind: what was done, e.g. ``"forward_fill"`` or ``"trim_leading"``.
        column: the asset it was done to.
        dates: the dates (ISO strings) that were filled or removed.
        detail: one human sentence saying why.
    """

    kind: str
    column: str
    dates: tuple[str, ...]
    detail: str


@dataclasses.dataclass(frozen=True)
class Suspect:
    """A data point that looks like an error in the data (a bad print, an unadjusted split), flagged by the
    loader's quality checks. Flagging changes nothing; a repair is opt-in and then listed in `repairs`.

    Attributes:
        kind: ``"bad_print"`` (a large move that reverses within days) or ``"split"`` (a move close to a
            split ratio that does not reverse).
        asset: the column.
        date: the ISO date of the suspicious return (the price on that date against the one before).
        size: that log return.
        detail: one human sentence: how many robust standard deviations, what reverses it, the ratio.
    """

    kind: str
    asset: str
    date: str
    size: float
    detail: str


@dataclasses.dataclass(frozen=True, eq=False)
class MarketData:
    """Validated price history, ``prices[time, assets]`` (float64, strictly positive, finite).

    Built by the loaders in `stressgen.data`, which validate and report every repair. The structural
    checks here only guard against misuse of the constructor.
    """

    prices: np.ndarray
    dates: pd.DatetimeIndex
    assets: tuple[str, ...]
    freq: str = "B"
    source: str = "<memory>"
    repairs: tuple[Repair, ...] = ()
    suspects: tuple[Suspect, ...] = ()

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices, dtype=np.float64)
        if prices.ndim != 2:
            raise ValueError(f"{self.source}: prices must be [time, assets], got shape {prices.shape}")
        if prices.shape != (len(self.dates), len(self.assets)):
            raise ValueError(
                f"{self.source}: prices shape {prices.shape} does not match "
                f"{len(self.dates)} dates x {len(self.assets)} assets"
            )
        if not (np.isfinite(prices).all() and (prices > 0).all()):
            raise ValueError(f"{self.source}: prices must be finite and > 0; load files through stressgen.data")
        if self.freq not in PERIODS_PER_YEAR:
            raise ValueError(f"{self.source}: freq must be one of {sorted(PERIODS_PER_YEAR)}, got {self.freq!r}")
        prices.setflags(write=False)
        object.__setattr__(self, "prices", prices)
        object.__setattr__(self, "dates", pd.DatetimeIndex(self.dates))
        object.__setattr__(self, "assets", tuple(str(a) for a in self.assets))

    @property
    def log_returns(self) -> np.ndarray:
        """``log(p[t] / p[t-1])``, shape ``[time - 1, assets]``, dated by `return_dates`."""
        return np.diff(np.log(self.prices), axis=0)

    @property
    def return_dates(self) -> pd.DatetimeIndex:
        return self.dates[1:]

    @property
    def n_obs(self) -> int:
        return self.prices.shape[0]

    @property
    def n_assets(self) -> int:
        return self.prices.shape[1]

    @property
    def periods_per_year(self) -> int:
        return PERIODS_PER_YEAR[self.freq]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.prices, index=self.dates, columns=list(self.assets))

    def __repr__(self) -> str:
        span = f"{self.dates[0].date()}..{self.dates[-1].date()}" if self.n_obs else "empty"
        return (f"MarketData({self.source!r}, {self.n_obs} x {self.n_assets} {self.freq}, {span}, "
                f"{len(self.repairs)} repairs, {len(self.suspects)} suspects)")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a set of worlds came from; enough to regenerate them bit for bit.

    Attributes:
        generator: registry name of the generator family.
        params_digest: SHA-256 (hex, 16 chars) of the fitted arrays and config.
        seed: the run's root seed, when the worlds were drawn from a seeded run.
        first_world: global index of the first world in this block of worlds.
        condition: the stress condition the worlds were drawn under, if any.
    """

    generator: str
    params_digest: str
    seed: int | None = None
    first_world: int = 0
    condition: str | None = None


@struct.dataclass
class Scenarios:
    """Synthetic worlds that continue a real history.

    Attributes:
        log_returns: ``[worlds, time, assets]`` synthetic log returns over the horizon (float32 by default).
        history: ``[time, assets]`` the real log returns the worlds continue from. Strategies warm up on it;
            P&L counts only on the synthetic horizon.
        anchor_prices: ``[assets]`` the last real prices, so that price paths can be rebuilt.
        weights: ``[worlds]`` importance weights for stressed sampling, or None for uniform worlds. They are
            raw (unnormalised) likelihood ratios, e.g. a `Tilt`'s, with mean 1 in expectation: normalise
            over all the worlds of an estimate (`world_weights` after `concat`), never chunk by chunk.
        assets, freq, history_end, provenance: static metadata.
    """

    log_returns: jax.Array
    history: jax.Array
    anchor_prices: jax.Array
    weights: jax.Array | None = None
    assets: tuple[str, ...] = struct.field(pytree_node=False, default=())
    freq: str = struct.field(pytree_node=False, default="B")
    history_end: str = struct.field(pytree_node=False, default="")
    provenance: Provenance = struct.field(pytree_node=False, default=Provenance("unknown", ""))

    @property
    def n_worlds(self) -> int:
        return self.log_returns.shape[0]

    @property
    def horizon(self) -> int:
        return self.log_returns.shape[1]

    @property
    def n_assets(self) -> int:
        return self.log_returns.shape[2]

    def first(self, n: int) -> Scenarios:
        """The first `n` worlds (all of them when there are no more), with their weights."""
        if n >= self.n_worlds:
            return self
        return self.replace(log_returns=self.log_returns[:n], weights=None if self.weights is None
                            else self.weights[:n])

    def world_weights(self) -> jax.Array:
        """``[worlds]`` weights that sum to 1 (uniform when `weights` is None)."""
        if self.weights is None:
            return jnp.full((self.n_worlds,), 1.0 / self.n_worlds, dtype=self.log_returns.dtype)
        return self.weights / jnp.sum(self.weights)

    def prices(self) -> jax.Array:
        """``[worlds, time + 1, assets]`` price paths; index 0 is the last real price."""
        cum = jnp.cumsum(self.log_returns, axis=1)
        cum = jnp.concatenate([jnp.zeros_like(cum[:, :1]), cum], axis=1)
        return self.anchor_prices * jnp.exp(cum)

    def dates(self) -> pd.DatetimeIndex:
        """Calendar of the synthetic horizon: the periods after `history_end` at the history's frequency."""
        return future_dates(pd.Timestamp(self.history_end), self.freq, self.horizon)

    def to_pandas(self, world: int, kind: Literal["prices", "log_returns"] = "prices") -> pd.DataFrame:
        """One world as a dated DataFrame (columns are assets); prices start from the last real close."""
        if not 0 <= world < self.n_worlds:
            raise IndexError(f"world {world} out of range: these scenarios hold worlds 0..{self.n_worlds - 1} "
                             f"(global indices {self.provenance.first_world}..)")
        dates = self.dates()
        if kind == "log_returns":
            return pd.DataFrame(np.asarray(self.log_returns[world]), index=dates, columns=list(self.assets))
        if kind == "prices":
            anchor = np.asarray(self.anchor_prices, dtype=np.float64)
            path = anchor * np.exp(np.cumsum(np.asarray(self.log_returns[world], dtype=np.float64), axis=0))
            index = pd.DatetimeIndex([pd.Timestamp(self.history_end)]).append(dates)
            return pd.DataFrame(np.vstack([anchor[None, :], path]), index=index, columns=list(self.assets))
        raise ValueError(f"kind must be 'prices' or 'log_returns', got {kind!r}")

    @staticmethod
    def concat(parts: list[Scenarios]) -> Scenarios:
        """Join consecutive chunks of worlds drawn from the same fitted generator and key."""
        if not parts:
            raise ValueError("concat needs at least one Scenarios")
        head = parts[0]
        expected = head.provenance.first_world
        for part in parts:
            if (part.provenance.generator, part.provenance.params_digest) != (
                head.provenance.generator, head.provenance.params_digest):
                raise ValueError("cannot concat worlds from different generators or fits")
            if part.provenance.condition != head.provenance.condition:
                # a tilted chunk's likelihood ratios are relative to its own law; next to plain worlds (filled
                # with ones) or another tilt's, the joined weights would estimate nothing
                raise ValueError(f"cannot concat worlds drawn under different conditions: "
                                 f"{head.provenance.condition!r} and {part.provenance.condition!r}")
            if part.provenance.first_world != expected:
                raise ValueError(f"chunks are not consecutive: expected first_world {expected}, "
                                 f"got {part.provenance.first_world}")
            expected += part.n_worlds
        weights = None
        if any(p.weights is not None for p in parts):
            weights = jnp.concatenate([p.weights if p.weights is not None else jnp.ones(p.n_worlds) for p in parts])
        return head.replace(log_returns=jnp.concatenate([p.log_returns for p in parts]), weights=weights)

"""Pure transforms of validated history: chronological split, log returns, per-asset standardization."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, SplitError, ZeroVarianceError
from ..types import MarketData
from ._repair import suspects_within
from ._select import DateLike, as_timestamp, repairs_within
from ._table import iso

__all__ = ["split", "log_returns", "Standardizer"]


def split(market: MarketData, *, at: DateLike | None = None,
          fraction: float | None = None) -> tuple[MarketData, MarketData]:
    """Chronological ``(train, test)``: give exactly one of `at` or `fraction`.

    * ``at``: train holds the dates up to and including `at`, test the dates strictly after it.
    * ``fraction``: train holds the first ``floor(fraction * n_obs)`` dates, test the rest.

    Both parts are non-empty. Raises SplitError otherwise. Each part keeps the repairs and suspects that
    concern it (see `select`).
    """
    if (at is None) == (fraction is None):
        raise SplitError("give exactly one of at= (a date) or fraction= (between 0 and 1)",
                         path=market.source,
                         expected=f"one argument; got at={at!r}, fraction={fraction!r}")
    n = market.n_obs
    span = f"{iso(market.dates[0])}..{iso(market.dates[-1])}" if n else "no dates"
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise SplitError(f"fraction={fraction!r} is not valid", path=market.source,
                             expected="a number strictly between 0 and 1")
        cut = math.floor(fraction * n)
        how = f"fraction={fraction:g} of {n} dates gives {cut} train and {n - cut} test dates"
    else:
        ts = as_timestamp(at, "at")
        # A plain date means the whole day, also when rows carry a time (as in `select`'s end=).
        bound, side = (ts + pd.Timedelta(days=1), "left") if ts == ts.normalize() else (ts, "right")
        cut = int(market.dates.searchsorted(bound, side=side))
        how = f"at={iso(ts)} leaves {cut} train and {n - cut} test dates (data covers {span})"
    if not 0 < cut < n:
        raise SplitError(f"one side of the split would be empty: {how}", path=market.source,
                         expected="at least one date on each side")
    return _part(market, slice(0, cut)), _part(market, slice(cut, n))


def _part(market: MarketData, rows: slice) -> MarketData:
    dates = market.dates[rows]
    return MarketData(prices=market.prices[rows], dates=dates, assets=market.assets, freq=market.freq,
                      source=market.source, repairs=repairs_within(market.repairs, dates, market.assets),
                      suspects=suspects_within(market.suspects, dates, market.assets))


def log_returns(market: MarketData) -> np.ndarray:
    """``log(p[t] / p[t-1])``, shape ``[time - 1, assets]`` (dated by ``market.return_dates``)."""
    return market.log_returns


@dataclasses.dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-asset ``(x - mean) / std`` (ddof=1) fitted on ``[time, assets]`` data; exactly reversible.

    `transform` and `inverse` use only array arithmetic on the last axis, so they accept NumPy or JAX arrays
    of any leading shape (e.g. ``[worlds, time, assets]``).
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = np.array(getattr(self, name), dtype=np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise DataError(f"mean {self.mean.shape} and std {self.std.shape} must be equal 1-d shapes",
                            expected="one mean and one std per asset")

    @classmethod
    def fit(cls, x: Any) -> Standardizer:
        """Mean and sample standard deviation (ddof=1) of each column of ``x[time, assets]``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise DataError(f"cannot fit on data of shape {x.shape}",
                            expected="[time, assets] with time >= 2")
        if not np.isfinite(x).all():
            i, j = np.argwhere(~np.isfinite(x))[0]
            raise DataError(f"non-finite value {x[i, j]} at time {i}, asset column {j}",
                            expected="finite values")
        std = x.std(axis=0, ddof=1)
        flat = np.flatnonzero(~(std > 0))
        if flat.size:
            j = int(flat[0])
            raise ZeroVarianceError(f"constant at {float(x[0, j])!r} on all {x.shape[0]} rows, so its "
                                    "variance is zero (the column is a 0-based index)", column=str(j),
                                    expected="a column that varies")
        return cls(mean=x.mean(axis=0), std=std)

    def _check(self, x: Any) -> None:
        if getattr(x, "shape", (None,))[-1:] != self.mean.shape:
            raise DataError(f"data of shape {getattr(x, 'shape', None)} does not match this Standardizer",
                            expected=f"a last axis of {self.mean.shape[0]} assets")

    def transform(self, x: Any) -> Any:
        """``(x - mean) / std`` along the last axis."""
        self._check(x)
        return (x - self.mean) / self.std

    def inverse(self, z: Any) -> Any:
        """``z * std + mean``: undoes `transform`."""
        self._check(z)
        return z * self.std + self.mean

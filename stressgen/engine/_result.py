"""`BacktestResult`: what `backtest` returns, as arrays, and typed pandas views of it (`to_pandas`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd
from flax import struct

from ._config import BacktestConfig

__all__ = ["BacktestResult", "BacktestFrames"]


class BacktestFrames(NamedTuple):
    """`BacktestResult.to_pandas`: one DataFrame per output, None where the result has none.

    Worlds are labelled ``world`` 0..n-1; after a grid run, the gridded fields label the parameter sets
    (``summary`` index and daily columns become a MultiIndex ``(*fields, world)``).

    Attributes:
        summary: one row per world (per parameter set and world), one float column per metric
            (``max_drawdown_duration`` int); None when no reducer ran.
        pnl, equity, turnover, costs: rows are the days (the ``date`` of the close ending each day when the
            result carries dates, else ``day`` 1..horizon), one column per world; None after a metrics-only run.
    """

    summary: pd.DataFrame | None
    pnl: pd.DataFrame | None
    equity: pd.DataFrame | None
    turnover: pd.DataFrame | None
    costs: pd.DataFrame | None


@struct.dataclass
class BacktestResult:
    """Per world (and per parameter set when a grid ran) results.

    Arrays lead with ``[params]`` only when a `ParamGrid` ran, then ``[worlds]``; daily series add
    ``[time]`` and are None when ``metrics_only=True``.

    Attributes:
        pnl: daily simple portfolio return, including the cost of the trade at the day's opening close.
        equity: equity at each synthetic close (starts from 1 before the first trade).
        turnover: ``sum|w - h|`` traded at the close that opens each day.
        costs: cost paid at that close, as a fraction of equity.
        summary: name -> per-world array from the reducer the run was given (`stressgen.backtest` passes the
            risk metrics of `stressgen.metrics.per_world_metrics`: total return, CAGR, volatility, Sharpe,
            Sortino, Calmar, max drawdown and its duration, VaR/ES of daily pnl, worst day, hit rate,
            turnover, cost drag, computed as running state inside the loop); None without a reducer.
        strategy, params, config: static metadata; ``params`` maps gridded field -> ``[params]`` values.
        dates: the ``horizon + 1`` closes of the run (close 0, the start, first) when the worlds are a real
            dated history (`stressgen.backtest_prices`); None for synthetic worlds.
    """

    pnl: jax.Array | None
    equity: jax.Array | None
    turnover: jax.Array | None
    costs: jax.Array | None
    summary: dict[str, np.ndarray] | None
    strategy: str = struct.field(pytree_node=False, default="")
    params: dict[str, np.ndarray] | None = struct.field(pytree_node=False, default=None)
    config: BacktestConfig = struct.field(pytree_node=False, default=BacktestConfig())
    # a tuple of Timestamps, not a DatetimeIndex: static fields are compared when pytrees meet, and an index
    # compares elementwise
    dates: tuple[pd.Timestamp, ...] | None = struct.field(pytree_node=False, default=None)

    def to_pandas(self) -> BacktestFrames:
        """The result as typed DataFrames (`BacktestFrames`): a per-world summary table and one
        ``[days x worlds]`` frame per daily series, dated when the result carries `dates`.

        >>> frames = result.to_pandas()
        >>> frames.summary["sharpe"].describe()     # across worlds
        >>> frames.equity[0]                        # world 0's equity curve
        """
        worlds = self._world_index()
        summary = None
        if self.summary is not None:
            summary = pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in self.summary.items()}, index=worlds)
        daily = {}
        for key in ("pnl", "equity", "turnover", "costs"):
            v = getattr(self, key)
            if v is None:
                daily[key] = None
                continue
            a = np.asarray(v)
            a = a.reshape(-1, a.shape[-1])  # [params * worlds, time]
            daily[key] = pd.DataFrame(a.T, index=self._day_index(a.shape[-1]), columns=worlds)
        return BacktestFrames(summary=summary, **daily)

    def _n_worlds(self) -> int:
        for v in (self.pnl, self.equity, self.turnover, self.costs, *(self.summary or {}).values()):
            if v is not None:
                return int(np.shape(v)[1 if self.params else 0])
        return 0

    def _world_index(self) -> pd.Index:
        n = self._n_worlds()
        if not self.params:
            return pd.RangeIndex(n, name="world")
        names = list(self.params)
        sets = list(zip(*(np.asarray(v).tolist() for v in self.params.values())))
        rows: list[tuple[Any, ...]] = [(*s, w) for s in sets for w in range(n)]
        return pd.MultiIndex.from_tuples(rows, names=[*names, "world"])

    def _day_index(self, horizon: int) -> pd.Index:
        if self.dates is not None and len(self.dates) == horizon + 1:
            return pd.DatetimeIndex(self.dates[1:], name="date")  # pnl[t] ends at close t + 1
        return pd.RangeIndex(1, horizon + 1, name="day")

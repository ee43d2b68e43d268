"""Bridge to vectorbt: one world of a backtest as a ``vbt.Portfolio`` built with ``from_orders``.

How the conventions are aligned (the parity test checks equity to 1e-6 relative):

* prices: ``close[0]`` is the last real close (``Scenarios.anchor_prices``), then the world's synthetic
  closes, rebuilt in float64 from the log returns; one bar per close, so ``close`` has ``horizon + 1`` rows.
* orders: the engine's executed targets (after the lag, the long-only clip and the gross cap) go to
  ``size`` with ``size_type='targetpercent'`` at the bar of the close where they trade; a decision with
  ``trade=False`` and the last bar are NaN (no order), exactly as the engine trades nothing there.
* one portfolio per world: ``group_by=True, cash_sharing=True, call_seq='auto'`` (sells first so buys
  have the cash), ``init_cash=1``; vectorbt's default ``update_value=False`` values every target against
  the pre-trade group value, which is the engine's convention.
* costs: ``fees = (fee_bps + slippage_bps) / 1e4`` and ``slippage = 0``: vectorbt's slippage moves the
  execution price, which adds a fee-on-slippage cross term that the engine (bps of notional) does not have.
* vectorbt cannot credit interest on cash, so parity holds for ``rf = 0``; and it refuses to let cash go
  negative, so a fully invested target with fees is partially filled there while the engine finances the
  cost with a little negative cash: parity is exact while ``sum(weights) + cost <= 1``.
* ``pf.value()[k]`` is the engine's ``equity[k - 1] * (1 - costs[k])`` (vectorbt values bar k after its
  fees; the engine's equity is the pre-trade value); the last bar (no order) equals ``equity[-1]``.
* bars are indexed by date when dates are known (``dates=`` or a `stressgen.backtest_prices` result),
  else by close number 0..horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..strategy import ParamGrid
from ..types import Scenarios
from ._config import BacktestConfig
from ._result import BacktestResult
from ._run import trace_world

__all__ = ["to_vectorbt", "vectorbt_orders"]


def _bar_index(n_bars: int, dates: Sequence[Any] | pd.DatetimeIndex | None) -> pd.Index:
    if dates is None:
        return pd.RangeIndex(n_bars, name="close")
    index = pd.DatetimeIndex(dates, name="date")
    if len(index) != n_bars:
        raise ConfigError(f"dates must hold the {n_bars} closes of the run (close 0, then one per day), "
                          f"got {len(index)}")
    return index


def vectorbt_orders(scenarios: Scenarios, world: int, strategy: Any, config: BacktestConfig, *,
                    dates: Sequence[Any] | pd.DatetimeIndex | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(close, size)`` DataFrames of ``horizon + 1`` bars for `world`, in vectorbt's target-percent form,
    indexed by `dates` (``horizon + 1`` closes, close 0 first) or by close number."""
    if isinstance(strategy, ParamGrid):
        raise ConfigError("to_vectorbt needs one parameter set: pass grid.at(p)")
    if not 0 <= world < scenarios.n_worlds:
        raise ConfigError(f"world {world} out of range 0..{scenarios.n_worlds - 1}")
    tr = trace_world(strategy, scenarios, config, worlds=slice(world, world + 1))
    executed, trade = tr["executed"][0, 0], tr["trade"][0, 0]           # [time, assets], [time]
    r = np.asarray(scenarios.log_returns[world], np.float64)
    anchor = np.asarray(scenarios.anchor_prices, np.float64)
    close = np.vstack([anchor[None], anchor * np.exp(np.cumsum(r, axis=0))])
    size = np.full_like(close, np.nan)
    size[:-1] = np.where(trade[:, None], executed.astype(np.float64), np.nan)
    assets = list(scenarios.assets) or [f"asset{i}" for i in range(close.shape[1])]
    index = _bar_index(close.shape[0], dates)
    return pd.DataFrame(close, index=index, columns=assets), pd.DataFrame(size, index=index, columns=assets)


def to_vectorbt(result: BacktestResult, scenarios: Scenarios, *, world: int, strategy: Any, freq: str = "1D",
                dates: Sequence[Any] | pd.DatetimeIndex | None = None) -> Any:
    """World `world` of `result` as a ``vectorbt.Portfolio`` (re-runs that one world to get its orders).

    `strategy` must be the one `result` was computed with (``grid.at(p)`` for parameter set p). The bars are
    indexed by `dates` (the ``horizon + 1`` closes, close 0 first), else by ``result.dates`` (set by
    `stressgen.backtest_prices`), else by close number. Returns a ``vectorbt.Portfolio`` (typed Any: vectorbt
    is imported only here).
    """
    import vectorbt as vbt

    config = result.config
    close, size = vectorbt_orders(scenarios, world, strategy, config,
                                  dates=dates if dates is not None else result.dates)
    return vbt.Portfolio.from_orders(
        close, size, size_type="targetpercent", direction="both", fees=_fees(config, close.shape[1]), slippage=0.0,
        init_cash=1.0, group_by=True, cash_sharing=True, call_seq="auto", freq=freq)


def _fees(config: BacktestConfig, n_assets: int) -> float | np.ndarray:
    """vectorbt's ``fees``: one rate, or one per column for per-asset costs (vectorbt broadcasts it)."""
    rates = config.cost_rates(n_assets)
    return config.cost_rate if rates is None else rates.astype(np.float64)

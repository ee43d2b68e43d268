"""User-facing backtests: the engine run with the risk metrics of `stressgen.metrics` passed in.

    >>> import stressgen as sg
    >>> res = sg.backtest(strategy, scenarios, sg.BacktestConfig(fee_bps=5))
    >>> res.to_pandas().summary                      # one row per world: Sharpe, max drawdown, VaR, ...
    >>> real = sg.backtest_prices(strategy, prices, warmup=60)   # a real price DataFrame, dated results

Why a module of its own: the engine (one layer below metrics) runs whatever per-world reducer it is given and
knows nothing about risk; the metrics layer owns the risk reducer. This entry point, like `stressgen.pipeline`,
sits above the layers and wires the two together; no layer imports it (a contract in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import data
from .engine import BacktestConfig, BacktestResult
from .engine import backtest as engine_backtest
from .errors import ConfigError, DateError, InsufficientHistoryError
from .metrics.risk import RiskConfig
from .metrics.running import risk_reducer
from .types import MarketData, Provenance, Scenarios

__all__ = ["backtest", "world_metrics", "backtest_prices", "price_scenarios"]


def backtest(strategy: Any, scenarios: Scenarios, config: BacktestConfig = BacktestConfig(), *,
             metrics_only: bool = False, risk: RiskConfig | None = None, chunk_size: int | None = None,
             devices: int | None = None, check: bool = True, debug: bool = False,
             debug_world: int = 0) -> BacktestResult:
    """Run `strategy` (or a `grid` of it) on every world, with the per-world risk metrics as ``summary``.

    Shapes: ``scenarios.log_returns`` ``[worlds, time, assets]``; the result's daily series (``pnl``,
    ``equity``, ``turnover``, ``costs``) are ``[worlds, time]`` float32 and each ``summary`` value is
    ``[worlds]`` (a leading ``[params]`` axis on all of them after a grid run). ``result.to_pandas()`` gives
    them as DataFrames.

    Args:
        strategy: a strategy instance (step or vectorized tier) or ``stressgen.grid(strategy, field=[...])``.
        scenarios: the worlds; ``scenarios.history`` is the warm-up.
        config: execution lag, costs, limits and cash rate.
        metrics_only: keep only the per-world metrics (no ``[worlds, time]`` series; much less memory).
        risk: metric conventions (default: the backtest's periods per year and rf, VaR/ES at 95% and 99%).
        chunk_size, devices, check, debug, debug_world: as `stressgen.engine.backtest`.
    """
    return engine_backtest(strategy, scenarios, config, reducer=risk_reducer(config, risk),
                           metrics_only=metrics_only, chunk_size=chunk_size, devices=devices, check=check,
                           debug=debug, debug_world=debug_world)


def world_metrics(strategy: Any, scenarios: Scenarios, config: BacktestConfig = BacktestConfig(), *,
                  risk: RiskConfig | None = None, chunk_size: int | None = None, devices: int | None = None,
                  check: bool = True) -> dict[str, np.ndarray]:
    """Per-world metrics only, as NumPy arrays ``[worlds]`` (``[params, worlds]`` for a grid): the keys of
    `stressgen.metrics.per_world_metrics`, computed inside the time loop (no daily series is kept)."""
    res = backtest(strategy, scenarios, config, metrics_only=True, risk=risk, chunk_size=chunk_size,
                   devices=devices, check=check)
    assert res.summary is not None  # the risk reducer always leaves one
    return {k: np.asarray(v) for k, v in res.summary.items()}


def _market(prices: pd.DataFrame | MarketData, warmup: int) -> MarketData:
    """`prices` validated under `stressgen.data`'s rules; typed errors name the column and row."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ConfigError(f"warmup={warmup!r} is not valid; expected an integer >= 0 (price rows before the "
                          "backtest starts, used to warm the strategy up)")
    need = int(warmup) + 2  # the warm-up returns need warmup + 1 prices, then at least one day to trade
    if isinstance(prices, MarketData):
        market = prices
    else:
        if not isinstance(prices, pd.DataFrame):
            raise ConfigError(f"prices must be a pandas DataFrame (dates as the index, one column per asset), "
                              f"got {type(prices).__name__}")
        if not isinstance(prices.index, pd.DatetimeIndex):
            raise DateError(f"the index is a {type(prices.index).__name__}, not a DatetimeIndex",
                            column=prices.index.name or "index", expected="dates as the index, oldest first",
                            hint="set it with df.index = pd.to_datetime(df.index) or df.set_index('date')")
        if len(prices) < need:
            raise InsufficientHistoryError(f"{len(prices)} price rows, too few for warmup={warmup}",
                                           expected=f"at least {need} rows ({warmup} warm-up returns need "
                                                    f"{warmup + 1} prices, then at least one day to trade)")
        market = data.from_frame(prices, source="<prices DataFrame>", min_obs=need)
    if market.prices.shape[0] < need:
        raise InsufficientHistoryError(f"{market.prices.shape[0]} price rows, too few for warmup={warmup}",
                                       path=market.source, expected=f"at least {need} rows")
    return market


def price_scenarios(prices: pd.DataFrame | MarketData, *, warmup: int = 0) -> Scenarios:
    """A real price history as a one-world `Scenarios`.

    `prices` is ``[dates, assets]`` (a DatetimeIndex, one column per asset; or a `MarketData`). Its first
    `warmup` log returns become ``history`` ``[warmup, assets]`` (the strategy warms up on them) and the rest
    the single world's ``log_returns`` ``[1, rows - 1 - warmup, assets]``, which starts all in cash at the
    close ``prices.index[warmup]``. Errors (`stressgen.errors.DataError` subclasses, from `stressgen.data`)
    name the column and row: a non-DatetimeIndex, missing or non-positive prices, unsorted or repeated dates,
    fewer than ``warmup + 2`` rows.
    """
    market = _market(prices, warmup)
    r = market.log_returns  # [rows - 1, assets] float64; r[i] is dated market.dates[i + 1]
    return Scenarios(log_returns=jnp.asarray(r[warmup:][None], jnp.float32),
                     history=jnp.asarray(r[:warmup], jnp.float32),
                     anchor_prices=jnp.asarray(market.prices[warmup], jnp.float32), assets=market.assets,
                     freq=market.freq, history_end=market.dates[warmup].date().isoformat(),
                     provenance=Provenance("real", ""))


def backtest_prices(strategy: Any, prices: pd.DataFrame | MarketData, config: BacktestConfig = BacktestConfig(),
                    *, warmup: int = 0, risk: RiskConfig | None = None, check: bool = True) -> BacktestResult:
    """Run `strategy` on a real price history (a sanity check next to the synthetic worlds).

    `prices` is ``[dates, assets]``: a DataFrame with a DatetimeIndex and one column per asset (or a
    `MarketData` from `stressgen.data`). The first `warmup` returns warm the strategy up; P&L counts from the
    close ``prices.index[warmup]`` on (see `price_scenarios`). The result is one world: daily series
    ``[1, time]``, summary values ``[1]``; it carries the dates, so ``result.to_pandas()`` is indexed by
    them and `stressgen.engine.to_vectorbt` dates its bars.

    Note `config.periods_per_year` (default 252) annualises the metrics whatever the data's frequency.
    """
    market = _market(prices, warmup)
    result = backtest(strategy, price_scenarios(market, warmup=warmup), config, risk=risk, check=check)
    return result.replace(dates=tuple(market.dates[warmup:]))

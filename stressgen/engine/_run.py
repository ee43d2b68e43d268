"""`backtest`: run a strategy (or a parameter grid) on every world of a `Scenarios` as one jitted program.

Conventions: 252 periods a year by default; weights decided at close t earn r_{t+1} at the earliest
(``config.lag`` adds delay); costs are bps of traded notional, trades include the drift of weights between
rebalances; equity compounds simple returns (``expm1`` of the log returns). The strategy warms up on
``Scenarios.history`` (the real returns the worlds continue from); P&L counts only on the synthetic horizon,
which starts all in cash at the last real close. See `stressgen.engine._core` for the accounting.

The plugin's outputs are validated on a probe of two worlds (shapes while tracing; NaN, negative weights
when long only, gross exposure beyond the cap from the raw decisions the program returns for those two
worlds) and a violation raises `StrategyError` naming the strategy, parameter set, world and close;
vectorized strategies are also proven causal (`check_causality`) on first use, before the run.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError, StrategyError
from ..strategy import ParamGrid, StepStrategy, VectorStrategy, strategy_name
from ..types import Scenarios
from ._causality import check_causality
from ._config import BacktestConfig
from ._core import STEP, VECTOR, simulate

__all__ = ["BacktestResult", "backtest", "trace_world"]


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
        summary: name -> per-world array: ``total_return``, ``max_drawdown`` (fraction of the peak,
            compounded), ``mean`` and ``std`` (ddof=1) of daily pnl, ``sharpe`` (annualised, of pnl in
            excess of the per-period rf), ``turnover`` and ``costs`` (sums over the horizon).
        strategy, params, config: static metadata; ``params`` maps gridded field -> ``[params]`` values.
    """

    pnl: jax.Array | None
    equity: jax.Array | None
    turnover: jax.Array | None
    costs: jax.Array | None
    summary: dict[str, jax.Array]
    strategy: str = struct.field(pytree_node=False, default="")
    params: dict[str, np.ndarray] | None = struct.field(pytree_node=False, default=None)
    config: BacktestConfig = struct.field(pytree_node=False, default=BacktestConfig())


def _tier(strategy: Any) -> str:
    if isinstance(strategy, StepStrategy):
        return STEP
    if isinstance(strategy, VectorStrategy):
        return VECTOR
    raise StrategyError(strategy_name(strategy), "is neither a StepStrategy nor a VectorStrategy subclass")


def _check_dataclass(strategy: Any) -> None:
    params = getattr(type(strategy), "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise StrategyError(strategy_name(strategy), "must be declared with @dataclasses.dataclass(frozen=True)")


@functools.partial(jax.jit, static_argnames=("tier", "lag", "long_only", "mode"))
def _program(tier, strategy, returns, history, num, *, lag, long_only, mode):
    return simulate(tier, strategy, returns, history, num, lag=lag, long_only=long_only, mode=mode)


def _prepare(strategy, scenarios: Scenarios, config: BacktestConfig):
    grid = strategy if isinstance(strategy, ParamGrid) else None
    base = grid.strategy if grid else strategy
    _check_dataclass(base)
    tier = _tier(base)
    batched = base if grid else jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], base)
    history = jnp.asarray(scenarios.history, jnp.float32)
    if config.warmup is not None:
        history = history[history.shape[0] - min(config.warmup, history.shape[0]):]
    if history.ndim != 2 or history.shape[1] != scenarios.n_assets:
        raise ConfigError(f"Scenarios.history must be [time, {scenarios.n_assets}], got {history.shape}")
    num = jnp.asarray([config.cost_rate, config.rf_per_period, config.max_gross], jnp.float32)
    return grid, base, tier, batched, history, num


def _summary(sums, horizon: int, config: BacktestConfig) -> dict[str, jax.Array]:
    n = float(horizon)
    mean = sums["s1"] / n
    var = jnp.maximum(sums["s2"] - n * mean * mean, 0.0) / max(n - 1.0, 1.0)
    std = jnp.sqrt(var)
    excess = mean - config.rf_per_period
    sharpe = jnp.where(std > 0, excess / jnp.where(std > 0, std, 1.0), jnp.nan) * math.sqrt(config.periods_per_year)
    return {"total_return": sums["equity"] - 1.0, "max_drawdown": sums["mdd"], "mean": mean, "std": std,
            "sharpe": sharpe, "turnover": sums["turnover"], "costs": sums["costs"]}


def _decisions(daily: dict) -> tuple[np.ndarray, np.ndarray]:
    """Raw decisions of closes 0 .. horizon ``[params, worlds, horizon + 1, assets]`` and their trade flags:
    the warm-up's last decision, then one per synthetic close."""
    w = np.concatenate([np.asarray(daily["decision0"])[:, :, None], np.asarray(daily["decision"])], axis=2)
    t = np.concatenate([np.asarray(daily["decision_trade0"])[:, :, None], np.asarray(daily["decision_trade"])],
                       axis=2)
    return w, t


def _validate(name: str, daily: dict, config: BacktestConfig, grid: ParamGrid | None) -> None:
    """Check the raw decisions of the probe run and name the first bad one."""
    w, trade = _decisions(daily)
    w = np.where(trade[..., None], w, 0.0)  # decisions flagged "no trade" are never executed

    def fail(mask, what):
        p, world, day = (int(i) for i in np.argwhere(mask)[0][:3])
        at = f"parameter set {p}, " if grid else ""
        raise StrategyError(name, f"{what}, first at {at}probe world {world}, close t={day}")

    bad = ~np.isfinite(w)
    if bad.any():
        fail(bad.any(-1), "returned NaN/inf weights")
    if config.long_only and (w < -1e-6).any():
        fail((w < -1e-6).any(-1), f"returned negative weights (min {w.min():.4g}) with long_only=True")
    gross = np.abs(w).sum(-1)
    over = gross > config.max_gross * (1 + 1e-5) + 1e-6
    if over.any():
        fail(over, f"exceeded the gross exposure cap {config.max_gross} (max {gross.max():.4g})")


def trace_world(strategy, scenarios: Scenarios, config: BacktestConfig, worlds: slice = slice(0, 1)) -> dict:
    """Daily series, executed weights and raw decisions (closes 0 .. horizon) for a few worlds, as NumPy
    arrays leading with ``[params, worlds]`` (for the probe, the debug comparison and vectorbt)."""
    _, _, tier, batched, history, num = _prepare(strategy, scenarios, config)
    returns = jnp.asarray(scenarios.log_returns[worlds])
    _, daily = _program(tier, batched, returns, history, num, lag=config.lag, long_only=config.long_only,
                        mode="trace")
    out = {k: np.asarray(v) for k, v in daily.items() if not k.startswith("decision")}
    out["decision"], out["decision_trade"] = _decisions(daily)
    return out


def backtest(strategy, scenarios: Scenarios, config: BacktestConfig = BacktestConfig(), *,
             metrics_only: bool = False, check: bool = True, debug: bool = False,
             debug_world: int = 0) -> BacktestResult:
    """Run `strategy` (step or vectorized tier, or a `ParamGrid` of either) on every world.

    Args:
        strategy: a strategy instance or ``stressgen.strategy.grid(...)``.
        scenarios: the worlds; ``history`` is the warm-up.
        config: execution, costs and limits.
        metrics_only: keep only per-world running summaries (no ``[worlds, time]`` series).
        check: run the validation probe (and the look-ahead proof for vectorized strategies) first.
        debug: run world `debug_world` eagerly without jit (breakpoints and prints work in `step`).
    """
    if debug:
        from ._debug import debug_run
        return debug_run(strategy, scenarios, config, debug_world)
    grid, base, tier, batched, history, num = _prepare(strategy, scenarios, config)
    name = strategy_name(base)
    if check and tier == VECTOR:
        check_causality(grid.at(0) if grid else base, scenarios)
    sums, daily = _program(tier, batched, jnp.asarray(scenarios.log_returns), history, num, lag=config.lag,
                           long_only=config.long_only, mode="metrics" if metrics_only else "full")
    if check:
        _validate(name, daily, config, grid)
    summary = _summary(sums, scenarios.horizon, config)
    squeeze = (lambda x: x) if grid else (lambda x: None if x is None else x[0])
    return BacktestResult(
        pnl=squeeze(daily.get("pnl")), equity=squeeze(daily.get("equity")),
        turnover=squeeze(daily.get("turnover")), costs=squeeze(daily.get("costs")),
        summary={k: squeeze(v) for k, v in summary.items()}, strategy=name,
        params=dict(grid.values) if grid else None, config=config)

"""On-the-fly per-world metrics: `RunningStats` with pure ``init`` / ``update`` / ``finalize`` (optax style).

For ``metrics_only`` backtests the engine can fold each period's ``pnl_t[worlds]`` (plus turnover and costs)
into a small per-world state inside its ``lax.scan`` instead of keeping the ``[worlds, time]`` series, then
call `finalize` once. `finalize` returns the same keys and the same values (to float32 rounding) as
`stressgen.metrics.risk.per_world_metrics` on the full series, under the same `RiskConfig`.

VaR and ES are the exception: an exact historical quantile needs the whole series (no fixed-size running
summary gives it exactly). Since horizons are short (252 periods: 1 KB a world in float32), the state keeps
the series when ``init`` is given the horizon, and `finalize` computes VaR/ES from that kept series, exactly
as the array version does. With ``horizon=None`` nothing is kept and `finalize` leaves VaR/ES out.

The risk-free rate and periods per year are fixed at ``init`` (in the `RiskConfig` carried by the state as
static metadata), because Sortino's downside sum of squares is taken on excess returns,
``min(r - rf_p, 0)**2``, and so needs the per-period rate at every update, not just at the end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from .risk import RiskConfig, _sorted_tail, level_name, rf_per_period

__all__ = ["RunningStats", "init", "update", "finalize"]


@struct.dataclass
class RunningStats:
    """Per-world running state; every array field is ``[worlds]`` unless noted.

    Attributes:
        count: scalar int32, periods folded in so far.
        mean, m2: Welford running mean and sum of squared deviations of pnl (stable in float32, unlike
            sum and sum of squares, whose difference cancels when the mean is small against the spread).
        down_ss: sum of ``min(r - rf_p, 0)**2`` (Sortino's downside over all periods).
        equity, peak: compounded equity from 1.0 and its running maximum (starting at 1.0).
        max_dd: deepest drawdown so far, a positive depth.
        run, max_run: int32 current and longest count of consecutive periods below the peak.
        worst: lowest one-period return. n_pos, n_nonzero: int32 counts of r > 0 and r != 0.
        turnover_sum, cost_sum: sums of turnover and costs.
        pnl: ``[worlds, horizon]`` the kept series for VaR/ES, or None.
        config: the `RiskConfig` (static).
    """

    count: jax.Array
    mean: jax.Array
    m2: jax.Array
    down_ss: jax.Array
    equity: jax.Array
    peak: jax.Array
    max_dd: jax.Array
    run: jax.Array
    max_run: jax.Array
    worst: jax.Array
    n_pos: jax.Array
    n_nonzero: jax.Array
    turnover_sum: jax.Array
    cost_sum: jax.Array
    pnl: jax.Array | None
    config: RiskConfig = struct.field(pytree_node=False, default=RiskConfig())


def init(n_worlds: int, horizon: int | None = None, *, config: RiskConfig = RiskConfig(),
         dtype=jnp.float32) -> RunningStats:
    """Empty state for `n_worlds`; keep the pnl series (for exact VaR/ES) when `horizon` is given."""
    zeros = jnp.zeros((n_worlds,), dtype)
    izeros = jnp.zeros((n_worlds,), jnp.int32)
    ones = jnp.ones((n_worlds,), dtype)
    # NaN, not 0: a period never written must not pass for a flat day in the VaR (see finalize)
    pnl = None if horizon is None else jnp.full((n_worlds, horizon), jnp.nan, dtype)
    return RunningStats(count=jnp.zeros((), jnp.int32), mean=zeros, m2=zeros, down_ss=zeros, equity=ones,
                        peak=ones, max_dd=zeros, run=izeros, max_run=izeros,
                        worst=jnp.full((n_worlds,), jnp.inf, dtype), n_pos=izeros, n_nonzero=izeros,
                        turnover_sum=zeros, cost_sum=zeros, pnl=pnl, config=config)


def update(stats: RunningStats, pnl_t: jax.Array, turnover_t: jax.Array, costs_t: jax.Array) -> RunningStats:
    """Fold one period in: ``pnl_t``, ``turnover_t``, ``costs_t`` are ``[worlds]`` (fractions of equity)."""
    cfg = stats.config
    pnl_t = jnp.asarray(pnl_t, stats.mean.dtype)
    count = stats.count + 1
    n = count.astype(pnl_t.dtype)
    delta = pnl_t - stats.mean
    mean = stats.mean + delta / n
    m2 = stats.m2 + delta * (pnl_t - mean)
    excess = pnl_t - rf_per_period(cfg.rf, cfg.periods_per_year)
    equity = stats.equity * (1.0 + pnl_t)
    peak = jnp.maximum(stats.peak, equity)
    under = equity < peak
    run = jnp.where(under, stats.run + 1, 0)
    pnl = stats.pnl
    if pnl is not None:
        # mode="drop": updates past the horizon are ignored instead of clamped onto the last column
        pnl = pnl.at[:, stats.count].set(pnl_t, mode="drop")
    return stats.replace(
        count=count, mean=mean, m2=m2,
        down_ss=stats.down_ss + jnp.minimum(excess, 0.0) ** 2,
        equity=equity, peak=peak,
        max_dd=jnp.maximum(stats.max_dd, 1.0 - equity / peak),
        run=run, max_run=jnp.maximum(stats.max_run, run),
        worst=jnp.minimum(stats.worst, pnl_t),
        n_pos=stats.n_pos + (pnl_t > 0), n_nonzero=stats.n_nonzero + (pnl_t != 0),
        turnover_sum=stats.turnover_sum + turnover_t, cost_sum=stats.cost_sum + costs_t, pnl=pnl,
    )


def finalize(stats: RunningStats) -> dict[str, jax.Array]:
    """The metrics of `per_world_metrics` (with turnover and costs) from the running state; ``[worlds]`` each.

    VaR/ES come from the kept series; they are NaN unless exactly ``horizon`` periods were folded in, and
    absent when the state keeps no series.
    """
    cfg = stats.config
    ppy = cfg.periods_per_year
    n = stats.count.astype(stats.mean.dtype)
    total = stats.equity - 1.0
    cagr = stats.equity ** (ppy / n) - 1.0
    std = jnp.sqrt(stats.m2 / (n - 1.0))
    excess_mean = stats.mean - rf_per_period(cfg.rf, ppy)
    out = {
        "total_return": total,
        "cagr": cagr,
        "volatility": std * jnp.sqrt(ppy),
        "sharpe": excess_mean / std * jnp.sqrt(ppy),
        "sortino": excess_mean / jnp.sqrt(stats.down_ss / n) * jnp.sqrt(ppy),
        "calmar": cagr / stats.max_dd,
        "max_drawdown": stats.max_dd,
        "max_drawdown_duration": stats.max_run,
    }
    if stats.pnl is not None:
        complete = stats.count == stats.pnl.shape[-1]
        for level in cfg.var_levels:
            q, es = _sorted_tail(stats.pnl, level)
            out[f"var_{level_name(level)}"] = jnp.where(complete, -q, jnp.nan)
            out[f"es_{level_name(level)}"] = jnp.where(complete, -es, jnp.nan)
    out["worst_day"] = stats.worst
    out["hit_rate"] = stats.n_pos / stats.n_nonzero
    out["turnover"] = stats.turnover_sum / n
    out["turnover_annual"] = out["turnover"] * ppy
    out["cost_drag"] = stats.cost_sum * (ppy / n)
    return out

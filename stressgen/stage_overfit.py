"""Stage 9 of the stress run (see `stressgen.stages`): for every strategy with a parameter grid, what the grid's
search on the real history is worth: DSR, PSR, PBO, the real winner's rank across the worlds and the chance
share on no-edge worlds (`OverfitResult`). `check_overfit` refuses, before any compute, a grid these
statistics cannot judge.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import engine
from .errors import ConfigError
from .generators import world_bucket
from .metrics.overfit import per_period_sharpe
from .metrics.overfit_grid import GridOverfit, check_grid_overfit, demean_log_returns, grid_overfit
from .metrics.risk import rf_per_period
from .results import OverfitResult
from .spec import RunSpec
from .stage_series import RealRuns
from .stages import FittedGenerator, Progress, Sampled, StrategyPlan, no_progress
from .types import MarketData

__all__ = ["NULL_WORLDS", "overfit_warmup", "check_overfit", "overfit", "null_sharpes", "overfit_record"]


# No-edge worlds for the chance share (at most; fewer when the run draws fewer): its standard error is then at
# most sqrt(0.25 / 1000) = 1.6 points, and it costs one backtest of one parameter set on them.
NULL_WORLDS = 1_000
# float32 returns held per chunk of no-edge worlds (the engine needs a few times this, CHUNK_MEMORY_FACTOR):
# these worlds are as long as the real history, so the chunk is sized by bytes, not by worlds
NULL_CHUNK_BYTES = 1 << 27


def overfit_warmup(spec: RunSpec, market: MarketData, fit: FittedGenerator | None = None) -> int | None:
    """Real periods the strategies warm up on before the overfitting statistics' sample starts: the worlds'
    history prefix. From the fitted generator when given, else from the family's `history_days` (every
    built-in family keeps the last `history_days` returns); None when unknown (a saved model before loading)."""
    if fit is not None:
        context = getattr(fit.params, "context", None)
        if context is not None:
            return int(context.history.shape[0])
        return None
    days = getattr(spec.generator.config, "history_days", None)
    return None if days is None else min(int(days), int(market.log_returns.shape[0]))


def check_overfit(spec: RunSpec, plans: tuple[StrategyPlan, ...], market: MarketData, warm: int | None) -> None:
    """Refuse a grid the overfitting statistics cannot judge (one point; a real history after the warm-up too
    short for the CSCV blocks), naming the spec file and the strategy. Run before any compute; with `warm`
    None (not known yet) only the grid's size is checked, and the pipeline checks again after loading."""
    for plan in plans:
        if not plan.spec.grid:
            continue
        n_hist = int(market.log_returns.shape[0])
        try:
            check_grid_overfit(plan.spec.name, len(plan.sets), n_hist - (warm or 0))
        except ConfigError as exc:
            days = f" (the data holds {n_hist} days of returns, the worlds' warm-up takes {warm or 0})"
            raise ConfigError(f"{spec.source}: strategies.{plan.spec.name}.grid: {exc}{days}") from exc


def null_sharpes(fit: FittedGenerator, strategy: Any, bt: engine.BacktestConfig, *, n_periods: int, n_worlds: int,
                 n_assets: int, key: jax.Array) -> np.ndarray:
    """``[n_worlds]`` per-period Sharpe ratios (ddof = 0, excess of the risk-free rate) of `strategy` on worlds
    of `n_periods` drawn from the fitted generator with each world's log returns de-meaned per asset
    (`demean_log_returns`): the strategy's edge removed. Chunked so that memory stays near `NULL_CHUNK_BYTES`."""
    per_world = 4 * n_periods * n_assets
    cap = max(1, NULL_CHUNK_BYTES // per_world)
    chunk = -(-n_worlds // -(-n_worlds // cap))  # equal chunks
    # Every chunk is drawn and backtested at one size, the last too, and that size is a `world_bucket` (capped
    # by memory): one compiled program for every chunk, and for any number of worlds in a bucket. World j
    # depends only on the key and j; the extra worlds' P&L is dropped.
    drawn = max(chunk, min(world_bucket(chunk), cap))
    rf_p = float(rf_per_period(bt.rf, bt.periods_per_year))
    out = []
    for start in range(0, n_worlds, chunk):
        worlds = fit.generator.sample(fit.params, key=key, n_worlds=drawn, horizon=n_periods, first_world=start)
        flat = worlds.replace(log_returns=jnp.asarray(demean_log_returns(np.asarray(worlds.log_returns))),
                              weights=None)
        # the winner belongs to the grid the run has already proven causal on its first chunk
        pnl = np.asarray(engine.backtest(strategy, flat, bt, check=False).pnl, np.float64)
        out.append(per_period_sharpe(pnl[:min(chunk, n_worlds - start)] - rf_p, axis=1))
    return np.concatenate(out)


def overfit_record(plan: StrategyPlan, g: GridOverfit, ppy: int) -> OverfitResult:
    annual = float(np.sqrt(ppy))
    return OverfitResult(
        strategy=plan.spec.name, plugin=plan.spec.plugin, sets=tuple(name for name, _ in plan.sets),
        winner=g.winner, periods_per_year=int(ppy), n_periods=g.n_periods, n_trials=g.n_trials,
        real_sharpe=g.real_sharpe * annual, psr=g.psr.psr, dsr=g.dsr.dsr, dsr_benchmark=g.dsr.benchmark_sr * annual,
        pbo=g.pbo.pbo, pbo_splits=g.pbo.n_splits, pbo_combinations=int(g.pbo.logits.size),
        pbo_prob_oos_loss=g.pbo.prob_oos_loss, rank_shares=g.rank_shares, median_rank=g.rank.median_rank,
        p_best=g.rank.p_best, p_below_median=g.rank.p_below_median, p_below_median_se=g.rank.p_below_median_se,
        n_worlds=g.rank.n_worlds, chance_share=g.chance.share, chance_se=g.chance.se,
        chance_p_value=g.chance.p_value, null_worlds=g.chance.n_worlds,
        null_sharpe_median=g.null_sharpe_median * annual, robust=g.robust, warnings=g.warnings)


def overfit(spec: RunSpec, market: MarketData, fit: FittedGenerator, plans: tuple[StrategyPlan, ...],
            sampled: Sampled, real: RealRuns, bt: engine.BacktestConfig, *, key: jax.Array,
            progress: Progress = no_progress) -> tuple[OverfitResult, ...]:
    """`grid_overfit` for every plan with a grid: the real-history returns of each set (the tear sheet's run,
    after the warm-up), the worlds' Sharpe ratios of `sampled`, and `null_sharpes` of the real winner on
    ``min(worlds, NULL_WORLDS)`` no-edge worlds as long as the real sample. Plans without a grid: nothing."""
    grids = [(j, plan) for j, plan in enumerate(plans) if plan.spec.grid]
    ppy = market.periods_per_year
    rf_p = float(rf_per_period(bt.rf, ppy))
    n_null = min(spec.simulation.worlds, NULL_WORLDS)
    out = []
    for count, (j, plan) in enumerate(grids):
        progress("overfit", count, len(grids))
        equity = np.stack([real.equity[(j, p)] for p in range(len(plan.sets))], axis=1)  # [T + 1, sets]
        returns = equity[1:] / equity[:-1] - 1.0 - rf_p

        def run_null(winner: int, plan: StrategyPlan = plan, t: int = returns.shape[0]) -> np.ndarray:
            return null_sharpes(fit, plan.at(winner), bt, n_periods=t, n_worlds=n_null, n_assets=market.n_assets,
                                key=key)

        g = grid_overfit(plan.spec.name, returns, sampled.metrics[j]["sharpe"], run_null)
        out.append(overfit_record(plan, g, ppy))
    progress("overfit", len(grids), len(grids))
    return tuple(out)

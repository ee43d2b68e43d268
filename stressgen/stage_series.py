"""The stages that backtest for daily series rather than per-world metrics (`stressgen.pipeline.run` chains
them after `stages.sample_and_backtest`):

5. `backtest_real`: every strategy on the real history: its last horizon as one world (ranked among the
   worlds) and the whole history after warm-up (the report's tear sheet) (`RealRuns`).
6. `worst_worlds`: the k worst worlds of each strategy, redrawn from their keys (world i depends only on the
   sample key and i) and backtested again for their daily equity (`WorstWorlds`).
8. `fidelity_summary`: moments, ACF and correlations against the history, the in-sample scorecard (the run's
   strategies' daily P&L on the scored worlds) and the diversity ratio (`FidelitySummary`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from . import chunks, devices, engine
from .chunks import SCORE_WORLDS, Sampled
from .metrics import RiskConfig, diversity
from .metrics import run_summary
from .metrics.fidelity import quick_scorecard
from .metrics.run_summary import FidelitySummary
from .metrics.stylized import equal_weight_equity
from .results import RealHistory
from .spec import RunSpec
from .stages import FittedGenerator, Progress, StrategyPlan, no_progress
from .strategy import ParamGrid
from .types import MarketData, Scenarios

__all__ = ["RealRuns", "WorstWorlds", "SCORE_CHUNK", "backtest_real", "worst_worlds", "fidelity_summary"]


# ------------------------------------------------------------------------------------ 5. real history

@dataclasses.dataclass(frozen=True)
class RealRuns:
    """The strategies on the real history.

    Attributes:
        window: (plan, set) -> metrics on the history's last horizon as one world, warmed up like the worlds
            (empty when the history is shorter than the horizon).
        equity: (plan, set) -> ``[time + 1]`` equity over the whole history after the worlds' warm-up.
        history: the calendar and equal-weight benchmark of `equity` (None when nothing follows the warm-up).
    """

    window: dict[tuple[int, int], dict[str, float]]
    equity: dict[tuple[int, int], np.ndarray]
    history: RealHistory | None


def _as_world(template: Scenarios, returns: np.ndarray, history: np.ndarray, anchor: np.ndarray) -> Scenarios:
    return template.replace(log_returns=jnp.asarray(returns[None], jnp.float32),
                            history=jnp.asarray(history, jnp.float32),
                            anchor_prices=jnp.asarray(anchor, jnp.float32), weights=None)


def backtest_real(market: MarketData, plans: tuple[StrategyPlan, ...], template: Scenarios,
                  bt: engine.BacktestConfig, risk: RiskConfig, progress: Progress = no_progress) -> RealRuns:
    """Every plan on the real history: its last horizon (ranked among the worlds) and all of it (tear sheet).

    Both runs warm up on the same number of history days as the worlds (their `history` prefix).
    """
    r, horizon = market.log_returns, template.horizon
    warm = int(template.history.shape[0])
    window, equity = {}, {}
    progress("real", 0, len(plans))
    history = None
    if r.shape[0] - warm >= 2:
        # returns r[i] are dated dates[i + 1]: equity 1.0 at the close dates[warm]
        dates = market.dates[warm:]
        history = RealHistory(dates=tuple(d.date().isoformat() for d in dates),
                              benchmark=equal_weight_equity(r[warm:]), warmup=warm)
    if r.shape[0] >= horizon + 1:
        # The window is world 0 of a chunk shaped like the first chunk of worlds (the others are flat), so the
        # engine reuses the program it compiled for the worlds instead of compiling one per strategy for a
        # single world; world 0's numbers do not depend on its neighbours (the engine's chunk invariance).
        padded = np.zeros(template.log_returns.shape, np.float32)
        padded[0] = r[-horizon:]
        last = template.replace(log_returns=jnp.asarray(padded),
                                history=jnp.asarray(r[:-horizon][-warm:] if warm else r[:0], jnp.float32),
                                anchor_prices=jnp.asarray(market.prices[-horizon - 1], jnp.float32),
                                weights=None)
    whole = _as_world(template, r[warm:], r[:warm], market.prices[warm]) if history is not None else None
    done = [0]

    def one(j: int) -> None:  # writes distinct keys of `window` and `equity`
        plan = plans[j]
        if r.shape[0] >= horizon + 1:
            m = chunks.plan_metrics(plan.built, last, bt, risk, check=False)
            for p in range(len(plan.sets)):
                window[(j, p)] = {k: float(v[p, 0]) for k, v in m.items()}
        if whole is not None:
            eq = np.asarray(engine.backtest(plan.built, whole, bt, check=False).equity, np.float64)
            eq = eq.reshape(len(plan.sets), -1)
            for p in range(len(plan.sets)):
                equity[(j, p)] = np.concatenate([[1.0], eq[p]])
        done[0] += 1
        progress("real", done[0], len(plans))

    devices.parallel_map(one, range(len(plans)))  # strategies at once: their programs compile in parallel
    return RealRuns(dict(sorted(window.items())), dict(sorted(equity.items())), history)


# ------------------------------------------------------------------------------------- 6. worst worlds

@dataclasses.dataclass(frozen=True)
class WorstWorlds:
    """Attributes: index: set name -> its worst worlds by total return, worst first; equity: set name ->
    ``[k, horizon + 1]`` their daily equity; paths: world -> ``[horizon, assets]`` its log returns."""

    index: dict[str, tuple[int, ...]]
    equity: dict[str, np.ndarray]
    paths: dict[int, np.ndarray]


# Worlds per chunk of the full backtests (daily series) of the worst worlds and of the scorecard's scored
# worlds: both run in chunks of this size so that they share one compiled program per strategy (see
# worst_worlds). Small, because the worst worlds' chunk is mostly flat padding; the scorecard's 1,000 worlds
# take eight chunks.
SCORE_CHUNK = 128


def worst_worlds(spec: RunSpec, fit: FittedGenerator, plans: tuple[StrategyPlan, ...], sampled: Sampled,
                 bt: engine.BacktestConfig, *, key: jax.Array,
                 progress: Progress = no_progress) -> WorstWorlds:
    """The k worst worlds of each parameter set, redrawn from the sample key (as the chunks that held them)
    and backtested for daily equity.

    A plan without a grid runs its worst worlds as the first rows of a chunk of `SCORE_CHUNK` worlds (the
    other rows flat), the chunk in which `fidelity_summary` backtests the same strategy on the scored worlds:
    one compiled program serves both. A world's equity does not depend on its neighbours (the engine's chunk
    invariance): the numbers are those of a batch of the k worlds alone (tests/test_fidelity_stage.py). A
    grid is not padded: the scorecard runs the grid as a whole, another program.
    """
    n, horizon = spec.simulation.worlds, spec.simulation.horizon
    k = min(spec.report.worst_worlds, n)
    index = {}
    for plan, m in zip(plans, sampled.metrics):
        for p, (name, _) in enumerate(plan.sets):
            order = np.argsort(np.nan_to_num(m["total_return"][p], nan=np.inf), kind="stable")
            index[name] = tuple(int(i) for i in order[:k])
    wanted = sorted({i for v in index.values() for i in v})
    # Redrawn as the whole chunks that held them, with the pass's shapes: the program that drew them is
    # reused (no compile for a one-world draw) and the values are the pass's own, bit for bit.
    cut = chunks.layout(spec)
    by_chunk: dict[int, list[int]] = {}
    for i in wanted:
        by_chunk.setdefault(i // cut.chunk_size, []).append(i)
    paths = {}
    for count, (c, members) in enumerate(sorted(by_chunk.items())):
        start, _ = cut.bounds(c)  # drawn at the full chunk size, as the pass drew even a short last chunk
        drawn = np.asarray(fit.generator.sample(fit.params, key=key, n_worlds=cut.chunk_size, horizon=horizon,
                                                first_world=start).log_returns)
        paths.update({i: drawn[i - start] for i in members})
        progress("worst", count + 1, len(by_chunk))
    rows = min(SCORE_CHUNK, sampled.scored.n_worlds)

    def one(plan: StrategyPlan) -> dict[str, np.ndarray]:
        shared, out = not isinstance(plan.built, ParamGrid), {}
        for p, (name, _) in enumerate(plan.sets):
            idx = index[name]
            out[name] = np.zeros((0, horizon + 1), np.float32)
            if idx:
                batch = np.stack([paths[i] for i in idx])
                if shared and len(idx) < rows:  # the engine pads only up to the worlds it is given
                    batch = np.concatenate([batch, np.zeros((rows - len(idx), *batch.shape[1:]), batch.dtype)])
                worlds = sampled.template.replace(log_returns=jnp.asarray(batch))
                eq = engine.backtest(plan.at(p), worlds, bt, check=False, chunk_size=rows if shared else None)
                out[name] = np.concatenate([np.ones((len(idx), 1)), np.asarray(eq.equity, np.float64)[:len(idx)]],
                                           axis=1)
        return out

    equity = {name: eq for part in devices.parallel_map(one, plans) for name, eq in part.items()}
    return WorstWorlds(index, equity, paths)


# -------------------------------------------------------------------------------------- 8. fidelity

def fidelity_summary(market: MarketData, sampled: Sampled, horizon: int, *, key: jax.Array,
                     progress: Progress = no_progress, plans: tuple[StrategyPlan, ...] | None = None,
                     bt: engine.BacktestConfig | None = None, real: RealRuns | None = None) -> FidelitySummary:
    """Real against synthetic: `run_summary`'s moments, ACF and correlations, the in-sample scorecard of the
    first worlds and, for a history of at least two horizons, the worlds' diversity against real windows.

    Given the run's `plans`, `bt` and `real` (`backtest_real`), the scorecard's strategy-tail error is the
    run's own strategies' (every parameter set): their daily P&L on the real history after the worlds'
    warm-up (the tear sheet's run) against their P&L on the scored worlds, backtested here on the shape
    `worst_worlds` compiled (chunks of `SCORE_CHUNK`, see there), so the scorecard compiles no backtest of
    its own but a grid's. Without them it
    backtests its reference strategies (`quick_scorecard`, as `stressgen evaluate` does).
    """
    if len({plans is None, bt is None, real is None}) > 1:
        raise TypeError("fidelity_summary: pass plans, bt and real together (the run's strategies) or none")
    progress("fidelity", 0, 1)
    real_r, ppy = market.log_returns, market.periods_per_year
    summary = run_summary.finalize(sampled.summary, real_r, assets=market.assets, horizon=horizon,
                                   periods_per_year=ppy)
    pnl: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    if plans is not None and bt is not None and real is not None:
        def one(j: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            plan, mine = plans[j], {}
            syn = engine.backtest(plan.built, sampled.scored, bt, check=False,
                                  chunk_size=min(SCORE_CHUNK, sampled.scored.n_worlds)).pnl
            syn = np.asarray(syn, np.float64)
            syn = syn.reshape(len(plan.sets), *syn.shape[-2:])
            for p, (name, _) in enumerate(plan.sets):
                eq = real.equity[(j, p)]
                # the engine's P&L from its equity: a day's growth, 0 once the equity is gone (engine._core)
                growth = np.divide(eq[1:], eq[:-1], out=np.ones(eq.shape[0] - 1), where=eq[:-1] > 0)
                mine[name] = (growth - 1.0, syn[p])
            return mine

        # empty without a tear sheet (history no longer than the warm-up): the scorecard notes it
        done = devices.parallel_map(one, range(len(plans)) if real.history is not None else [])
        pnl = {name: v for part in done for name, v in part.items()}
    card = quick_scorecard(market, sampled.scored, key=key, max_paths=SCORE_WORLDS, strategy_pnl=pnl)
    # spread of the worlds against the spread of real windows of the same length: mode collapse shows as a
    # ratio far below 1 (see metrics.diversity)
    spread = diversity(np.asarray(sampled.scored.log_returns), real_r, periods_per_year=ppy) \
        if real_r.shape[0] >= 2 * horizon else None
    progress("fidelity", 1, 1)
    return dataclasses.replace(summary, scorecard=card.table, failures=tuple(card.meta["failures"]),
                               diversity=spread, skipped=tuple(card.meta["skipped"]))

"""The stress run's stages, each a function with a typed result (`stressgen.pipeline.run` chains them).

1. `load_market`: the history the spec describes (`MarketData`).
2. `fit_generator`: fit the family, or load a saved model (`FittedGenerator`).
3. `build_strategies`: the spec's strategies and their parameter sets (`StrategyPlan` each).
4. `sample_and_backtest`: draw worlds in chunks (`generators.iter_chunks`), backtest every strategy on each
   chunk and keep only per-world metrics, plus what the report shows: the first k worlds, the equal-weight
   equity of at most `FAN_WORLDS` worlds, the fidelity sums and the plausibility gate (`Sampled`). Memory is
   bounded by the chunk of worlds.
5. `backtest_real`: every strategy on the real history: its last horizon as one world (ranked among the
   worlds) and the whole history after warm-up (the report's tear sheet) (`RealRuns`).
6. `worst_worlds`: the k worst worlds of each strategy, redrawn from their keys (world i depends only on the
   sample key and i) and backtested again for their daily equity (`WorstWorlds`).
7. `aggregate`: cross-world tables, ranks of the real history and the head-to-head matrix.
8. `fidelity_summary`: moments, ACF and correlations against the history, the in-sample scorecard and the
   diversity ratio (`FidelitySummary`).
9. `overfit` (in `stressgen.stage_overfit`): for every strategy with a parameter grid, what the grid's search
   on the real history is worth.

Nothing here prints: progress goes to the optional callback ``progress(stage, done, total)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import backtesting, chunks, devices, engine, generators, persist
from .chunks import SCORE_WORLDS, ChunkInputs, Metrics, Sampled
from .errors import ConfigError
from .generators import AbstractGenerator
from .generators._base import config_to_dict
from .metrics import RiskConfig, aggregate_metrics, diversity, head_to_head, rank_real_history
from .metrics import run_summary
from .metrics.fidelity import quick_scorecard
from .metrics.run_summary import FidelitySummary
from .metrics.stylized import equal_weight_equity
from .results import GeneratorInfo, ParamValue, RealHistory, RegimeHistory, StrategyResult
from .spec import RunSpec, StrategySpec
from .strategy import ParamGrid
from .types import MarketData, Scenarios

__all__ = ["Progress", "no_progress", "SCORE_WORLDS", "FittedGenerator", "StrategyPlan", "Sampled",
           "RealRuns", "WorstWorlds", "check_memory", "load_market", "fit_generator", "build_strategies",
           "run_configs", "chunk_inputs", "sample_and_backtest", "backtest_real", "worst_worlds", "aggregate",
           "fidelity_summary", "regime_history"]

Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default `Progress`: reports nothing."""
    del stage, done, total


# ------------------------------------------------------------------------------------- 1-2. data, fit

# Peak memory of one chunk, in units of its float32 returns [chunk, horizon, assets]: the drawn chunk, the
# engine's time-major tape and log prices, and the per-chunk summaries. Measured with bench-like runs (GARCH,
# 20 assets, chunks of 2,000 worlds): 252 -> 2,520 periods added 2.1 GiB at the chunk stage for 0.36 GiB of
# returns, about 6x. The budget leaves room for the process itself (about 1 GiB of JAX and XLA).
CHUNK_MEMORY_FACTOR = 6
PROCESS_BASELINE = 1 << 30


def _memory_limit() -> int | None:
    """Bytes this process may use: the smaller of the machine's memory and the cgroup's limit where one is
    set (containers); None where neither can be read."""
    limits = []
    with contextlib.suppress(OSError):
        raw = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if raw.isdigit():
            limits.append(int(raw))
    with contextlib.suppress(AttributeError, ValueError, OSError):  # os.sysconf is POSIX only
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(limits) if limits else None


def check_memory(spec: RunSpec, n_assets: int, *, limit: int | None = None) -> None:
    """Refuse, before any compute, a chunk of worlds that would not fit in memory, naming the chunk size to
    use (`CHUNK_MEMORY_FACTOR`). `limit` defaults to this machine's (or container's) memory."""
    limit = _memory_limit() if limit is None else limit
    if limit is None:  # say so rather than skip in silence
        warnings.warn("stressgen could not read this machine's memory size; the chunk-size check before the "
                      "run is skipped", RuntimeWarning, stacklevel=2)
        return
    sim = spec.simulation
    chunk = min(sim.chunk_size, sim.worlds)
    per_world = CHUNK_MEMORY_FACTOR * 4 * sim.horizon * n_assets
    need = PROCESS_BASELINE + chunk * per_world
    budget = int(0.8 * limit)
    if need > budget:
        fits = max(0, (budget - PROCESS_BASELINE) // per_world)
        advice = (f"set [simulation] chunk_size to at most {fits:,}" if fits >= 1 else
                  "shorten the horizon or select fewer assets: not even one world fits")
        raise ConfigError(f"{spec.source}: simulation.chunk_size: {chunk:,} worlds x {sim.horizon:,} "
                          f"periods x {n_assets} assets need about {need / 2**30:.1f} GiB at once, "
                          f"more than 80% of the {limit / 2**30:.1f} GiB this machine has; {advice}")

def load_market(spec: RunSpec, progress: Progress = no_progress) -> MarketData:
    """The history of the spec's ``[data]`` section."""
    progress("data", 0, 1)
    market = spec.data.load()
    try:  # per-asset costs must match the data's assets, and that is known only now: say so before any fit
        spec.costs.cost_rates(market.n_assets)
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: costs: {exc} ({', '.join(market.assets)})") from exc
    progress("data", 1, 1)
    return market


@dataclasses.dataclass(frozen=True)
class FittedGenerator:
    """A generator family and its fitted parameters (the family's pytree), with what the report says of it."""

    generator: AbstractGenerator
    params: Any  # each family's own fitted pytree (GarchParams, BootstrapParams, ...)
    info: GeneratorInfo


def regime_history(fit: FittedGenerator, market: MarketData) -> RegimeHistory | None:
    """The history's decoded regime path when `fit` is a regime mixture (the report shows it), else None."""
    from .generators import regime  # only a regime run needs the decoder

    if not isinstance(fit.params, regime.RegimeFitted):
        return None
    path = regime.decode(fit.params, market)
    return RegimeHistory(dates=tuple(d.date().isoformat() for d in path.dates), labels=tuple(path.labels),
                         viterbi=np.asarray(path.viterbi, np.int64), smoothed=np.asarray(path.smoothed, np.float64))


def fit_generator(spec: RunSpec, market: MarketData, *, key: jax.Array,
                  progress: Progress = no_progress) -> FittedGenerator:
    """Fit the spec's generator family on `market`, or load its saved model; fit warnings are collected."""
    progress("fit", 0, 1)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec.generator.model is not None:
            generator, fitted = persist.load_model(spec.generator.model)
        else:
            generator = generators.get(spec.generator.family)
            fitted = generator.fit(market, key=key, config=spec.generator.config)
    seconds = time.perf_counter() - t0
    if spec.generator.model is not None:
        saved = tuple(getattr(getattr(fitted, "context", None), "assets", ()) or ())
        if saved and saved != market.assets:
            raise ConfigError(f"{spec.source}: generator.model {spec.generator.model} was fitted on assets "
                              f"{list(saved)}, but [data] selects {list(market.assets)}; "
                              "select the same assets")
    config = getattr(fitted, "config", None)
    info = GeneratorInfo(
        name=generator.name, config=config_to_dict(config) if dataclasses.is_dataclass(config) else {},
        params_digest=str(getattr(fitted, "digest", "")), warnings=tuple(str(w.message) for w in caught),
        fit_seconds=seconds, model=spec.generator.model)
    progress("fit", 1, 1)
    return FittedGenerator(generator, fitted, info)


# ------------------------------------------------------------------------------------- 3. strategies

@dataclasses.dataclass(frozen=True)
class StrategyPlan:
    """One spec strategy, built (a strategy or a `ParamGrid`), with its parameter sets' display names."""

    spec: StrategySpec
    built: Any  # the plugin's strategy instance, or a ParamGrid of it
    sets: tuple[tuple[str, dict[str, ParamValue]], ...]

    def at(self, p: int) -> Any:
        return self.built.at(p) if isinstance(self.built, ParamGrid) else self.built


def build_strategies(spec: RunSpec) -> tuple[StrategyPlan, ...]:
    if len(spec.strategies) == 0:
        raise ConfigError(f"{spec.source}: no strategies to run")
    plans = []
    for s in spec.strategies:
        built = s.build()
        sets = tuple((name, _plain(params)) for name, params in s.parameter_sets(built))
        plans.append(StrategyPlan(s, built, sets))
    return tuple(plans)


def _plain(params: dict[str, Any]) -> dict[str, ParamValue]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def _world_metrics(strategy: Any, scenarios: Scenarios, bt: engine.BacktestConfig, risk: RiskConfig, *,
                   check: bool) -> Metrics:
    """Per-world metrics as ``[params, worlds]`` NumPy arrays (params = 1 without a grid); the engine keeps
    no [worlds, time] series."""
    out = backtesting.world_metrics(strategy, scenarios, bt, risk=risk, check=check)
    return {k: np.atleast_2d(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- 4. sample and backtest

def run_configs(spec: RunSpec, market: MarketData) -> tuple[engine.BacktestConfig, RiskConfig]:
    """The spec's costs and risk settings at the data's frequency."""
    ppy = market.periods_per_year
    bt = dataclasses.replace(spec.costs, periods_per_year=ppy)
    return bt, RiskConfig(periods_per_year=ppy, rf=bt.rf)


def chunk_inputs(spec: RunSpec, fit: FittedGenerator, plans: tuple[StrategyPlan, ...], bt: engine.BacktestConfig,
                 risk: RiskConfig, *, key: jax.Array, condition: Any = None, check: bool = True) -> ChunkInputs:
    """What every chunk of the spec's run shares (`stressgen.chunks`)."""
    return ChunkInputs(generator=fit.generator, params=fit.params, plans=plans, bt=bt, risk=risk, key=key,
                       layout=chunks.layout(spec), horizon=spec.simulation.horizon,
                       sample_paths=spec.report.sample_paths, condition=condition, check=check,
                       stress=bool(spec.stress))


def sample_and_backtest(spec: RunSpec, market: MarketData, fit: FittedGenerator,
                        plans: tuple[StrategyPlan, ...], bt: engine.BacktestConfig, risk: RiskConfig, *,
                        key: jax.Array, progress: Progress = no_progress, condition: Any = None,
                        check: bool = True) -> Sampled:
    """Draw the spec's worlds chunk by chunk and backtest every plan on each chunk, in this process (see the
    module doc; `stressgen.chunk_store` runs the same chunks as tasks elsewhere).

    `condition` is a stress condition the generator samples under; `check` runs the engine's causality and
    validity probes on the first chunk (a stress case skips them: the programs are the base case's)."""
    t0 = time.perf_counter()
    inputs = chunk_inputs(spec, fit, plans, bt, risk, key=key, condition=condition, check=check)
    base = chunks.gate_base(market, spec.simulation.horizon, spec.simulation.worlds)
    template: list[Scenarios] = []

    def outs():
        done = 0
        for index in range(inputs.layout.n_chunks):
            out, worlds = chunks.run_chunk(inputs, index, base,
                                           progress=lambda j, n: progress("strategies", j, n))
            if index == 0:
                template.append(worlds)
            done += out.n
            progress("worlds", done, inputs.layout.n_worlds)
            yield out

    folded = chunks.fold(outs(), base, lambda: template[0], layout=inputs.layout)
    return dataclasses.replace(folded, seconds=time.perf_counter() - t0)


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
            m = _world_metrics(plan.built, last, bt, risk, check=False)
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
        start, size = cut.bounds(c)
        drawn = np.asarray(fit.generator.sample(fit.params, key=key, n_worlds=size, horizon=horizon,
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


# --------------------------------------------------------------------------------- 7-8. aggregate, fidelity

def aggregate(spec: RunSpec, plans: tuple[StrategyPlan, ...], sampled: Sampled, real: RealRuns,
              worst: WorstWorlds, *, key: jax.Array,
              progress: Progress = no_progress) -> tuple[tuple[StrategyResult, ...], pd.DataFrame]:
    """One `StrategyResult` per parameter set (cross-world tables, real-history ranks), and the head-to-head
    matrix ``P(row beats column)`` on total return."""
    n, config = spec.simulation.worlds, spec.report.aggregate_config()
    total = sum(len(plan.sets) for plan in plans)
    results = []
    for j, (plan, joined) in enumerate(zip(plans, sampled.metrics)):
        for p, (name, params) in enumerate(plan.sets):
            progress("aggregate", len(results), total)
            m = {k: v[p] for k, v in joined.items()}
            window = real.window.get((j, p), {})
            rank = rank_real_history(m, window).to_dict() if window else {}
            results.append(StrategyResult(
                name=name, plugin=plan.spec.plugin, params=params,
                # views of the run's arrays, not a copy: a million worlds' metrics are held once
                metrics=pd.DataFrame(m, index=pd.RangeIndex(n, name="world"), copy=False),
                aggregate=aggregate_metrics(m, key=key, config=config),
                real=window, real_rank={k: float(v) for k, v in rank.items()},
                worst_worlds=worst.index[name], worst_equity=worst.equity[name],
                real_equity=real.equity.get((j, p), np.zeros(0, np.float64))))
    progress("aggregate", total, total)
    h2h = head_to_head({s.name: s.metrics["total_return"].to_numpy() for s in results})
    return tuple(results), h2h


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
        pnl = {}  # empty without a tear sheet (history no longer than the warm-up): the scorecard notes it
        for j, plan in enumerate(plans if real.history is not None else ()):
            syn = engine.backtest(plan.built, sampled.scored, bt, check=False,
                                  chunk_size=min(SCORE_CHUNK, sampled.scored.n_worlds)).pnl
            syn = np.asarray(syn, np.float64)
            syn = syn.reshape(len(plan.sets), *syn.shape[-2:])
            for p, (name, _) in enumerate(plan.sets):
                eq = real.equity[(j, p)]
                # the engine's P&L from its equity: a day's growth, 0 once the equity is gone (engine._core)
                growth = np.divide(eq[1:], eq[:-1], out=np.ones(eq.shape[0] - 1), where=eq[:-1] > 0)
                pnl[name] = (growth - 1.0, syn[p])
    card = quick_scorecard(market, sampled.scored, key=key, max_paths=SCORE_WORLDS, strategy_pnl=pnl)
    # spread of the worlds against the spread of real windows of the same length: mode collapse shows as a
    # ratio far below 1 (see metrics.diversity)
    spread = diversity(np.asarray(sampled.scored.log_returns), real_r, periods_per_year=ppy) \
        if real_r.shape[0] >= 2 * horizon else None
    progress("fidelity", 1, 1)
    return dataclasses.replace(summary, scorecard=card.table, failures=tuple(card.meta["failures"]),
                               diversity=spread, skipped=tuple(card.meta["skipped"]))

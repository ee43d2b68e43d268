"""The stress run's stages, each a function with a typed result (`stressgen.pipeline.run` chains them).

1. `load_market`: the history the spec describes (`MarketData`).
2. `fit_generator`: fit the family, or load a saved model (`FittedGenerator`).
3. `build_strategies`: the spec's strategies and their parameter sets (`StrategyPlan` each).
4. `sample_and_backtest`: draw worlds in chunks (`generators.iter_chunks`), backtest every strategy on each
   chunk and keep only per-world metrics, plus what the report shows: the first k worlds, the equal-weight
   equity of at most `FAN_WORLDS` worlds, the fidelity sums and the plausibility gate (`Sampled`). Memory is
   bounded by the chunk of worlds.
5-6. `backtest_real` and `worst_worlds` (in `stressgen.stage_series`): the daily-series runs.
7. `aggregate`: cross-world tables, ranks of the real history and the head-to-head matrix.
8. `fidelity_summary` (in `stressgen.stage_series`): real against synthetic, the in-sample scorecard.
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
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import pandas as pd

from . import chunks, engine, generators, persist
from .chunks import SCORE_WORLDS, ChunkInputs, Sampled
from .errors import ConfigError
from .generators import AbstractGenerator
from .generators._base import config_to_dict
from .metrics import RiskConfig, aggregate_metrics, head_to_head, rank_real_history
from .results import GeneratorInfo, ParamValue, RegimeHistory, StrategyResult
from .spec import RunSpec, StrategySpec
from .strategy import ParamGrid
from .types import MarketData, Scenarios

if TYPE_CHECKING:  # stage_series builds on this module's types; its own types only annotate `aggregate`
    from .stage_series import RealRuns, WorstWorlds

__all__ = ["Progress", "no_progress", "SCORE_WORLDS", "FittedGenerator", "StrategyPlan", "Sampled",
           "check_memory", "load_market", "fit_generator", "build_strategies", "run_configs", "chunk_inputs",
           "sample_and_backtest", "aggregate", "regime_history"]

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


# --------------------------------------------------------------------------------- 7. aggregate

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

"""One chunk of worlds, sampled and backtested on its own, and the fold of chunks into the run's `Sampled`.

A stress run's worlds are cut into chunks of ``[simulation] chunk_size``. `run_chunk` draws chunk i (world j
depends only on the sample key and j) and reduces it to what the run keeps: per-world metrics of every
strategy, the fidelity sums, the plausibility gate's partial state, and, where the chunk holds the first
worlds, the sample paths, the fan's equity and the scorecard's worlds. `fold` joins the chunks in chunk
order. Both the in-process run and a distributed one (`stressgen.chunk_store`, where chunks run as tasks and
travel as files) go through these two functions, so the result does not depend on where a chunk ran.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import backtesting, devices, engine
from .errors import ConfigError
from .metrics import RiskConfig, plausibility, run_summary
from .metrics.stylized import equal_weight_equity, market_quantities
from .results import FAN_WORLDS
from .types import MarketData, Scenarios

__all__ = ["SCORE_WORLDS", "Metrics", "ChunkLayout", "ChunkInputs", "ChunkOut", "Sampled", "run_chunk", "fold",
           "layout", "gate_base", "plan_metrics"]

# the in-sample fidelity scorecard reads the first worlds (quick_scorecard's default cap)
SCORE_WORLDS = 1_000

Metrics = dict[str, np.ndarray]  # metric -> per-world values (the keys of metrics.per_world_metrics)


@dataclasses.dataclass(frozen=True)
class ChunkLayout:
    """How `n_worlds` worlds are cut: chunk i holds worlds ``[i * chunk_size, min((i + 1) * chunk_size, n))``."""

    n_worlds: int
    chunk_size: int

    @property
    def n_chunks(self) -> int:
        return -(-self.n_worlds // self.chunk_size)

    def bounds(self, index: int) -> tuple[int, int]:
        """(first world, number of worlds) of chunk `index`."""
        if not 0 <= index < self.n_chunks:
            raise ValueError(f"chunk {index} is not one of the run's {self.n_chunks} chunks")
        start = index * self.chunk_size
        return start, min(self.chunk_size, self.n_worlds - start)


def layout(spec: Any) -> ChunkLayout:
    """The spec's chunks (``[simulation] worlds`` and ``chunk_size``)."""
    sim = spec.simulation
    return ChunkLayout(sim.worlds, min(sim.chunk_size, sim.worlds))


@dataclasses.dataclass(frozen=True)
class ChunkInputs:
    """What every chunk of one run shares: the fitted generator, the built strategies and the settings.

    `plans` are the run's `stages.StrategyPlan` (each has ``.built``); `check` runs the engine's causality and
    validity probes on chunk 0 (the program is the same for every chunk); `stress` keeps per-world market
    quantities (only runs with stress cases read them).
    """

    generator: Any
    params: Any
    plans: tuple[Any, ...]
    bt: engine.BacktestConfig
    risk: RiskConfig
    key: jax.Array
    layout: ChunkLayout
    horizon: int
    sample_paths: int
    condition: Any = None
    check: bool = True
    stress: bool = False


@dataclasses.dataclass(frozen=True)
class ChunkOut:
    """One chunk reduced (see the module doc). Arrays that only the first worlds feed are empty elsewhere.

    Attributes:
        index, first_world, n: the chunk and its worlds.
        metrics: per plan, metric -> ``[params, n]``.
        summary: the chunk's fidelity sums (`run_summary.partial`).
        gate: the chunk's plausibility arrays (`plausibility.export_partial`).
        first_paths: ``[k, horizon, assets]`` its worlds among the report's first sample paths.
        fan: ``[k, horizon + 1]`` equal-weight equity of its worlds among the first `FAN_WORLDS`.
        scored: ``[k, horizon, assets]`` its worlds among the first `SCORE_WORLDS`.
        weights: ``[n]`` likelihood-ratio weights of a tilted condition, else None.
        market: per-world market quantities (stress views), empty unless asked for.
    """

    index: int
    first_world: int
    n: int
    metrics: tuple[Metrics, ...]
    summary: run_summary.SummaryState
    gate: dict[str, np.ndarray]
    first_paths: np.ndarray
    fan: np.ndarray
    scored: np.ndarray
    weights: np.ndarray | None
    market: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Sampled:
    """What one pass over the worlds keeps (memory bounded by a chunk).

    Attributes:
        metrics: per `StrategyPlan`, metric -> ``[params, worlds]`` per-world values.
        first_paths: ``[k, horizon, assets]`` the first k worlds (the report's sample paths).
        fan_equity: ``[min(worlds, FAN_WORLDS), horizon + 1]`` equal-weight equity of the first worlds.
        summary: the fidelity sums over every world (`metrics.run_summary`).
        plausibility: the plausibility gate's checks over every world.
        scored: the first `SCORE_WORLDS` worlds (the in-sample scorecard reads them).
        template: the first chunk: history prefix, anchor prices and calendar shared by every world.
        seconds: wall time of the pass.
        weights: ``[worlds]`` the generator's raw likelihood-ratio weights (a tilted condition), else None.
        market: per-world quantities of the market that stress views can name (`market_quantities`); empty
            unless the spec has ``[[stress]]`` cases, the only reader.
    """

    metrics: tuple[Metrics, ...]
    first_paths: np.ndarray
    fan_equity: np.ndarray
    summary: run_summary.SummaryState
    plausibility: plausibility.PlausibilityReport
    scored: Scenarios
    template: Scenarios
    seconds: float
    weights: np.ndarray | None = None
    market: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def gate_base(market: MarketData, horizon: int, n_worlds: int) -> plausibility.State:
    """The plausibility accumulator of a run before any world (its real references)."""
    return plausibility.init(market.log_returns, market.assets, horizon, market.periods_per_year, n_worlds=n_worlds)


def _draw(inputs: ChunkInputs, index: int) -> Scenarios:
    """Chunk `index` drawn at the full chunk size, the last one too.

    Why: world j depends only on the sample key and j, so the worlds past the run's last are extra worlds
    that change nothing, and a short last chunk would compile a sampler and a backtest program per strategy
    of its own (in a small run of 200 worlds in chunks of 64, 3 of its 13 programs). The extra worlds cost
    less than one chunk of compute, and the chunk size is the user's memory bound already."""
    start, _ = inputs.layout.bounds(index)
    return inputs.generator.sample(inputs.params, key=inputs.key, n_worlds=inputs.layout.chunk_size,
                                   horizon=inputs.horizon, condition=inputs.condition, first_world=start)


def sample_chunk(inputs: ChunkInputs, index: int) -> Scenarios:
    """The worlds of chunk `index`, drawn from the run's sample key."""
    return _draw(inputs, index).first(inputs.layout.bounds(index)[1])


def plan_metrics(strategy: Any, scenarios: Scenarios, bt: engine.BacktestConfig, risk: RiskConfig, *,
                 check: bool) -> Metrics:
    """Per-world metrics as ``[params, worlds]`` NumPy arrays (params = 1 without a grid); the engine keeps
    no [worlds, time] series."""
    out = backtesting.world_metrics(strategy, scenarios, bt, risk=risk, check=check)
    return {k: np.atleast_2d(v) for k, v in out.items()}


def run_chunk(inputs: ChunkInputs, index: int, base: plausibility.State, *,
              progress=None) -> tuple[ChunkOut, Scenarios]:
    """Draw chunk `index`, backtest every plan on it and reduce it; returns the reduction and the worlds
    (the caller keeps chunk 0 as the run's template). `progress(done, total)` counts strategies."""
    start, size = inputs.layout.bounds(index)
    drawn = _draw(inputs, index)
    chunk = drawn.first(size)
    done = [0]

    def backtest(plan: Any) -> Metrics:
        # on every drawn world: the programs of a full chunk; the extra worlds' metrics are dropped
        out = plan_metrics(plan.built, drawn, inputs.bt, inputs.risk, check=inputs.check and index == 0)
        done[0] += 1
        if progress is not None:
            progress(done[0], len(inputs.plans))
        return {k: v[:, :size] for k, v in out.items()}

    if progress is not None:
        progress(0, len(inputs.plans))
    metrics = devices.parallel_map(backtest, inputs.plans)  # strategies at once: see parallel_map
    r = np.asarray(chunk.log_returns)
    gate = plausibility.update(base, r, start)
    market = market_quantities(r, chunk.assets, int(inputs.risk.periods_per_year)) if inputs.stress else {}
    return ChunkOut(
        index=index, first_world=start, n=size, metrics=tuple(metrics),
        summary=run_summary.partial(r, start, inputs.horizon), gate=plausibility.export_partial(gate),
        first_paths=r[:max(0, inputs.sample_paths - start)],
        fan=equal_weight_equity(r[:max(0, FAN_WORLDS - start)]).astype(np.float32),
        scored=r[:max(0, SCORE_WORLDS - start)],
        weights=None if chunk.weights is None else np.asarray(chunk.weights, np.float64), market=market), chunk


def fold(outs: Iterable[ChunkOut], base: plausibility.State, template: Callable[[], Scenarios], *,
         layout: ChunkLayout, seconds: float = 0.0) -> Sampled:
    """Join the chunks, which must arrive in chunk order 0, 1, ..., into the run's `Sampled`; `template()`
    gives chunk 0's worlds once every chunk has been read (a lazily drawn chunk is known only then).

    The per-world metrics are written into arrays of the run's size as chunks arrive: a list of chunks
    joined at the end would hold them twice (at a million worlds, twice half a GB)."""
    n_chunks = layout.n_chunks
    metrics: list[Metrics] | None = None
    summary, gate = None, base
    firsts, fans, scored, weights, market = [], [], [], [], []
    count = 0
    for out in outs:
        if out.index != count:
            raise ConfigError(f"chunk {out.index} arrived where chunk {count} was expected")
        if metrics is None:
            metrics = [{k: np.empty((v.shape[0], layout.n_worlds), v.dtype) for k, v in m.items()}
                       for m in out.metrics]
        for j, m in enumerate(out.metrics):
            for k, v in m.items():
                metrics[j][k][:, out.first_world:out.first_world + out.n] = v
        summary = out.summary if summary is None else run_summary.merge(summary, out.summary)
        gate = plausibility.merge(gate, plausibility.import_partial(base, out.gate))
        firsts.append(out.first_paths)
        fans.append(out.fan)
        scored.append(out.scored)
        if out.weights is not None:
            weights.append(out.weights)
        if out.market:
            market.append(out.market)
        count += 1
    if count != n_chunks or metrics is None or summary is None:
        raise ConfigError(f"{count} of the run's {n_chunks} chunks were found")
    first = template()
    return Sampled(
        metrics=tuple(metrics), first_paths=np.concatenate(firsts), fan_equity=np.concatenate(fans), summary=summary,
        plausibility=plausibility.finalize(gate),
        scored=first.replace(log_returns=jnp.asarray(np.concatenate(scored)), weights=None),
        template=first, seconds=seconds, weights=np.concatenate(weights) if weights else None,
        market={k: np.concatenate([q[k] for q in market]) for k in market[0]} if market else {})

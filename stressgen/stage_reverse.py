"""The reverse stage of ``stressgen run``: for a spec with ``[reverse]``, each selected parameter set's most
plausible ways to lose at least ``[reverse] loss`` (docs/reverse.md, "In a run spec").

It calls `studies.reverse.reverse_fitted` with what the run already has (the market, the fitted generator,
each `StrategyPlan`'s strategy, the backtest and risk configs, the run's sample key), so its numbers are those
of ``stressgen reverse`` (`reverse_stress`) on the same spec and seed: the same worlds, the same tilt.
"""

from __future__ import annotations

import jax

from . import engine
from .metrics import RiskConfig
from .results_reverse import ReverseResult
from .spec import RunSpec
from .stages import FittedGenerator, Progress, StrategyPlan, no_progress
from .studies.reverse import check_method, reference_scores, reverse_fitted
from .types import MarketData

__all__ = ["run_reverse", "check_spec_reverse", "selected_sets"]


def selected_sets(spec: RunSpec, plans: tuple[StrategyPlan, ...]) -> tuple[tuple[str, StrategyPlan, int], ...]:
    """``(set name, plan, index in the plan)`` of every parameter set ``[reverse] strategies`` selects, in run
    order (empty without ``[reverse]``)."""
    if spec.reverse is None:
        return ()
    where = {name: (plan, p) for plan in plans for p, (name, _) in enumerate(plan.sets)}
    chosen = spec.reverse.select([(plan.spec.name, name) for plan in plans for name, _ in plan.sets])
    return tuple((name, *where[name]) for name in chosen)


def check_spec_reverse(spec: RunSpec, fit: FittedGenerator) -> None:
    """What the file could not decide: the optimised method on a saved model's family (right after the fit,
    before the worlds are drawn)."""
    if spec.reverse is not None:
        check_method(spec.reverse.method, fit.generator.name)


def run_reverse(spec: RunSpec, market: MarketData, fit: FittedGenerator, plans: tuple[StrategyPlan, ...],
                bt: engine.BacktestConfig, risk: RiskConfig, *, key: jax.Array,
                progress: Progress = no_progress) -> tuple[ReverseResult, ...]:
    """One `ReverseResult` per selected parameter set, in run order; `key` is the run's sample key."""
    if spec.reverse is None:
        return ()
    sets = selected_sets(spec, plans)
    sim = spec.simulation
    progress("reverse", 0, len(sets))

    def inner(stage: str, done: int, total: int) -> None:  # each set's passes get their own bars
        progress(f"reverse: {stage}", done, total)

    # the percentiles' plain reference worlds do not depend on the strategy: drawn once for every set
    reference = reference_scores(fit.generator, fit.params, market, key=key, horizon=sim.horizon,
                                 chunk_size=sim.chunk_size)
    out = []
    for i, (name, plan, p) in enumerate(sets):
        config = spec.reverse.config(name, sim.horizon, sim.worlds)
        out.append(reverse_fitted(config, market=market, generator=fit.generator, fitted=fit.params,
                                  strategy=plan.at(p), bt=bt, risk=risk, key=key, chunk_size=sim.chunk_size,
                                  progress=inner, reference=reference))
        progress("reverse", i + 1, len(sets))
    return tuple(out)

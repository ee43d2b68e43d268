"""The stress stage: every ``[[stress]]`` case of a spec beside the base case (docs/stress.md, "Stress cases").

For each case the fitted generator is moved to the case's start state (`generators._start.start_from`, when
given), its worlds are drawn under the case's condition with the *same* sample key as the base case (common
random numbers: a case differs from the base only by what it stresses, so the shifts the report shows are not
blurred by a fresh draw; a path shock's worlds equal the base worlds before the shock day), every strategy is
backtested on them, and the worlds get their probabilities: the generator's likelihood-ratio weights for a
tilt, then entropy pooling for views. Each case's statistics are weighted by those probabilities and carry
the Kish and entropy effective sizes; a case below ``[report] min_ess`` is flagged.

Views that the worlds cannot meet are a `ConfigError` naming the case and its views, raised before any
output is written.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

from . import engine, rng
from .errors import ConfigError
from .generators import CrisisReplay
from .generators._start import start_from
from .metrics import RiskConfig, per_world_metrics
from .metrics.plausibility import PlausibilityConfig
from .metrics.pooling import entropy_pool
from .metrics.quantile import weighted_quantile
from .metrics.views import ViewError
from .metrics.weighted import (drawdown_event, effective_size, loss_event, normalised, weighted_probability,
                               weighted_tail_risk)
from .results import FAN_QUANTILES, StressCase, StressStrategy
from .spec import RunSpec, StressSpec
from .spec_stress import check_stress, world_quantity_names
from .stages import FittedGenerator, Progress, Sampled, StrategyPlan, no_progress, sample_and_backtest
from .types import PERIODS_PER_YEAR, MarketData, period_words

__all__ = ["run_stress", "case_result", "view_quantities", "check_spec_stress", "metric_names"]

_BIG_MOVE = PlausibilityConfig().big_move  # the plausibility gate's bound on a period's |log return|


def view_quantities(plans: tuple[StrategyPlan, ...], sampled: Sampled) -> dict[str, np.ndarray]:
    """Everything a view may name: the market's per-world quantities and ``<set>/<metric>`` of every
    parameter set."""
    out = dict(sampled.market)
    for plan, metrics in zip(plans, sampled.metrics):
        for p, (name, _) in enumerate(plan.sets):
            for metric, values in metrics.items():
                out[f"{name}/{metric}"] = np.asarray(values[p], np.float64)
    return out


def metric_names(risk: RiskConfig) -> tuple[str, ...]:
    """The per-world metrics the engine reports (`metrics.per_world_metrics`' keys), read off its output
    shapes by `jax.eval_shape`: nothing is computed, and the list cannot drift from the engine's."""
    probe = jax.ShapeDtypeStruct((1, 2), np.float32)
    shapes = jax.eval_shape(lambda p, t, c: per_world_metrics(p, t, c, config=risk), probe, probe, probe)
    return tuple(shapes)


def check_spec_stress(spec: RunSpec, market: MarketData, plans: tuple[StrategyPlan, ...],
                      risk: RiskConfig) -> None:
    """The checks of `spec_stress.check_stress` that need the data and the strategies, before any fit."""
    if not spec.stress:
        return
    metrics = metric_names(risk)
    names = world_quantity_names(market.assets, {name: metrics for plan in plans for name, _ in plan.sets})
    check_stress(spec.stress, f"{spec.source}: stress", market, spec.generator.family, names,
                 spec.generator.config)


def _strategy_stats(plans: tuple[StrategyPlan, ...], sampled: Sampled, w: np.ndarray | None, level: float,
                    thresholds: tuple[float, ...], *, key: jax.Array, n_boot: int) -> tuple[StressStrategy, ...]:
    out = []
    for plan, metrics in zip(plans, sampled.metrics):
        for p, (name, _) in enumerate(plan.sets):
            tr = np.asarray(metrics["total_return"][p], np.float64)
            dd = np.asarray(metrics["max_drawdown"][p], np.float64)
            tail = weighted_tail_risk(tr, level, w, key=key, n_boot=max(n_boot, 2))
            defined = ~np.isnan(tr)
            median = float(weighted_quantile(tr[defined], 0.5, None if w is None else w[defined])) \
                if defined.any() else math.nan
            out.append(StressStrategy(
                name=name, var=tail.var, es=tail.es, p_loss=weighted_probability(loss_event(tr), w),
                p_drawdown=tuple((float(x), weighted_probability(drawdown_event(dd, x), w)) for x in thresholds),
                median_return=median))
    return tuple(out)


def case_result(spec: RunSpec, name: str, description: str, plans: tuple[StrategyPlan, ...], sampled: Sampled,
                *, weights: np.ndarray | None, views: tuple = (), start: str | None = None,
                notes: tuple[str, ...] = (), key: jax.Array) -> StressCase:
    """One case's weighted statistics (`weights`: probabilities summing to 1, None for uniform worlds)."""
    report = spec.report
    n = int(sampled.market["ew_return"].shape[0])
    size = effective_size(np.full(n, 1.0 / n) if weights is None else weights)
    low = size.kish < report.min_ess
    notes = tuple(notes)
    if low:  # first, so the terminal's one line per case can show it
        notes = (f"effective number of worlds {size.kish:,.0f} (Kish) is below min_ess = {report.min_ess:,}: "
                  "tail numbers rest on few worlds; draw more worlds or soften the case",) + notes
    big = weighted_probability(sampled.market["max_abs_log_return"] > _BIG_MOVE, weights)
    daily = period_words(PERIODS_PER_YEAR.get(sampled.template.freq, 252))[1]
    notes += (f"worlds with a {daily} |log return| above {_BIG_MOVE:g}: {big.value:.2%} (weighted)",)
    fan_w = None if weights is None else weights[:sampled.fan_equity.shape[0]]
    fan = np.asarray(weighted_quantile(np.asarray(sampled.fan_equity, np.float64), np.asarray(FAN_QUANTILES),
                                       fan_w))
    strategies = _strategy_stats(plans, sampled, weights, report.stress_level, report.drawdown_thresholds,
                                 key=key, n_boot=report.n_boot)
    total = np.stack([np.asarray(m["total_return"][p], np.float32)
                      for plan, m in zip(plans, sampled.metrics) for p in range(len(plan.sets))])
    return StressCase(
        name=name, description=description, condition=sampled.template.provenance.condition, start=start,
        views=tuple(views),
        n_worlds=n, ess_kish=float(size.kish), ess_entropy=float(size.entropy), low_ess=bool(low),
        level=float(report.stress_level), strategies=strategies,
        fan={f"q{round(100 * q):02d}": fan[i] for i, q in enumerate(FAN_QUANTILES)},
        weights=None if weights is None else np.asarray(weights, np.float64), total_return=total,
        ew_return=np.asarray(sampled.market["ew_return"], np.float32), notes=notes)


def _one_case(spec: RunSpec, i: int, case: StressSpec, market: MarketData, fit: FittedGenerator,
              plans: tuple[StrategyPlan, ...], bt: engine.BacktestConfig, risk: RiskConfig, *,
              key: jax.Array, boot_key: jax.Array, progress: Progress) -> StressCase:
    where = f"{spec.source}: stress[{i}] ({case.name})"
    notes: list[str] = []
    start = None
    if case.start is not None:
        params, resolved = start_from(fit.generator, fit.params, market, case.start,
                                      key=rng.stream(rng.stream(key, rng.FIT), i))
        fit = dataclasses.replace(fit, params=params)
        start = (f"{resolved.date} (equal-weight volatility {resolved.volatility:.0%}, "
                 f"percentile {resolved.percentile:.0f} of history)")
        if resolved.note:
            notes.append(resolved.note)
    condition: Any = case.condition
    if isinstance(condition, CrisisReplay):  # the spec names the episode; its returns come from the run's data
        condition = CrisisReplay.from_market(market, condition.episode, start=condition.start, end=condition.end)
    try:
        sampled = sample_and_backtest(spec, market, fit, plans, bt, risk, key=key, progress=progress,
                                      condition=condition, check=False)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    weights = None if sampled.weights is None else normalised(sampled.weights)
    fits: tuple = ()
    if case.views:
        try:
            posterior = entropy_pool(weights, case.views, view_quantities(plans, sampled))
        except ViewError as exc:
            raise ConfigError(f"{where}.views: {exc}") from None
        weights, fits = posterior.probabilities, posterior.fits
        if posterior.excluded_worlds:
            notes.append(f"{posterior.excluded_worlds:,} worlds excluded by exact views (probability 0 or 1)")
    return case_result(spec, case.name, case.describe(), plans, sampled, weights=weights, views=fits,
                       start=start, notes=tuple(notes), key=boot_key)


def run_stress(spec: RunSpec, market: MarketData, fit: FittedGenerator, plans: tuple[StrategyPlan, ...],
               bt: engine.BacktestConfig, risk: RiskConfig, base: Sampled, *, key: jax.Array,
               boot_key: jax.Array, progress: Progress = no_progress) -> tuple[StressCase, ...]:
    """The base case (from the run's own worlds) then each ``[[stress]]`` case; empty without cases.

    `key` is the run's sample key (shared with the base case: common random numbers); `boot_key` seeds the
    intervals' bootstrap, the same for every case."""
    if not spec.stress:
        return ()
    progress("stress", 0, len(spec.stress))

    def inner(stage: str, done: int, total: int) -> None:  # a case's own passes get their own bar
        if stage == "worlds":
            progress("stress: worlds", done, total)

    out = [case_result(spec, "base", "plain worlds", plans, base,
                       weights=None if base.weights is None else normalised(base.weights), key=boot_key)]
    for i, case in enumerate(spec.stress):
        out.append(_one_case(spec, i, case, market, fit, plans, bt, risk, key=key, boot_key=boot_key,
                             progress=inner))
        progress("stress", i + 1, len(spec.stress))
    return tuple(out)

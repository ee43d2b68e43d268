"""Reverse stress testing: the most plausible ways a strategy loses at least a given fraction (docs/reverse.md).

``reverse_stress(spec, ReverseConfig(strategy="ma_crossover[fast=5]", loss=0.25))`` loads the spec's data,
fits (or loads) its generator, draws worlds and backtests the named parameter set on each, then looks only at
the worlds whose loss ``-(total return)`` is at least `loss`:

1. sampling: a family whose `conditions` include `Tilt` (garch) draws from a law tilted toward losses of the
   strategy's average holdings (measured on a pilot of plain worlds; equal weight when it holds nothing), its
   strength chosen on a pilot by the measured relative variance of the estimator (`reverse_tilt`) unless
   given, and every world carries its likelihood ratio, so the probabilities below are those of the plain
   model; other families draw plain worlds (weights 1);
2. the event: its weighted probability with a Wilson interval and the Kish effective size of the weights;
3. the k most plausible losing worlds: plausibility is the log-likelihood of the world's noise under the
   generator's noise model where the family has one (`generators._garch_noise`), otherwise a stated generic
   score, the Gaussian log-likelihood of its daily returns under the history's mean and covariance; each with
   its percentile among `REFERENCE_WORLDS` ordinary worlds (plain, unweighted, from
   ``stream(sample key, REFERENCE_STREAM)``);
4. the conditional mean path ``E[cumsum r | loss >= l]`` per asset, weighted;
5. the drivers: per-asset P&L contributions (the losing worlds rerun through the engine for their daily
   weights, `reverse_math.contributions`), the realised volatility path and the average pairwise correlation
   of the losing worlds against all worlds;
6. the worst sampled worlds by loss, for comparison.

World i is drawn from ``fold_in(sample key, i)`` with the spec's seed, so the plain worlds are those of
``stressgen run`` on the same spec. `reverse_fitted` is the core: it takes what a run already has (the market,
the fitted generator, the strategy, the backtest and risk configs, the sample key), so the pipeline's reverse
stage (`stressgen.stage_reverse`, a spec's ``[reverse]``) and `reverse_stress` (``stressgen reverse``) give the
same numbers for the same seed. The result types live in `stressgen.results_reverse` (a `RunResult` carries
them) and are re-exported here. Errors are `ConfigError`s naming the key (``reverse.loss``,
``reverse.strategy``, ``reverse.method``), raised before any compute where the input alone decides.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import engine, generators, persist, rng
from ..errors import ConfigError
from ..generators import Tilt, iter_chunks
from ..generators._base import did_you_mean
from ..metrics.risk import RiskConfig
from ..metrics.weighted import effective_size, normalised, weighted_probability
from ..results_reverse import (METHODS, Contributions, Drivers, LosingWorld, ReverseConfig, ReverseOptResult,
                               ReverseResult, TiltChoice)
from ..strategy import ParamGrid
from ..types import MarketData, Scenarios
from . import reverse_math as rm
from .reverse_opt import garch_noise_model, most_likely_paths, strategy_loss
from .reverse_pass import Progress, losing_worlds, noise_scorer, sample_pass, trace
from .reverse_tilt import MIN_PILOT_EVENTS, pilot_tilt

if TYPE_CHECKING:  # the spec module imports studies (CalibrationConfig): a runtime import would be a cycle
    from ..spec import RunSpec

__all__ = ["ReverseConfig", "ReverseResult", "LosingWorld", "Contributions", "Drivers", "ReverseOptResult",
           "TiltChoice", "reverse_stress", "reverse_fitted", "reference_scores", "check_method", "METHODS",
           "GENERIC_SCORE", "NOISE_SCORE"]

DIRECTION_WORLDS = 64  # plain worlds whose average holdings give the tilt its direction
REFERENCE_WORLDS = 1000  # plain worlds whose scores the percentiles compare with
REFERENCE_STREAM = 2  # they are drawn from rng.stream(sample key, 2) (1: the optimised method's starts)
GENERIC_SCORE = ("gaussian: log-likelihood of the world's daily log returns, i.i.d. normal with the history's "
                 "mean and covariance (nats)")
NOISE_SCORE = "noise: log-likelihood of the world's noise under the generator's noise model (nats)"
NOISE_FAMILIES = ("garch",)  # families with an explicit noise model (generators._garch_noise)


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


# ------------------------------------------------------------------------------------------------ setup

def _strategy(spec: RunSpec, name: str) -> Any:
    """The named parameter set's strategy instance (built from the spec), or a ConfigError listing them."""
    sets: dict[str, Any] = {}
    for entry in spec.strategies:
        built = entry.build()
        for p, (display, _) in enumerate(entry.parameter_sets(built)):
            sets[display] = (entry, built, p)
    if name not in sets:
        names = ", ".join(sets) or "none"
        raise ConfigError(f"reverse.strategy: {name!r} is not a parameter set of {spec.source} (it has: {names})"
                          f"{did_you_mean(name, sets)}")
    _, built, p = sets[name]
    return built.at(p) if isinstance(built, ParamGrid) else built


def check_method(method: str, family: str | None) -> None:
    """Refuse the optimised method for a family without a noise model (`family` None: not known yet, a saved
    model's family is known once it is loaded)."""
    if method != "optimised" or family is None:
        return
    if family not in NOISE_FAMILIES:
        raise ConfigError(f"reverse.method: 'optimised' needs a generator with an explicit noise model (garch); "
                          f"{family} has none: use method = 'empirical'")


def _fit(spec: RunSpec, market: Any, key: Any) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics belong to `stressgen run`'s report
        if spec.generator.model is not None:
            generator, fitted = persist.load_model(spec.generator.model)
        else:
            generator = generators.get(spec.generator.family)
            fitted = generator.fit(market, key=key, config=spec.generator.config)
    return generator, fitted


def _tilt(config: ReverseConfig, generator: Any, fitted: Any, strategy: Any, bt: engine.BacktestConfig,
          risk: RiskConfig, key: Any, horizon: int, n_worlds: int, chunk_size: int,
          n_assets: int) -> tuple[Tilt | None, TiltChoice | None]:
    """The tilt toward the strategy's losses (None: plain worlds) and, when z is automatic, its pilot
    (`reverse_tilt`); the direction is the average holdings over a pilot of plain worlds."""
    if Tilt not in generator.conditions or config.tilt_z == 0:
        return None, None
    pilot = generator.sample(fitted, key=key, n_worlds=DIRECTION_WORLDS, horizon=horizon)
    tr = engine.trace_world(strategy, pilot, bt, worlds=slice(0, DIRECTION_WORLDS))
    held = np.asarray(tr["executed"][0], np.float64).mean((0, 1))
    direction = tuple(float(v) for v in held) if np.abs(held).sum() > 1e-6 else None
    if direction is not None and len(direction) != n_assets:
        direction = None
    choice = None
    z = config.tilt_z
    if z is None:
        choice = pilot_tilt(config, generator, fitted, strategy, bt, risk, key, horizon, n_worlds, chunk_size,
                            direction)
        z = choice.z
    return (None if z == 0 else Tilt.for_tail(float(z), horizon, direction)), choice


def _scorer(generator: Any, fitted: Any, market: MarketData, horizon: int) -> tuple[Any, str]:
    """(the plausibility score of worlds ``[n, horizon, assets] -> [n]``, its definition): the noise model's
    where the family has one, else the Gaussian log-likelihood under the history's mean and covariance."""
    noise = noise_scorer(generator, fitted, horizon)
    if noise is not None:
        return noise, NOISE_SCORE
    hist = np.asarray(market.log_returns, np.float64)
    mu, cov = hist.mean(0), np.atleast_2d(np.cov(hist, rowvar=False))
    return (lambda r: rm.gaussian_loglik(r, mu, cov)), GENERIC_SCORE


def reference_scores(generator: Any, fitted: Any, market: MarketData, *, key: Any, horizon: int,
                     chunk_size: int) -> np.ndarray:
    """Plausibility scores of `REFERENCE_WORLDS` plain worlds drawn from ``stream(sample key,
    REFERENCE_STREAM)``: what every percentile compares with. They do not depend on the strategy, so a run
    draws them once for all its parameter sets (`reverse_fitted`'s `reference`)."""
    scorer, _ = _scorer(generator, fitted, market, horizon)
    n = REFERENCE_WORLDS
    ref = rng.stream(key, REFERENCE_STREAM)
    return np.concatenate([scorer(np.asarray(chunk.log_returns))
                           for chunk in iter_chunks(generator, fitted, key=ref, n_worlds=n, horizon=horizon,
                                                    chunk_size=min(chunk_size, n))])


def _percentile(reference: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The share (%) of the reference scores at or below each of `at` (NaN references count as below none)."""
    return rm.weighted_percentile(reference, np.ones(reference.shape[0]), at)


# ------------------------------------------------------------------------------------------------- entry

def reverse_stress(spec: RunSpec, config: ReverseConfig, *, progress: Progress | None = None) -> ReverseResult:
    """Reverse-stress `config.strategy` on the spec's generator (module docstring): loads the data, fits (or
    loads) the generator, then `reverse_fitted`; `progress(stage, done, total)` hears ``"data"``, ``"fit"``,
    ``"worlds"`` and ``"drivers"``."""
    progress = progress or _no_progress
    spec = spec.with_overrides(horizon=config.horizon, worlds=config.n_worlds)
    sim = spec.simulation
    config = dataclasses.replace(config, horizon=sim.horizon, n_worlds=sim.worlds)
    strategy = _strategy(spec, config.strategy)  # names are checked before any compute
    check_method(config.method, spec.generator.family if spec.generator.model is None else None)
    progress("data", 0, 1)
    market = spec.data.load()
    progress("data", 1, 1)
    bt = dataclasses.replace(spec.costs, periods_per_year=market.periods_per_year)
    risk = RiskConfig(periods_per_year=market.periods_per_year, rf=bt.rf)
    root = rng.root(sim.seed)
    progress("fit", 0, 1)
    generator, fitted = _fit(spec, market, rng.stream(root, rng.FIT))
    progress("fit", 1, 1)
    return reverse_fitted(config, market=market, generator=generator, fitted=fitted, strategy=strategy, bt=bt,
                          risk=risk, key=rng.stream(root, rng.SAMPLE), chunk_size=sim.chunk_size,
                          progress=progress)


def reverse_fitted(config: ReverseConfig, *, market: MarketData, generator: Any, fitted: Any, strategy: Any,
                   bt: engine.BacktestConfig, risk: RiskConfig, key: Any, chunk_size: int,
                   progress: Progress | None = None, reference: np.ndarray | None = None) -> ReverseResult:
    """The core (module docstring, steps 1 to 6) on an already fitted generator.

    Args:
        config: the request, `horizon` and `n_worlds` resolved (not None).
        market: the history (its mean and covariance give the generic plausibility score).
        generator, fitted: the family and its fitted parameters (`stages.FittedGenerator`'s two).
        strategy: one parameter set's strategy instance (`StrategyPlan.at(p)`).
        bt, risk: the run's backtest (periods per year set) and risk configs.
        key: the run's sample key (``rng.stream(rng.root(seed), rng.SAMPLE)``): world i is ``fold_in(key, i)``.
        chunk_size: worlds held in memory at once.
        reference: `reference_scores` of this generator and horizon, when the caller already drew them (a run
            shares one batch between its parameter sets); None draws them here.
    """
    if config.horizon is None or config.n_worlds is None:
        raise ValueError("reverse_fitted: config.horizon and config.n_worlds must be resolved")
    t0 = time.perf_counter()
    progress = progress or _no_progress
    check_method(config.method, generator.name)
    horizon, n_worlds = int(config.horizon), int(config.n_worlds)
    condition, choice = _tilt(config, generator, fitted, strategy, bt, risk, key, horizon, n_worlds, chunk_size,
                              market.n_assets)
    scorer, plausibility_method = _scorer(generator, fitted, market, horizon)
    passed, template = sample_pass(config, generator, fitted, strategy, bt, risk, condition, key, scorer,
                                   chunk_size, progress)

    loss = np.concatenate(passed.loss)
    w = normalised(np.concatenate(passed.raw_w))
    score = np.concatenate(passed.score)
    corr = np.concatenate(passed.corr)
    largest = float(np.nanmax(loss)) if np.isfinite(loss).any() else math.nan
    event = np.where(np.isnan(loss), np.nan, (loss >= config.loss).astype(np.float64))
    losing = sorted(passed.kept)
    if not losing:
        how = ("raise reverse.tilt_z (--tilt-z)" if condition is not None or Tilt in generator.conditions else
               "use a family that takes a tilt (garch)")
        raise ConfigError(f"reverse.loss: no sampled world of {config.strategy} loses {config.loss:.1%} or more "
                          f"(the largest loss among {loss.size:,} worlds is {largest:.1%}); draw more worlds "
                          f"(--worlds), {how}, or lower the loss")
    wl = w[losing]
    paths = np.stack([passed.kept[i] for i in losing])
    progress("drivers", 0, 1)
    chunk = min(chunk_size, n_worlds)
    traced = trace(strategy, template, paths, bt, chunk)
    per_asset, cash, cost = rm.contributions(traced["executed"], traced["costs"], traced["equity"], paths,
                                             bt.rf_per_period)
    assets = tuple(market.assets)
    mean_contrib = Contributions(assets, rm.weighted_mean(per_asset, wl), float(rm.weighted_mean(cash, wl)),
                                 float(rm.weighted_mean(cost, wl)))
    drivers = Drivers(contributions=mean_contrib,
                      vol_losing=rm.weighted_mean(rm.vol_path(paths, risk.periods_per_year), wl),
                      vol_all=np.asarray(passed.vol_sum, np.float64) / np.concatenate(passed.raw_w).sum(),
                      corr_losing=float(rm.weighted_mean(corr[losing], wl)),
                      corr_all=float(rm.weighted_mean(corr, w)))
    if reference is None:
        reference = reference_scores(generator, fitted, market, key=key, horizon=horizon, chunk_size=chunk_size)
    pct = _percentile(reference, score[losing])
    best = np.argsort(-np.nan_to_num(score[losing], nan=-np.inf), kind="stable")[:config.k]
    rows = [int(b) for b in best]
    most = losing_worlds([losing[b] for b in rows], paths[rows], loss, score, pct[rows], w,
                         {k: v[rows] for k, v in traced.items()}, per_asset[rows], cash[rows], cost[rows], assets)
    worst_items = sorted(passed.worst, reverse=True)
    worst_idx = [-item[1] for item in worst_items]
    worst_paths = np.stack([item[2] for item in worst_items])
    wt = trace(strategy, template, worst_paths, bt, chunk)
    wa, wc, wk = rm.contributions(wt["executed"], wt["costs"], wt["equity"], worst_paths, bt.rf_per_period)
    worst = losing_worlds(worst_idx, worst_paths, loss, score, _percentile(reference, score[worst_idx]),
                          w, wt, wa, wc, wk, assets)
    progress("drivers", 1, 1)

    size, size_losing = effective_size(w), effective_size(wl)
    notes = []
    if choice is not None:
        notes.append(f"automatic tilt: z = {choice.z:g}, the smallest relative variance of the estimator of "
                     f"P(loss >= l) on a pilot of {choice.pilot_worlds} worlds per z (at least "
                     f"{MIN_PILOT_EVENTS} past the loss): {choice.table()}")
    if len(losing) < 30:
        notes.append(f"only {len(losing)} sampled worlds lose {config.loss:.0%} or more: the conditional mean "
                     "and drivers rest on few worlds; draw more worlds")
    if size_losing.kish < min(30.0, 0.1 * len(losing)):
        notes.append(f"the losing worlds' weights have a Kish effective size of {size_losing.kish:.1f}: a few "
                     "worlds carry the conditional statistics; lower reverse.tilt_z")
    optimised = None
    if config.method == "optimised":
        optimised = _optimised(config, fitted, strategy, template, bt, rng.stream(key, 1))
    return ReverseResult(
        config=config, assets=assets, generator=generator.name,
        tilt=None if condition is None else condition.describe(),
        plausibility_method=plausibility_method, n_losing=len(losing),
        probability=weighted_probability(event, w), ess_kish=size.kish, ess_losing=size_losing.kish,
        largest_loss=largest, mean_path=rm.mean_path(paths, wl), most_plausible=most, worst=worst,
        drivers=drivers, optimised=optimised, notes=tuple(notes), seconds=time.perf_counter() - t0,
        tilt_choice=choice, n_reference=int(reference.shape[0]))


def _optimised(config: ReverseConfig, fitted: Any, strategy: Any, template: Scenarios, bt: engine.BacktestConfig,
               key: Any) -> ReverseOptResult:
    """The optimised method (`reverse_opt.most_likely_paths`, its default random starts) on garch's noise
    model. (Started instead from the noise of the most plausible losing worlds, the search ended less likely
    than those worlds on the test spec: the default starts did better.)"""
    model = garch_noise_model(fitted, int(config.horizon))
    loss_fn = strategy_loss(strategy, template.replace(log_returns=template.log_returns[:1], weights=None), bt)
    return most_likely_paths(model, loss_fn, float(config.loss), key=key)

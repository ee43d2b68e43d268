"""The stress run: `run` chains the named stages of `stressgen.stages` into a `RunResult`.

data -> fit -> sample and backtest -> real history -> worst worlds -> aggregate -> fidelity -> overfitting (only
for strategies with a parameter grid) -> stress cases (only for a spec with [[stress]]) -> reverse stress (only
for a spec with [reverse]). Each stage has a typed result, so a notebook can run one at a time (see
`stressgen.stages`). Also here: `fit_to_dir` (fit and save a model) and `sample_to_file` (stream worlds into a
safetensors file).

Nothing here prints. Progress goes to an optional callback ``progress(stage, done, total)`` with stages
``"data"``, ``"fit"``, ``"worlds"``, ``"strategies"`` (within the current chunk), ``"real"``, ``"worst"``,
``"aggregate"``, ``"fidelity"``, ``"overfit"``, ``"stress"`` (cases done; each case then reports its own
``"worlds"`` and ``"strategies"``) and ``"reverse"`` (parameter sets done, each with ``"reverse: worlds"`` and
``"reverse: drivers"``); the CLI draws rich bars from it. With
``[report] strict = true`` a failed plausibility check raises `ImplausibleWorldsError` right after sampling,
before any output.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import os
import time
from pathlib import Path

import numpy as np

from . import devices, persist, rng
from . import chunk_run
from .chunk_run import sample_chunked
from .day_defaults import day_defaults, day_defaults_note
from .errors import ConfigError, ImplausibleWorldsError
from .generators import iter_chunks
from .metrics import run_summary
from .metrics.stylized import equal_weight_equity
from .report.worlds_file import WORLDS_FORMAT, write_worlds
from .results import FAN_QUANTILES, FAN_WORLDS, DatasetInfo, GeneratorInfo, RunResult
from .spec import RunSpec
from .stage_reverse import check_spec_reverse, run_reverse
from .stage_overfit import check_overfit, overfit, overfit_warmup
from .stage_stress import check_spec_stress, run_stress
from .stage_series import RealRuns, WorstWorlds, backtest_real, fidelity_summary, worst_worlds
from .stages import (SCORE_WORLDS, FittedGenerator, Progress, Sampled, StrategyPlan, no_progress, aggregate,
                     check_memory, build_strategies, fit_generator, load_market, regime_history,
                     run_configs, sample_and_backtest)
from .types import PERIODS_PER_YEAR, MarketData, period_words

__all__ = ["Progress", "FAN_WORLDS", "FAN_QUANTILES", "SCORE_WORLDS", "FittedGenerator", "StrategyPlan",
           "Sampled", "RealRuns", "WorstWorlds", "load_market", "fit_generator", "build_strategies",
           "sample_and_backtest", "backtest_real", "worst_worlds", "aggregate", "fidelity_summary", "overfit",
           "check_overfit", "run", "horizon_assumed", "horizon_note", "day_default_notes",
           "versions", "sample_to_file", "fit_to_dir", "WORLDS_FORMAT"]

_PACKAGES = ("stressgen", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "scipy", "arch", "vectorbt",
             "plotly")



def versions() -> dict[str, str]:
    """Installed versions of the packages whose behaviour shapes the numbers."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fit_to_dir(spec: RunSpec, model_dir: str | os.PathLike, *,
               progress: Progress | None = None) -> tuple[Path, GeneratorInfo]:
    """Fit the spec's generator on its data and save it (`stressgen.persist`); returns (dir, header info)."""
    progress = progress or no_progress
    if spec.generator.model is not None:
        raise ConfigError(f"{spec.source}: generator.model loads a saved model; "
                          "`fit` needs family = ... instead")
    market = load_market(spec, progress)
    fit = fit_generator(spec, market, key=rng.stream(rng.root(spec.simulation.seed), rng.FIT),
                        progress=progress)
    return persist.save_model(model_dir, fit.generator, fit.params), fit.info


# ---------------------------------------------------------------------------------------------- run

def _bps(value: float | tuple[float, ...]) -> str:
    """``"5 bps"``, or ``"per asset 5/2/10 bps"`` for per-asset rates (in the data's asset order)."""
    if isinstance(value, tuple):
        return "per asset " + "/".join(f"{v:g}" for v in value) + " bps"
    return f"{value:g} bps"


def horizon_assumed(spec: RunSpec, ppy: int) -> bool:
    """True when the spec left ``[simulation] horizon`` at its default, a year of business days (252 periods),
    and the data's periods are not business days: the run then says what it assumed (`horizon_note`).

    Why not a year of the data's own periods instead: the spec's stress cases are checked against the
    horizon when the spec is read, before the data and their frequency are known. The run keeps the
    horizon those checks saw, and says so rather than guess silently.
    """
    return spec.horizon_default and ppy != PERIODS_PER_YEAR["B"]


def horizon_note(spec: RunSpec, ppy: int) -> str:
    """The worlds' horizon in the data's periods and in years, and what was assumed (`horizon_assumed`)."""
    h = spec.simulation.horizon
    day = period_words(ppy)[0]
    text = f"{h} {day}s ({h / ppy:.3g} year{'' if h == ppy else 's'})"
    if horizon_assumed(spec, ppy):
        text += (f": [simulation] horizon was not set, and its default of {h} periods is a year of business "
                 f"days; a year of this data is {ppy} {day}s (set horizon = {ppy})")
    return text


def day_default_notes(spec: RunSpec, plans: tuple[StrategyPlan, ...], ppy: int) -> tuple[str, ...]:
    """One line for the generator's config and one per strategy with windows left at defaults counted in
    business days, on data of another frequency (`stressgen.day_defaults`); the fields a strategy's spec sets
    (params and grid) are its choice. A saved model's config is the model's: not named."""
    gen = spec.generator
    subjects = [(f"[generator] {gen.family}", gen.config, ())] if gen.model is None and gen.config is not None \
        else []
    subjects += [(plan.spec.name, plan.built, (*plan.spec.params, *plan.spec.grid)) for plan in plans]
    found = [(name, day_defaults(obj, ppy, set_fields=fixed)) for name, obj, fixed in subjects]
    return tuple(day_defaults_note(name, rows, ppy) for name, rows in found if rows)


def _conventions(spec: RunSpec, ppy: int, n_worlds: int, windows: tuple[str, ...] = ()) -> dict[str, str]:
    c = spec.costs
    day, daily = period_words(ppy)
    days = {"business_day_defaults": " | ".join(windows)} if windows else {}
    return {
        "horizon": horizon_note(spec, ppy),
        **days,
        "returns": f"worlds are {daily} log returns; strategy P&L is simple returns net of costs; "
                   "equity starts at 1",
        "periods_per_year": f"{ppy} (annualisation of vol, Sharpe, CAGR and the fidelity moments)",
        "execution": "weights decided at close t earn the return of t+1 at the earliest; "
                     f"extra lag {c.lag} closes",
        "costs": f"{_bps(c.fee_bps)} fee + {_bps(c.slippage_bps)} slippage of traded notional (drift included)",
        "limits": f"max gross {c.max_gross:g}, {'long only' if c.long_only else 'shorts allowed'}",
        "rf": f"annual risk-free rate {c.rf:g}, compounded per period; cash earns it",
        "statistics": "std with ddof=1; VaR/ES historical, positive = loss; drawdown from the running peak",
        "intervals": f"{spec.report.n_boot} bootstrap replicates over worlds, 95% percentile intervals",
        "warm_up": "strategies warm up on the real history before the horizon; "
                   "P&L counts on the horizon only",
        "real_history": f"the same strategy backtested on the real data's last horizon {day}s, "
                        "ranked among worlds; "
                        "the tear sheet backtests the whole history after the same warm-up",
        "fan": f"equal-weight {daily}-rebalanced equity quantiles over the first "
               f"{min(n_worlds, FAN_WORLDS)} worlds",
        "overfitting": "grids only: Sharpe ratios per period with ddof=0, annualised, excess of rf, on the whole "
                       "real history after warm-up; chance share on up to 1,000 worlds as long as that history, "
                       "log returns de-meaned per asset (no drift: the edge removed)",
        "fidelity": f"moments pooled over all synthetic {day}s vs the whole real history; ACF of |r| averaged "
                    f"within worlds (first {min(n_worlds, run_summary.ACF_WORLDS)}) and within real windows "
                    f"of the horizon",
    }


def _real_windows(r: np.ndarray, horizon: int, k: int) -> np.ndarray:
    """Up to k real windows of `horizon` days, evenly spaced, the most recent last."""
    if k == 0 or r.shape[0] < horizon:
        return np.zeros((0, horizon, r.shape[1]), np.float32)
    starts = np.unique(np.linspace(0, r.shape[0] - horizon, k).round().astype(int))
    return np.stack([r[s:s + horizon] for s in starts]).astype(np.float32)


def _fan(sampled: Sampled, real_r: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    fan = {f"q{round(100 * q):02d}": np.quantile(sampled.fan_equity, q, axis=0) for q in FAN_QUANTILES}
    if real_r.shape[0] >= horizon:
        fan["real"] = equal_weight_equity(real_r[-horizon:])
    return fan


def _dataset(market: MarketData) -> DatasetInfo:
    return DatasetInfo(source=market.source, assets=tuple(market.assets),
                       start=market.dates[0].date().isoformat(),
                       end=market.dates[-1].date().isoformat(), n_obs=market.n_obs, freq=market.freq,
                       repairs=len(market.repairs))


def run(spec: RunSpec, *, progress: Progress | None = None, executor: concurrent.futures.Executor | None = None,
        chunks: str | os.PathLike | None = None) -> RunResult:
    """Run the whole stress test the spec describes, stage by stage; returns the `RunResult` the report
    renders (its `timings` hold each stage's seconds).

    The worlds are drawn and backtested in this process, chunk by chunk, unless `executor` or `chunks` is
    given: then every chunk is a task writing its files under the directory `chunks` (by default
    ``<results>/.stressgen/chunks``), run on `executor` (any `concurrent.futures.Executor`, e.g.
    `stressgen.executors.RayExecutor`; None: this process), and a rerun skips the chunks already written
    (`stressgen.chunk_store`). The result is the same bit for bit either way.

    First asks JAX for one CPU device per core (`devices.use_cpu_cores`, so the engine splits worlds over
    every core); this is the explicit device setup that importing stressgen does not do. It changes nothing
    when JAX has already started its backends or the user chose a device count.
    """
    devices.use_cpu_cores()
    progress = progress or no_progress
    sim = spec.simulation
    root = rng.root(sim.seed)
    timings: dict[str, float] = {}

    def timed(stage: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[stage] = time.perf_counter() - t0
        return out

    market = timed("data", load_market, spec, progress)
    check_memory(spec, market.n_assets)  # before any compute
    plans = timed("strategies", build_strategies, spec)
    ppy = market.periods_per_year
    bt, risk = run_configs(spec, market)
    # a grid the overfitting statistics cannot judge, or a stress case the data cannot hold, is refused now,
    # not after the worlds
    check_overfit(spec, plans, market, overfit_warmup(spec, market))
    check_spec_stress(spec, market, plans, risk)
    fit = timed("fit", fit_generator, spec, market, key=rng.stream(root, rng.FIT), progress=progress)
    if spec.generator.model is not None:  # a saved model's warm-up is known only once it is loaded
        check_overfit(spec, plans, market, overfit_warmup(spec, market, fit))
    check_spec_reverse(spec, fit)  # the optimised method needs a noise model: known once the model is loaded
    sample_key = rng.stream(root, rng.SAMPLE)

    if executor is None and chunks is None:
        sampled = timed("sample_backtest", sample_and_backtest, spec, market, fit, plans, bt, risk,
                        key=sample_key, progress=progress)
    else:
        sampled = timed("sample_backtest", sample_chunked, spec, market, fit, plans, bt, risk, key=sample_key,
                        executor=executor, root=chunks, progress=progress)
    # before any aggregation, and so before any output
    if spec.report.strict and sampled.plausibility.failures:
        if executor is not None or chunks is not None:  # refused worlds: nothing to resume
            chunk_run.remove(spec, fit.info.params_digest, chunks)
        raise ImplausibleWorldsError(sampled.plausibility.failures, sampled.plausibility.summary_line())
    real = timed("real_history", backtest_real, market, plans, sampled.template, bt, risk, progress)
    worst = timed("worst_worlds", worst_worlds, spec, fit, plans, sampled, bt, key=sample_key,
                  progress=progress)
    strategies, h2h = timed("aggregate", aggregate, spec, plans, sampled, real, worst, key=root,
                            progress=progress)
    # the scorecard's strategy tails use the run's own strategies (their tear sheets and programs)
    fidelity = timed("fidelity", fidelity_summary, market, sampled, sim.horizon,
                     key=rng.stream(root, rng.BOOTSTRAP), progress=progress, plans=plans, bt=bt, real=real)
    overfitting = timed("overfit", overfit, spec, market, fit, plans, sampled, real, bt,
                        key=rng.stream(root, rng.OVERFIT), progress=progress)
    stress = timed("stress", run_stress, spec, market, fit, plans, bt, risk, sampled, key=sample_key,
                   boot_key=root, progress=progress) if spec.stress else ()
    # the same sample key as the run: with tilt_z = 0 and the run's world count, the stage's worlds are the run's
    reverse = timed("reverse", run_reverse, spec, market, fit, plans, bt, risk, key=sample_key,
                    progress=progress) if spec.reverse is not None else ()
    return RunResult(
        spec=spec.to_dict(), data=_dataset(market), generator=fit.info, seed=sim.seed, n_worlds=sim.worlds,
        horizon=sim.horizon, assets=tuple(market.assets),
        conventions=_conventions(spec, ppy, sim.worlds, day_default_notes(spec, plans, ppy)), versions=versions(),
        real_paths=_real_windows(market.log_returns, sim.horizon, spec.report.sample_paths),
        sample_paths=sampled.first_paths, fan=_fan(sampled, market.log_returns, sim.horizon),
        worst_paths=worst.paths, strategies=strategies, head_to_head=h2h, fidelity=fidelity, timings=timings,
        plausibility=sampled.plausibility, suspects=tuple(market.suspects), real_history=real.history,
        overfit=overfitting, regimes=timed("regimes", regime_history, fit, market), stress=stress,
        reverse=reverse)


# --------------------------------------------------------------------------------------- worlds file

def sample_to_file(spec: RunSpec, path: str | os.PathLike, *, progress: Progress | None = None) -> Path:
    """Fit (or load) the spec's generator, draw its worlds in chunks and stream them into a safetensors file
    (`stressgen.report.worlds_file.write_worlds`: memory bounded by one chunk, written atomically)."""
    progress = progress or no_progress
    sim = spec.simulation
    root = rng.root(sim.seed)
    market = load_market(spec, progress)
    check_memory(spec, market.n_assets)
    fit = fit_generator(spec, market, key=rng.stream(root, rng.FIT), progress=progress)
    chunks = iter_chunks(fit.generator, fit.params, key=rng.stream(root, rng.SAMPLE), n_worlds=sim.worlds,
                         horizon=sim.horizon, chunk_size=min(sim.chunk_size, sim.worlds))
    return write_worlds(path, chunks, n_worlds=sim.worlds, horizon=sim.horizon, generator=fit.info.name,
                        params_digest=fit.info.params_digest, seed=sim.seed,
                        progress=lambda done: progress("worlds", done, sim.worlds))

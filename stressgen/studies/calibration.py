"""Rolling-origin calibration: are a generator's one-horizon forecasts calibrated across the whole history?

Origins are dates every `CalibrationConfig.every_months` months between `start` and `end`. At each origin t:

1. the market is cut to the dates <= t (`stressgen.data.select(market, end=t)`) and the generator is fitted
   on it (or, with ``refit_every > 1``, the last fit at or before t is re-anchored to the history up to t,
   see `reanchor`; never a fit that saw data after t);
2. M worlds of h periods continue from t (`stressgen.generators.iter_chunks`, in chunks of `chunk_size`,
   so memory is bounded by one chunk);
3. the real outcome is the next h real periods after t; origins with fewer are skipped, as are origins with
   fewer than `min_history` returns before them;
4. outcomes, each on the worlds and on the real path: the equal-weight portfolio (daily rebalanced: the
   mean simple return of the assets each day) total return and maximum drawdown (``ew:total_return``,
   ``ew:max_drawdown``), and for each strategy its backtest's ``total_return`` and ``max_drawdown``
   (``<strategy>:total_return``...). A strategy warms up on the same real history before t on the worlds
   and on the real path (the real path is one world whose history is the real data before t, as in
   `stressgen.pipeline`'s real-history row);
5. the PIT of the real outcome among the M worlds and the ensemble's CRPS (`stressgen.metrics.fidelity.pit`).

Across origins each (generator, outcome) gets its PIT histogram, KS distance to U(0, 1) with p-value, the
shares outside the 1-99 % and 5-95 % bands and the mean CRPS (`summarise_pits`).

Randomness: origin t's key is ``fold_in(key, YYYYMMDD of t)``; the fit uses ``rng.stream(., FIT)`` of its
fit origin's key and the worlds ``rng.stream(., SAMPLE)`` of t's. Keys hang on the date, not on the
origin's position, so an origin gives the same worlds whichever other origins run.

Resuming: with `cache_dir`, each (generator, origin) result is one ``.npz`` file (no pickle), written
atomically as soon as it is computed, named by a SHA-256 of everything it depends on (generator family and
config, the package's source code (`stressgen._version.source_digest`), origin, fit origin, M, h, key, the
data up to t + h, strategies and backtest config). A rerun loads what is there and computes only the missing
origins; an interrupted run loses at most the origin in progress. A strategy or generator from outside the
package is keyed by its repr and config only: clear the cache after changing its code. The digest is of the
files on disk when `calibrate` is called: a session that edits the package without re-importing it should
clear the cache too.

Progress: ``progress(stage, done, total)`` with stage ``"calibration: <generator>"`` (origins) and
``"calibration: worlds"`` (chunks of the origin in progress), as `stressgen.pipeline` reports; the CLI draws
rich bars from it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import engine, plugins, rng
from .._version import source_digest
from ..data import select
from ..errors import ConfigError, StressgenError
from ..generators import AbstractGenerator, iter_chunks
from ..metrics.fidelity.pit import crps_ensemble, pit_values, summarise_pits
from ..metrics.running import risk_reducer
from ..metrics.stylized import equal_weight_equity
from ..strategy import ParamGrid
from ..types import MarketData, Scenarios
from ._calibration_results import (CalibrationResult, OriginOutcomes, OutcomeCalibration, _cache_path, _data_digest,
                                   _load, _save)

__all__ = ["CalibrationConfig", "CalibrationResult", "OriginOutcomes", "OutcomeCalibration", "Schedule",
           "calibrate", "schedule", "reanchor", "equal_weight_outcomes", "outcome_names", "Progress",
           "EQUAL_WEIGHT", "MEASURES"]

Progress = Callable[[str, int, int], None]
EQUAL_WEIGHT = "ew"  # the outcome subject of the costless daily-rebalanced equal-weight portfolio
MEASURES = ("total_return", "max_drawdown")  # per-world metric names of the engine (stressgen.metrics.risk)
CACHE_FORMAT = 2  # bump when the meaning of a cached file changes: every old file then misses (2: GARCH year rows
#                   keep the year's drift, and a config naming fhs_matching = "year" must not load the centred ones)
WORLDS_STAGE = "calibration: worlds"


def _noop(stage: str, done: int, total: int) -> None:
    del stage, done, total


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalibrationConfig:
    """Settings of the rolling-origin calibration study.

    Attributes:
        every_months: months between origins (the grid is ``start + k * every_months`` months; an origin is
            the last date of the data at or before a grid date).
        start, end: first and last grid dates (ISO); None: the data's first and last dates.
        horizon: h, periods of each forecast (252: one year of business days).
        n_worlds: M, worlds per origin.
        chunk_size: worlds drawn (and backtested) at once; bounds memory.
        refit_every: 1 refits at every origin; k > 1 refits at every k-th origin and re-anchors that fit to
            the history up to each origin in between (`reanchor`; a family that cannot be re-anchored is
            refitted). A fit never sees data after the origin it serves.
        min_history: origins with fewer returns before them are skipped (the fit needs data).
        strategies: names of the strategies whose total return and drawdown are forecast: keys of the
            `strategies` mapping given to `calibrate`, else strategy plugin references (built-in names)
            built with their default parameters.
        bins: bins of the PIT histograms.
    """

    every_months: int = 6
    start: str | None = None
    end: str | None = None
    horizon: int = 252
    n_worlds: int = 1000
    chunk_size: int = 500
    refit_every: int = 1
    min_history: int = 504
    strategies: tuple[str, ...] = ()
    bins: int = 10

    def __post_init__(self) -> None:
        for name in ("every_months", "horizon", "n_worlds", "chunk_size", "refit_every", "min_history", "bins"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"calibration.{name} must be a positive integer, got {v!r}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None:
                try:
                    pd.Timestamp(v)
                except (ValueError, TypeError):
                    raise ConfigError(f"calibration.{name} {v!r} is not a date; expected YYYY-MM-DD") from None
        if self.start is not None and self.end is not None and pd.Timestamp(self.start) > pd.Timestamp(self.end):
            raise ConfigError(f"calibration.end {self.end} is before start {self.start}")
        names = self.strategies
        if not all(isinstance(s, str) and s for s in names) or len(set(names)) != len(names):
            raise ConfigError(f"calibration.strategies must be distinct non-empty names, got {list(names)!r}")


# ------------------------------------------------------------------------------------------- origins

@dataclasses.dataclass(frozen=True)
class Schedule:
    """The origins of a study on one market.

    Attributes:
        origins: origin dates (ISO), each with `min_history` returns before it and h after it.
        fit_origins: for each origin, the origin whose fit it uses (itself when ``refit_every = 1``).
        rows: for each origin, its row in ``market.dates``.
        skipped: grid origins left out (too little history before or after them).
    """

    origins: tuple[str, ...]
    fit_origins: tuple[str, ...]
    rows: tuple[int, ...]
    skipped: tuple[str, ...]


def _iso(t: pd.Timestamp) -> str:
    return str(t.date())


def schedule(market: MarketData, config: CalibrationConfig) -> Schedule:
    """The origins of `config` on `market` (see `CalibrationConfig`)."""
    dates = market.dates
    first = pd.Timestamp(config.start) if config.start is not None else dates[0]
    last = pd.Timestamp(config.end) if config.end is not None else dates[-1]
    rows: list[int] = []
    skipped: list[str] = []
    k = 0
    while (grid := first + pd.DateOffset(months=config.every_months * k)) <= last:
        k += 1  # offsets from `first`, not chained: Jan 31 + 1 + 1 month is Mar 31, not Mar 28
        row = int(dates.searchsorted(grid, side="right")) - 1
        if row < 0 or (rows and rows[-1] == row) or (skipped and skipped[-1] == _iso(dates[row])):
            continue  # before the data, or a gap in the data maps two grid dates to one origin
        # row returns precede dates[row]; the forecast needs the h returns into rows row+1 .. row+h
        if row < config.min_history or row + config.horizon > market.n_obs - 1:
            skipped.append(_iso(dates[row]))
        else:
            rows.append(row)
    fits = [rows[p - p % config.refit_every] for p in range(len(rows))]
    return Schedule(tuple(_iso(dates[r]) for r in rows), tuple(_iso(dates[r]) for r in fits), tuple(rows),
                    tuple(skipped))


def _origin_key(key: jax.Array, origin: str) -> jax.Array:
    # the date, not the origin's position, so that an origin's worlds do not depend on the grid around it
    return jax.random.fold_in(key, int(origin.replace("-", "")))


# ------------------------------------------------------------------------------------------ re-anchor

def reanchor(generator: AbstractGenerator, fitted: Any, market: MarketData, *, key: jax.Array) -> Any | None:
    """`generator.reanchor`: `fitted` made to continue from the end of `market`, or None when the family
    cannot be re-anchored (the caller then refits). The bootstrap keeps its mean block length, GJR-GARCH its
    parameters, the GAN its networks; each rebuilds what describes "now" from `market`."""
    return generator.reanchor(fitted, market, key=key)


# ------------------------------------------------------------------------------------------- outcomes

def equal_weight_outcomes(log_returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total return and maximum drawdown of the daily-rebalanced equal-weight portfolio (no costs):
    ``[..., time, assets]`` log returns -> two ``[...]`` float64 arrays. The drawdown's peak includes the
    starting equity 1, as the engine's (`stressgen.metrics.risk.drawdown_path`)."""
    equity = equal_weight_equity(log_returns)  # [..., time + 1], from 1.0
    peak = np.maximum.accumulate(equity, axis=-1)
    return equity[..., -1] - 1.0, np.max(1.0 - equity / peak, axis=-1)


def outcome_names(strategies: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``ew:total_return``, ``ew:max_drawdown``, then ``<strategy>:<measure>`` for each strategy."""
    return tuple(f"{s}:{m}" for s in (EQUAL_WEIGHT, *strategies) for m in MEASURES)


# ------------------------------------------------------------------------------------------------ study

def _strategies(config: CalibrationConfig, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """name -> strategy instance, for `config.strategies`, in order."""
    given = dict(given or {})
    out = {}
    for name in config.strategies:
        if name in given:
            strategy = given[name]
        else:
            try:
                strategy = plugins.load_strategy(name)
            except StressgenError as exc:  # the plugin loader's own errors name what failed
                raise ConfigError(f"calibration.strategies: {name!r} is neither in the strategies given "
                                  f"({', '.join(given) or 'none'}) nor a strategy plugin: {exc}") from exc
            strategy = strategy() if isinstance(strategy, type) else strategy
        if isinstance(strategy, ParamGrid):
            raise ConfigError(f"calibration.strategies: {name!r} is a parameter grid; give each parameter set as "
                              "its own strategy (grid.at(p))")
        out[name] = strategy
    return out


@dataclasses.dataclass
class _Fits:
    """The last scheduled fit of one generator in this call (its origin, the fitted value), and whether the
    family could be re-anchored (None: not tried yet), so that a family that cannot is not fitted twice."""

    origin: str | None = None
    fitted: Any = None
    reanchorable: bool | None = None


def _worlds_key(key: jax.Array, origin: str) -> jax.Array:
    """The key the worlds of `origin` are drawn from (bench/calibration_bands.py draws the same ones)."""
    return rng.stream(_origin_key(key, origin), rng.SAMPLE)


def _fit(generator: AbstractGenerator, gen_config: Any, market: MarketData, origin: str, key: jax.Array) -> Any:
    return generator.fit(select(market, end=origin), key=rng.stream(_origin_key(key, origin), rng.FIT),
                         config=gen_config)


def _run_origin(market: MarketData, name: str, generator: AbstractGenerator, gen_config: Any, *, origin: str,
                fit_origin: str, row: int, config: CalibrationConfig, key: jax.Array, strategies: dict[str, Any],
                backtest: engine.BacktestConfig, fits: _Fits, checked: set[str],
                progress: Progress) -> OriginOutcomes:
    t0 = time.perf_counter()
    h, m = config.horizon, config.n_worlds
    reducer = risk_reducer(backtest)  # the risk metrics, computed inside the engine's day loop
    fitted = None
    if fit_origin != origin and fits.reanchorable is not False:
        if fits.origin != fit_origin:  # a resumed run may start between two refits: redo the earlier fit
            fits.origin, fits.fitted = fit_origin, _fit(generator, gen_config, market, fit_origin, key)
        fitted = reanchor(generator, fits.fitted, select(market, end=origin),
                          key=rng.stream(_origin_key(key, origin), rng.FIT))
        fits.reanchorable = fitted is not None
    if fitted is None:  # a scheduled refit, or a family that cannot continue an old fit from a later history
        fitted = _fit(generator, gen_config, market, origin, key)
        if fit_origin == origin:
            fits.origin, fits.fitted = origin, fitted
        fit_origin = origin
    names = outcome_names(list(strategies))
    samples = np.full((len(names), m), np.nan)
    template: Scenarios | None = None
    done = 0
    progress(WORLDS_STAGE, 0, m)
    for chunk in iter_chunks(generator, fitted, key=_worlds_key(key, origin), n_worlds=m,
                             horizon=h, chunk_size=min(config.chunk_size, m)):
        if template is None:
            template = chunk
            if chunk.history_end and chunk.history_end != origin:
                raise ConfigError(f"generator {name!r}: its worlds continue from {chunk.history_end}, not from the "
                                  f"origin {origin}; a re-anchored fit must carry the history up to the origin")
        n = chunk.n_worlds
        ew = equal_weight_outcomes(np.asarray(chunk.log_returns))
        samples[0, done:done + n], samples[1, done:done + n] = ew
        for j, (s_name, strategy) in enumerate(strategies.items()):
            metrics = engine.world_metrics(strategy, chunk, backtest, reducer=reducer,
                                           check=s_name not in checked)
            checked.add(s_name)
            for i, measure in enumerate(MEASURES):
                samples[2 + 2 * j + i, done:done + n] = np.asarray(metrics[measure], np.float64)
        done += n
        progress(WORLDS_STAGE, done, m)
    real_r = market.log_returns[row:row + h]  # the returns into dates row+1 .. row+h: the h periods after t
    real = np.full(len(names), np.nan)
    real[0], real[1] = (float(v) for v in equal_weight_outcomes(real_r))
    if strategies:
        # the real path as one world, warmed up on as many real days before t as the worlds are
        days = int(template.history.shape[0])
        before = market.log_returns[:row]
        history = before[max(before.shape[0] - days, 0):] if days else before[:0]
        world = template.replace(log_returns=jnp.asarray(real_r[None], jnp.float32),
                                 history=jnp.asarray(history, jnp.float32),
                                 anchor_prices=jnp.asarray(market.prices[row], jnp.float32), weights=None)
        for j, strategy in enumerate(strategies.values()):
            metrics = engine.world_metrics(strategy, world, backtest, reducer=reducer, check=False)
            for i, measure in enumerate(MEASURES):
                real[2 + 2 * j + i] = float(np.asarray(metrics[measure]).reshape(-1)[0])
    return OriginOutcomes(generator=name, origin=origin, fit_origin=fit_origin, outcomes=names, real=real,
                          samples=samples, pit=pit_values(samples, real), crps=crps_ensemble(samples, real),
                          seconds=time.perf_counter() - t0, cached=False)


def calibrate(market: MarketData, generators: Mapping[str, tuple[AbstractGenerator, Any]],
              config: CalibrationConfig = CalibrationConfig(), *, key: jax.Array,
              strategies: Mapping[str, Any] | None = None, backtest: engine.BacktestConfig | None = None,
              progress: Progress | None = None, cache_dir: str | Path | None = None) -> CalibrationResult:
    """Rolling-origin calibration of every generator on `market` (see the module doc).

    Args:
        market: the whole history; origins and real outcomes come from it.
        generators: display name -> (generator instance, its config or None for the family's default).
        config: the study's settings.
        key: root key of the study (e.g. ``rng.root(seed)``).
        strategies: name -> strategy instance for the names in ``config.strategies`` (names not given here
            are loaded as strategy plugins with default parameters).
        backtest: execution and costs of the strategies (default: `BacktestConfig` at the data's frequency).
        progress: ``progress(stage, done, total)`` callback.
        cache_dir: directory of per-origin result files; a rerun computes only the missing origins.
    """
    progress = progress or _noop
    plan = schedule(market, config)
    if not plan.origins:
        raise ConfigError(f"{market.source}: no calibration origin between {config.start or market.dates[0].date()} "
                          f"and {config.end or market.dates[-1].date()} has {config.min_history} returns before it "
                          f"and {config.horizon} after it ({market.n_obs} dates from {market.dates[0].date()} to "
                          f"{market.dates[-1].date()})")
    built = _strategies(config, strategies)
    bt = backtest if backtest is not None else engine.BacktestConfig(periods_per_year=market.periods_per_year)
    cache = Path(cache_dir) if cache_dir is not None else None
    outcomes = outcome_names(list(built))
    key_hex = np.asarray(jax.random.key_data(key)).tobytes().hex()
    code = source_digest()
    data_digests = [_data_digest(market, row + config.horizon) for row in plan.rows]
    per_origin: list[OriginOutcomes] = []
    seconds: dict[str, float] = {}
    checked: set[str] = set()
    for name, (generator, gen_config) in generators.items():
        t0 = time.perf_counter()
        stage = f"calibration: {name}"
        fits = _Fits()
        resolved = gen_config if gen_config is not None else generator.config_type()
        progress(stage, 0, len(plan.origins))
        for i, (origin, fit_origin, row) in enumerate(zip(plan.origins, plan.fit_origins, plan.rows, strict=True)):
            identity = json.dumps({
                "format": CACHE_FORMAT, "code": code,
                "family": f"{type(generator).__module__}.{type(generator).__qualname__}",
                "generator_config": repr(resolved), "origin": origin, "fit_origin": fit_origin,
                "refit_every": config.refit_every, "horizon": config.horizon, "n_worlds": config.n_worlds,
                "key": key_hex, "data": data_digests[i], "strategies": [[s, repr(v)] for s, v in built.items()],
                "backtest": repr(bt)}, sort_keys=True)
            path = _cache_path(cache, name, origin, identity) if cache is not None else None
            res = _load(path, identity, name) if path is not None else None
            if res is None:
                res = _run_origin(market, name, generator, gen_config, origin=origin, fit_origin=fit_origin, row=row,
                                  config=config, key=key, strategies=built, backtest=bt, fits=fits, checked=checked,
                                  progress=progress)
                if path is not None:
                    _save(path, identity, res)
            per_origin.append(res)
            progress(stage, i + 1, len(plan.origins))
        seconds[name] = time.perf_counter() - t0
    summaries = []
    for name in generators:
        rows = [o for o in per_origin if o.generator == name]
        pits, crps = np.stack([o.pit for o in rows]), np.stack([o.crps for o in rows])
        summaries += [OutcomeCalibration(name, outcome, summarise_pits(pits[:, k], crps[:, k], bins=config.bins))
                      for k, outcome in enumerate(outcomes)]
    return CalibrationResult(config=config, source=market.source, assets=market.assets, generators=tuple(generators),
                             outcomes=outcomes, schedule=plan, per_origin=tuple(per_origin),
                             summaries=tuple(summaries), seconds=seconds)

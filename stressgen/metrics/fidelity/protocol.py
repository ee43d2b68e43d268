"""The evaluation protocol: chronological split, fit on the train part, score M paths of the held-out length
over several seeds, with two reference floors and ranks.

For each generator and each replicate r (``n_seeds`` of them, replicate key ``fold_in(key, r)``):

1. fit on the train part with ``rng.stream(replicate_key, FIT)``;
2. sample ``n_paths`` worlds of the held-out length with ``rng.stream(replicate_key, SAMPLE)``; the worlds
   continue the train history (they start where the held-out period starts);
3. score every metric against the held-out returns (`score.score`).

Each metric is reported as its mean over replicates with a 90 % interval ``mean +- t_{0.95, S-1} sd / sqrt(S)``
(a confidence interval for the expected score at M paths; NaN with one replicate). Two floors are scored the
same way and printed beside every metric, so that any number can be read:

* ``real-vs-real``: the last stretch of the train period, as long as the held-out period, scored as if it
  were one synthetic path (its copy rate is not defined: it is training data);
* ``known-DGP``: a GARCH (the registry's ``garch``) fitted on the train part; one of its own paths plays
  the held-out "real" data and M other paths of the same fitted model are scored against it. It is the
  best score a perfect model can expect on one real path of this length.

Ranks (1 = best, lowest mean) are among the generators only; floors are not ranked.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import pandas as pd
from scipy import stats

from ... import rng
from ...data import split
from ...errors import ConfigError
from ...generators import AbstractGenerator, get, iter_chunks
from ...types import MarketData
from .score import ScoreConfig, metric_names, plot_data, score

__all__ = ["EvaluateConfig", "Scorecard", "evaluate", "summarise", "REAL_VS_REAL", "KNOWN_DGP", "MIN_PATHS"]

REAL_VS_REAL = "floor: real-vs-real"
KNOWN_DGP = "floor: known-DGP"
MIN_PATHS = 500


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    """The protocol's settings.

    Attributes:
        split_at: last date of the train part (ISO date); or
        split_fraction: share of dates in the train part. Give exactly one (fraction 0.7 when neither).
        n_paths: synthetic paths per replicate (M >= 500 unless `allow_few_paths`).
        n_seeds: replicates (fit + sample + classifier) per generator.
        interval: coverage of the reported interval.
        warmup: real days before the scored period that strategies warm up on.
        chunk_size: worlds sampled per call (bounds memory).
        floors: score the two reference floors.
        floor_generator: registry name of the known-DGP model.
        score: metric settings (`ScoreConfig`).
        allow_few_paths: permit n_paths < 500 (tests, smoke runs); such tables are not the protocol.
    """

    split_at: str | None = None
    split_fraction: float | None = None
    n_paths: int = 500
    n_seeds: int = 3
    interval: float = 0.9
    warmup: int = 504
    chunk_size: int = 500
    floors: bool = True
    floor_generator: str = "garch"
    score: ScoreConfig = ScoreConfig()
    allow_few_paths: bool = False

    def __post_init__(self) -> None:
        if self.split_at is not None and self.split_fraction is not None:
            raise ConfigError("evaluate: give split_at or split_fraction, not both "
                              f"(got {self.split_at!r} and {self.split_fraction!r})")
        for name in ("n_paths", "n_seeds", "chunk_size", "warmup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "warmup" else 1):
                raise ConfigError(f"evaluate.{name} must be a positive integer, got {v!r}")
        if self.n_paths < MIN_PATHS and not self.allow_few_paths:
            raise ConfigError(f"evaluate.n_paths must be >= {MIN_PATHS} (the protocol's M), got {self.n_paths}; "
                              "set allow_few_paths=True for a smoke run")
        if not 0 < self.interval < 1:
            raise ConfigError(f"evaluate.interval must be in (0, 1), got {self.interval!r}")

    def split(self, market: MarketData) -> tuple[MarketData, MarketData]:
        if self.split_at is not None:
            return split(market, at=self.split_at)
        return split(market, fraction=0.7 if self.split_fraction is None else self.split_fraction)


@dataclasses.dataclass(frozen=True)
class Scorecard:
    """The result of `evaluate` (or `quick_scorecard`).

    Attributes:
        table: tidy DataFrame, one row per (generator, metric): ``generator``, ``kind`` ("generator" or
            "floor"), ``family``, ``metric``, ``mean``, ``lo``, ``hi``, ``n``, ``rank`` (generators only).
        raw: one row per (generator, replicate, metric): ``value``.
        strategies: per-strategy relative errors: ``generator``, ``replicate``, ``strategy``, ``value``.
        plots: generator -> arrays of `score.plot_data` (first replicate) for the page.
        meta: data set, split, sizes, settings, timings, metric definitions.
    """

    table: pd.DataFrame
    raw: pd.DataFrame
    strategies: pd.DataFrame
    plots: dict[str, dict[str, Any]]
    meta: dict[str, Any]

    def wide(self, value: str = "mean") -> pd.DataFrame:
        """Generators (rows) x metrics (columns) of one column of `table`."""
        order = list(dict.fromkeys(self.table["metric"]))
        rows = list(dict.fromkeys(self.table["generator"]))
        return self.table.pivot(index="generator", columns="metric", values=value).loc[rows, order]

    def ranking(self) -> pd.Series:
        """Mean rank over metrics per generator (lower is better)."""
        g = self.table[self.table["kind"] == "generator"]
        return g.groupby("generator", sort=False)["rank"].mean().sort_values()


def summarise(raw: pd.DataFrame, families: Mapping[str, tuple[str, str]], interval: float) -> pd.DataFrame:
    """Mean, interval and rank per (generator, metric) from per-replicate values."""
    rows = []
    for (gen, kind, metric), grp in raw.groupby(["generator", "kind", "metric"], sort=False):
        v = grp["value"].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else np.nan
        if v.size >= 2:
            half = stats.t.ppf(0.5 + interval / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
            lo, hi = mean - half, mean + half
        else:
            lo = hi = np.nan
        rows.append(dict(generator=gen, kind=kind, family=families.get(metric, ("", ""))[0], metric=metric,
                         mean=mean, lo=lo, hi=hi, n=int(v.size)))
    table = pd.DataFrame(rows)
    gens = table["kind"] == "generator"
    table["rank"] = np.nan
    table.loc[gens, "rank"] = table[gens].groupby("metric")["mean"].rank(method="min")
    return table


def _returns(market: MarketData, train: MarketData) -> tuple[np.ndarray, np.ndarray]:
    """Train returns and held-out returns; the held-out part starts with the return into its first date."""
    r = market.log_returns
    cut = train.n_obs - 1
    return r[:cut], r[cut:]


def _sample(generator: AbstractGenerator, fitted: Any, *, key: jax.Array, n_worlds: int, horizon: int,
            chunk_size: int, first_world: int = 0) -> np.ndarray:
    parts = [np.asarray(s.log_returns) for s in iter_chunks(generator, fitted, key=key, n_worlds=n_worlds,
                                                           horizon=horizon, chunk_size=chunk_size,
                                                           first_world=first_world)]
    return np.concatenate(parts)


def evaluate(market: MarketData, generators: Mapping[str, tuple[AbstractGenerator, Any]],
             config: EvaluateConfig = EvaluateConfig(), *, key: jax.Array) -> Scorecard:
    """Score every generator out of sample (see the module doc). `generators` maps a display name to
    ``(generator instance, its config or None)``."""
    train, _ = config.split(market)
    r_train, r_test = _returns(market, train)
    horizon = r_test.shape[0]
    history = r_train[-config.warmup:] if config.warmup else r_train[:0]
    sc = config.score
    families = metric_names(sc)
    raw, strat, plots, timings = [], [], {}, {}

    def record(name, kind, rep, values, per_strategy):
        raw.extend(dict(generator=name, kind=kind, replicate=rep, metric=m, value=values.get(m, np.nan))
                   for m in families)
        strat.extend(dict(generator=name, replicate=rep, strategy=s, value=v) for s, v in per_strategy.items())

    common = dict(train=r_train, assets=market.assets, config=sc, freq=market.freq)
    for name, (generator, gen_config) in generators.items():
        t0 = time.perf_counter()
        for rep in range(config.n_seeds):
            k = jax.random.fold_in(key, rep)
            fitted = generator.fit(train, key=rng.stream(k, rng.FIT), config=gen_config)
            syn = _sample(generator, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=config.n_paths,
                          horizon=horizon, chunk_size=config.chunk_size)
            values, per = score(r_test, syn, history=history, key=rng.stream(k, rng.BOOTSTRAP), **common)
            record(name, "generator", rep, values, per)
            if rep == 0:
                plots[name] = plot_data(r_test, syn, sc)
        timings[name] = time.perf_counter() - t0
    if config.floors:
        t0 = time.perf_counter()
        if r_train.shape[0] < horizon + 1:
            raise ConfigError(f"{market.source}: the real-vs-real floor needs a train part longer than the "
                              f"held-out part ({r_train.shape[0]} train vs {horizon} held-out returns)")
        tail, before = r_train[-horizon:], r_train[:-horizon]
        rvr_history = before[-config.warmup:] if config.warmup else before[:0]
        floor_gen = get(config.floor_generator)
        for rep in range(config.n_seeds):
            k = jax.random.fold_in(key, rep)
            values, per = score(r_test, tail[None], history=rvr_history, key=rng.stream(k, rng.BOOTSTRAP),
                                memorisation_check=False, **common)
            record(REAL_VS_REAL, "floor", rep, values, per)
            fitted = floor_gen.fit(train, key=rng.stream(k, rng.FIT), config=None)
            # world n_paths plays "real": the same sample key as the scored worlds 0..n_paths-1, another world
            pseudo = _sample(floor_gen, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=1, horizon=horizon,
                             chunk_size=1, first_world=config.n_paths)[0].astype(np.float64)
            syn = _sample(floor_gen, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=config.n_paths,
                          horizon=horizon, chunk_size=config.chunk_size)
            values, per = score(pseudo, syn, history=history, key=rng.stream(k, rng.BOOTSTRAP), **common)
            record(KNOWN_DGP, "floor", rep, values, per)
        timings["floors"] = time.perf_counter() - t0
    raw_df = pd.DataFrame(raw)
    meta = dict(
        source=market.source, assets=list(market.assets), freq=market.freq,
        train=[str(train.dates[0].date()), str(train.dates[-1].date())],
        test=[str(market.dates[train.n_obs].date()), str(market.dates[-1].date())],
        n_train=int(r_train.shape[0]), n_test=int(horizon), n_paths=config.n_paths, n_seeds=config.n_seeds,
        interval=config.interval, in_sample=False, generators=list(generators),
        config=_jsonable(dataclasses.asdict(config)), timings=timings,
        metrics={m: {"family": f, "definition": d} for m, (f, d) in families.items()},
    )
    return Scorecard(table=summarise(raw_df, families, config.interval), raw=raw_df,
                     strategies=pd.DataFrame(strat, columns=["generator", "replicate", "strategy", "value"]),
                     plots=plots, meta=meta)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool | int | float | str) or x is None:
        return x
    return repr(x)

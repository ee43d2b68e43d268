"""The evaluation protocol (the studies layer: it fits and samples generators, then scores with metrics): chronological split, fit on the train part, score M paths of the held-out length
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

The settings and the result type (`EvaluateConfig`, `Scorecard`) are metrics' vocabulary
(`stressgen.metrics.fidelity.protocol`); the writers of a scorecard are in `stressgen.report.scorecard`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
import pandas as pd

from .. import rng
from ..errors import ConfigError
from ..generators import AbstractGenerator, get, iter_chunks
from ..metrics.fidelity.protocol import KNOWN_DGP, REAL_VS_REAL, EvaluateConfig, Scorecard, summarise
from ..metrics.fidelity.score import metric_names, plot_data, score
from ..types import MarketData

__all__ = ["evaluate"]


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


def _noop(stage: str, done: int, total: int) -> None:
    del stage, done, total


def evaluate(market: MarketData, generators: Mapping[str, tuple[AbstractGenerator, Any]],
             config: EvaluateConfig = EvaluateConfig(), *, key: jax.Array,
             progress: Callable[[str, int, int], None] = _noop) -> Scorecard:
    """Score every generator out of sample (see the module doc). `generators` maps a display name to
    ``(generator instance, its config or None)``.

    `progress(stage, done, total)` is called per generator (stage ``"evaluate: <name>"``) and for the
    floors (``"evaluate: floors"``), with three steps a replicate: fitted, sampled, scored."""
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
    steps = 3 * config.n_seeds
    for name, (generator, gen_config) in generators.items():
        t0 = time.perf_counter()
        stage = f"evaluate: {name}"
        progress(stage, 0, steps)
        for rep in range(config.n_seeds):
            k = jax.random.fold_in(key, rep)
            fitted = generator.fit(train, key=rng.stream(k, rng.FIT), config=gen_config)
            progress(stage, 3 * rep + 1, steps)
            syn = _sample(generator, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=config.n_paths,
                          horizon=horizon, chunk_size=config.chunk_size)
            progress(stage, 3 * rep + 2, steps)
            cache: dict = {}  # curves of these worlds, computed once for the score and the plots
            values, per = score(r_test, syn, history=history, key=rng.stream(k, rng.BOOTSTRAP), cache=cache,
                                **common)
            record(name, "generator", rep, values, per)
            if rep == 0:
                plots[name] = plot_data(r_test, syn, sc, cache=cache)
            progress(stage, 3 * rep + 3, steps)
        timings[name] = time.perf_counter() - t0
    if config.floors:
        t0 = time.perf_counter()
        if r_train.shape[0] < horizon + 1:
            raise ConfigError(f"{market.source}: the real-vs-real floor needs a train part longer than the "
                              f"held-out part ({r_train.shape[0]} train vs {horizon} held-out returns)")
        tail, before = r_train[-horizon:], r_train[:-horizon]
        rvr_history = before[-config.warmup:] if config.warmup else before[:0]
        floor_gen = get(config.floor_generator)
        progress("evaluate: floors", 0, steps)
        for rep in range(config.n_seeds):
            k = jax.random.fold_in(key, rep)
            values, per = score(r_test, tail[None], history=rvr_history, key=rng.stream(k, rng.BOOTSTRAP),
                                memorisation_check=False, **common)
            record(REAL_VS_REAL, "floor", rep, values, per)
            progress("evaluate: floors", 3 * rep + 1, steps)
            fitted = floor_gen.fit(train, key=rng.stream(k, rng.FIT), config=None)
            # world n_paths plays "real": the same sample key as the scored worlds 0..n_paths-1, another world
            pseudo = _sample(floor_gen, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=1, horizon=horizon,
                             chunk_size=1, first_world=config.n_paths)[0].astype(np.float64)
            syn = _sample(floor_gen, fitted, key=rng.stream(k, rng.SAMPLE), n_worlds=config.n_paths,
                          horizon=horizon, chunk_size=config.chunk_size)
            progress("evaluate: floors", 3 * rep + 2, steps)
            values, per = score(pseudo, syn, history=history, key=rng.stream(k, rng.BOOTSTRAP), **common)
            record(KNOWN_DGP, "floor", rep, values, per)
            progress("evaluate: floors", 3 * rep + 3, steps)
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

"""The stress run: fit -> sample in chunks -> backtest -> per-world metrics -> aggregation -> `RunResult`.

Memory is bounded by the chunk of worlds: each chunk is drawn (`generators.iter_chunks`), every strategy is
backtested on it, and only per-world metrics are kept, plus what the report shows: the first k worlds, the
equal-weight equity of at most `FAN_WORLDS` worlds (for the fan chart), running moments for the fidelity
summary, and, at the end, the k worst worlds of each strategy, redrawn from their keys (world i depends only
on the sample key and i) and backtested again for their daily equity.

Nothing here prints. Progress goes to an optional callback ``progress(stage, done, total)`` with stages
``"data"``, ``"fit"``, ``"worlds"``, ``"strategies"`` (within the current chunk), ``"real"``, ``"worst"``,
``"aggregate"`` and ``"fidelity"``; the CLI draws rich bars from it.

The fidelity summary adds the in-sample `stressgen.metrics.fidelity.quick_scorecard` of the first
`SCORE_WORLDS` worlds (``fidelity["scorecard"]`` and the thresholds it fails, ``fidelity["failures"]``).

Every chunk also feeds the plausibility gate (`stressgen.metrics.plausibility`: non-finite values, big moves,
tail index, volatility and equal-weight return against the history); its report is `RunResult.plausibility`,
and with ``[report] strict = true`` a failed check raises `ImplausibleWorldsError` right after sampling.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import json
import os
import struct
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import devices, engine, generators, persist, rng
from .atomic import atomic_file
from .errors import ConfigError, ImplausibleWorldsError
from .generators import AbstractGenerator, iter_chunks
from .generators._base import config_to_dict
from .metrics import aggregate_metrics, diversity, head_to_head, rank_real_history
from .metrics import plausibility
from .metrics.fidelity import quick_scorecard
from .metrics.stylized import acf, equal_weight_equity
from .results import FAN_WORLDS, RunResult, StrategyResult
from .spec import RunSpec, StrategySpec
from .strategy import ParamGrid
from .types import MarketData, Scenarios

__all__ = ["Progress", "FAN_WORLDS", "ACF_WORLDS", "FAN_QUANTILES", "fit_generator", "run", "versions",
           "sample_to_file", "fit_to_dir", "WORLDS_FORMAT"]

Progress = Callable[[str, int, int], None]
ACF_WORLDS = 2_000  # the synthetic ACF of |r| is averaged over the first worlds (its error is ~1/sqrt(n T))
SCORE_WORLDS = 1_000  # the in-sample fidelity scorecard reads the first worlds (quick_scorecard's default cap)
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
ACF_LAGS = 20
_PACKAGES = ("stressgen", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "scipy", "arch", "vectorbt",
             "plotly")


def _noop(stage: str, done: int, total: int) -> None:
    del stage, done, total


def versions() -> dict[str, str]:
    """Installed versions of the packages whose behaviour shapes the numbers."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ------------------------------------------------------------------------------------------ generator

def fit_generator(spec: RunSpec, market: MarketData, *, key: jax.Array,
                  progress: Progress = _noop) -> tuple[AbstractGenerator, Any, dict[str, Any]]:
    """Fit the spec's generator family on `market`, or load its saved model; also returns the header info
    (name, config, params_digest, warnings, fit_seconds, model)."""
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
                              f"{list(saved)}, but [data] selects {list(market.assets)}; select the same assets")
    config = getattr(fitted, "config", None)
    info = {
        "name": generator.name,
        "config": _jsonable_config(config),
        "params_digest": str(getattr(fitted, "digest", "")),
        "warnings": [str(w.message) for w in caught],
        "fit_seconds": seconds,
        "model": spec.generator.model,
    }
    progress("fit", 1, 1)
    return generator, fitted, info


def fit_to_dir(spec: RunSpec, model_dir: str | os.PathLike, *,
               progress: Progress | None = None) -> tuple[Path, dict[str, Any]]:
    """Fit the spec's generator on its data and save it (`stressgen.persist`); returns (dir, header info)."""
    progress = progress or _noop
    if spec.generator.model is not None:
        raise ConfigError(f"{spec.source}: generator.model loads a saved model; `fit` needs family = ... instead")
    progress("data", 0, 1)
    market = spec.data.load()
    progress("data", 1, 1)
    generator, fitted, info = fit_generator(spec, market, key=rng.stream(rng.root(spec.simulation.seed), rng.FIT),
                                            progress=progress)
    return persist.save_model(model_dir, generator, fitted), info


def _jsonable_config(config: Any) -> dict[str, Any]:
    return config_to_dict(config) if dataclasses.is_dataclass(config) else {}


# ------------------------------------------------------------------------------------------ strategies

@dataclasses.dataclass(frozen=True)
class _Entry:
    """One spec strategy, built (a strategy or a `ParamGrid`), with its parameter sets' names."""

    spec: StrategySpec
    built: Any
    sets: list[tuple[str, dict[str, Any]]]

    def at(self, p: int) -> Any:
        return self.built.at(p) if isinstance(self.built, ParamGrid) else self.built


def _world_metrics(strategy: Any, scenarios: Scenarios, bt: engine.BacktestConfig, risk, *,
                   check: bool) -> dict[str, np.ndarray]:
    """Per-world metrics as ``[params, worlds]`` NumPy arrays (params = 1 without a grid); the engine keeps
    no [worlds, time] series."""
    out = engine.world_metrics(strategy, scenarios, bt, risk=risk, check=check)
    return {k: np.atleast_2d(v) for k, v in out.items()}


# ------------------------------------------------------------------------------------- fidelity sums

class _Moments:
    """Running float64 sums over every synthetic day of every world: powers per asset and cross products."""

    def __init__(self, n_assets: int):
        self.n = 0
        self.s = np.zeros((4, n_assets))
        self.cross = np.zeros((n_assets, n_assets))

    def update(self, r: np.ndarray) -> None:
        x = r.reshape(-1, r.shape[-1]).astype(np.float64)
        self.n += x.shape[0]
        for k in range(4):
            self.s[k] += np.sum(x ** (k + 1), axis=0)
        self.cross += x.T @ x

    def stats(self) -> tuple[np.ndarray, ...]:
        m1, m2, m3, m4 = (s / self.n for s in self.s)
        var = m2 - m1**2
        skew = (m3 - 3 * m1 * m2 + 2 * m1**3) / var**1.5
        kurt = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / var**2 - 3.0
        cov = self.cross / self.n - np.outer(m1, m1)
        sd = np.sqrt(np.diag(cov))
        return m1, np.sqrt(var * self.n / max(self.n - 1, 1)), skew, kurt, cov / np.outer(sd, sd)


def _real_moments(r: np.ndarray) -> tuple[np.ndarray, ...]:
    m = _Moments(r.shape[1])
    m.update(r)
    return m.stats()


def _fidelity(real: np.ndarray, moments: _Moments, acf_syn: np.ndarray, lags: np.ndarray, horizon: int,
              assets: tuple[str, ...], ppy: int) -> dict[str, Any]:
    """Real against synthetic: moments per asset, mean ACF of |r| at `lags`, correlation matrices.

    The real ACF is averaged over windows of the horizon's length (one a month), because the sample ACF of
    a short series is biased towards 0 and the synthetic one is measured within worlds of that length.
    """
    mr, sr, kr, xr, corr_real = _real_moments(real)
    ms, ss, ks, xs, corr_syn = moments.stats()
    table = pd.DataFrame({
        "mean_real": mr * ppy, "mean_syn": ms * ppy, "vol_real": sr * np.sqrt(ppy), "vol_syn": ss * np.sqrt(ppy),
        "skew_real": kr, "skew_syn": ks, "kurt_real": xr, "kurt_syn": xs,
    }, index=pd.Index(list(assets), name="asset"))
    acf_real = np.full(len(lags), np.nan)
    if real.shape[0] >= horizon and len(lags):
        windows = np.lib.stride_tricks.sliding_window_view(real, horizon, axis=0)[::21]  # [n, assets, horizon]
        acf_real = np.nanmean(acf(np.abs(windows), lags), axis=(0, 1))
    acf_abs = pd.DataFrame({"real": acf_real, "synthetic": acf_syn}, index=pd.Index(lags, name="lag"))
    return {"moments": table, "acf_abs": acf_abs, "corr_real": corr_real, "corr_syn": corr_syn}


# ---------------------------------------------------------------------------------------------- run

def _real_world(market: MarketData, horizon: int, history_days: int, like: Scenarios) -> Scenarios | None:
    """The real history's last `horizon` days as one world, warmed up on the days before (None if too short)."""
    r = market.log_returns
    if r.shape[0] < horizon + 1:
        return None
    history = r[:-horizon][-history_days:] if history_days else r[:0]
    return like.replace(log_returns=jnp.asarray(r[-horizon:][None], jnp.float32),
                        history=jnp.asarray(history, jnp.float32),
                        anchor_prices=jnp.asarray(market.prices[-horizon - 1], jnp.float32), weights=None)


def _real_windows(r: np.ndarray, horizon: int, k: int) -> np.ndarray:
    """Up to k real windows of `horizon` days, evenly spaced, the most recent last."""
    if k == 0 or r.shape[0] < horizon:
        return np.zeros((0, horizon, r.shape[1]), np.float32)
    starts = np.unique(np.linspace(0, r.shape[0] - horizon, k).round().astype(int))
    return np.stack([r[s:s + horizon] for s in starts]).astype(np.float32)


def _conventions(spec: RunSpec, ppy: int, n_worlds: int) -> dict[str, str]:
    c = spec.costs
    return {
        "returns": "worlds are daily log returns; strategy P&L is simple returns net of costs; equity starts at 1",
        "periods_per_year": f"{ppy} (annualisation of vol, Sharpe, CAGR and the fidelity moments)",
        "execution": f"weights decided at close t earn the return of t+1 at the earliest; extra lag {c.lag} closes",
        "costs": f"{c.fee_bps:g} bps fee + {c.slippage_bps:g} bps slippage of traded notional (drift included)",
        "limits": f"max gross {c.max_gross:g}, {'long only' if c.long_only else 'shorts allowed'}",
        "rf": f"annual risk-free rate {c.rf:g}, compounded per period; cash earns it",
        "statistics": "std with ddof=1; VaR/ES historical, positive = loss; drawdown from the running peak",
        "intervals": f"{spec.report.n_boot} bootstrap replicates over worlds, 95% percentile intervals",
        "warm_up": "strategies warm up on the real history before the horizon; P&L counts on the horizon only",
        "real_history": "the same strategy backtested on the real data's last horizon days, ranked among worlds",
        "fan": f"equal-weight daily-rebalanced equity quantiles over the first {min(n_worlds, FAN_WORLDS)} worlds",
        "fidelity": f"moments pooled over all synthetic days vs the whole real history; ACF of |r| averaged "
                    f"within worlds (first {min(n_worlds, ACF_WORLDS)}) and within real windows of the horizon",
    }


def run(spec: RunSpec, *, progress: Progress | None = None) -> RunResult:
    """Run the whole stress test the spec describes; returns the `RunResult` the report renders.

    First asks JAX for one CPU device per core (`devices.use_cpu_cores`, so the engine splits worlds over
    every core); this is the explicit device setup that importing stressgen does not do. It changes nothing
    when JAX has already started its backends or the user chose a device count.
    """
    devices.use_cpu_cores()
    progress = progress or _noop
    sim, timings = spec.simulation, {}
    root = rng.root(sim.seed)
    progress("data", 0, 1)
    market = spec.data.load()
    progress("data", 1, 1)
    if len(spec.strategies) == 0:
        raise ConfigError(f"{spec.source}: no strategies to run")
    generator, fitted, gen_info = fit_generator(spec, market, key=rng.stream(root, rng.FIT), progress=progress)
    timings["fit"] = gen_info["fit_seconds"]
    ppy = market.periods_per_year
    bt, risk = spec.costs.backtest_config(ppy), spec.costs.risk_config(ppy)
    entries = []
    for s in spec.strategies:
        built = s.build()
        entries.append(_Entry(s, built, s.parameter_sets(built)))

    t0 = time.perf_counter()
    sample_key = rng.stream(root, rng.SAMPLE)
    n, horizon, k_paths = sim.worlds, sim.horizon, spec.report.sample_paths
    lags = np.arange(1, min(ACF_LAGS, horizon - 1) + 1)
    per_world: list[list[dict[str, np.ndarray]]] = [[] for _ in entries]
    moments, acf_sum, acf_n = _Moments(market.n_assets), np.zeros(len(lags)), 0
    firsts, fan_eq, scored, template = [], [], [], None
    # the plausibility gate streams over every world, keeping per-world summaries only (metrics.plausibility)
    gate = plausibility.init(market.log_returns, market.assets, horizon, ppy, n_worlds=n)
    done = 0
    for index, chunk in enumerate(iter_chunks(generator, fitted, key=sample_key, n_worlds=n, horizon=horizon,
                                              chunk_size=min(sim.chunk_size, n))):
        if template is None:
            template = chunk
        for j, entry in enumerate(entries):
            progress("strategies", j, len(entries))
            per_world[j].append(_world_metrics(entry.built, chunk, bt, risk, check=index == 0))
        progress("strategies", len(entries), len(entries))
        r = np.asarray(chunk.log_returns)
        gate = plausibility.update(gate, r, done)
        moments.update(r)
        if acf_n < ACF_WORLDS and len(lags):
            take = r[:ACF_WORLDS - acf_n]
            acf_sum += np.nansum(np.nanmean(acf(np.abs(np.moveaxis(take, 1, 2)), lags), axis=1), axis=0)
            acf_n += take.shape[0]
        if sum(len(f) for f in firsts) < k_paths:
            firsts.append(r[:k_paths - sum(len(f) for f in firsts)])
        if done < SCORE_WORLDS:
            scored.append(chunk.replace(log_returns=chunk.log_returns[:SCORE_WORLDS - done], weights=None))
        if done < FAN_WORLDS:
            fan_eq.append(equal_weight_equity(r[:FAN_WORLDS - done]).astype(np.float32))
        done += r.shape[0]
        progress("worlds", done, n)
    timings["sample_backtest"] = time.perf_counter() - t0
    checked = plausibility.finalize(gate)
    if spec.report.strict and checked.failures:  # before any aggregation, and so before any output
        raise ImplausibleWorldsError(checked.failures, checked.summary_line())

    # strategy x parameter set -> per-world metrics, [worlds] each
    t0 = time.perf_counter()
    sets = []
    for j, entry in enumerate(entries):
        joined = {k: np.concatenate([c[k] for c in per_world[j]], axis=1) for k in per_world[j][0]}
        for p, (name, params) in enumerate(entry.sets):
            sets.append((j, entry, p, name, params, {k: v[p] for k, v in joined.items()}))

    # real history as one world, ranked per metric among the synthetic worlds
    progress("real", 0, len(entries))
    real_world = _real_world(market, horizon, int(template.history.shape[0]), template)
    real_values: dict[tuple[int, int], dict[str, float]] = {}
    if real_world is not None:
        for j, entry in enumerate(entries):
            m = _world_metrics(entry.built, real_world, bt, risk, check=False)
            for p in range(len(entry.sets)):
                real_values[(j, p)] = {k: float(v[p, 0]) for k, v in m.items()}
            progress("real", j + 1, len(entries))

    # the k worst worlds of each set: redraw them from their keys and backtest for daily equity
    k_worst = min(spec.report.worst_worlds, n)
    worst_idx = {name: [int(i) for i in np.argsort(np.nan_to_num(m["total_return"], nan=np.inf),
                                                    kind="stable")[:k_worst]]
                 for _, _, _, name, _, m in sets}
    wanted = sorted({i for v in worst_idx.values() for i in v})
    worst_paths = {}
    for count, i in enumerate(wanted):
        one = generator.sample(fitted, key=sample_key, n_worlds=1, horizon=horizon, first_world=i)
        worst_paths[i] = np.asarray(one.log_returns[0])
        progress("worst", count + 1, len(wanted))
    results = []
    agg_cfg = spec.report.aggregate_config()
    for j, entry, p, name, params, m in sets:
        idx = worst_idx[name]
        equity = np.zeros((0, horizon + 1), np.float32)
        if idx:
            worlds = template.replace(log_returns=jnp.asarray(np.stack([worst_paths[i] for i in idx])))
            res = engine.backtest(entry.at(p), worlds, bt, check=False)
            eq = np.asarray(res.equity, np.float64)
            equity = np.concatenate([np.ones((len(idx), 1)), eq], axis=1)
        progress("aggregate", len(results), len(sets))
        real = real_values.get((j, p), {})
        rank = rank_real_history(m, real).to_dict() if real else {}
        results.append(StrategyResult(
            name=name, plugin=entry.spec.plugin, params=_plain(params),
            metrics=pd.DataFrame(m, index=pd.RangeIndex(n, name="world")),
            aggregate=aggregate_metrics(m, key=root, config=agg_cfg),
            real=real, real_rank={k: float(v) for k, v in rank.items()},
            worst_worlds=idx, worst_equity=equity))
    progress("aggregate", len(sets), len(sets))
    h2h = head_to_head({r.name: r.metrics["total_return"].to_numpy() for r in results})

    real_r = market.log_returns
    eq = np.concatenate(fan_eq)
    fan = {f"q{round(100 * q):02d}": np.quantile(eq, q, axis=0) for q in FAN_QUANTILES}
    if real_r.shape[0] >= horizon:
        fan["real"] = equal_weight_equity(real_r[-horizon:])
    fidelity = _fidelity(real_r, moments, acf_sum / max(acf_n, 1), lags, horizon, market.assets, ppy)
    timings["aggregate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    progress("fidelity", 0, 1)
    scored = Scenarios.concat(scored)
    card = quick_scorecard(market, scored, key=rng.stream(root, rng.BOOTSTRAP), max_paths=SCORE_WORLDS)
    fidelity["scorecard"], fidelity["failures"] = card.table, list(card.meta["failures"])
    # spread of the worlds against the spread of real windows of the same length: mode collapse shows as a
    # ratio far below 1 (see metrics.diversity)
    if real_r.shape[0] >= 2 * horizon:
        fidelity["diversity"] = dataclasses.asdict(diversity(np.asarray(scored.log_returns), real_r,
                                                             periods_per_year=ppy))
    progress("fidelity", 1, 1)
    timings["fidelity"] = time.perf_counter() - t0
    return RunResult(
        spec=spec.to_dict(),
        data={"source": market.source, "assets": list(market.assets), "start": str(market.dates[0].date()),
              "end": str(market.dates[-1].date()), "n_obs": market.n_obs, "freq": market.freq,
              "repairs": len(market.repairs)},
        generator=gen_info, seed=sim.seed, n_worlds=n, horizon=horizon, assets=list(market.assets),
        conventions=_conventions(spec, ppy, n), versions=versions(),
        real_paths=_real_windows(real_r, horizon, k_paths), sample_paths=np.concatenate(firsts),
        fan=fan, worst_paths=worst_paths, strategies=results, head_to_head=h2h, fidelity=fidelity,
        timings=timings, plausibility=checked, suspects=tuple(market.suspects))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


# --------------------------------------------------------------------------------------- worlds file

WORLDS_FORMAT = "stressgen-worlds"


def sample_to_file(spec: RunSpec, path: str | os.PathLike, *, progress: Progress | None = None) -> Path:
    """Fit (or load) the spec's generator, draw its worlds in chunks and stream them into a safetensors file.

    Tensors: ``log_returns [worlds, horizon, assets]`` float32, ``history [time, assets]`` (the real prefix)
    and ``anchor_prices [assets]``; the file's metadata (string -> string) holds ``format``, ``assets`` (JSON),
    ``generator``, ``params_digest``, ``seed``, ``first_world``, ``freq`` and ``history_end``. The header is
    written first and each chunk appended, so memory is bounded by one chunk; the file is staged under a
    temporary name and renamed into place, so an interrupted run leaves no half-written file.
    """
    progress = progress or _noop
    target = Path(path)
    if target.suffix != ".safetensors":
        raise ConfigError(f"{target}: worlds are written as safetensors; name the file *.safetensors")
    sim = spec.simulation
    root = rng.root(sim.seed)
    progress("data", 0, 1)
    market = spec.data.load()
    progress("data", 1, 1)
    generator, fitted, info = fit_generator(spec, market, key=rng.stream(root, rng.FIT), progress=progress)
    chunks = iter_chunks(generator, fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=sim.worlds,
                         horizon=sim.horizon, chunk_size=min(sim.chunk_size, sim.worlds))
    first = next(chunks)
    history = np.ascontiguousarray(np.asarray(first.history, np.float32))
    anchor = np.ascontiguousarray(np.asarray(first.anchor_prices, np.float32))
    shape = (sim.worlds, sim.horizon, first.n_assets)
    sizes = [("anchor_prices", anchor.shape, anchor.nbytes), ("history", history.shape, history.nbytes),
             ("log_returns", shape, 4 * int(np.prod(shape)))]
    header, offset = {}, 0
    for name, shp, nbytes in sizes:
        header[name] = {"dtype": "F32", "shape": list(shp), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {
        "format": WORLDS_FORMAT, "assets": json.dumps(list(first.assets)), "generator": info["name"],
        "params_digest": info["params_digest"], "seed": str(sim.seed), "first_world": "0",
        "freq": first.freq, "history_end": first.history_end,
    }
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # safetensors pads the header to 8 bytes so that tensors stay aligned
    with atomic_file(target) as f:  # the project's one atomic writer: the file appears complete or not at all
        f.write(struct.pack("<Q", len(blob)) + blob + anchor.tobytes() + history.tobytes())
        done = 0
        for chunk in itertools.chain([first], chunks):
            f.write(np.ascontiguousarray(np.asarray(chunk.log_returns, np.float32)).tobytes())
            done += chunk.n_worlds
            progress("worlds", done, sim.worlds)
    return target

"""The sampling pass and the engine reruns of reverse stress testing (`stressgen.studies.reverse`).

`sample_pass` draws the worlds in chunks, backtests the strategy on each chunk and keeps per-world scalars of
every world but paths only of the losing worlds and of the k worst candidates, so memory is bounded by a chunk
plus those. `trace` reruns a few worlds through the engine for their daily executed weights, costs and equity
(the backtest pass keeps no daily series), and `losing_worlds` assembles the reported `LosingWorld`s.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import engine
from ..generators import Tilt, iter_chunks
from ..generators._garch_noise import garch_noise_model
from ..metrics.risk import RiskConfig
from ..metrics.running import risk_reducer
from ..results_reverse import Contributions, LosingWorld, ReverseConfig
from ..types import Scenarios
from . import reverse_math as rm

__all__ = ["Pass", "sample_pass", "trace", "losing_worlds", "noise_scorer", "Progress"]

Progress = Callable[[str, int, int], None]


def noise_scorer(generator: Any, fitted: Any, horizon: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """``r [worlds, horizon, assets] -> [worlds]`` noise log-likelihood where the family has a noise model."""
    if generator.name != "garch":
        return None
    model = garch_noise_model(fitted, horizon)
    # noise_of and log_prob act on one path: vmapped over the chunk's worlds, one program per chunk shape
    loglik = jax.jit(jax.vmap(lambda r: model.log_prob(model.noise_of(r))))

    def score(r: np.ndarray) -> np.ndarray:
        return np.asarray(loglik(jnp.asarray(r, jnp.float32)), np.float64).reshape(r.shape[0])

    return score


@dataclasses.dataclass
class Pass:
    """What one pass over the worlds keeps: per-world scalars for every world, paths of the losing worlds and
    of the worst candidates only (memory bounded by a chunk plus those)."""

    loss: list = dataclasses.field(default_factory=list)
    raw_w: list = dataclasses.field(default_factory=list)
    score: list = dataclasses.field(default_factory=list)
    corr: list = dataclasses.field(default_factory=list)
    vol_sum: Any = 0.0
    kept: dict = dataclasses.field(default_factory=dict)   # world -> path of a losing world
    worst: list = dataclasses.field(default_factory=list)  # heap of (loss, -world, path), the k largest losses


def sample_pass(config: ReverseConfig, generator: Any, fitted: Any, strategy: Any, bt: engine.BacktestConfig,
                risk: RiskConfig, condition: Tilt | None, key: Any, scorer: Callable[[np.ndarray], np.ndarray],
                chunk_size: int, progress: Progress) -> tuple[Pass, Scenarios]:
    """One pass over ``config.n_worlds`` worlds of ``config.horizon`` days (both resolved)."""
    n, horizon = int(config.n_worlds), int(config.horizon)
    out, template, done = Pass(), None, 0
    reducer = risk_reducer(bt, risk)
    for index, chunk in enumerate(iter_chunks(generator, fitted, key=key, n_worlds=n, horizon=horizon,
                                              chunk_size=min(chunk_size, n), condition=condition)):
        template = chunk if template is None else template
        res = engine.backtest(strategy, chunk, bt, reducer=reducer, metrics_only=True, check=index == 0)
        assert res.summary is not None
        loss = -np.asarray(res.summary["total_return"], np.float64).reshape(-1)
        r = np.asarray(chunk.log_returns)
        raw = np.ones(r.shape[0]) if chunk.weights is None else np.asarray(chunk.weights, np.float64)
        out.loss.append(loss)
        out.raw_w.append(raw)
        out.score.append(scorer(r))
        out.corr.append(rm.mean_pairwise_corr(r))
        out.vol_sum = out.vol_sum + (raw[:, None] * rm.vol_path(r, risk.periods_per_year)).sum(0)
        for j in np.flatnonzero(loss >= config.loss):
            out.kept[done + int(j)] = r[j]
        for j in np.argsort(-np.nan_to_num(loss, nan=-np.inf), kind="stable")[:config.k]:
            item = (float(np.nan_to_num(loss[j], nan=-np.inf)), -(done + int(j)), r[j])
            (heapq.heappush if len(out.worst) < config.k else heapq.heappushpop)(out.worst, item)
        done += r.shape[0]
        progress("worlds", done, n)
    assert template is not None
    return out, template


def trace(strategy: Any, template: Scenarios, r: np.ndarray, bt: engine.BacktestConfig,
          chunk: int) -> dict[str, np.ndarray]:
    """The engine's executed weights, costs and equity for worlds `r`, in chunks of at most `chunk`."""
    parts = []
    for s in range(0, r.shape[0], chunk):
        worlds = template.replace(log_returns=jnp.asarray(r[s:s + chunk], jnp.float32), weights=None)
        tr = engine.trace_world(strategy, worlds, bt, worlds=slice(0, worlds.n_worlds))
        parts.append({k: tr[k][0] for k in ("executed", "costs", "equity")})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def losing_worlds(index: list[int], paths: np.ndarray, loss: np.ndarray, score: np.ndarray, pct: np.ndarray,
                  w: np.ndarray, traced: dict[str, np.ndarray], per_asset: np.ndarray, cash: np.ndarray,
                  cost: np.ndarray, assets: tuple[str, ...]) -> tuple[LosingWorld, ...]:
    """`LosingWorld`s of the sample's worlds `index` (rows of `paths`, `traced`, `per_asset`, ... in order)."""
    out = []
    for row, i in enumerate(index):
        out.append(LosingWorld(
            world=i, loss=float(loss[i]), plausibility=float(score[i]), percentile=float(pct[row]),
            probability=float(w[i]), path=paths[row],
            equity=np.concatenate([[1.0], traced["equity"][row].astype(np.float64)]),
            contributions=Contributions(assets, per_asset[row], float(cash[row]), float(cost[row])),
            weights=np.asarray(traced["executed"][row], np.float64)))
    return tuple(out)

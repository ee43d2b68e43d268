"""Aggregation of per-world metrics across worlds, weighted by scenario weights, with bootstrap intervals.

Array functions are pure and jittable; `aggregate_metrics`, `head_to_head` and `rank_real_history` are the
host-side entry points that return pandas tables for reporting. Weights ``w[worlds]`` are normalised to sum
to 1 (uniform when None). Quantiles, VaR and ES follow `stressgen.metrics.quantile` (inverted weighted CDF;
VaR/ES positive = loss). A world whose metric is NaN (an undefined ratio) is left out of that metric's
statistics and counted in ``undefined``, the weighted share of such worlds.

Bootstrap: the standard weighted bootstrap over worlds. Each replicate draws ``n`` world indices uniformly
with replacement and carries their weights along (the replicate's statistics are weighted by the drawn
worlds' weights, renormalised). Every statistic of one replicate uses the same draw, so intervals are
joint across metrics. Intervals are percentile intervals (inverted-CDF quantiles of the replicates).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import rng
from ..errors import ConfigError
from .quantile import _CDF_SLACK, normalise_weights, percentile_rank
from .risk import level_name

__all__ = ["AggregateConfig", "Aggregate", "LOWER_IS_BETTER", "bootstrap", "cross_world_stats", "beat_matrix",
           "aggregate_metrics", "head_to_head", "rank_real_history"]


@dataclasses.dataclass(frozen=True)
class AggregateConfig:
    """What to compute across worlds (hashable: a static argument of the jitted functions).

    Attributes:
        quantiles: probabilities of the reported weighted quantiles.
        drawdown_thresholds: x in P(max drawdown > x).
        goal: g in P(total return > g).
        tail_levels: confidence levels of VaR/ES across worlds of terminal return and max drawdown.
        n_boot: bootstrap replicates (0 turns intervals off: they come back NaN).
        ci_level: coverage of the percentile interval.
        boot_batch: replicates vectorised at once; memory is about boot_batch x worlds x metrics floats.
    """

    quantiles: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    drawdown_thresholds: tuple[float, ...] = (0.1, 0.2, 0.3)
    goal: float = 0.1
    tail_levels: tuple[float, ...] = (0.95, 0.99)
    n_boot: int = 200
    ci_level: float = 0.95
    boot_batch: int = 5  # replicates per vmapped step; 10,000 worlds x 17 metrics: 5 ran 0.5 s, 25 ran 0.9 s

    def __post_init__(self) -> None:
        for name in ("quantiles", "drawdown_thresholds", "tail_levels"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not all(0.0 <= q <= 1.0 for q in self.quantiles):
            raise ConfigError(f"AggregateConfig.quantiles must lie in [0, 1], got {self.quantiles}")
        if not all(0.5 <= v < 1.0 for v in self.tail_levels):
            raise ConfigError(f"AggregateConfig.tail_levels must be confidence levels in [0.5, 1), "
                              f"got {self.tail_levels}")
        if not all(x >= 0 for x in self.drawdown_thresholds):
            raise ConfigError(f"AggregateConfig.drawdown_thresholds are drawdown depths >= 0, "
                              f"got {self.drawdown_thresholds}")
        if not (isinstance(self.n_boot, int) and self.n_boot >= 0):
            raise ConfigError(f"AggregateConfig.n_boot must be an int >= 0, got {self.n_boot!r}")
        if not (isinstance(self.boot_batch, int) and self.boot_batch >= 1):
            raise ConfigError(f"AggregateConfig.boot_batch must be an int >= 1, got {self.boot_batch!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise ConfigError(f"AggregateConfig.ci_level must be in (0, 1), got {self.ci_level!r}")
        object.__setattr__(self, "goal", float(self.goal))


# --- generic bootstrap -----------------------------------------------------------------------------------


def bootstrap(stat_fn, arrays: Sequence[jax.Array], w: jax.Array | None, *, key: jax.Array, n_boot: int,
              batch_size: int = 25):
    """Replicates of ``stat_fn(*resampled_arrays, resampled_w)`` under the weighted bootstrap over worlds.

    Args:
        stat_fn: pure function of the arrays (each with leading axis ``worlds``) and ``w[worlds]``.
        arrays: the per-world arrays, resampled together along axis 0.
        w: ``[worlds]`` weights or None (uniform); carried along with the drawn worlds.
        key: the run's key; the draws come from its ``rng.BOOTSTRAP`` stream, replicate b from
            ``fold_in(stream, b)``, so replicate b is the same whatever `n_boot` or `batch_size`.
        n_boot: number of replicates (static).
        batch_size: replicates vmapped at once (``lax.map`` over batches bounds memory).

    Returns:
        ``stat_fn``'s output pytree with a leading ``[n_boot]`` axis.
    """
    return _resample_map(stat_fn, arrays, w, key, n_boot, batch_size, with_point=False)


def _resample_map(stat_fn, arrays, w, key, n_boot: int, batch_size: int, *, with_point: bool):
    """`bootstrap`, optionally with the original sample as an extra first "replicate".

    Computing the point estimate through the same mapped body means the statistics are compiled once, not
    twice (their compile time, not their run time, dominates small runs).
    """
    n = arrays[0].shape[0]
    w = normalise_weights(w, n, arrays[0].dtype)
    total = n_boot + int(with_point)
    batch = min(batch_size, total)
    # Pad to whole batches: lax.map would otherwise compile a second body for the remainder, which costs
    # more (compile time) than the at most batch - 1 replicates computed and thrown away.
    padded = -(-total // batch) * batch
    keys = rng.world_keys(rng.stream(key, rng.BOOTSTRAP), 0, padded - int(with_point))
    if with_point:  # replicate b keeps key b; the point (which draws nothing) goes first with a spare key
        keys = jnp.concatenate([keys[:1], keys])
    is_point = jnp.arange(padded) < int(with_point)

    def one(args):
        k, point = args
        idx = jnp.where(point, jnp.arange(n), jax.random.randint(k, (n,), 0, n))
        return stat_fn(*(a[idx] for a in arrays), w[idx])

    out = jax.lax.map(one, (keys, is_point), batch_size=batch)
    return jax.tree_util.tree_map(lambda v: v[:total], out)


def _count_map(stat_fn, n: int, key: jax.Array, n_boot: int, batch_size: int, dtype):
    """``stat_fn(counts)`` for the original sample (counts of 1, first) and each bootstrap replicate.

    Replicate b draws the same ``n`` indices as `bootstrap`'s replicate b (``fold_in(stream, b)``), turned
    into counts per world, so intervals do not depend on `n_boot` or the batch size.
    """
    total = n_boot + 1
    batch = min(batch_size, total)
    padded = -(-total // batch) * batch  # whole batches: one compiled body (see _resample_map)
    keys = rng.world_keys(rng.stream(key, rng.BOOTSTRAP), 0, padded - 1)
    keys = jnp.concatenate([keys[:1], keys])
    is_point = jnp.arange(padded) < 1

    def one(args):
        k, point = args
        drawn = jnp.zeros((n,), dtype).at[jax.random.randint(k, (n,), 0, n)].add(1.0)
        return stat_fn(jnp.where(point, jnp.ones((n,), dtype), drawn))

    out = jax.lax.map(one, (keys, is_point), batch_size=batch)
    return jax.tree_util.tree_map(lambda v: v[:total], out)


# --- statistics of one sample of worlds ------------------------------------------------------------------


def _percentile_interval(reps: jax.Array, alpha: float) -> tuple[jax.Array, jax.Array]:
    """Inverted-CDF quantiles at alpha and 1 - alpha of each column of ``reps[n_boot, k]``, NaN dropped.

    The replicates are equally weighted, so the quantile is the ``ceil(p * valid)``-th smallest value: one
    sort of all columns at once (NaN sorts last) instead of a weighted quantile per column.
    """
    srt = jnp.sort(reps, axis=0)
    valid = jnp.sum(~jnp.isnan(reps), axis=0)

    def pick(p):
        k = jnp.ceil(p * valid * (1.0 - _CDF_SLACK)).astype(jnp.int32)
        idx = jnp.clip(k - 1, 0, reps.shape[0] - 1)
        return jnp.where(valid > 0, jnp.take_along_axis(srt, idx[None, :], axis=0)[0], jnp.nan)

    return pick(alpha), pick(1.0 - alpha)


# --- the same statistics from resampling counts over presorted columns ------------------------------------
#
# Why: a replicate of the bootstrap is a multiset of worlds, so every statistic above is a function of the
# draw counts c[worlds] alone: the replicate's weights are c * w. Sorting each column once and reading it
# through the counts turns every replicate's sorts (O(n log n) per column) into one gather and one cumulative
# sum (O(n)): on 10,000 worlds x 17 metrics x 200 replicates, 8.4 s -> 0.55 s a strategy once compiled
# (2 cores; bench/bench_pipeline.py).
# The draws are the same indices as `bootstrap`'s (replicate b from fold_in(stream, b)), and the statistics
# are the same definitions (stressgen.metrics.quantile), so only float summation order differs.


_BATCH_VALUES = 1 << 24  # [worlds, columns] values per replicate batch of `cross_world_stats` (see there)


class _Presorted(NamedTuple):
    order: jax.Array   # [n, k] argsort of each column (NaN last)
    xs: jax.Array      # [n, k] sorted values, NaN replaced by +inf
    ok: jax.Array      # [n, k] sorted "not NaN"


def _presort(cols: jax.Array) -> _Presorted:
    bad = jnp.isnan(cols)
    filled = jnp.where(bad, jnp.inf, cols)
    order = jnp.argsort(filled, axis=0)
    return _Presorted(order, jnp.take_along_axis(filled, order, axis=0),
                      ~jnp.take_along_axis(bad, order, axis=0))


def _quantiles_presorted(ps: _Presorted, r: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Inverted-CDF quantiles ``[len(q), k]`` of every column under weights `r[n]`, with each column's
    sorted weights and CDF (`quantile._quantile_sorted`'s rule, column by column)."""
    ws = jnp.where(ps.ok, r[ps.order], 0.0)
    cdf = jnp.cumsum(ws, axis=0)
    total = cdf[-1]
    target = q[:, None] * total[None, :] * (1.0 - _CDF_SLACK)
    idx = jax.vmap(lambda c, t: jnp.searchsorted(c, t, side="left"), in_axes=(1, 1), out_axes=1)(cdf, target)
    idx = jnp.clip(idx, 0, ps.xs.shape[0] - 1)
    picked = jnp.take_along_axis(ps.xs, idx, axis=0)
    first = jnp.take_along_axis(ps.xs, jnp.argmax(ws > 0, axis=0)[None, :], axis=0)
    out = jnp.where(q[:, None] <= 0, first, picked)
    return jnp.where(total[None, :] > 0, out, jnp.nan), ws, cdf


def _counts_stats(counts: jax.Array, x: jax.Array, events: jax.Array, ps: _Presorted, w: jax.Array,
                  config: AggregateConfig) -> dict[str, jax.Array]:
    """Every cross-world statistic of the replicate that holds world i `counts[i]` times (the original
    sample: counts of 1), from presorted columns.

    `ps` sorts the columns of ``[x, total_ret, -max_dd]``; `events` are the P(.) indicators (NaN where their
    source is NaN), computed once since they do not depend on the draw.
    """
    r = counts * w
    m = x.shape[1]
    nan = jnp.isnan(x)
    mean = jnp.sum(jnp.where(nan, 0.0, r[:, None] * x), axis=0) / jnp.sum(jnp.where(nan, 0.0, r[:, None]), axis=0)
    undefined = jnp.sum(jnp.where(nan, r[:, None], 0.0), axis=0) / jnp.sum(r)
    quantiles, _, _ = _quantiles_presorted(ps._replace(order=ps.order[:, :m], xs=ps.xs[:, :m], ok=ps.ok[:, :m]),
                                           r, jnp.asarray(config.quantiles, x.dtype))
    tails_ps = _Presorted(ps.order[:, m:], ps.xs[:, m:], ps.ok[:, m:])
    conf = np.asarray(config.tail_levels, np.float64)
    alphas = jnp.asarray(1.0 - conf, x.dtype)  # in float64 first, as quantile.tail_risk does
    qa, ws, _ = _quantiles_presorted(tails_ps, r, alphas)  # [levels, 2]
    inside = jnp.where(tails_ps.xs[None] <= qa[:, None, :], ws[None], 0.0)  # [levels, n, 2]
    es = jnp.sum(jnp.where(inside > 0, inside * tails_ps.xs[None], 0.0), axis=1) / jnp.sum(inside, axis=1)
    ev_nan = jnp.isnan(events)
    probabilities = (jnp.sum(jnp.where(ev_nan, 0.0, r[:, None] * events), axis=0)
                     / jnp.sum(jnp.where(ev_nan, 0.0, r[:, None]), axis=0))
    return {"mean": mean, "quantiles": quantiles, "undefined": undefined,
            "tails": jnp.stack([(-qa).reshape(-1), (-es).reshape(-1)], axis=1),
            "probabilities": probabilities}


def _events(total_ret: jax.Array, max_dd: jax.Array, config: AggregateConfig, dtype) -> jax.Array:
    # A NaN source (a world with NaN P&L) gives a NaN indicator, which the means leave out, rather than
    # False, which would count that world as "no event"
    def indicator(event, source):
        return jnp.where(jnp.isnan(source), jnp.nan, event.astype(dtype))

    return jnp.stack([indicator(total_ret < 0, total_ret)]
                     + [indicator(max_dd > t, max_dd) for t in config.drawdown_thresholds]
                     + [indicator(total_ret > config.goal, total_ret)], axis=1)


@functools.partial(jax.jit, static_argnames=("config",))
def cross_world_stats(x: jax.Array, total_ret: jax.Array, max_dd: jax.Array, w: jax.Array | None = None, *,
                      key: jax.Array, config: AggregateConfig = AggregateConfig()) -> dict[str, jax.Array]:
    """Point estimates and bootstrap percentile intervals of every cross-world statistic.

    Args:
        x: ``[worlds, metrics]`` per-world metrics.
        total_ret, max_dd: ``[worlds]`` total return and max drawdown (positive depth) for tails and P(.).
        w: ``[worlds]`` scenario weights or None.
        key: the run's key (the BOOTSTRAP stream is derived inside, see `bootstrap`).

    Returns:
        A dict of arrays. Point estimates: ``mean [m]``, ``quantiles [k, m]``, ``undefined [m]``,
        ``tails [2 * levels, 2]`` (rows: terminal return then max drawdown for each level; columns VaR, ES),
        ``probabilities [p]`` (P(loss), P(mdd > x) for each threshold, P(total return > goal)). For each,
        ``<name>_lo`` and ``<name>_hi``: the percentile interval bounds (NaN when ``n_boot == 0``).
    """
    x = jnp.asarray(x)
    n = x.shape[0]
    w = normalise_weights(w, n, x.dtype)
    ps = _presort(jnp.concatenate([x, total_ret[:, None], -max_dd[:, None]], axis=1))
    events = _events(total_ret, max_dd, config, x.dtype)
    stats = functools.partial(_counts_stats, x=x, events=events, ps=ps, w=w, config=config)
    if config.n_boot == 0:
        point = stats(jnp.ones((n,), x.dtype))
        out = dict(point)
        for name, value in point.items():
            out[f"{name}_lo"] = out[f"{name}_hi"] = jnp.full_like(value, jnp.nan)
        return out
    # a replicate's temporaries are about a dozen [worlds, columns] arrays, and a batch vmaps boot_batch of
    # them at once: at a million worlds a batch of 5 peaked near 4 GiB, so large runs take fewer at a time
    # (runs up to ~150,000 worlds keep the configured batch, and their numbers)
    batch = max(1, min(config.boot_batch, _BATCH_VALUES // (n * (x.shape[1] + 2))))
    both = _count_map(stats, n, key, config.n_boot, batch, x.dtype)
    point = {name: v[0] for name, v in both.items()}
    out = dict(point)
    # one sort for the intervals of every statistic: replicates side by side as columns
    names = sorted(both)
    reps = jnp.concatenate([both[name][1:].reshape(config.n_boot, -1) for name in names], axis=1)
    lo, hi = _percentile_interval(reps, (1.0 - config.ci_level) / 2.0)
    start = 0
    for name in names:
        size = point[name].size
        out[f"{name}_lo"] = lo[start:start + size].reshape(point[name].shape)
        out[f"{name}_hi"] = hi[start:start + size].reshape(point[name].shape)
        start += size
    return out


@jax.jit
def beat_matrix(m: jax.Array, w: jax.Array | None = None) -> jax.Array:
    """``P[a, b]`` = weighted share of worlds where strategy a's metric exceeds b's; ties count half.

    ``m`` is ``[strategies, worlds]`` on the same worlds. Worlds where either value is NaN are left out of
    that pair. ``P + P.T == 1`` off NaN pairs and the diagonal is 0.5.
    """
    m = jnp.asarray(m)
    w = normalise_weights(w, m.shape[1], m.dtype)
    a, b = m[:, None, :], m[None, :, :]
    ok = ~(jnp.isnan(a) | jnp.isnan(b))
    score = jnp.where(a > b, 1.0, 0.0) + jnp.where(a == b, 0.5, 0.0)
    wk = jnp.where(ok, w, 0.0)
    return jnp.sum(wk * score, axis=-1) / jnp.sum(wk, axis=-1)


_rank_many = jax.jit(jax.vmap(percentile_rank, in_axes=(1, 0, None)))


# --- host side: tables for reporting ---------------------------------------------------------------------


def _as_matrix(metrics: Mapping[str, object]) -> tuple[list[str], np.ndarray]:
    """Host-side ``[worlds, metrics]`` float32 matrix (NumPy, so preparing inputs compiles nothing)."""
    names = list(metrics)
    cols = [np.asarray(metrics[k], np.float32) for k in names]
    if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1:
        raise ConfigError(f"every metric must be a [worlds] array of the same length, got "
                          f"{ {k: tuple(c.shape) for k, c in zip(names, cols)} }")
    return names, np.stack(cols, axis=1)


def _host_weights(weights, n: int) -> np.ndarray:
    """``[n]`` float32 weights summing to 1 (uniform for None), validated on the host."""
    if weights is None:
        return np.full((n,), 1.0 / n, np.float32)
    w = np.asarray(weights, np.float64)
    if w.shape != (n,):
        raise ConfigError(f"weights must be [worlds] = ({n},), got {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
        raise ConfigError("weights must be finite, >= 0, and not all 0")
    return (w / w.sum()).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Aggregate:
    """One strategy's cross-world tables; each has columns ``value, ci_low, ci_high`` (bootstrap interval).

    Attributes:
        summary: index (metric, statistic), statistic ``mean``, ``q01`` .. ``q99`` and ``undefined`` (the
            weighted share of worlds where the metric is NaN; no interval).
        tails: index (quantity, statistic), quantity ``total_return`` or ``max_drawdown``, statistic
            ``var_95``, ``es_95``, ...; losses positive (VaR of total return is minus its low quantile).
        probabilities: index event: ``P(total_return < 0)``, ``P(max_drawdown > 0.1)``, ...,
            ``P(total_return > 0.1)``.
    """

    summary: pd.DataFrame
    tails: pd.DataFrame
    probabilities: pd.DataFrame

    TABLES = ("summary", "tails", "probabilities")


def aggregate_metrics(metrics: Mapping[str, object], weights=None, *, key: jax.Array,
                      config: AggregateConfig = AggregateConfig()) -> Aggregate:
    """Cross-world tables of one strategy's per-world metrics (e.g. the output of `per_world_metrics`).

    `metrics` must hold ``total_return`` and ``max_drawdown``. Returns the three tidy tables of `Aggregate`.
    """
    for needed in ("total_return", "max_drawdown"):
        if needed not in metrics:
            raise ConfigError(f"aggregate_metrics needs a {needed!r} metric; got {sorted(metrics)}")
    names, x = _as_matrix(metrics)
    # always an array (uniform when None), so that weighted and unweighted calls share one compilation
    w = _host_weights(weights, x.shape[0])
    res = jax.device_get(cross_world_stats(x, x[:, names.index("total_return")],
                                           x[:, names.index("max_drawdown")], w, key=key, config=config))

    def rows(name, labels_idx):
        v, lo, hi = (np.asarray(res[f"{name}{s}"]) for s in ("", "_lo", "_hi"))
        return [(*lab, float(v[i]), float(lo[i]), float(hi[i])) for lab, i in labels_idx]

    summary = rows("mean", [((m, "mean"), j) for j, m in enumerate(names)])
    qstat = [f"q{100 * q:02.10g}" for q in config.quantiles]
    for i, s in enumerate(qstat):
        summary += rows("quantiles", [((m, s), (i, j)) for j, m in enumerate(names)])
    summary += [(m, "undefined", float(res["undefined"][j]), np.nan, np.nan) for j, m in enumerate(names)]
    tails = []
    for i, level in enumerate(config.tail_levels):
        for k, quantity in enumerate(("total_return", "max_drawdown")):
            for c, stat in enumerate(("var", "es")):
                tails += rows("tails", [((quantity, f"{stat}_{level_name(level)}"), (2 * i + k, c))])
    events = (["P(total_return < 0)"] + [f"P(max_drawdown > {x:g})" for x in config.drawdown_thresholds]
              + [f"P(total_return > {config.goal:g})"])
    probs = rows("probabilities", [((e,), i) for i, e in enumerate(events)])
    cols = ["value", "ci_low", "ci_high"]
    summary = pd.DataFrame(summary, columns=["metric", "statistic", *cols]).set_index(["metric", "statistic"])
    # metric-major order (all statistics of one metric together), metrics in the caller's order
    summary = summary.reindex(pd.MultiIndex.from_product([names, ["mean", *qstat, "undefined"]],
                                                         names=["metric", "statistic"]))
    return Aggregate(
        summary=summary,
        tails=pd.DataFrame(tails, columns=["quantity", "statistic", *cols]).set_index(["quantity", "statistic"]),
        probabilities=pd.DataFrame(probs, columns=["event", *cols]).set_index("event"),
    )


# Per-world metrics where a smaller value is the better outcome (head_to_head flips their sign).
LOWER_IS_BETTER = frozenset({"volatility", "max_drawdown", "max_drawdown_duration", "turnover",
                             "turnover_annual", "cost_drag"})


def _lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or metric.startswith(("var_", "es_"))


def head_to_head(results: Mapping[str, object], weights=None, *, metric: str = "total_return",
                 higher_is_better: bool | None = None) -> pd.DataFrame:
    """``P(row beats column)`` on one metric, per world, for strategies run on the same worlds.

    Args:
        results: strategy name -> either its per-world metrics dict (as `per_world_metrics` returns; `metric`
            is taken from it) or directly a ``[worlds]`` array of the metric.
        weights: ``[worlds]`` scenario weights or None.
        metric: the metric to compare (default total return).
        higher_is_better: direction; None infers it from the name (drawdowns, VaR/ES, volatility,
            turnover and cost drag are better when lower, see `LOWER_IS_BETTER`).
    """
    def pick(name, r):
        if isinstance(r, Mapping):
            if metric not in r:
                raise ConfigError(f"strategy {name!r} has no metric {metric!r}; it has {sorted(r)}")
            return r[metric]
        return r

    names, m = _as_matrix({name: pick(name, r) for name, r in results.items()})
    if higher_is_better is None:
        higher_is_better = not _lower_is_better(metric)
    if not higher_is_better:
        m = -m
    p = np.asarray(beat_matrix(m.T, _host_weights(weights, m.shape[0])))
    return pd.DataFrame(p, index=pd.Index(names, name="A"), columns=pd.Index(names, name="B"))


def rank_real_history(metrics: Mapping[str, object], real: Mapping[str, float], weights=None) -> pd.Series:
    """Weighted percentile (0..100, ties count half) of the real-history backtest among the worlds.

    `metrics` maps metric name to ``[worlds]``; `real` maps the same names to the value of that metric on the
    strategy's backtest over the real history. Metrics missing from `real` are skipped.
    """
    names = [k for k in metrics if k in real]
    if not names:
        raise ConfigError(f"no metric in common between worlds {sorted(metrics)} "
                          f"and real history {sorted(real)}")
    _, x = _as_matrix({k: metrics[k] for k in names})
    values = np.asarray([real[k] for k in names], np.float32)
    w = _host_weights(weights, x.shape[0])
    return pd.Series(np.asarray(_rank_many(x, values, w)), index=pd.Index(names, name="metric"),
                     name="percentile")

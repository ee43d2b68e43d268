"""Marginal fidelity: Wasserstein-1 of h-day returns, relative VaR/ES errors, the Hill tail-index gap.

Shapes: real returns are ``[time, assets]``; synthetic returns are ``[paths, time, assets]``. Every function
works per asset and returns one value per asset (the scorecard summarises assets by their mean). Synthetic
statistics pool all paths: the law being scored is the generator's marginal law over the horizon.

Conventions (the same as `stressgen.metrics.quantile`): the quantile is the inverted empirical CDF
(``numpy`` ``method="inverted_cdf"``); ``VaR_a = -Q(a)`` and ``ES_a = -mean{x <= Q(a)}`` of returns, so a
loss is positive.
"""

from __future__ import annotations

import numpy as np

__all__ = ["aggregate", "pooled", "sorted_pooled", "wasserstein1", "w1_normalised", "var_es", "tail_errors",
           "hill", "hill_gap"]


def aggregate(x: np.ndarray, h: int, *, axis: int = -2) -> np.ndarray:
    """Overlapping h-day sums of log returns along the time `axis` (length ``time - h + 1``)."""
    x = np.asarray(x, dtype=np.float64)
    if h == 1:
        return x
    axis = axis % x.ndim
    shape = list(x.shape)
    shape[axis] += 1
    c = np.zeros(shape)
    np.cumsum(x, axis=axis, out=c[(slice(None),) * axis + (slice(1, None),)])
    n = c.shape[axis]
    later = c[(slice(None),) * axis + (slice(h, n),)]
    earlier = c[(slice(None),) * axis + (slice(0, n - h),)]
    return later - earlier


def pooled(syn: np.ndarray) -> np.ndarray:
    """``[paths, time, assets]`` -> ``[paths * time, assets]``: one pooled sample per asset."""
    syn = np.asarray(syn)
    return syn.reshape(-1, syn.shape[-1])


def sorted_pooled(syn: np.ndarray, h: int = 1) -> np.ndarray:
    """``[assets, paths * (time - h + 1)]``: each asset's pooled synthetic h-day returns, sorted ascending.

    The sorted samples that `w1_normalised`, `tail_errors` and `hill_gap` take (``syn_sorted``), so that a
    scorecard sorts each horizon's pooled returns once. The h-day sums are those of `aggregate` (the same
    running sums, computed with time as the last, contiguous axis). Daily float32 returns are sorted as
    float32 (the same order; the conversion to float64 is exact and monotone) because that sort is faster.
    """
    syn = np.asarray(syn)
    n_assets = syn.shape[-1]
    # a copy always (the sort is in place; with one asset, or h = 1 in float64, a view would be the input)
    moved = np.array(np.moveaxis(syn, -1, 0), dtype=np.float32 if syn.dtype == np.float32 else np.float64,
                     order="C", copy=True)
    out = (moved if h == 1 else aggregate(moved, h, axis=-1)).reshape(n_assets, -1)
    out.sort(axis=-1)
    return out.astype(np.float64, copy=False)


def _w1_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """`wasserstein1` of two sorted 1-d float64 samples, term by term the same sum.

    The merged support is built by placing a's values among b's (a before equal b's) instead of sorting
    again, and the empirical CDFs at each support point are running counts. Within a run of equal support
    values the counts differ from ``searchsorted(side="right")``, but there the gap is 0, so every term of
    the sum, and its order, is the same as in `wasserstein1`.
    """
    na, nb = a.size, b.size
    pos = np.searchsorted(b, a, side="left") + np.arange(na)  # a's places in the merged order
    is_a = np.zeros(na + nb, dtype=bool)
    is_a[pos] = True
    support = np.empty(na + nb)
    support[pos] = a
    support[~is_a] = b
    ca = np.cumsum(is_a[:-1])  # a's among support[: i + 1]
    cb = np.arange(1, na + nb) - ca
    return float(np.sum(np.abs(ca / na - cb / nb) * np.diff(support)))


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between the empirical laws of two 1-d samples: the integral of ``|F_a - F_b|``.

    Computed on the merged sorted support (no quantile grid), so it equals
    `scipy.stats.wasserstein_distance` for unweighted samples of any sizes.
    """
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    support = np.concatenate([a, b])
    support.sort(kind="mergesort")
    gaps = np.diff(support)
    fa = np.searchsorted(a, support[:-1], side="right") / a.size
    fb = np.searchsorted(b, support[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * gaps))


def w1_normalised(real: np.ndarray, syn: np.ndarray, h: int, *,
                  syn_sorted: np.ndarray | None = None) -> np.ndarray:
    """``[assets]`` W1 between real and synthetic h-day returns, divided by the real h-day std (ddof=1).

    Dividing by the real spread makes the score unit-free, so horizons and assets are comparable.
    `syn_sorted`: ``sorted_pooled(syn, h)`` when the caller has it (else it is computed here).
    """
    r = aggregate(real, h, axis=0)
    rs = np.sort(r.T, axis=-1)
    s = sorted_pooled(syn, h) if syn_sorted is None else syn_sorted
    out = np.empty(r.shape[1])
    for j in range(r.shape[1]):
        out[j] = _w1_sorted(rs[j], s[j]) / np.std(r[:, j], ddof=1)
    return out


def var_es(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Historical ``(VaR, ES)`` at tail probability `alpha` of each column of ``x[n, assets]`` (losses > 0)."""
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, alpha, axis=0, method="inverted_cdf")
    tail = x <= q
    es = np.sum(np.where(tail, x, 0.0), axis=0) / np.sum(tail, axis=0)
    return -q, -es


def _var_es_sorted(s: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """`var_es` of each row of ``s[assets, n]``, whose rows are sorted: the same quantile (an order statistic),
    the same tail (the values up to the last one equal to it); ES sums it in sorted order (float rounding)."""
    q = np.quantile(s, alpha, axis=-1, method="inverted_cdf")
    es = np.empty(s.shape[0])
    for j in range(s.shape[0]):
        k = np.searchsorted(s[j], q[j], side="right")
        es[j] = np.sum(s[j, :k]) / k
    return -q, -es


def tail_errors(real: np.ndarray, syn: np.ndarray, alpha: float, h: int, *,
                syn_sorted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``[assets]`` relative errors ``|VaR_syn - VaR_real| / |VaR_real|`` and the same for ES, of h-day returns.

    `syn_sorted`: ``sorted_pooled(syn, h)`` when the caller has it (then `syn` is not read).
    """
    var_r, es_r = var_es(aggregate(real, h, axis=0), alpha)
    if syn_sorted is None:
        var_s, es_s = var_es(pooled(aggregate(syn, h, axis=1)), alpha)
    else:
        var_s, es_s = _var_es_sorted(syn_sorted, alpha)
    return np.abs(var_s - var_r) / np.abs(var_r), np.abs(es_s - es_r) / np.abs(es_r)


def hill(x: np.ndarray, tail_fraction: float = 0.05) -> np.ndarray:
    """``[assets]`` Hill estimate of the left-tail index of each column of ``x[n, assets]``.

    With losses L = -x sorted in decreasing order and ``k = floor(tail_fraction * n)``,
    ``alpha = 1 / mean_{i < k} log(L_(i) / L_(k))`` (L_(0) the largest loss). Only positive losses enter the
    tail; NaN when fewer than 2 exceed the threshold. A Pareto(a) law gives ``alpha -> a``, with standard
    error about ``a / sqrt(k)``.
    """
    x = np.asarray(x, dtype=np.float64)
    return _hill_sorted(np.sort(x, axis=0).T, tail_fraction)


def _hill_sorted(s: np.ndarray, tail_fraction: float) -> np.ndarray:
    """`hill` of each row of ``s[assets, n]``, rows sorted ascending (the largest losses first)."""
    n = s.shape[-1]
    k = int(np.floor(tail_fraction * n))
    out = np.full(s.shape[0], np.nan)
    if k < 2:
        return out
    top, threshold = -s[:, :k], -s[:, k:k + 1]
    ok = threshold > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_log = np.mean(np.log(top / np.where(ok, threshold, 1.0)), axis=-1)
        out = np.where(ok[:, 0] & (mean_log > 0), 1.0 / mean_log, np.nan)
    return out


def hill_gap(real: np.ndarray, syn: np.ndarray, tail_fraction: float = 0.05, *,
             syn_sorted: np.ndarray | None = None) -> np.ndarray:
    """``[assets]`` ``|alpha_syn - alpha_real|`` of the daily left tail (synthetic paths pooled).

    `syn_sorted`: ``sorted_pooled(syn, 1)`` when the caller has it (then `syn` is not read).
    """
    if syn_sorted is None:
        alpha_syn = hill(pooled(syn), tail_fraction)
    else:
        alpha_syn = _hill_sorted(syn_sorted, tail_fraction)
    return np.abs(alpha_syn - hill(real, tail_fraction))

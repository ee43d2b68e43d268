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

__all__ = ["aggregate", "pooled", "wasserstein1", "w1_normalised", "var_es", "tail_errors", "hill",
           "hill_gap"]


def aggregate(x: np.ndarray, h: int, *, axis: int = -2) -> np.ndarray:
    """Overlapping h-day sums of log returns along the time `axis` (length ``time - h + 1``)."""
    x = np.asarray(x, dtype=np.float64)
    if h == 1:
        return x
    c = np.cumsum(x, axis=axis)
    zero = np.zeros_like(np.take(c, [0], axis=axis))
    c = np.concatenate([zero, c], axis=axis)
    n = c.shape[axis]
    return np.take(c, np.arange(h, n), axis=axis) - np.take(c, np.arange(0, n - h), axis=axis)


def pooled(syn: np.ndarray) -> np.ndarray:
    """``[paths, time, assets]`` -> ``[paths * time, assets]``: one pooled sample per asset."""
    syn = np.asarray(syn)
    return syn.reshape(-1, syn.shape[-1])


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


def w1_normalised(real: np.ndarray, syn: np.ndarray, h: int) -> np.ndarray:
    """``[assets]`` W1 between real and synthetic h-day returns, divided by the real h-day std (ddof=1).

    Dividing by the real spread makes the score unit-free, so horizons and assets are comparable.
    """
    r = aggregate(real, h, axis=0)
    s = pooled(aggregate(syn, h, axis=1))
    out = np.empty(r.shape[1])
    for j in range(r.shape[1]):
        out[j] = wasserstein1(r[:, j], s[:, j]) / np.std(r[:, j], ddof=1)
    return out


def var_es(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Historical ``(VaR, ES)`` at tail probability `alpha` of each column of ``x[n, assets]`` (losses > 0)."""
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, alpha, axis=0, method="inverted_cdf")
    tail = x <= q
    es = np.sum(np.where(tail, x, 0.0), axis=0) / np.sum(tail, axis=0)
    return -q, -es


def tail_errors(real: np.ndarray, syn: np.ndarray, alpha: float, h: int) -> tuple[np.ndarray, np.ndarray]:
    """``[assets]`` relative errors ``|VaR_syn - VaR_real| / |VaR_real|`` and the same for ES, of h-day returns."""
    var_r, es_r = var_es(aggregate(real, h, axis=0), alpha)
    var_s, es_s = var_es(pooled(aggregate(syn, h, axis=1)), alpha)
    return np.abs(var_s - var_r) / np.abs(var_r), np.abs(es_s - es_r) / np.abs(es_r)


def hill(x: np.ndarray, tail_fraction: float = 0.05) -> np.ndarray:
    """``[assets]`` Hill estimate of the left-tail index of each column of ``x[n, assets]``.

    With losses L = -x sorted in decreasing order and ``k = floor(tail_fraction * n)``,
    ``alpha = 1 / mean_{i < k} log(L_(i) / L_(k))`` (L_(0) the largest loss). Only positive losses enter the
    tail; NaN when fewer than 2 exceed the threshold. A Pareto(a) law gives ``alpha -> a``, with standard
    error about ``a / sqrt(k)``.
    """
    x = np.asarray(x, dtype=np.float64)
    losses = -np.sort(x, axis=0)  # column-wise, largest loss first
    n = x.shape[0]
    k = int(np.floor(tail_fraction * n))
    out = np.full(x.shape[1], np.nan)
    if k < 2:
        return out
    top, threshold = losses[:k], losses[k]
    ok = threshold > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_log = np.mean(np.log(top / np.where(ok, threshold, 1.0)), axis=0)
        out = np.where(ok & (mean_log > 0), 1.0 / mean_log, np.nan)
    return out


def hill_gap(real: np.ndarray, syn: np.ndarray, tail_fraction: float = 0.05) -> np.ndarray:
    """``[assets]`` ``|alpha_syn - alpha_real|`` of the daily left tail (synthetic paths pooled)."""
    return np.abs(hill(pooled(syn), tail_fraction) - hill(real, tail_fraction))

"""Dependence across assets: the error of the correlation matrix and of the joint-tail co-exceedance.

Both compare ``[assets, assets]`` matrices over their off-diagonal pairs and need at least two assets
(NaN otherwise). Synthetic matrices pool all paths, each path demeaned on its own, so a generator is scored
on its law, not on one path's noise.
"""

from __future__ import annotations

import numpy as np

from .marginal import pooled

__all__ = ["correlation", "coexceedance", "corr_error", "coexceed_error", "off_diagonal"]


def off_diagonal(m: np.ndarray) -> np.ndarray:
    """The entries above the diagonal of a square matrix, one per pair of assets."""
    return m[np.triu_indices(m.shape[0], k=1)]


def _pool_demeaned(syn: np.ndarray) -> np.ndarray:
    syn = np.asarray(syn, dtype=np.float64)
    return pooled(syn - syn.mean(axis=1, keepdims=True))


def correlation(real: np.ndarray, syn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation matrices of the real ``[time, assets]`` and the pooled synthetic returns."""
    return np.corrcoef(np.asarray(real, np.float64), rowvar=False), np.corrcoef(_pool_demeaned(syn), rowvar=False)


def corr_error(real: np.ndarray, syn: np.ndarray) -> float:
    """Root mean square over pairs of the correlation difference, ``sqrt(mean_{i<j} (C_syn - C_real)^2)``."""
    if np.shape(real)[-1] < 2:
        return float("nan")
    a, b = correlation(real, syn)
    return float(np.sqrt(np.mean((off_diagonal(b) - off_diagonal(a)) ** 2)))


def coexceedance(x: np.ndarray, q: float = 0.05) -> np.ndarray:
    """``[assets, assets]`` lower-tail co-exceedance ``P(X_i <= Q_i(q), X_j <= Q_j(q)) / q`` of ``x[n, assets]``.

    Each asset's threshold is its own empirical q-quantile (inverted CDF), so the statistic depends only on
    the copula. As q -> 0 it tends to the lower tail-dependence coefficient lambda_L; at q = 5 % it is the
    finite-level version that a few years of data can estimate.
    """
    x = np.asarray(x, dtype=np.float64)
    e = (x <= np.quantile(x, q, axis=0, method="inverted_cdf")).astype(np.float64)
    return (e.T @ e) / (x.shape[0] * q)


def coexceed_error(real: np.ndarray, syn: np.ndarray, q: float = 0.05) -> float:
    """Mean over pairs of ``|coexceedance_syn - coexceedance_real|`` at level q (joint q tails)."""
    if np.shape(real)[-1] < 2:
        return float("nan")
    a, b = coexceedance(real, q), coexceedance(pooled(syn), q)
    return float(np.mean(np.abs(off_diagonal(b) - off_diagonal(a))))

"""Diversity of synthetic worlds against real windows: makes mode collapse visible rather than hidden.

Each world (and each real window of the same length) is summarised by a few numbers per asset: its
annualised volatility, its total log return and its maximum drawdown, plus its mean cross-asset
correlation. The features are scaled by their spread across the real windows, and the statistic is the
mean pairwise Euclidean distance between summaries. A generator whose worlds all look alike (mode collapse)
scores a ratio far below 1 against real windows; a healthy one scores near 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError
from .stylized import annualised_volatility, mean_pairwise_correlation

__all__ = ["Diversity", "world_summaries", "mean_pairwise_distance", "diversity"]


@dataclasses.dataclass(frozen=True)
class Diversity:
    """Mean pairwise distance of world summaries (`synthetic`) and of real windows' (`real`), and their ratio.

    Attributes:
        synthetic, real: mean pairwise distances (in units of the real windows' feature spread).
        ratio: synthetic / real; far below 1 signals mode collapse, far above 1 worlds wilder than history.
        n_worlds, n_real: how many summaries each figure averages over.
    """

    synthetic: float
    real: float
    ratio: float
    n_worlds: int
    n_real: int


def world_summaries(x: np.ndarray, periods_per_year: int = 252) -> np.ndarray:
    """``[n, 3 * assets + 1]`` summaries of ``x [n, time, assets]`` log returns (see the module doc)."""
    x = np.asarray(x, dtype=np.float64)
    vol = annualised_volatility(x.swapaxes(1, 2), periods_per_year)
    total = x.sum(axis=1)
    cum = np.cumsum(x, axis=1)
    drawdown = (np.maximum.accumulate(np.maximum(cum, 0.0), axis=1) - cum).max(axis=1)
    # one asset has no correlation (NaN): its feature is a constant 0
    mean_corr = np.nan_to_num([mean_pairwise_correlation(w) for w in x])[:, None]
    return np.concatenate([vol, total, drawdown, mean_corr], axis=1)


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows (exact; O(n^2) memory in blocks of rows)."""
    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    if n < 2:
        raise ConfigError(f"a pairwise distance needs at least 2 summaries, got {n}")
    total = 0.0
    sq = np.sum(f * f, axis=1)
    for i in range(0, n, 512):
        d2 = sq[i:i + 512, None] + sq[None, :] - 2.0 * f[i:i + 512] @ f.T
        total += np.sqrt(np.maximum(d2, 0.0)).sum()
    return float(total / (n * (n - 1)))  # the diagonal contributes zeros


def diversity(worlds: np.ndarray, real: np.ndarray, *, max_worlds: int = 1000, stride: int | None = None,
              periods_per_year: int = 252) -> Diversity:
    """Diversity of ``worlds [worlds, time, assets]`` against real windows of ``real [time, assets]``.

    Real windows have the worlds' length and start every `stride` days (default: a quarter of the length,
    so there are enough of them); only the first `max_worlds` worlds are summarised (deterministic).
    """
    worlds = np.asarray(worlds)
    real = np.asarray(real)
    if worlds.ndim != 3 or real.ndim != 2 or worlds.shape[2] != real.shape[1]:
        raise ConfigError(f"diversity takes worlds [worlds, time, assets] and real [time, assets] with the same "
                          f"assets; got {worlds.shape} and {real.shape}")
    length = worlds.shape[1]
    stride = max(1, length // 4) if stride is None else stride
    starts = np.arange(0, real.shape[0] - length + 1, stride)
    if starts.size < 2 or length < 2:
        raise ConfigError(f"the real history ({real.shape[0]} periods) holds fewer than 2 windows of the worlds' "
                          f"length {length}")
    real_f = world_summaries(np.stack([real[s:s + length] for s in starts]), periods_per_year)
    syn_f = world_summaries(worlds[:max_worlds], periods_per_year)
    spread = real_f.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    d_syn = mean_pairwise_distance(syn_f / spread)
    d_real = mean_pairwise_distance(real_f / spread)
    return Diversity(synthetic=d_syn, real=d_real, ratio=d_syn / d_real, n_worlds=syn_f.shape[0],
                     n_real=real_f.shape[0])

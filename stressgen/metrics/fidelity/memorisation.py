"""Memorisation: the copy rate of synthetic windows.

Windows of L days (all assets, flattened) are standardised with the training period's per-asset mean and
standard deviation. For every real held-out window, the Euclidean distance to its nearest training window
gives the reference distribution of "new data" distances; its 1st percentile is the threshold. The copy
rate is the share of synthetic windows (up to `max_windows`, drawn at random from all paths) whose nearest
training window is closer than that threshold. Fresh data scores about 1 %; a generator that replays
history (a block bootstrap) scores far higher, which is the point of the metric.
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["windows", "nearest_distances", "copy_rate"]


def windows(x: np.ndarray, length: int, step: int = 1) -> np.ndarray:
    """Windows of ``x[..., time, assets]`` flattened to ``[..., n_windows, length * assets]``."""
    x = np.asarray(x, dtype=np.float64)
    v = np.lib.stride_tricks.sliding_window_view(x, length, axis=-2)[..., ::step, :, :]  # [..., n, assets, L]
    v = np.swapaxes(v, -1, -2)  # [..., n, L, assets]
    return v.reshape(v.shape[:-2] + (length * x.shape[-1],))


def nearest_distances(queries: np.ndarray, reference: np.ndarray, block: int = 2048) -> np.ndarray:
    """``[queries]`` Euclidean distance of each row of `queries` to its nearest row of `reference`.

    Blocked so that the distance matrix never exceeds ``block x len(reference)``.
    """
    ref_sq = np.sum(reference * reference, axis=1)
    out = np.empty(queries.shape[0])
    for s in range(0, queries.shape[0], block):
        q = queries[s:s + block]
        d2 = np.sum(q * q, axis=1)[:, None] + ref_sq[None, :] - 2.0 * (q @ reference.T)
        out[s:s + block] = np.sqrt(np.maximum(np.min(d2, axis=1), 0.0))
    return out


def copy_rate(train: np.ndarray, real: np.ndarray, syn: np.ndarray, *, key: jax.Array, length: int = 20,
              max_windows: int = 5000, quantile: float = 0.01) -> float:
    """Share of synthetic windows closer to a training window than the `quantile` of real held-out windows'
    nearest-training distances.

    Args:
        train: ``[time, assets]`` the returns the generator was fitted on.
        real: ``[time, assets]`` held-out real returns.
        syn: ``[paths, time, assets]`` synthetic returns.
        key: picks which synthetic windows are scored when there are more than `max_windows`.
    """
    train = np.asarray(train, dtype=np.float64)
    mean, sd = train.mean(axis=0), train.std(axis=0, ddof=1)
    z = lambda x: (np.asarray(x, dtype=np.float64) - mean) / sd  # noqa: E731 - one standardisation for all
    ref = windows(z(train), length)
    d_real = nearest_distances(windows(z(real), length), ref)
    threshold = np.quantile(d_real, quantile, method="inverted_cdf")
    syn = np.asarray(syn)
    per_path = syn.shape[1] - length + 1
    total = syn.shape[0] * per_path
    # Gather only the scored windows: all windows of 500 paths x 20 assets would take gigabytes.
    pick = np.arange(total) if total <= max_windows else np.sort(
        np.asarray(jax.random.choice(key, total, (max_windows,), replace=False)))
    path, start = np.divmod(pick, per_path)
    syn_w = z(syn[path[:, None], start[:, None] + np.arange(length)[None, :], :])  # [k, L, assets]
    return float(np.mean(nearest_distances(syn_w.reshape(syn_w.shape[0], -1), ref) < threshold))

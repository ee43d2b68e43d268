"""Memorisation: the copy rate of synthetic windows.

A window is L days of all assets, flattened, each asset divided by its training standard deviation (not
centred) and the whole window then scaled to unit length, so that only its shape counts: a window and the
same window times c > 0 are the same point. A synthetic window x is compared with the training windows by
the nearest-neighbour distance ratio (the ratio test of Lowe, 2004; the NNDR of synthetic-data privacy
audits, e.g. Zhao et al., 2021, CTAB-GAN; Platzer and Reutterer, 2021, Front. Big Data 4:679939):

    ratio(x) = d1 / d2,  d1 = distance to the nearest training window y_j,
                         d2 = distance to the nearest training window that does not overlap y_j
                              (its start differs from j by L or more).

A copy of a training window is far nearer to it than to any other piece of history (ratio near 0); a
new window is about as near to its nearest training window as to the next one (ratio near 1). The
threshold is calibrated on the training data alone: the `quantile` of the same ratio for training
windows, each compared with the training windows that do not overlap it (leave-out neighbours), so a
generator that copies nothing scores about `quantile` whatever its volatility and whatever the held-out
period's. The copy rate is the share of synthetic windows (up to `max_windows`, drawn at random from all
paths) whose ratio is below that threshold.

The ratio alone is not scale-free: windows of half the training volatility sit near the origin, their
nearest neighbours are the calm training windows, and the spread of those distances makes d1/d2 smaller
(GARCH noise with 20 assets scored 0.042 at half and 0.001 at twice the training volatility on unscaled
windows). Scaling every window to unit length removes the scale exactly.

Earlier versions thresholded the raw distance at the 1st percentile of the held-out real windows' nearest
distances, which moved with the scale of both periods: i.i.d. noise that copies nothing scored 0.99 at
half the training volatility (see docs/fidelity.md for the measured figures).
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["windows", "nearest_distances", "neighbour_ratios", "copy_rate"]


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


def neighbour_ratios(queries: np.ndarray, reference: np.ndarray, length: int,
                     query_starts: np.ndarray | None = None, block: int = 512) -> np.ndarray:
    """``[queries]`` nearest-neighbour distance ratio d1 / d2 of each row of `queries`.

    Row s of `reference` is the window starting on day s (consecutive, step 1), so rows s and t overlap
    when ``|s - t| < length``. d1 is the distance to the nearest reference row j, d2 the distance to the
    nearest row that does not overlap j. With `query_starts` (queries that are themselves reference
    windows, starting on those days), rows overlapping the query's own window are left out of both. A
    ratio 0/0 (the query is as near to one window as to another) is 1; a query with fewer than two
    non-overlapping candidates gets NaN. Blocked: at most ``block x len(reference)`` distances at a time.
    """
    ref_sq = np.sum(reference * reference, axis=1)
    out = np.empty(queries.shape[0])
    for s in range(0, queries.shape[0], block):
        q = queries[s:s + block]
        rows = np.arange(q.shape[0])
        d = q @ reference.T  # becomes |q - r|^2 - |q|^2 in place: the argmin is the same, one pass less
        d *= -2.0
        d += ref_sq[None, :]
        if query_starts is not None:
            _mask_bands(d, np.asarray(query_starts[s:s + block]), length)
        j = np.argmin(d, axis=1)
        q_sq = np.sum(q * q, axis=1)
        first = np.maximum(d[rows, j] + q_sq, 0.0)
        _mask_bands(d, j, length)
        second = np.maximum(np.min(d, axis=1) + q_sq, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.sqrt(first / second)
        r[second == 0.0] = 1.0
        r[~np.isfinite(first) | ~np.isfinite(second)] = np.nan
        out[s:s + block] = r
    return out


def _mask_bands(d: np.ndarray, centres: np.ndarray, length: int) -> None:
    """Set ``d[row, c - length + 1 : c + length]`` to inf for each row's centre c (overlapping windows)."""
    for row, c in enumerate(centres.tolist()):
        d[row, max(c - length + 1, 0):c + length] = np.inf


def _shapes(w: np.ndarray) -> np.ndarray:
    """Rows of `w` scaled to unit length (a zero row stays zero)."""
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)


def copy_rate(train: np.ndarray, real: np.ndarray, syn: np.ndarray, *, key: jax.Array, length: int = 20,
              max_windows: int = 5000, quantile: float = 0.01) -> float:
    """Share of synthetic windows whose nearest-neighbour distance ratio to the training windows is below
    the `quantile` of the training windows' own leave-out ratio (see the module docstring).

    The score is unchanged when `syn` (or `train`) is multiplied by any c > 0, and does not depend on
    `real`: a copy rescaled to another volatility still counts as a copy, and a calm or wild held-out
    period cannot raise false alarms. A generator that copies nothing scores about `quantile`.

    Args:
        train: ``[time, assets]`` the returns the generator was fitted on.
        real: ``[time, assets]`` held-out real returns; not used (kept for callers: the threshold no
            longer depends on the held-out period).
        syn: ``[paths, time, assets]`` synthetic returns.
        key: picks which synthetic windows, and which training windows for the threshold, are scored when
            there are more than `max_windows`.
    Returns:
        The copy rate, or NaN when `syn` has no window of `length` days or `train` has too few windows to
        leave out overlapping neighbours (fewer than ``4 * length``).
    """
    del real  # the threshold is calibrated on train alone, so the held-out period's scale cannot move it
    train = np.asarray(train, dtype=np.float64)
    syn = np.asarray(syn)
    sd = train.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)  # an asset that never moved in train stays in its own units
    ref = _shapes(windows(train / sd, length))
    per_path = syn.shape[1] - length + 1
    if per_path < 1 or ref.shape[0] < 4 * length:
        return float("nan")
    k_train, k_syn = jax.random.split(key)
    n_ref = ref.shape[0]
    cal = np.arange(n_ref) if n_ref <= max_windows else np.sort(
        np.asarray(jax.random.choice(k_train, n_ref, (max_windows,), replace=False)))
    threshold = np.quantile(neighbour_ratios(ref[cal], ref, length, query_starts=cal), quantile,
                            method="inverted_cdf")
    total = syn.shape[0] * per_path
    # Gather only the scored windows: all windows of 500 paths x 20 assets would take gigabytes.
    pick = np.arange(total) if total <= max_windows else np.sort(
        np.asarray(jax.random.choice(k_syn, total, (max_windows,), replace=False)))
    path, start = np.divmod(pick, per_path)
    syn_w = syn[path[:, None], start[:, None] + np.arange(length)[None, :], :] / sd  # [k, L, assets]
    ratio = neighbour_ratios(_shapes(syn_w.reshape(syn_w.shape[0], -1)), ref, length)
    return float(np.mean(ratio < threshold))

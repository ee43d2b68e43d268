"""Dependence in time: ACF scores of r, |r| and r^2, and the leverage score corr(r_t, r^2_{t+k}).

Each path's statistic is computed on that path alone (demeaned per path) and averaged over paths, so a
synthetic curve is the expected curve of one series as long as the real one; the score is the L2 norm over
lags of its difference to the real curve (QuantGAN's definition). One value per asset.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRANSFORMS", "acf_fft", "acf_curves", "acf_score", "leverage_curve", "leverage_curves",
           "leverage_score"]

TRANSFORMS = {"r": lambda x: x, "abs": np.abs, "sq": np.square}


def acf_fft(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample ACF at lags 1..max_lag of every series ``x[..., time]``: ``[..., max_lag]``.

    The standard estimator (autocovariance over n, not n - k, divided by the lag-0 value, the series' own
    mean removed), as `stressgen.metrics.acf`, via FFT so that 500 paths x 250 lags stay cheap.
    A constant series has no ACF (NaN).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)  # time contiguous: FFTs along a strided axis are ~5x slower
    n = x.shape[-1]
    d = x - x.mean(axis=-1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n - 1)))
    f = np.fft.rfft(d, n=size, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=-1)[..., : max_lag + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return acov[..., 1:] / acov[..., :1]


def _time_last(x: np.ndarray) -> np.ndarray:
    """``[..., time, assets]`` -> ``[..., assets, time]`` float64, time contiguous (the FFTs and sums run along
    it: along a strided axis they are several times slower)."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(x), -1, -2), dtype=np.float64)


_BLOCK_ELEMENTS = 1 << 22  # input elements per block of paths (an FFT block then takes about 0.5 GiB)


def _path_mean(syn: np.ndarray, curve) -> np.ndarray:
    """``nanmean`` over paths (axis 0) of ``curve(syn[block])``, computed in blocks of paths.

    Why blocks: the FFTs of 1,000 ten-year paths of 20 assets at once take over 4 GiB; per block, memory is
    bounded whatever the number of paths. Sums and counts of the non-NaN values per block give the same
    mean (to float rounding) as one `np.nanmean`.
    """
    per = max(1, _BLOCK_ELEMENTS // max(1, int(np.prod(syn.shape[1:]))))
    total = count = 0
    for i in range(0, max(syn.shape[0], 1), per):
        v = curve(syn[i:i + per])
        ok = ~np.isnan(v)
        total = total + np.where(ok, v, 0.0).sum(axis=0)
        count = count + ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _syn_curve(cache: dict | None, key: tuple, compute) -> np.ndarray:
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def acf_curves(real: np.ndarray, syn: np.ndarray, transform: str, max_lag: int, *,
               cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``([assets, lags], [assets, lags])``: the real ACF of f(r) and the synthetic one averaged over paths.

    `cache`: a dict that belongs to this `syn` array (the caller's), in which the synthetic curve is kept
    and looked up, so that a scorecard computes each synthetic curve once however many parts draw it.
    """
    f = TRANSFORMS[transform]
    b = _syn_curve(cache, ("acf", transform, max_lag),
                   lambda: _path_mean(syn, lambda block: acf_fft(f(_time_last(block)), max_lag)))
    return acf_fft(f(_time_last(real)), max_lag), b


def acf_score(real: np.ndarray, syn: np.ndarray, transform: str, max_lag: int, *,
              cache: dict | None = None) -> np.ndarray:
    """``[assets]`` ``|| mean_paths acf(f(syn)) - acf(f(real)) ||_2`` over lags 1..max_lag."""
    a, b = acf_curves(real, syn, transform, max_lag, cache=cache)
    return np.sqrt(np.sum((b - a) ** 2, axis=-1))


def leverage_curve(x: np.ndarray, max_lag: int) -> np.ndarray:
    """``L(k) = corr(r_t, r^2_{t+k})``, k = 1..max_lag, of every series ``x[..., time]``: ``[..., max_lag]``.

    Pearson correlation of the pairs (r_t, r^2_{t+k}) for t = 0..n-k-1, each side demeaned over those pairs.

    Computed for all series at once: r and r^2 are first centred on their whole-series means (a
    correlation does not change when either side is shifted); then each lag needs one dot product and the
    pairs' sums (the whole series' sums less the k values left out), as
    ``sum (a - mean a)(b - mean b) = sum ab - sum a sum b / m`` on the centred values, whose pair means are
    small, so nothing is lost to cancellation (the curves agree with the two-pass form to ~1e-15).
    `_leverage_curve_loop` is the two-pass definition, lag by lag (the tests compare them); fewer than two
    pairs give NaN.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[-1]
    a = x - x.mean(axis=-1, keepdims=True)
    b = x * x
    b = b - b.mean(axis=-1, keepdims=True)
    # sums over the pairs of lag k: the whole series' sums less the k values left out at one end
    # (the running sums of the first / last max_lag values only: [..., max_lag] arrays)
    kk = max(0, min(max_lag, n - 2))  # lags with two pairs or more (one pair has no correlation: NaN)
    total = [np.einsum("...t->...", a), np.einsum("...t,...t->...", a, a),
             np.einsum("...t->...", b), np.einsum("...t,...t->...", b, b)]
    a_end = a[..., n - kk:][..., ::-1]  # a_end[..., i] = a[..., n - 1 - i]
    b_start = b[..., :kk]
    left = [np.cumsum(a_end, axis=-1), np.cumsum(a_end * a_end, axis=-1),
            np.cumsum(b_start, axis=-1), np.cumsum(b_start * b_start, axis=-1)]
    out = np.full(x.shape[:-1] + (max_lag,), np.nan)
    for k in range(1, kk + 1):
        m = n - k
        sa, saa, sb, sbb = (t - c[..., k - 1] for t, c in zip(total, left))
        sab = np.einsum("...t,...t->...", a[..., :m], b[..., k:])
        cov = sab - sa * sb / m
        va = saa - sa * sa / m
        vb = sbb - sb * sb / m
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., k - 1] = cov / np.sqrt(va * vb)
    return out


def _leverage_curve_loop(x: np.ndarray, max_lag: int) -> np.ndarray:
    """The definition of `leverage_curve`, lag by lag, each side demeaned over its pairs (reference)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    out = []
    for k in range(1, max_lag + 1):
        a, b = x[..., : n - k], x[..., k:] ** 2
        a = a - a.mean(axis=-1, keepdims=True)
        b = b - b.mean(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.sum(a * b, axis=-1) / np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1)))
    return np.stack(out, axis=-1)


def leverage_curves(real: np.ndarray, syn: np.ndarray, max_lag: int, *,
                    cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``([assets, lags], [assets, lags])``: real leverage curve and the synthetic one averaged over paths
    (`cache` as in `acf_curves`)."""
    b = _syn_curve(cache, ("leverage", max_lag),
                   lambda: _path_mean(syn, lambda block: leverage_curve(_time_last(block), max_lag)))
    return leverage_curve(_time_last(real), max_lag), b


def leverage_score(real: np.ndarray, syn: np.ndarray, max_lag: int, *, cache: dict | None = None) -> np.ndarray:
    """``[assets]`` L2 norm over k = 1..max_lag of the synthetic minus the real leverage curve."""
    a, b = leverage_curves(real, syn, max_lag, cache=cache)
    return np.sqrt(np.sum((b - a) ** 2, axis=-1))

"""Probability integral transforms (PIT) of real outcomes among synthetic ones, and their summaries.

The rolling-origin calibration study (`stressgen.studies.calibrate`) forecasts one real outcome (a one-year
return, a drawdown) at each of many origins with an ensemble of M synthetic values. If the ensembles are
calibrated, the PIT of the real value, the share of the ensemble below it, is uniform on [0, 1] across
origins. Everything here is pure NumPy/SciPy on host arrays:

* `pit_values`: the mid-rank PIT ``(#{x < y} + 0.5 #{x = y}) / M`` (or the randomised one, given uniforms);
* `ks_uniform`: Kolmogorov-Smirnov distance of PITs to U(0, 1) and its exact p-value (as
  `scipy.stats.kstest(pits, "uniform")`);
* `band_shares`: shares of PITs outside [0.01, 0.99] and [0.05, 0.95] (2 % and 10 % when calibrated);
* `crps_ensemble`: the continuous ranked probability score of the ensemble's empirical CDF,
  ``E|X - y| - 0.5 E|X - X'|``, in O(M log M) by sorting; `crps_gaussian` is the closed form for N(mu, s^2);
* `pit_histogram`: counts over equal-width bins of [0, 1];
* `summarise_pits`: all of the above for one outcome across origins, as a `PitSummary`.

Definitions and conventions: docs/fidelity.md, "Calibration (rolling origin)".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["KsResult", "BandShares", "PitHistogram", "PitSummary", "pit_values", "ks_uniform", "band_shares",
           "crps_ensemble", "crps_gaussian", "pit_histogram", "summarise_pits", "BANDS"]

# Central bands whose outside shares are reported: a calibrated forecast puts 2 % and 10 % of PITs outside.
BANDS = ((0.01, 0.99), (0.05, 0.95))


@dataclasses.dataclass(frozen=True)
class KsResult:
    """One-sample Kolmogorov-Smirnov test of PITs against U(0, 1).

    Attributes:
        statistic: sup_u |F_n(u) - u|, F_n the empirical CDF of the n finite PITs (NaN when n = 0).
        pvalue: exact two-sided p-value, ``scipy.stats.kstwo.sf(statistic, n)`` (what `kstest` reports);
            it assumes independent PITs (see docs/fidelity.md on overlapping horizons).
        n: number of finite PITs.
    """

    statistic: float
    pvalue: float
    n: int


@dataclasses.dataclass(frozen=True)
class BandShares:
    """Shares of finite PITs strictly outside the central bands [0.01, 0.99] and [0.05, 0.95]."""

    outside_1_99: float
    outside_5_95: float
    n: int


@dataclasses.dataclass(frozen=True)
class PitHistogram:
    """Counts of finite PITs in equal-width bins of [0, 1]; `edges` has one more entry than `counts`; a PIT
    of exactly 1 falls in the last bin."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def density(self) -> tuple[float, ...]:
        """Counts over (n x bin width): 1 everywhere for a perfectly uniform sample."""
        n = sum(self.counts)
        width = 1.0 / len(self.counts)
        return tuple(c / (n * width) if n else math.nan for c in self.counts)


@dataclasses.dataclass(frozen=True)
class PitSummary:
    """Calibration of one outcome across origins (see `summarise_pits`).

    Attributes:
        n: origins with a finite PIT.
        ks, ks_pvalue: `ks_uniform` of the PITs.
        outside_1_99, outside_5_95: `band_shares` of the PITs (expected 0.02 and 0.10).
        crps: mean CRPS over origins with a finite CRPS (units of the outcome; lower is better).
        histogram: `pit_histogram` of the PITs.
    """

    n: int
    ks: float
    ks_pvalue: float
    outside_1_99: float
    outside_5_95: float
    crps: float
    histogram: PitHistogram


def _finite(x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def pit_values(samples: ArrayLike, real: ArrayLike, *, u: ArrayLike | None = None) -> np.ndarray:
    """PIT of each real value among its ensemble: ``(#{x < y} + w #{x = y}) / M``.

    Args:
        samples: ``[..., M]`` ensemble members; non-finite members are left out (M counts the finite ones).
        real: ``[...]`` the real values (broadcast against ``samples[..., 0]``).
        u: None for the mid-rank PIT (w = 0.5), or ``[...]`` uniform draws for the randomised PIT (w = u).

    Returns:
        ``[...]`` float64 PITs in [0, 1]; NaN where the real value is not finite or no member is.

    Why mid-rank by default: ties between the real value and members happen with discrete outcomes, e.g. a
    strategy that stays in cash has the same total return (and a drawdown of exactly 0) in every world and
    in reality. Counting ties as below (w = 1) or above (w = 0) would call such a perfect forecast a tail
    miss; w = 0.5 puts it in the middle of the tied block. It is the expectation of the randomised PIT
    (which is exactly uniform under calibration), needs no random numbers, so a cached origin gives the same
    PIT bit for bit, and for continuous outcomes (no ties) the two coincide. If the real value is
    exchangeable with M continuous members, ``#{x < y}`` is uniform on {0, ..., M}: the PIT is uniform on
    the grid {0, 1/M, ..., 1}, mean exactly 1/2.
    """
    x = np.asarray(samples, dtype=np.float64)
    y = np.asarray(real, dtype=np.float64)[..., None]
    ok = np.isfinite(x)
    m = ok.sum(axis=-1)
    below = np.sum(ok & (x < y), axis=-1)
    equal = np.sum(ok & (x == y), axis=-1)
    w = 0.5 if u is None else np.asarray(u, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (below + w * equal) / m
    return np.where((m > 0) & np.isfinite(y[..., 0]), out, np.nan)


def ks_uniform(pits: ArrayLike) -> KsResult:
    """Kolmogorov-Smirnov distance of the finite PITs to U(0, 1) and its exact p-value.

    ``D = max_i max(i/n - u_(i), u_(i) - (i-1)/n)`` over the sorted PITs u_(1) <= ... <= u_(n); the p-value
    is the exact two-sided tail ``P(D_n >= D)`` of Kolmogorov's distribution (`scipy.stats.kstwo`), as
    ``scipy.stats.kstest(pits, "uniform")`` computes it for any n (its "auto" method is exact).
    """
    u = np.sort(np.clip(_finite(pits), 0.0, 1.0))
    n = u.size
    if n == 0:
        return KsResult(math.nan, math.nan, 0)
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))
    return KsResult(d, float(np.clip(stats.kstwo.sf(d, n), 0.0, 1.0)), int(n))


def band_shares(pits: ArrayLike) -> BandShares:
    """Shares of finite PITs strictly below the lower or above the upper end of each band in `BANDS`."""
    u = _finite(pits)
    if u.size == 0:
        return BandShares(math.nan, math.nan, 0)
    (lo1, hi1), (lo5, hi5) = BANDS
    return BandShares(float(np.mean((u < lo1) | (u > hi1))), float(np.mean((u < lo5) | (u > hi5))), int(u.size))


def crps_ensemble(samples: ArrayLike, real: ArrayLike) -> np.ndarray:
    """CRPS of each ensemble's empirical CDF at its real value: ``E|X - y| - 0.5 E|X - X'|``.

    X and X' are independent draws from the M members (X = X' included: this is the CRPS of the empirical
    CDF, properscoring's ``crps_ensemble``, not the "fair" M(M-1) version). The pair term is computed from
    the sorted members, ``sum_{i,j} |x_i - x_j| = 2 sum_k (2k - M - 1) x_(k)`` (k = 1..M), so the cost is
    O(M log M) instead of O(M^2). Non-finite members are left out; NaN where none is finite or y is not.

    Args:
        samples: ``[..., M]``; real: ``[...]``. Returns ``[...]`` float64, in the units of the outcome.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=-1)  # NaN sorts last
    y = np.asarray(real, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y[..., None])
    y = y[..., 0]
    ok = np.isfinite(x)
    m = ok.sum(axis=-1)
    xs = np.where(ok, x, 0.0)
    k = np.cumsum(ok, axis=-1)  # rank among the finite members (finite ones come first after the sort)
    weight = np.where(ok, 2 * k - m[..., None] - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = 2.0 * np.sum(weight * xs, axis=-1) / m.astype(np.float64) ** 2
        dist = np.sum(np.where(ok, np.abs(xs - y[..., None]), 0.0), axis=-1) / m
        out = dist - 0.5 * spread
    return np.where((m > 0) & np.isfinite(y), out, np.nan)


def crps_gaussian(real: ArrayLike, mu: ArrayLike = 0.0, sigma: ArrayLike = 1.0) -> np.ndarray:
    """Closed-form CRPS of N(mu, sigma^2) at y (Gneiting and Raftery, 2007):
    ``sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]``, z = (y - mu) / sigma. The limit of
    `crps_ensemble` for a large Gaussian ensemble."""
    y, mu, sigma = (np.asarray(a, dtype=np.float64) for a in (real, mu, sigma))
    z = (y - mu) / sigma
    return sigma * (z * (2.0 * stats.norm.cdf(z) - 1.0) + 2.0 * stats.norm.pdf(z) - 1.0 / math.sqrt(math.pi))


def pit_histogram(pits: ArrayLike, bins: int = 10) -> PitHistogram:
    """Counts of the finite PITs in `bins` equal bins of [0, 1] (a PIT of 1 counts in the last bin)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    counts, edges = np.histogram(np.clip(_finite(pits), 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return PitHistogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def summarise_pits(pits: ArrayLike, crps: ArrayLike, *, bins: int = 10) -> PitSummary:
    """KS distance and p-value, band shares, mean CRPS and histogram of one outcome's PITs across origins."""
    ks, bands = ks_uniform(pits), band_shares(pits)
    c = _finite(crps)
    return PitSummary(n=ks.n, ks=ks.statistic, ks_pvalue=ks.pvalue, outside_1_99=bands.outside_1_99,
                      outside_5_95=bands.outside_5_95, crps=float(c.mean()) if c.size else math.nan,
                      histogram=pit_histogram(pits, bins))

"""The VAE's correlated innovations: a Gaussian copula on the Student-t innovations, its correlation targeted so
that the sampled days have the training days' correlation matrix.

Why. The innovations were independent across assets, so every co-movement of a day had to come from the
decoder's location, which one latent vector per window drives. Trained on sp500-20, the location carried about
two thirds of it: the worlds' mean pairwise correlation was 0.150 against the history's 0.215 (fitted up to
2000-12-29), 0.196 against 0.235 (2007-12-31) and 0.235 against 0.286 (2014-12-31), where GARCH gave 0.212,
0.234 and 0.274 (bench/dependence_check.py). An equal-weight portfolio of the worlds was then calmer than
history (16% volatility against 18-20%, median one-year drawdown 9% against 11-12%), and the rolling-origin
calibration put a quarter of the real one-year drawdowns outside the worlds' 5-95% band, nearly all deeper.

How (`copula`), from the days `_vae_after.target_moments` samples for the variance targeting (z from the
conditional prior, over the training windows, standardized; one pass, one program): a day is ``m + s e``,
with location ``m``, scale ``s`` and innovation ``e`` (unit variance, independent of m and s given the
past). Its covariance is ``Cov(m) + E[s s^T] * C_e`` (elementwise), ``C_e`` the innovations' correlation.
Matching the training days' correlation ``rho`` at the model's own variances ``V`` gives, off the diagonal,
``C_e = (rho sqrt(V V^T) - Cov(m)) / E[s s^T]``. Innovations are ``e_i = h_i(n_i)`` with ``n ~ N(0, R)`` and
``h_i`` the asset's normal-score-to-unit-t map (`_tables.gaussian_margin_table`), so the Pearson correlation of
``e_i, e_j`` is ``sum_k a_ik a_jk R_ij^k`` over the normalised Hermite coefficients ``a_ik`` of ``h_i``
(Mehler's formula); R is found from C_e pair by pair by bisection (the series is increasing in R_ij), then made
a correlation matrix (`_garch_fit.nearest_correlation`). Both repairs are reported (`VaeFitWarning`).

The copula is a step after training, as the moment targeting is: the training likelihood keeps the
innovations independent, so the ELBO, `anomalies.encode` and `anomalies.anomaly_scores` do not see it.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import hermite_e

from ._garch_fit import nearest_correlation
from ._vae_after import DayMoments
from ._vae_prior import VaeFitWarning

if TYPE_CHECKING:
    from .vae import VaeConfig

__all__ = ["copula", "innovation_target", "pearson_of_copula", "copula_of_pearson", "hermite_coefficients",
           "CORRELATIONS"]

CORRELATIONS = ("targeted", "none")
N_HERMITE = 25  # terms of Mehler's series; past k = 25 a unit-t(5) map's coefficients hold 6e-12 of its variance
MOVED = 0.05  # a copula correlation the PSD repair moves by more than this is reported
_BISECTIONS = 60


def hermite_coefficients(table: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``a [assets, N_HERMITE + 1]``: ``E[h(n) He_k(n)] / sqrt(k!)`` of each asset's normal-score map, tabulated
    as `_tables.tabulate` writes it (``table [assets, G, 2]``, ``grid = (lo, 1 / step)``), by the trapezoid rule
    on the table's own knots. ``sum_k a_k^2`` is ``E[h^2] = 1`` for a unit-variance margin."""
    values = np.asarray(table, np.float64)[..., 0]
    lo, inv_step = (float(v) for v in np.asarray(grid, np.float64))
    z = lo + np.arange(values.shape[-1]) / inv_step
    density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    out = np.empty((values.shape[0], N_HERMITE + 1))
    for k in range(N_HERMITE + 1):
        basis = hermite_e.hermeval(z, np.eye(N_HERMITE + 1)[k]) * density / math.sqrt(math.factorial(k))
        out[:, k] = np.trapezoid(values * basis, z, axis=-1)
    return out


def pearson_of_copula(r: np.ndarray, a_i: np.ndarray, a_j: np.ndarray) -> np.ndarray:
    """The Pearson correlation of ``h_i(n_i), h_j(n_j)`` at normal correlation `r` (Mehler's formula)."""
    powers = np.asarray(r, np.float64)[..., None] ** np.arange(a_i.shape[-1])
    return np.sum(a_i * a_j * powers, axis=-1)


def copula_of_pearson(target: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(R, clipped)``: per pair i != j, the normal correlation whose margins `a` (`hermite_coefficients`) give
    the Pearson correlation ``target [A, A]``; a target beyond what the margins can reach at R = +-1 is taken
    at the bound (``clipped`` marks those pairs). Bisection, as the series increases in R for margins that
    increase in n."""
    n = target.shape[0]
    i, j = np.triu_indices(n, 1)
    ai, aj, t = a[i], a[j], np.asarray(target, np.float64)[i, j]
    lo, hi = np.full(t.shape, -1.0), np.full(t.shape, 1.0)
    reach_lo, reach_hi = pearson_of_copula(lo, ai, aj), pearson_of_copula(hi, ai, aj)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = pearson_of_copula(mid, ai, aj) < t
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    r = np.where(t <= reach_lo, -1.0, np.where(t >= reach_hi, 1.0, 0.5 * (lo + hi)))
    out, clipped = np.eye(n), np.zeros((n, n), bool)
    out[i, j] = out[j, i] = r
    clipped[i, j] = clipped[j, i] = (t <= reach_lo) | (t >= reach_hi)
    return out, clipped


def innovation_target(moments: DayMoments) -> np.ndarray:
    """``C_e [A, A]``: the innovations' Pearson correlation that gives the sampled days the training days'
    correlation (the module doc). From the moments before the variance targeting's shift: the shift multiplies
    a day's location deviation and its scale alike, so it cancels (up to the log-scale's soft clamp, which the
    variance targeting leaves out as well)."""
    u1, x1 = moments.u / moments.days, moments.x / moments.days
    cov_m = moments.uu / moments.days - np.outer(u1, u1)
    ss = moments.vv / moments.days
    cov_x = moments.xx / moments.days - np.outer(x1, x1)
    var = np.diag(cov_m) + np.diag(ss)  # the model's own variance of a day (the innovations' is 1)
    rho = cov_x / np.sqrt(np.outer(np.diag(cov_x), np.diag(cov_x)))
    target = (rho * np.sqrt(np.outer(var, var)) - cov_m) / ss
    np.fill_diagonal(target, 1.0)
    return target


def copula(moments: DayMoments, t_table: jax.Array, t_grid: jax.Array, config: VaeConfig,
           assets: tuple[str, ...]) -> jax.Array:
    """``L [A, A]`` float32, the lower Cholesky factor of the innovations' normal copula (the module doc; the
    identity with ``correlation="none"`` or one asset), from the days `_vae_after.target_moments` sampled.
    Warns (`VaeFitWarning`) where a pair's target is beyond its margins' reach and where making the copula a
    correlation matrix moved a pair by more than `MOVED`."""
    a = moments.uu.shape[0]
    if config.correlation == "none" or a == 1:
        return jnp.eye(a, dtype=jnp.float32)
    target = innovation_target(moments)
    if config.likelihood == "gaussian":
        r, clipped = np.clip(target, -1.0, 1.0), np.abs(target) > 1.0
    else:
        r, clipped = copula_of_pearson(target, hermite_coefficients(np.asarray(t_table), np.asarray(t_grid)))
    repaired = nearest_correlation(r, floor=1e-4)
    _report(clipped, np.abs(repaired - r) > MOVED, assets)
    return jnp.asarray(np.linalg.cholesky(repaired), jnp.float32)


def _pairs(mask: np.ndarray, assets: tuple[str, ...]) -> str:
    i, j = np.nonzero(np.triu(mask, 1))
    shown = [f"{assets[p]}-{assets[q]}" for p, q in zip(i[:5], j[:5], strict=True)]
    return ", ".join(shown) + (f" and {i.size - 5} more" if i.size > 5 else "")


def _report(clipped: np.ndarray, moved: np.ndarray, assets: tuple[str, ...]) -> None:
    if clipped.any():
        warnings.warn(f"the VAE's innovations cannot reach the training days' correlation for {_pairs(clipped, assets)}"
                      ": the decoder's location already co-moves them more (or less) than the history; their copula "
                      "correlation is at its bound", VaeFitWarning, stacklevel=3)
    if moved.any():
        warnings.warn(f"the VAE's targeted innovation correlations were not a correlation matrix; the nearest one "
                      f"moves {_pairs(moved, assets)} by more than {MOVED}", VaeFitWarning, stacklevel=3)

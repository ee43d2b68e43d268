"""Fitting the regime mixture: size check, initialisation, EM restarts, units, labels by volatility, decoding.

Host-side orchestration around the pure JAX functions of `_regime_em`; everything runs in float64 (inside
``jax.enable_x64``, scoped to the call) and returns NumPy float64 arrays.

Units: EM runs on returns standardised per asset (minus the sample mean, over the sample standard
deviation), so that the covariance prior, the eigenvalue floor and the convergence tolerance mean the same
on any data; the parameters are mapped back (``mean = m + s * mean'``, ``scatter = D scatter' D``) and the
log-likelihood is recomputed on the raw returns.

Initialisation: the "volatility" start splits the days into K equal groups by the 21-day centred moving
average of the squared equal-weight return, so regime k starts as the k-th volatility quantile of history
(deterministic; EM then moves the boundaries). Restarts 2..n_init assign 21-day blocks of days to regimes
at random (keys from the fit key), and the restart with the highest likelihood is kept.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import _regime_em as em

__all__ = ["LABELS", "regime_labels", "n_parameters", "min_days", "FitResult", "fit_hmm", "sort_by_volatility",
           "covariance", "filter_history", "decode_arrays", "stationary", "as_float64"]

# Regimes are ordered by the variance of the equal-weight portfolio under each regime, lowest first.
LABELS = {
    1: ("single",),
    2: ("calm", "turbulent"),
    3: ("calm", "normal", "turbulent"),
    4: ("calm", "normal", "elevated", "turbulent"),
    5: ("calm", "quiet", "normal", "elevated", "turbulent"),
}
_INIT_WINDOW = 21  # days: the moving average of the volatility start, and the block of the random starts
_DOF_START = 8.0  # the t's degrees of freedom before the first EM step: daily returns' typical value


def regime_labels(n_regimes: int) -> tuple[str, ...]:
    """The names of `n_regimes` regimes, calmest first."""
    return LABELS[n_regimes]


def n_parameters(n_regimes: int, n_assets: int, student: bool) -> int:
    """Free parameters: start (K-1), transitions K(K-1), per regime a mean, a symmetric scatter and a dof."""
    k, n = n_regimes, n_assets
    return (k - 1) + k * (k - 1) + k * (n + n * (n + 1) // 2 + int(student))


def min_days(n_regimes: int, n_assets: int, student: bool) -> int:
    """The fewest returns a fit accepts: two per free parameter.

    Why two: with the covariance prior nothing becomes singular whatever the length, but below about two
    observations per parameter the regimes are the prior's (the pooled covariance), not the data's, and
    the likelihood has many equally good optima; such a fit would be reported as regimes it did not find.
    """
    return 2 * n_parameters(n_regimes, n_assets, student)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """A fit in natural units (log returns), regimes sorted calm first; arrays NumPy float64."""

    params: em.HmmParams
    loglik: float
    n_iter: int
    converged: bool
    init: int  # which start won (0: the volatility start)
    filtered: np.ndarray  # [T, K] filtered regime probabilities over the fit sample


def _volatility_start(x: np.ndarray, k: int) -> np.ndarray:
    ew2 = x.mean(axis=1) ** 2
    level = np.convolve(ew2, np.ones(_INIT_WINDOW) / _INIT_WINDOW, mode="same")
    rank = np.argsort(np.argsort(level, kind="stable"), kind="stable")
    return np.eye(k)[np.minimum(rank * k // len(level), k - 1)]


def _random_start(n_days: int, k: int, key: jax.Array) -> np.ndarray:
    blocks = -(-n_days // _INIT_WINDOW)
    regime = np.array(jax.random.randint(key, (blocks,), 0, k))  # a writable copy
    regime[:k] = np.arange(k)  # every regime owns at least one block
    return np.eye(k)[np.repeat(regime, _INIT_WINDOW)[:n_days]]


def _initial(x: jax.Array, gamma: np.ndarray, pooled: jax.Array, tau: jax.Array, student: bool) -> em.HmmParams:
    g = jnp.asarray(gamma, x.dtype)
    start, trans, mean, scatter = em.m_step(x, g, g[:-1].T @ g[1:], jnp.ones_like(g), pooled, tau)
    dof = jnp.full(gamma.shape[1], _DOF_START if student else jnp.inf, x.dtype)
    return em.HmmParams(start, trans, mean, scatter, dof)


def covariance(params: em.HmmParams) -> np.ndarray:
    """``[K, N, N]`` covariance of each regime (the scatter times dof / (dof - 2) for Student-t)."""
    dof = np.asarray(params.dof, np.float64)
    finite = np.isfinite(dof)
    factor = np.ones_like(dof)
    factor[finite] = dof[finite] / (dof[finite] - 2.0)
    return np.asarray(params.scatter, np.float64) * factor[:, None, None]


def sort_by_volatility(params: em.HmmParams) -> em.HmmParams:
    """Regimes reordered by the variance of the equal-weight portfolio under each, lowest first."""
    cov = covariance(params)
    order = np.argsort(cov.sum(axis=(1, 2)), kind="stable")  # 1' C 1 / N^2, the same order
    return em.HmmParams(start=params.start[order], trans=params.trans[np.ix_(order, order)],
                        mean=params.mean[order], scatter=params.scatter[order], dof=params.dof[order])


def stationary(trans: np.ndarray) -> np.ndarray:
    """The stationary distribution of a transition matrix (the left eigenvector of eigenvalue 1)."""
    k = trans.shape[0]
    a = np.vstack([trans.T - np.eye(k), np.ones((1, k))])
    b = np.concatenate([np.zeros(k), [1.0]])
    p = np.linalg.lstsq(a, b, rcond=None)[0]
    p = np.clip(p, 0.0, None)
    return p / p.sum()


def as_float64(params: em.HmmParams) -> em.HmmParams:
    """`params` as float64 NumPy arrays (the host-side filters and decoders work in float64)."""
    return jax.tree.map(lambda a: np.asarray(a, np.float64), params)


def filter_history(params: em.HmmParams, r: np.ndarray, student: bool) -> tuple[float, np.ndarray]:
    """(log-likelihood, filtered probabilities ``[T, K]``) of raw returns ``r [T, N]``, float64."""
    with jax.enable_x64(True):
        p = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        ll, alpha = _jit_loglik(p, jnp.asarray(r, jnp.float64), student=student)
        return float(ll), np.asarray(alpha)


def decode_arrays(params: em.HmmParams, r: np.ndarray, student: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Viterbi path ``[T]``, smoothed ``[T, K]``, filtered ``[T, K]``) of raw returns, float64."""
    with jax.enable_x64(True):
        p = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        path, smoothed, filtered = _jit_decode(p, jnp.asarray(r, jnp.float64), student=student)
        return np.asarray(path), np.asarray(smoothed), np.asarray(filtered)


@partial(jax.jit, static_argnames=("student",))
def _jit_loglik(p: em.HmmParams, x: jax.Array, *, student: bool) -> tuple[jax.Array, jax.Array]:
    return em.log_likelihood(p, x, student)


@partial(jax.jit, static_argnames=("student",))
def _jit_decode(p: em.HmmParams, x: jax.Array, *, student: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
    log_b, _ = em.emission_logpdf(p, x, student)
    _, smoothed, _, filtered = em.forward_backward(log_b, p.start, p.trans)
    return em.viterbi(p, x, student), smoothed, filtered


def fit_hmm(r: np.ndarray, *, n_regimes: int, student: bool, prior_days: float, tol: float, max_iter: int,
            n_init: int, dof_min: float, dof_max: float, key: jax.Array, sticky: float = 0.0) -> FitResult:
    """EM from each start (see the module doc); the best by likelihood, in natural units, sorted calm first."""
    r = np.asarray(r, np.float64)
    m, s = r.mean(axis=0), r.std(axis=0)
    z = (r - m) / s
    best = None
    with jax.enable_x64(True):
        x = jnp.asarray(z, jnp.float64)
        pooled = jnp.asarray(np.cov(z, rowvar=False, bias=True).reshape(r.shape[1], r.shape[1]), jnp.float64)
        tau = jnp.asarray(prior_days, jnp.float64)
        for i in range(n_init):
            gamma0 = _volatility_start(z, n_regimes) if i == 0 else \
                _random_start(len(z), n_regimes, jax.random.fold_in(key, i))
            p0 = _initial(x, gamma0, pooled, tau, student)
            p, ll, it, done = em.em(x, p0, pooled, tau, jnp.asarray(tol, jnp.float64), dof_min, dof_max,
                                    jnp.asarray(sticky, jnp.float64),
                                    student=student, max_iter=jnp.int32(max_iter))
            ll = float(ll)
            if best is None or ll > best[1]:
                best = (as_float64(p), ll, int(it), bool(done), i)
    p, _, it, done, init = best
    natural = em.HmmParams(start=p.start, trans=p.trans, mean=m + s * p.mean,
                           scatter=p.scatter * s[None, :, None] * s[None, None, :], dof=p.dof)
    natural = sort_by_volatility(natural)
    loglik, filtered = filter_history(natural, r, student)
    return FitResult(params=natural, loglik=loglik, n_iter=it, converged=done, init=init, filtered=filtered)

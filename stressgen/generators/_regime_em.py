"""The regime mixture's mathematics: emission densities, forward-backward, Viterbi and EM, as pure JAX functions.

Model (`regime` has the generator around it): a hidden Markov chain ``s_t`` on K regimes with initial
distribution ``start [K]`` and transition matrix ``trans [K, K]`` (rows sum to 1), and given ``s_t = k`` the
cross-section of log returns ``x_t [N]`` is multivariate normal ``N(mean_k, scatter_k)`` or multivariate
Student-t ``t_{dof_k}(mean_k, scatter_k)`` (covariance ``dof / (dof - 2) * scatter``).

Every function follows the dtype it is given: the fit runs them in float64 (inside ``jax.enable_x64``),
because the log-likelihood of 8,000 days of 20 assets is a sum of ~5e5 nats whose changes EM must see to
1e-5 per day; float32 would round them away. They hold no state and draw no random numbers.

Forward-backward is the scaled (Rabiner) recursion with ``jax.lax.scan``: each day's emission densities are
divided by their largest value across regimes (so one regime always has density 1 and nothing underflows)
and each forward vector is normalised to sum to 1; the log-likelihood is the sum of the logs of the scales.
Viterbi runs in log space.

EM (Baum-Welch; for t emissions the ECM of McLachlan and Peel, 2000, ch. 7, with the usual latent-scale
weights ``u = (dof + N) / (dof + Mahalanobis distance)``) maximises the likelihood with three guards (the
first two and the start's are proper priors, so EM increases a well-defined penalised objective; the
stickiness step is not a prior: with it EM is a fixed-point iteration, stopped on the change of the plain
log-likelihood, and its monotonicity is not guaranteed):

* covariance: ``scatter_k = (S_k + tau * pooled) / (n_k + tau)``, the posterior mode-like shrinkage of an
  inverse-Wishart prior centred on the pooled covariance with `tau` pseudo-days. A regime that owns few
  days falls back towards the pooled covariance instead of becoming singular; with thousands of days the
  pull is tau / n_k (about 1% for tau = 20 and n_k = 2,000, well inside the sampling error sqrt(2 / n_k)).
  Then an eigenvalue floor (``EIG_FLOOR`` of the pooled average variance) guards against rounding only;
* transitions: ``TRANS_PRIOR`` pseudo-transitions per row, spread evenly, so a row of a regime that owns
  no day stays a distribution (no 0 / 0) and no transition has probability exactly 0; then with
  stickiness c each row's diagonal gets c times the row's count (see `m_step`);
* start: the one observed first day plus one pseudo-day spread evenly (a single sequence cannot estimate
  the initial distribution; the MLE would be a one-hot vector that gives -inf to other first days).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from jax.scipy.special import digamma, gammaln

__all__ = ["HmmParams", "emission_logpdf", "forward_backward", "log_likelihood", "viterbi", "m_step", "em",
           "dof_update", "EIG_FLOOR", "TRANS_PRIOR"]

EIG_FLOOR = 1e-6  # smallest eigenvalue of a scatter matrix, in units of the pooled average variance
TRANS_PRIOR = 1.0  # pseudo-transitions added to each row of the transition counts, spread evenly
_BISECTION_STEPS = 60  # bisection on log(dof) in [log DOF_BRACKET[0], log DOF_BRACKET[1]]: 2^-60 of the range
DOF_BRACKET = (2.05, 1000.0)


@struct.dataclass
class HmmParams:
    """Parameters of the hidden Markov mixture (a pytree; any float dtype).

    Attributes:
        start: ``[K]`` distribution of the first day's regime.
        trans: ``[K, K]`` transition matrix, ``trans[i, j] = P(s_{t+1} = j | s_t = i)``.
        mean: ``[K, N]`` location of each regime.
        scatter: ``[K, N, N]`` scatter matrix (the covariance for Gaussian emissions; for Student-t the
            covariance is ``dof / (dof - 2) * scatter``).
        dof: ``[K]`` degrees of freedom of each regime's t (inf for Gaussian emissions; not read then).
    """

    start: jax.Array
    trans: jax.Array
    mean: jax.Array
    scatter: jax.Array
    dof: jax.Array


def emission_logpdf(params: HmmParams, x: jax.Array, student: bool) -> tuple[jax.Array, jax.Array]:
    """(log density ``[T, K]`` of each day under each regime, Mahalanobis distances ``[T, K]``)."""
    n = x.shape[-1]
    chol = jnp.linalg.cholesky(params.scatter)  # [K, N, N]
    diff = x[None, :, :] - params.mean[:, None, :]  # [K, T, N]
    solve = jax.vmap(lambda c, d: jax.scipy.linalg.solve_triangular(c, d.T, lower=True))
    maha = jnp.sum(solve(chol, diff) ** 2, axis=1).T  # [T, K]
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)  # [K]
    if not student:
        return -0.5 * (n * jnp.log(2.0 * jnp.pi) + maha) - half_logdet, maha
    nu = params.dof
    const = gammaln((nu + n) / 2.0) - gammaln(nu / 2.0) - 0.5 * n * jnp.log(nu * jnp.pi) - half_logdet
    return const - 0.5 * (nu + n) * jnp.log1p(maha / nu), maha


def _scaled(log_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(densities divided by each day's largest ``[T, K]``, the log of that largest ``[T]``)."""
    top = jnp.max(log_b, axis=1)
    return jnp.exp(log_b - top[:, None]), top


def _forward(b: jax.Array, start: jax.Array, trans: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(filtered probabilities ``[T, K]``, scales ``[T]``) of the scaled forward recursion."""
    a0 = start * b[0]
    c0 = jnp.sum(a0)

    def step(alpha, bt):
        a = (alpha @ trans) * bt
        c = jnp.sum(a)
        return a / c, (a / c, c)

    _, (alpha, c) = jax.lax.scan(step, a0 / c0, b[1:])
    return jnp.concatenate([(a0 / c0)[None], alpha]), jnp.concatenate([c0[None], c])


def forward_backward(log_b: jax.Array, start: jax.Array,
                     trans: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(log-likelihood, smoothed ``[T, K]``, expected transition counts ``[K, K]``, filtered ``[T, K]``)."""
    b, top = _scaled(log_b)
    alpha, c = _forward(b, start, trans)

    def step(beta, inputs):
        bt, ct = inputs
        beta = trans @ (bt * beta) / ct
        return beta, beta

    ones = jnp.ones_like(start)
    _, beta = jax.lax.scan(step, ones, (b[1:], c[1:]), reverse=True)
    beta = jnp.concatenate([beta, ones[None]])
    gamma = alpha * beta
    gamma = gamma / jnp.sum(gamma, axis=1, keepdims=True)  # exact in theory; renormalised against rounding
    xi_sum = trans * (alpha[:-1].T @ (b[1:] * beta[1:] / c[1:, None]))
    return jnp.sum(jnp.log(c)) + jnp.sum(top), gamma, xi_sum, alpha


def log_likelihood(params: HmmParams, x: jax.Array, student: bool) -> tuple[jax.Array, jax.Array]:
    """(log-likelihood of ``x [T, N]``, filtered regime probabilities ``[T, K]``), by the forward pass only."""
    log_b, _ = emission_logpdf(params, x, student)
    b, top = _scaled(log_b)
    alpha, c = _forward(b, params.start, params.trans)
    return jnp.sum(jnp.log(c)) + jnp.sum(top), alpha


def viterbi(params: HmmParams, x: jax.Array, student: bool) -> jax.Array:
    """The most likely regime path ``[T]`` (int32), in log space."""
    log_b, _ = emission_logpdf(params, x, student)
    log_trans = jnp.log(params.trans)

    def step(delta, lb):
        scores = delta[:, None] + log_trans  # [from, to]
        return jnp.max(scores, axis=0) + lb, jnp.argmax(scores, axis=0).astype(jnp.int32)

    delta, back = jax.lax.scan(step, jnp.log(params.start) + log_b[0], log_b[1:])
    last = jnp.argmax(delta).astype(jnp.int32)

    def trace(s, pointers):  # back[t][s_{t+1}] is s_t
        prev = pointers[s]
        return prev, prev

    _, path = jax.lax.scan(trace, last, back, reverse=True)
    return jnp.concatenate([path, last[None]])


def dof_update(gamma: jax.Array, u: jax.Array, dof: jax.Array, n_assets: int, dof_min: float,
               dof_max: float) -> jax.Array:
    """The ECM step for the degrees of freedom ``[K]`` (McLachlan and Peel, 2000, eq. 7.41), by bisection.

    Solves ``log(v/2) - digamma(v/2) = -c`` with ``c = 1 + sum(g * (log u - u)) / sum(g) +
    digamma((dof + N)/2) - log((dof + N)/2)`` at the current `dof`; the left side decreases from +inf to 0,
    so the root is unique (when -c <= 0 the data are no heavier-tailed than normal and the cap is taken).
    """
    nk = jnp.maximum(jnp.sum(gamma, axis=0), 1e-300)
    half = (dof + n_assets) / 2.0
    target = -(1.0 + jnp.sum(gamma * (jnp.log(u) - u), axis=0) / nk + digamma(half) - jnp.log(half))
    lo = jnp.full_like(dof, jnp.log(DOF_BRACKET[0]))
    hi = jnp.full_like(dof, jnp.log(DOF_BRACKET[1]))

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        v = jnp.exp(mid) / 2.0
        above = jnp.log(v) - digamma(v) > target  # the root is above mid
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECTION_STEPS, bisect, (lo, hi))
    return jnp.clip(jnp.exp(0.5 * (lo + hi)), dof_min, dof_max)


def _floor_eigenvalues(scatter: jax.Array, floor: jax.Array) -> jax.Array:
    """Each ``[N, N]`` matrix with its eigenvalues raised to at least `floor` (and made exactly symmetric)."""
    sym = 0.5 * (scatter + jnp.swapaxes(scatter, -1, -2))
    w, v = jnp.linalg.eigh(sym)
    fixed = (v * jnp.maximum(w, floor)[..., None, :]) @ jnp.swapaxes(v, -1, -2)
    return 0.5 * (fixed + jnp.swapaxes(fixed, -1, -2))


def m_step(x: jax.Array, gamma: jax.Array, xi_sum: jax.Array, u: jax.Array, pooled: jax.Array,
           tau: jax.Array, sticky: jax.Array | float = 0.0) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(start, trans, mean, scatter) from the smoothed probabilities and the latent-scale weights `u` ``[T, K]``
    (ones for Gaussian emissions), with the priors of the module doc."""
    k = gamma.shape[1]
    nk = jnp.sum(gamma, axis=0)  # [K] days owned by each regime
    w = gamma * u
    mean = (w.T @ x) / jnp.maximum(jnp.sum(w, axis=0), 1e-300)[:, None]
    diff = x[None, :, :] - mean[:, None, :]  # [K, T, N]
    s = jnp.einsum("tk,kti,ktj->kij", w, diff, diff)
    scatter = (s + tau * pooled[None]) / (nk + tau)[:, None, None]
    scatter = _floor_eigenvalues(scatter, EIG_FLOOR * jnp.trace(pooled) / pooled.shape[0])
    counts = xi_sum + TRANS_PRIOR / k
    rows = jnp.sum(counts, axis=1, keepdims=True)
    # stickiness c: c times each row's own count added to its diagonal, so trans = (P + c I) / (1 + c) with P
    # the plain estimate: every expected stay is (1 + c) times longer and the stationary law is P's, exactly
    trans = (counts + sticky * rows * jnp.eye(k, dtype=xi_sum.dtype)) / ((1.0 + sticky) * rows)
    start = (gamma[0] + 1.0 / k) / 2.0
    return start, trans, mean, scatter


def _latent_weights(params: HmmParams, maha: jax.Array, n_assets: int, student: bool) -> jax.Array:
    if not student:
        return jnp.ones_like(maha)
    return (params.dof + n_assets) / (params.dof + maha)


@partial(jax.jit, static_argnames=("student",))
def em(x: jax.Array, params: HmmParams, pooled: jax.Array, tau: jax.Array, tol: jax.Array, dof_min: float,
       dof_max: float, sticky: jax.Array | float = 0.0, *, student: bool,
       max_iter: jax.Array | int) -> tuple[HmmParams, jax.Array, jax.Array, jax.Array]:
    """EM from `params` until the log-likelihood gains less than `tol` nats per day, or `max_iter` steps.

    Returns (params, log-likelihood of the returned params, iterations, converged). Every option is data,
    not program structure (only `student` is static), so another config does not compile again.
    """
    n_days, n_assets = x.shape
    floor_dof = jnp.asarray(dof_min, x.dtype)
    cap_dof = jnp.asarray(dof_max, x.dtype)

    def e_step(p):
        log_b, maha = emission_logpdf(p, x, student)
        ll, gamma, xi_sum, _ = forward_backward(log_b, p.start, p.trans)
        return ll, gamma, xi_sum, maha

    def body(state):
        it, p, ll_prev, _, _ = state
        ll, gamma, xi_sum, maha = e_step(p)
        u = _latent_weights(p, maha, n_assets, student)
        start, trans, mean, scatter = m_step(x, gamma, xi_sum, u, pooled, tau, sticky)
        dof = dof_update(gamma, u, p.dof, n_assets, floor_dof, cap_dof) if student else p.dof
        finite = jnp.isfinite(ll)
        new = HmmParams(start, trans, mean, scatter, dof)
        # a non-finite step (it cannot happen with the priors; a guard, not a path) keeps the last good params
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, p)
        done = jnp.abs(ll - ll_prev) < tol * n_days
        return it + 1, new, ll, done, finite

    def cond(state):
        it, _, _, done, finite = state
        return (it < max_iter) & ~done & finite

    inf = jnp.asarray(jnp.inf, x.dtype)
    state = (jnp.int32(0), params, -inf, jnp.array(False), jnp.array(True))
    it, params, _, done, _ = jax.lax.while_loop(cond, body, state)
    return params, e_step(params)[0], it, done

"""Causal running-state indicators: pure ``init``/``update`` pairs for the time loop, and array equivalents.

Every helper is written for one world and one time step; the engine vmaps it over worlds (and parameter
sets) inside its fused time-major loop, so the state is a few ``[worlds, ...]`` vectors and nothing of size
``[worlds, time]`` is ever built. Window lengths may be traced (gridded) as long as the ring buffer has a
static ``capacity >= window``.

Conventions: before a window is full, rolling statistics use the observations seen so far (``ready`` says
when the window is full); standard deviations use ``ddof=1``. The array equivalents (``*_array``) run the
very same update with `lax.scan`, so the two tiers agree exactly and the arrays are causal by construction.
Cross-sectional helpers (`cs_rank`, `top_k_mask`) are stateless functions of one row.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "Ring", "ring_init", "ring_push", "ring_get",
    "Rolling", "rolling_init", "rolling_update", "rolling_mean", "rolling_std", "rolling_zscore", "ready",
    "Ewma", "ewma_init", "ewma_update", "ewma_std", "span_to_alpha",
    "momentum",
    "RollingCov", "rolling_cov_init", "rolling_cov_update", "rolling_cov",
    "cs_rank", "top_k_mask",
    "rolling_mean_array", "rolling_std_array", "rolling_zscore_array", "ewma_mean_array", "ewma_std_array",
    "momentum_array", "rolling_cov_array",
]


# ----------------------------------------------------------------------------------------------- ring buffer
class Ring(NamedTuple):
    """The last ``capacity`` observations. ``buf[count % capacity]`` is the next slot to write."""

    buf: jax.Array
    count: jax.Array


def ring_init(shape: tuple[int, ...], capacity: int, dtype=jnp.float32) -> Ring:
    return Ring(jnp.zeros((int(capacity),) + tuple(shape), dtype), jnp.zeros((), jnp.int32))


def ring_push(ring: Ring, x: jax.Array) -> Ring:
    cap = ring.buf.shape[0]
    # The slot index depends only on the step count, which is the same for every world, so under vmap this
    # stays a dynamic_update_slice (in place in the loop carry), not a scatter.
    return Ring(lax.dynamic_update_index_in_dim(ring.buf, x.astype(ring.buf.dtype), ring.count % cap, 0),
                ring.count + 1)


def ring_get(ring: Ring, k: jax.Array | int) -> jax.Array:
    """The observation pushed ``k`` pushes ago (``k = 0`` is the latest); valid when ``count > k``."""
    cap = ring.buf.shape[0]
    return lax.dynamic_index_in_dim(ring.buf, (ring.count - 1 - k) % cap, 0, keepdims=False)


def momentum(ring: Ring, lookback: jax.Array | int, skip: jax.Array | int = 0) -> jax.Array:
    """``x[t - skip] - x[t - lookback]`` from a ring of log prices (capacity > lookback): the log return
    from ``lookback`` days ago to ``skip`` days ago, e.g. 12-1 momentum is ``lookback=252, skip=21``."""
    return ring_get(ring, skip) - ring_get(ring, lookback)


# ------------------------------------------------------------------------------------- rolling mean and std
class Rolling(NamedTuple):
    """Rolling sums over a window. Sums are of ``x - shift`` (``shift`` = first observation) so that price
    levels do not swamp the variance in float32."""

    ring: Ring
    shift: jax.Array
    s: jax.Array
    ss: jax.Array


def rolling_init(shape: tuple[int, ...], capacity: int, dtype=jnp.float32) -> Rolling:
    z = jnp.zeros(shape, dtype)
    return Rolling(ring_init(shape, capacity, dtype), z, z, z)


def rolling_update(st: Rolling, x: jax.Array, window: jax.Array | int) -> Rolling:
    x = x.astype(st.s.dtype)
    shift = jnp.where(st.ring.count == 0, x, st.shift)
    # The observation leaving the window (pushed `window` steps ago) is read before the slot is overwritten.
    leaving = st.ring.count >= window
    old = jnp.where(leaving, ring_get(st.ring, window - 1) - shift, 0.0)
    new = x - shift
    return Rolling(ring_push(st.ring, x), shift, st.s + new - old, st.ss + new * new - old * old)


def _n(st: Rolling, window):
    return jnp.minimum(st.ring.count, window).astype(st.s.dtype)


def ready(st: Rolling | RollingCov, window: jax.Array | int) -> jax.Array:
    """True once ``window`` observations have been seen."""
    ring = st.ring
    return ring.count >= window


def rolling_mean(st: Rolling, window: jax.Array | int) -> jax.Array:
    return st.shift + st.s / jnp.maximum(_n(st, window), 1.0)


def rolling_std(st: Rolling, window: jax.Array | int) -> jax.Array:
    n = _n(st, window)
    var = (st.ss - st.s * st.s / jnp.maximum(n, 1.0)) / jnp.maximum(n - 1.0, 1.0)
    # clamp: rounding can make an exact zero slightly negative; fewer than two observations have no spread
    return jnp.where(n >= 2, jnp.sqrt(jnp.maximum(var, 0.0)), 0.0)


def rolling_zscore(st: Rolling, x: jax.Array, window: jax.Array | int, eps: float = 1e-12) -> jax.Array:
    """``(x - mean) / std`` over the window (which includes x when `st` was updated with it)."""
    return (x - rolling_mean(st, window)) / (rolling_std(st, window) + eps)


# ---------------------------------------------------------------------------------------------------- EWMA
class Ewma(NamedTuple):
    """Exponentially weighted mean and variance; the first observation initialises the mean."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def span_to_alpha(span):
    """pandas' convention: ``alpha = 2 / (span + 1)``."""
    return 2.0 / (span + 1.0)


def ewma_init(shape: tuple[int, ...], dtype=jnp.float32) -> Ewma:
    z = jnp.zeros(shape, dtype)
    return Ewma(z, z, jnp.zeros((), jnp.int32))


def ewma_update(st: Ewma, x: jax.Array, alpha: jax.Array | float) -> Ewma:
    """``mean += alpha (x - mean)``; ``var = (1 - alpha) (var + alpha (x - mean_prev)^2)`` (West 1979)."""
    x = x.astype(st.mean.dtype)
    first = st.count == 0
    d = x - st.mean
    mean = jnp.where(first, x, st.mean + alpha * d)
    var = jnp.where(first, 0.0, (1.0 - alpha) * (st.var + alpha * d * d))
    return Ewma(mean, var, st.count + 1)


def ewma_std(st: Ewma) -> jax.Array:
    return jnp.sqrt(st.var)


# ---------------------------------------------------------------------------------------- rolling covariance
class RollingCov(NamedTuple):
    ring: Ring
    s: jax.Array
    sxx: jax.Array


def rolling_cov_init(n_assets: int, capacity: int, dtype=jnp.float32) -> RollingCov:
    return RollingCov(ring_init((n_assets,), capacity, dtype), jnp.zeros((n_assets,), dtype),
                      jnp.zeros((n_assets, n_assets), dtype))


def rolling_cov_update(st: RollingCov, x: jax.Array, window: jax.Array | int) -> RollingCov:
    x = x.astype(st.s.dtype)
    old = jnp.where(st.ring.count >= window, ring_get(st.ring, window - 1), 0.0)
    return RollingCov(ring_push(st.ring, x), st.s + x - old, st.sxx + jnp.outer(x, x) - jnp.outer(old, old))


def rolling_cov(st: RollingCov, window: jax.Array | int) -> jax.Array:
    """``[assets, assets]`` sample covariance (ddof=1) over the window."""
    n = jnp.minimum(st.ring.count, window).astype(st.s.dtype)
    mean = st.s / jnp.maximum(n, 1.0)
    return (st.sxx - n * jnp.outer(mean, mean)) / jnp.maximum(n - 1.0, 1.0)


# ------------------------------------------------------------------------------------------ cross-section
def cs_rank(x: jax.Array) -> jax.Array:
    """Rank of each asset within the row, 0 = smallest, ties broken by asset order (float, same dtype)."""
    return jnp.argsort(jnp.argsort(x, stable=True), stable=True).astype(x.dtype)


def top_k_mask(x: jax.Array, k: jax.Array | int) -> jax.Array:
    """True for the k largest entries of the row (ties broken in favour of the later asset)."""
    return cs_rank(x) >= x.shape[-1] - k


# ------------------------------------------------------------------------------- array (vectorized) tier
def _scan(init, update, value, x):
    def body(st, xt):
        st = update(st, xt)
        return st, value(st, xt)

    return lax.scan(body, init, x)[1]


def rolling_mean_array(x: jax.Array, window, capacity: int | None = None) -> jax.Array:
    """``[time, ...]`` rolling mean, row t from rows ``t-window+1 .. t``."""
    cap = capacity or int(window)
    return _scan(rolling_init(x.shape[1:], cap, x.dtype), lambda s, v: rolling_update(s, v, window),
                 lambda s, v: rolling_mean(s, window), x)


def rolling_std_array(x: jax.Array, window, capacity: int | None = None) -> jax.Array:
    cap = capacity or int(window)
    return _scan(rolling_init(x.shape[1:], cap, x.dtype), lambda s, v: rolling_update(s, v, window),
                 lambda s, v: rolling_std(s, window), x)


def rolling_zscore_array(x: jax.Array, window, capacity: int | None = None) -> jax.Array:
    cap = capacity or int(window)
    return _scan(rolling_init(x.shape[1:], cap, x.dtype), lambda s, v: rolling_update(s, v, window),
                 lambda s, v: rolling_zscore(s, v, window), x)


def ewma_mean_array(x: jax.Array, alpha) -> jax.Array:
    return _scan(ewma_init(x.shape[1:], x.dtype), lambda s, v: ewma_update(s, v, alpha), lambda s, v: s.mean, x)


def ewma_std_array(x: jax.Array, alpha) -> jax.Array:
    return _scan(ewma_init(x.shape[1:], x.dtype), lambda s, v: ewma_update(s, v, alpha),
                 lambda s, v: ewma_std(s), x)


def momentum_array(log_prices: jax.Array, lookback, skip=0, capacity: int | None = None) -> jax.Array:
    """``[time, ...]`` ``lp[t - skip] - lp[t - lookback]``; rows ``t < lookback`` are 0 (not ready)."""
    cap = capacity or int(lookback) + 1
    return _scan(ring_init(log_prices.shape[1:], cap, log_prices.dtype), ring_push,
                 lambda r, v: jnp.where(r.count > lookback, momentum(r, lookback, skip), 0.0), log_prices)


def rolling_cov_array(x: jax.Array, window, capacity: int | None = None) -> jax.Array:
    """``[time, assets, assets]`` rolling covariance of ``x[time, assets]``."""
    cap = capacity or int(window)
    return _scan(rolling_cov_init(x.shape[1], cap, x.dtype), lambda s, v: rolling_cov_update(s, v, window),
                 lambda s, v: rolling_cov(s, window), x)

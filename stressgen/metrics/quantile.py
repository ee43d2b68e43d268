"""Weighted order statistics: the one quantile definition, the one VaR/ES definition, weighted ranks.

Every quantile in stressgen (per-world daily VaR, cross-world quantiles of metrics, VaR/ES across worlds,
bootstrap percentile intervals) goes through `weighted_quantile`, so there is exactly one convention:

* **Quantile** ``Q(q)`` of values ``x_i`` with weights ``w_i >= 0`` (normalised to sum to 1) is the inverse
  of the weighted empirical CDF, ``Q(q) = min{x : F(x) >= q}`` with ``F(x) = sum_{x_i <= x} w_i``.
  With uniform weights this is numpy's ``method="inverted_cdf"`` (Hyndman & Fan type 1): the
  ``ceil(q n)``-th smallest value. With integer weights it equals the unweighted quantile of the sample in
  which row i is repeated ``w_i`` times. No interpolation: every quantile is one of the observed values.
* **VaR** at confidence ``c`` (tail probability ``a = 1 - c``) of returns is ``-Q(a)``: a positive number is
  a loss.
* **ES** at confidence ``c`` is ``-E_w[x | x <= Q(a)]``: minus the weighted mean of the returns at or below
  the VaR quantile (ties at the quantile included). With uniform weights and no tie at ``Q(a)`` this is
  the mean of the ``ceil(a n)`` lowest returns. ``ES >= VaR`` always.
* **Percentile rank** of a value v: ``100 * (sum_{x_i < v} w_i + 0.5 * sum_{x_i == v} w_i)``; ties count half.

Missing values: a NaN ``x_i`` is dropped (its weight set to 0 before normalising). If every value is NaN,
the result is NaN. All functions are pure ``jax.numpy`` and jittable; shapes are static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# The float32 slack of every inverted-CDF comparison (its reason: stressgen.numerics.CDF_SLACK); shared with
# the risk definitions in stressgen.metrics.risk, which count tail sizes with it.
from ..numerics import CDF_SLACK as _CDF_SLACK

__all__ = ["weighted_mean", "weighted_quantile", "tail_risk", "percentile_rank", "normalise_weights"]


def normalise_weights(w: jax.Array | None, n: int, dtype=jnp.float32) -> jax.Array:
    """``[n]`` non-negative weights summing to 1; uniform when `w` is None."""
    if w is None:
        return jnp.full((n,), 1.0 / n, dtype=dtype)
    w = jnp.asarray(w, dtype=dtype)
    return w / jnp.sum(w)


def _drop_nan(x: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Zero the weight of NaN values (and replace them by +inf so that they sort last, out of the way)."""
    bad = jnp.isnan(x)
    return jnp.where(bad, jnp.inf, x), jnp.where(bad, 0.0, w)


def weighted_mean(x: jax.Array, w: jax.Array | None = None) -> jax.Array:
    """Weighted mean over the first axis of ``x[worlds, ...]``, NaN values dropped (NaN if all are)."""
    x = jnp.asarray(x)
    w = normalise_weights(w, x.shape[0], x.dtype)
    w = jnp.broadcast_to(w.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    x, w = _drop_nan(x, w)
    total = jnp.sum(w, axis=0)
    return jnp.sum(jnp.where(w > 0, w * x, 0.0), axis=0) / total


def _sorted(x: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(sorted x, sorted w, cdf)`` of one column, NaN values dropped."""
    x, w = _drop_nan(x, w)
    order = jnp.argsort(x)
    ws = w[order]
    return x[order], ws, jnp.cumsum(ws)


def _quantile_sorted(xs: jax.Array, ws: jax.Array, cdf: jax.Array, q: jax.Array) -> jax.Array:
    """Inverted-CDF quantiles ``[k]`` at ``q[k]`` of one sorted column."""
    total = cdf[-1]
    # First sorted index whose CDF reaches q (within the float32 slack, see _CDF_SLACK). searchsorted on a
    # monotone CDF finds it; clip protects q = 1 against a total rounded a hair below the target.
    idx = jnp.clip(jnp.searchsorted(cdf, q * total * (1.0 - _CDF_SLACK), side="left"), 0, xs.shape[0] - 1)
    # q = 0: smallest value carrying weight (zero-weight values below it are not part of the distribution)
    out = jnp.where(q <= 0, xs[jnp.argmax(ws > 0)], xs[idx])
    return jnp.where(total > 0, out, jnp.nan)


def _quantile_1d(x: jax.Array, w: jax.Array, q: jax.Array) -> jax.Array:
    return _quantile_sorted(*_sorted(x, w), q)


def weighted_quantile(x: jax.Array, q, w: jax.Array | None = None) -> jax.Array:
    """Weighted inverted-CDF quantiles of ``x[worlds]`` (or of each column of ``x[worlds, k]``).

    Args:
        x: ``[worlds]`` or ``[worlds, k]`` values.
        q: scalar or ``[m]`` probabilities in [0, 1].
        w: ``[worlds]`` non-negative weights (need not sum to 1) or None for uniform.

    Returns:
        ``q.shape + x.shape[1:]``: ``Q(q) = min{x : F_w(x) >= q}`` for each column.
    """
    x = jnp.asarray(x)
    w = normalise_weights(w, x.shape[0], x.dtype)
    q = jnp.asarray(q, dtype=x.dtype)
    flat_q = q.reshape(-1)
    if x.ndim == 1:
        return _quantile_1d(x, w, flat_q).reshape(q.shape)
    cols = jax.vmap(_quantile_1d, in_axes=(1, None, None), out_axes=1)(x.reshape(x.shape[0], -1), w, flat_q)
    return cols.reshape(q.shape + x.shape[1:])


def _tails_1d(x: jax.Array, w: jax.Array, alphas: jax.Array) -> tuple[jax.Array, jax.Array]:
    xs, ws, cdf = _sorted(x, w)
    qa = _quantile_sorted(xs, ws, cdf, alphas)  # [levels]
    tail = jnp.where(xs[None, :] <= qa[:, None], ws[None, :], 0.0)  # [levels, n]
    es = jnp.sum(jnp.where(tail > 0, tail * xs[None, :], 0.0), axis=-1) / jnp.sum(tail, axis=-1)
    return -qa, -es


def tail_risk(x: jax.Array, confidence, w: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Historical ``(VaR, ES)`` of returns at `confidence` (e.g. 0.95 or ``[0.95, 0.99]``); losses positive.

    ``VaR = -Q(1 - confidence)`` and ``ES = -E_w[x | x <= Q(1 - confidence)]`` (module docstring). `x` is
    ``[worlds]`` or ``[worlds, k]`` (one sort per column for all levels); each result has shape
    ``confidence.shape + x.shape[1:]``.
    """
    x = jnp.asarray(x)
    w = normalise_weights(w, x.shape[0], x.dtype)
    conf = np.asarray(confidence, np.float64)
    # 1 - 0.95 in float64, then rounded: in float32 it would come out a hair low
    alphas = jnp.asarray((1.0 - conf).reshape(-1), x.dtype)
    if x.ndim == 1:
        var, es = _tails_1d(x, w, alphas)
        return var.reshape(conf.shape), es.reshape(conf.shape)
    var, es = jax.vmap(_tails_1d, in_axes=(1, None, None), out_axes=1)(x.reshape(x.shape[0], -1), w, alphas)
    return var.reshape(conf.shape + x.shape[1:]), es.reshape(conf.shape + x.shape[1:])


def percentile_rank(x: jax.Array, value, w: jax.Array | None = None) -> jax.Array:
    """Weighted percentile (0..100) of `value` among ``x[worlds]``: share below plus half the share equal."""
    x = jnp.asarray(x)
    w = normalise_weights(w, x.shape[0], x.dtype)
    x, w = _drop_nan(x, w)
    value = jnp.asarray(value, x.dtype)
    below = jnp.sum(jnp.where(x < value, w, 0.0))
    equal = jnp.sum(jnp.where(x == value, w, 0.0))
    return 100.0 * (below + 0.5 * equal) / jnp.sum(w)

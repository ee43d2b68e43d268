"""The VAE's two steps after training: the conditional prior p(z | past) refitted to the encoder, in closed
form, and the mean and variance of the sampled days targeted.

Why. Sampling draws z from the conditional prior; training fits the decoder with z from the posterior
q(z | window, past), and learns the prior alongside through the KL term. Early stopping ends a fit after a
few hundred steps, before the two agree, and the worlds inherit the gap. Fitted on sp500-20 (measured before
the decoder's outputs were centred, `_vae_nn.VaeNet.decode_raw`), the decoder's location at z from the prior
averaged -0.074 (standardized units per day; -0.112 on the validation windows) against +0.022 at the
posterior's z and +0.025 in the data: a drift of about -25% a year in every world. The mean square of a day
in the variance prior's units was 1.19 at the prior's z (0.99 at the posterior's): with a persistent variance
prior whose state the worlds' own days feed, that turned a stationary GARCH into an explosive one (worlds
rising from 18% to 26% volatility over a year).

1. `refit_latent_prior`: with the encoder and decoder fixed, the conditional prior that minimises the mean
   KL(q || p) over the training windows, among priors with a mean linear in the conditioner's features and a
   constant diagonal variance: the mean is the least-squares regression of the posterior means on the
   features (with an intercept), the variance the mean of the posterior variances plus the squared
   residuals. It is the KL term's own optimum, found exactly instead of by the steps early stopping cut
   short. The decoder's outputs are centred at the prior's mean, so the refit also moves what each z decodes
   to; step 2 re-targets the two moments the worlds depend on after it.
2. `target_moments`: a per-asset shift of the log-scale so that a day's mean square in the prior's units is
   1 at z from the (refitted) prior, GARCH's variance targeting applied to the model as it is sampled; and
   the drift set so that the sampled days' mean is the real training days' mean.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import _vae_nn as nn
from ._vae_data import Prepared, gather_windows

if TYPE_CHECKING:
    from .vae import VaeConfig

__all__ = ["refit_latent_prior", "target_moments", "DayMoments", "RIDGE", "BATCH"]

RIDGE = 1e-6  # relative ridge on the regression's normal equations: a rank-deficient feature set stays solvable
BATCH = 512  # windows per pass: memory stays bounded on long histories and wide universes


def _batches(starts: np.ndarray):
    """Fixed-size batches of `starts` (the last padded with its own last start) and each one's real size, so
    that every pass runs one compiled shape."""
    for i in range(0, starts.size, BATCH):
        part = starts[i:i + BATCH]
        yield jnp.asarray(np.concatenate([part, np.full(BATCH - part.size, part[-1])])), part.size


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _posterior(state, data: Prepared, starts: jax.Array, *, graphdef, config):
    net = nnx.merge(graphdef, state)
    win, ctx, log_v = gather_windows(data, starts, config)
    h = net.condition(ctx, log_v[:, 0], data.prior)
    mu, log_var = net.encode(win, h)
    return h, mu, log_var


def refit_latent_prior(graphdef, state: Any, data: Prepared, starts: np.ndarray, config: VaeConfig) -> Any:
    """`state` with the conditional prior's layer replaced by the KL-optimal one over the windows starting at
    `starts` (the module doc, step 1). The regression runs on the host in float64."""
    parts = [[np.asarray(a, np.float64)[:n] for a in _posterior(state, data, b, graphdef=graphdef, config=config)]
             for b, n in _batches(np.asarray(starts))]
    h, mu, log_var = (np.concatenate(a) for a in zip(*parts, strict=True))
    features = np.concatenate([h, np.ones((h.shape[0], 1))], axis=1)
    gram = features.T @ features
    gram[np.diag_indices_from(gram)] += RIDGE * np.trace(gram) / gram.shape[0]
    coef = np.linalg.solve(gram, features.T @ mu)  # [hidden + 1, latent]
    residual = mu - features @ coef
    log_var_p = np.log(np.mean(np.exp(log_var) + residual ** 2, axis=0))
    net = nnx.merge(graphdef, state)
    latent = mu.shape[1]
    kernel = np.zeros(net.prior.kernel.shape, np.float32)
    kernel[:, :latent] = coef[:-1]
    bias = np.concatenate([coef[-1], log_var_p]).astype(np.float32)
    net.prior.kernel[...] = jnp.asarray(kernel)
    net.prior.bias[...] = jnp.asarray(bias)
    return nnx.state(net)


class DayMoments(NamedTuple):
    """Sums over the days `target_moments` samples, in standardized units before its shift: the day's
    location less the drift, ``u = shock e^b``, its scale ``v = e^(b + raw)`` (b the prior's log-scale), and the
    real days ``x``. `_vae_copula` targets the innovations' correlation with them; float64, on the host."""

    days: int
    u: np.ndarray  # [A]
    x: np.ndarray  # [A]
    uu: np.ndarray  # [A, A]
    vv: np.ndarray  # [A, A]
    xx: np.ndarray  # [A, A]


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _sampled_sums(state, data: Prepared, starts: jax.Array, n: jax.Array, key: jax.Array, *, graphdef, config):
    """Per asset, over the first `n` windows of `starts` and their days: the sums of a day's mean square in
    the prior's units, of its shock in standardized units (the shock times the prior's scale) and of the
    real days; and the cross-products of `DayMoments` (one pass and one program for both steps, so the copula
    and the variance targeting see the same draws of z)."""
    net = nnx.merge(graphdef, state)
    win, ctx, log_v = gather_windows(data, starts, config)
    h = net.condition(ctx, log_v[:, 0], data.prior)
    noise = jax.random.normal(key, (starts.shape[0], net.prior.out_features // 2))
    shock, raw = net.decode_raw(net.sample_latent(h, noise), h)
    keep = (jnp.arange(starts.shape[0]) < n)[:, None, None]
    base = jnp.exp(nn.prior_log_scale(data.prior, log_v))  # the prior's scale before each day
    u, v, x = (jnp.where(keep, a, 0.0).reshape(-1, a.shape[-1]) for a in (shock * base, jnp.exp(raw) * base, win))
    return (jnp.sum(jnp.where(keep, shock * shock + jnp.exp(2.0 * raw), 0.0), axis=(0, 1)),
            jnp.sum(jnp.where(keep, shock * base, 0.0), axis=(0, 1)), jnp.sum(jnp.where(keep, win, 0.0), axis=(0, 1)),
            u.T @ u, v.T @ v, x.T @ x)


def target_moments(graphdef, state: Any, data: Prepared, starts: np.ndarray, key: jax.Array,
                   config: VaeConfig) -> tuple[Any, jax.Array, DayMoments]:
    """``(state, level, moments)``: the drift and the log-scale shift ``level [A]`` (the module doc, step 2)
    that give the days sampled at z from the conditional prior, over the windows starting at `starts` (one z
    per window), a mean square of 1 in the variance prior's units (``shock^2 + e^(2 raw)``: the innovations
    have unit variance) and the real days' mean; and those days' `DayMoments`."""
    sums = [jnp.zeros(data.x.shape[1]) for _ in range(3)]
    cross = [np.zeros((data.x.shape[1],) * 2) for _ in range(3)]
    for i, (b, n) in enumerate(_batches(np.asarray(starts))):
        *part, uu, vv, xx = _sampled_sums(state, data, b, jnp.asarray(n), jax.random.fold_in(key, i),
                                          graphdef=graphdef, config=config)
        sums = [a + p for a, p in zip(sums, part, strict=True)]
        cross = [a + np.asarray(p, np.float64) for a, p in zip(cross, (uu, vv, xx), strict=True)]
    days = len(starts) * config.window
    square, shock, real = (a / days for a in sums)
    level = -0.5 * jnp.log(square)
    net = nnx.merge(graphdef, state)
    net.drift[...] = real - jnp.exp(level) * shock
    moments = DayMoments(days, np.asarray(sums[1], np.float64), np.asarray(sums[2], np.float64), *cross)
    return nnx.state(net), level, moments

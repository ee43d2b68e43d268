"""The VAE's two steps after training: the conditional prior p(z | past) refitted to the encoder, in closed
form, and the sampled variance targeted at the variance prior's.

Why. Sampling draws z from the conditional prior; training fits the decoder with z from the posterior
q(z | window, past), and learns the prior alongside through the KL term. Early stopping ends a fit after a
few hundred steps, before the two agree, and the worlds inherit the gap. Fitted on sp500-20, the decoder's
location at z from the prior averaged -0.074 (standardized units per day; -0.112 on the validation windows)
against +0.022 at the posterior's z and +0.025 in the data: a drift of about -25% a year in every world. The
mean square of a day in the variance prior's units was 1.19 at the prior's z (0.99 at the posterior's):
with a persistent variance prior whose state the worlds' own days feed, that turned a stationary GARCH into
an explosive one (worlds rising from 18% to 26% volatility over a year).

1. `refit_latent_prior`: with the encoder and decoder fixed, the conditional prior that minimises the mean
   KL(q || p) over the training windows, among priors with a mean linear in the conditioner's features and a
   constant diagonal variance: the mean is the least-squares regression of the posterior means on the
   features (with an intercept), the variance the mean of the posterior variances plus the squared
   residuals. This is the training objective's own optimum for the prior (the reconstruction term does not
   involve it), found exactly instead of by the steps early stopping cut short.
2. `variance_level`: the remaining gap, from the decoder's nonlinearity, closed by a per-asset shift of the
   log-scale so that the mean square of a day in the prior's units is 1 at z from the (refitted) prior:
   GARCH's variance targeting applied to the model as it is sampled.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._vae_data import Prepared, gather_windows

if TYPE_CHECKING:
    from .vae import VaeConfig

__all__ = ["refit_latent_prior", "variance_level", "RIDGE"]

RIDGE = 1e-6  # relative ridge on the regression's normal equations: a rank-deficient feature set stays solvable


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
    h, mu, log_var = (np.asarray(a, np.float64) for a in _posterior(state, data, jnp.asarray(starts),
                                                                     graphdef=graphdef, config=config))
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


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _sampled_mean_square(state, data: Prepared, starts: jax.Array, key: jax.Array, *, graphdef, config):
    net = nnx.merge(graphdef, state)
    _, ctx, log_v = gather_windows(data, starts, config)
    h = net.condition(ctx, log_v[:, 0], data.prior)
    noise = jax.random.normal(key, (starts.shape[0], net.prior.out_features // 2))
    loc, raw = net.decode_raw(net.sample_latent(h, noise), h)
    return jnp.mean(loc * loc + jnp.exp(2.0 * raw), axis=(0, 1))


def variance_level(graphdef, state: Any, data: Prepared, starts: np.ndarray, key: jax.Array,
                   config: VaeConfig) -> jax.Array:
    """``[A]`` the log-scale shift ``-0.5 log c`` (the module doc, step 2): c is the mean square of a day in
    the variance prior's units, ``loc^2 + e^(2 raw)`` (the innovations have unit variance), over the windows
    starting at `starts`, with one z per window drawn from the conditional prior as sampling draws it."""
    c = _sampled_mean_square(state, data, jnp.asarray(starts), key, graphdef=graphdef, config=config)
    return -0.5 * jnp.log(c)

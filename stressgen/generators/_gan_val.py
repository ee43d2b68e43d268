"""The GAN's validation score: a stylized-fact distance between generated paths and held-out real days.

The critic's loss says little about sample quality (it moves with the critic), so early stopping uses
what the generator is for, measured on days the GAN never trained on, in the Gaussianised space (unit-free,
so assets and terms are comparable):

* ``marginal``: mean over assets of the mean absolute difference of 99 quantiles (1% .. 99%);
* ``acf_abs``: L2 distance over lags 1..`MAX_LAG` of the autocorrelation of |u| (volatility clustering),
  each side averaged over assets (and over paths for the generated side);
* ``correlation``: Frobenius distance of the cross-asset correlation matrices, divided by the number of
  assets.

The score is their sum (lower is better). The generated paths come from one fixed noise draw, so scores
at different steps differ only through the parameters.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_LAG", "QUANTILES", "Validator", "stylized_terms"]

MAX_LAG = 20
QUANTILES = np.linspace(0.01, 0.99, 99)
N_PATHS = 32
PATH_DAYS = 512


def _acf_abs(u: jax.Array, max_lag: int) -> jax.Array:
    """Autocorrelation of |u| at lags 1..max_lag, ``u[..., time, assets] -> [..., max_lag, assets]``."""
    a = jnp.abs(u)
    d = a - a.mean(axis=-2, keepdims=True)
    var = jnp.sum(d * d, axis=-2)
    n = u.shape[-2]
    return jnp.stack([jnp.sum(d[..., k:, :] * d[..., : n - k, :], axis=-2) / var for k in range(1, max_lag + 1)],
                     axis=-2)


def _corr(x: jax.Array) -> jax.Array:
    """Correlation of ``x[rows, assets]``."""
    d = x - x.mean(axis=0)
    c = d.T @ d
    s = jnp.sqrt(jnp.diag(c))
    return c / (s[:, None] * s[None, :])


def stylized_terms(u_gen: jax.Array, real: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The three distance terms of generated paths ``u_gen[paths, time, assets]`` to the real statistics."""
    flat = u_gen.reshape(-1, u_gen.shape[-1])
    q_gen = jnp.quantile(flat, jnp.asarray(QUANTILES, dtype=flat.dtype), axis=0)
    marginal = jnp.mean(jnp.abs(q_gen - real["quantiles"]))
    acf_gen = _acf_abs(u_gen, MAX_LAG).mean(axis=(0, -1))
    acf_abs = jnp.sqrt(jnp.sum((acf_gen - real["acf_abs"]) ** 2))
    n = u_gen.shape[-1]
    correlation = jnp.sqrt(jnp.sum((_corr(flat) - real["corr"]) ** 2)) / n if n > 1 else jnp.zeros(())
    return {"marginal": marginal, "acf_abs": acf_abs, "correlation": correlation}


def real_statistics(u_real: np.ndarray) -> dict[str, jax.Array]:
    """Quantiles ``[99, assets]``, mean ACF of |u| ``[MAX_LAG]`` and correlation of held-out days."""
    return _real_statistics(jnp.asarray(u_real, dtype=jnp.float32))


@jax.jit  # one program: run eagerly, each of the ACF's lags compiled programs of its own (3 s per GAN fit)
def _real_statistics(u: jax.Array) -> dict[str, jax.Array]:
    stats = {"quantiles": jnp.quantile(u, jnp.asarray(QUANTILES, dtype=u.dtype), axis=0),
             "acf_abs": _acf_abs(u, MAX_LAG).mean(axis=-1)}
    stats["corr"] = _corr(u) if u.shape[1] > 1 else jnp.ones((1, 1))
    return stats


@partial(jax.jit, static_argnums=0)
def _score(graphdef: Any, g_state: Any, z: jax.Array, real: dict[str, jax.Array]) -> dict[str, jax.Array]:
    from flax import nnx

    u = nnx.merge(graphdef, g_state)(z)
    return stylized_terms(u, real)


class Validator:
    """``validator(g_state) -> float``: the stylized-fact distance of the generator to held-out days."""

    def __init__(self, graphdef: Any, u_val: np.ndarray, *, key: jax.Array, noise_dim: int, burn: int):
        self.graphdef = graphdef
        self.real = real_statistics(u_val)
        self.z = jax.random.normal(key, (N_PATHS, PATH_DAYS + burn, noise_dim))

    def terms(self, g_state: Any) -> dict[str, float]:
        return {k: float(v) for k, v in _score(self.graphdef, g_state, self.z, self.real).items()}

    def __call__(self, g_state: Any) -> float:
        return float(sum(self.terms(g_state).values()))

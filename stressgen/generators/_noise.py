"""Noise models: generators written as a differentiable map from standard-normal noise to log returns.

The optimised reverse stress test (`stressgen.studies.reverse_opt`) searches for the most likely noise that
makes a strategy lose a given amount. It needs three things of a generator, and nothing else:

* ``paths(z)``: log returns ``[horizon, assets]`` from standard-normal noise ``z [horizon, assets]``,
  differentiable in `z` (the search follows its gradient);
* ``log_prob(z)``: the noise's log density, ``-0.5 |z|^2 - 0.5 n log(2 pi)`` with ``n = horizon * assets``
  (the same for every noise model: z is standard normal by construction);
* ``noise_of(log_returns)``: the noise that produced a given path (the inverse of `paths`), so that the
  plausibility of sampled worlds and of searched paths is read on the same footing.

Plausibility here is the likelihood of the noise, not of the path: the two differ by the Jacobian of
`paths` (for GARCH, the conditional volatilities), and the issue's criterion is the noise's (the
most-likely-scenario problem of Breuer and Csiszar, Glasserman, Kang and Kang 2015, is posed in the noise).

Models are frozen pytrees (`flax.struct`): arrays are leaves, sizes are static. `GaussianNoise` (i.i.d.
Gaussian returns ``r_t = mu + L z_t``) is the closed-form reference and a model in its own right; GARCH's
is in `_garch_noise`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError

__all__ = ["NoiseModel", "GaussianNoise", "gaussian_noise_model"]


@struct.dataclass
class NoiseModel:
    """A generator with explicit standard-normal noise ``z [horizon, assets]`` (subclass and define
    `paths` and `noise_of`; both act on one path, vmap them over many)."""

    horizon: int = struct.field(pytree_node=False)
    n_assets: int = struct.field(pytree_node=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.horizon, self.n_assets)

    @property
    def dim(self) -> int:
        """Degrees of freedom of the noise, ``horizon * assets``."""
        return self.horizon * self.n_assets

    def paths(self, z: jax.Array) -> jax.Array:
        """Log returns ``[horizon, assets]`` (natural units) from noise ``z [horizon, assets]``."""
        raise NotImplementedError

    def noise_of(self, log_returns: jax.Array) -> jax.Array:
        """The noise ``[horizon, assets]`` whose `paths` is `log_returns` (the inverse map)."""
        raise NotImplementedError

    def log_prob(self, z: jax.Array) -> jax.Array:
        """Log density of standard-normal noise `z` (any shape ending in ``[horizon, assets]``)."""
        return -0.5 * jnp.sum(jnp.square(z), axis=(-2, -1)) - 0.5 * self.dim * math.log(2.0 * math.pi)


@struct.dataclass
class GaussianNoise(NoiseModel):
    """i.i.d. Gaussian log returns: ``r_t = mu + chol @ z_t`` (``chol`` lower triangular, ``cov = chol chol'``)."""

    mu: jax.Array    # [assets]
    chol: jax.Array  # [assets, assets]

    def paths(self, z: jax.Array) -> jax.Array:
        return self.mu + z @ self.chol.T

    def noise_of(self, log_returns: jax.Array) -> jax.Array:
        return jax.scipy.linalg.solve_triangular(self.chol, (log_returns - self.mu).T, lower=True).T


def gaussian_noise_model(mu: np.ndarray, cov: np.ndarray, horizon: int) -> GaussianNoise:
    """i.i.d. Gaussian log returns with per-day mean `mu` ``[assets]`` and covariance `cov` ``[assets, assets]``
    (positive definite) over `horizon` days."""
    mu = np.atleast_1d(np.asarray(mu, np.float64))
    cov = np.atleast_2d(np.asarray(cov, np.float64))
    if cov.shape != (mu.shape[0], mu.shape[0]):
        raise ConfigError(f"gaussian_noise_model: cov must be [{mu.shape[0]}, {mu.shape[0]}], got {cov.shape}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"gaussian_noise_model: horizon must be a positive integer, got {horizon!r}")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise ConfigError("gaussian_noise_model: cov is not positive definite") from exc
    return GaussianNoise(horizon=int(horizon), n_assets=int(mu.shape[0]), mu=jnp.asarray(mu, jnp.float32),
                         chol=jnp.asarray(chol, jnp.float32))

"""The GARCH generator as a noise model (`_noise.NoiseModel`): standard-normal noise -> log returns.

    z [horizon, assets] ~ N(0, I)  ->  e_t = C z_t  (C: Cholesky factor of a correlation R)
                                   ->  the fitted GJR recursion (`_garch_sim.garch_paths`) on e.

A relaxation of the fitted law, stated here and in docs/stress.md: the search runs on GAUSSIAN innovations
with the fitted correlation, not on the sampler's Student-t / GPD-tailed / historical ones.

* Copula fits (gaussian- and t-copula): C is the fitted copula's factor (`GarchFitted.copula_chol`), and the
  margins are unit-variance normals instead of unit-variance t (the t copula's common mixing variable is
  dropped too: its tail dependence is not searched over).
* FHS fits draw whole historical rows and have no copula; C is the Cholesky factor of the (Pearson)
  correlation of the fitted standardized residuals, pooled over all dates (a year-matched world replays
  one year's rows, with that year's correlation and drift; the search does not choose a year).
* The long-run level is the fitted one (each sampled world draws its own, `_garch_level`; here the factor
  is 1, as with ``level="fixed"``), and the start is the fit's: the conditional variance of the day after
  the history (``start="conditional"``) or the unconditional variance with no burn-in.

So plausibility (`log_prob`, the Mahalanobis distance |z|) is measured under this Gaussian noise law, for
searched paths and for sampled worlds alike (`noise_of` recovers the Gaussian noise of any path, whatever
law drew it): a fat-tailed world's noise then reads as less likely than under its own law.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError
from . import _garch_fit as gf
from ._garch_sim import _correlate, garch_paths, gjr_step
from ._noise import NoiseModel

__all__ = ["GarchNoise", "garch_noise_model"]

_RECURSION = ("mu", "omega", "alpha", "gamma", "beta")  # what gjr_step reads (plus the fence)


@struct.dataclass
class GarchNoise(NoiseModel):
    """GJR-GARCH(1,1) with Gaussian innovations correlated by ``chol`` (see the module doc)."""

    params: dict       # mu, omega, alpha, gamma, beta [assets] (percent units) and the fence (uint32 zero)
    chol: jax.Array    # [assets, assets] lower Cholesky factor of the innovations' correlation
    sigma2_0: jax.Array  # [assets] conditional variance of day 1 (%^2)

    def paths(self, z: jax.Array) -> jax.Array:
        # _correlate: the sampler's fixed-order z @ C' (a path's bits do not depend on how many are vmapped)
        e = _correlate(z, self.chol, self.params["fence"])
        y, _ = garch_paths(self.params, e, self.sigma2_0)
        return y / 100.0

    def noise_of(self, log_returns: jax.Array) -> jax.Array:
        p = self.params

        def day(sigma2: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
            e = (y - p["mu"]) / jnp.sqrt(sigma2)  # the day's correlated innovation
            return gjr_step(p, sigma2, e)[0], e   # the recursion moves on as it did when drawing the path

        _, e = jax.lax.scan(day, self.sigma2_0, 100.0 * log_returns.astype(jnp.float32))
        return jax.scipy.linalg.solve_triangular(self.chol, e.T, lower=True).T


def garch_noise_model(fitted: object, horizon: int) -> GarchNoise:
    """The noise model of a GARCH fit (`garch.GarchFitted`) over `horizon` days (module doc: what is relaxed)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"garch_noise_model: horizon must be a positive integer, got {horizon!r}")
    config = fitted.config
    if config.innovations == "fhs":
        resid = np.asarray(fitted.resid, np.float64)
        corr = gf.nearest_correlation(np.corrcoef(resid, rowvar=False).reshape(resid.shape[1], resid.shape[1]))
        chol = jnp.asarray(np.linalg.cholesky(corr), jnp.float32)
    else:
        chol = jnp.asarray(fitted.copula_chol, jnp.float32)
    params = {name: jnp.asarray(getattr(fitted, name), jnp.float32) for name in _RECURSION}
    params["fence"] = np.uint32(0)
    if config.start == "conditional":
        sigma2_0 = jnp.asarray(fitted.sigma2_next, jnp.float32)
    else:
        sigma2_0 = jnp.asarray(fitted.unconditional_variance, jnp.float32)
    return GarchNoise(horizon=int(horizon), n_assets=int(chol.shape[0]), params=params, chol=chol,
                      sigma2_0=sigma2_0)

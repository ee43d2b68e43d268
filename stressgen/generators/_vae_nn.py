"""The temporal conditional VAE's network, features, likelihood and loss (pure functions over nnx modules).

Units: returns are standardized per asset (divided by their fit-sample standard deviation), ``x [.., A]``.

What the network sees for a window starting on day t (W days, A assets):

* the *context*: the C days before t (``asinh`` of them, so a crash day does not saturate the first layer),
  and the log of exponentially weighted mean squares of all returns before t at a few half-lives (the
  long memory of volatility, in H * A numbers, without a long window);
* the encoder also sees the window itself; the decoder sees the latent z instead, drawn at sampling time
  from a learned conditional prior p(z | past) (a Gaussian whose mean and variance the past sets).

Everything the decoder conditions on is computed from the past only, so a path of any length is made by
generating a window, appending it to the past, updating the features and generating the next one.

The decoder gives a location and a log-scale per day and asset; the log-scale starts from the 21-day
volatility state (a GARCH-like prior that the network corrects) and is softly clamped to a band, so a
chain of generated windows cannot feed back into an explosive volatility spiral. Innovations are
unit-variance Student-t with a learned nu per asset (or Gaussian, the likelihood the fidelity figures
compare against).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["VaeNet", "ewma_decays", "ewma_states", "log_vol_features", "update_state", "log_likelihood",
           "elbo_terms", "soft_clamp", "LOG_SCALE_BAND", "VOL_HALF_LIFE"]

LOG_SCALE_BAND = (-4.0, 3.0)  # standardized units: 0.02x to 20x the asset's average daily volatility
LOG_V_BAND = (-9.0, 6.0)  # the log mean-square features are clipped to this band
VOL_HALF_LIFE = 21  # the half-life whose volatility state seeds the decoder's log-scale
_EPS = 1e-4
# nu = 2 + softplus(NU_SPEED * nu_raw): Adam moves a parameter by about the learning rate per step whatever its
# gradient, so without the factor nu would need thousands of steps to leave its initial value
NU_SPEED = 20.0


def ewma_decays(half_lives: tuple[int, ...]) -> np.ndarray:
    """Per-day decay factors ``0.5 ** (1 / h)`` of exponentially weighted means with these half-lives."""
    return (0.5 ** (1.0 / np.asarray(half_lives, dtype=np.float64))).astype(np.float32)


def ewma_states(x: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``v [T + 1, H, A]``: mean squares of ``x [T, A]`` weighted by each decay; ``v[t]`` uses days < t.

    Starts from 1, the unconditional mean square of standardized returns. Host-side (NumPy, float64).
    """
    lam = np.asarray(decays, dtype=np.float64)[:, None]
    v = np.empty((x.shape[0] + 1, lam.shape[0], x.shape[1]))
    v[0] = 1.0
    sq = np.asarray(x, dtype=np.float64) ** 2
    for t in range(x.shape[0]):
        v[t + 1] = lam * v[t] + (1.0 - lam) * sq[t]
    return v


def log_vol_features(v: jax.Array) -> jax.Array:
    """The network's view of the mean-square state: its log, clipped to a band."""
    return jnp.clip(jnp.log(v + _EPS), *LOG_V_BAND)


def update_state(v: jax.Array, window: jax.Array, decays: jax.Array) -> jax.Array:
    """The mean-square state ``v [.., H, A]`` after the days of ``window [.., W, A]``, in order."""
    for t in range(window.shape[-2]):  # W is small and static: an unrolled loop
        v = decays[:, None] * v + (1.0 - decays[:, None]) * jnp.square(window[..., t, None, :])
    return v


def soft_clamp(x: jax.Array, lo: float, hi: float) -> jax.Array:
    """About `x` inside ``(lo, hi)``, smoothly bent towards the bounds (gradients never vanish abruptly)."""
    return hi - jax.nn.softplus(hi - (lo + jax.nn.softplus(x - lo)))


class VaeNet(nnx.Module):
    """Conditioner, encoder and decoder MLPs plus per-asset tail parameters.

    MLPs rather than convolutions: on XLA-CPU, strided/transposed 1-D convolutions and convolutions inside
    `lax.scan` are tens of times slower (measured on the 2-core CI machine), and sampling scans the decoder.
    """

    def __init__(self, *, n_assets: int, window: int, context: int, n_states: int, latent: int, hidden: int,
                 vol_index: int, nu_init: float, rngs: nnx.Rngs):
        a, w = n_assets, window
        self.window, self.n_assets, self.vol_index = window, n_assets, vol_index
        self.cond1 = nnx.Linear(context * a + n_states * a, hidden, rngs=rngs)
        self.cond2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.enc1 = nnx.Linear(w * a + hidden, hidden, rngs=rngs)
        self.enc2 = nnx.Linear(hidden, 2 * latent, rngs=rngs)
        # conditional prior p(z | past): with a fixed N(0, I) prior the encoder learns to carry the window's
        # volatility level in z, which sampling then draws independently of the past (no clustering).
        # Zero-initialised, so training starts from N(0, I).
        self.prior = nnx.Linear(hidden, 2 * latent, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)
        self.dec1 = nnx.Linear(latent + hidden, hidden, rngs=rngs)
        self.dec2 = nnx.Linear(hidden, hidden, rngs=rngs)
        # zero output layer: training starts from loc 0 and the volatility-state scale, a sane model
        self.dec_out = nnx.Linear(hidden, 2 * w * a, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)
        # nu = 2 + softplus(nu_raw) > 2, so that unit-variance t innovations exist
        self.nu_raw = nnx.Param(jnp.full((a,), np.log(np.expm1(nu_init - 2.0)) / NU_SPEED, jnp.float32))

    def condition(self, ctx: jax.Array, log_v: jax.Array) -> jax.Array:
        """``h [B, hidden]`` from the context days ``ctx [B, C, A]`` and features ``log_v [B, H, A]``."""
        b = ctx.shape[0]
        inp = jnp.concatenate([jnp.arcsinh(ctx).reshape(b, -1), log_v.reshape(b, -1)], axis=-1)
        return jax.nn.gelu(self.cond2(jax.nn.gelu(self.cond1(inp))))

    def encode(self, window: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Posterior mean and log-variance ``[B, latent]`` of a window ``[B, W, A]`` given its context."""
        inp = jnp.concatenate([jnp.arcsinh(window).reshape(window.shape[0], -1), h], axis=-1)
        mu, log_var = jnp.split(self.enc2(jax.nn.gelu(self.enc1(inp))), 2, axis=-1)
        return mu, jnp.clip(log_var, -12.0, 6.0)

    def prior_params(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean and log-variance ``[B, latent]`` of the conditional prior p(z | past)."""
        mu, log_var = jnp.split(self.prior(h), 2, axis=-1)
        return mu, jnp.clip(log_var, -12.0, 6.0)

    def sample_latent(self, h: jax.Array, noise: jax.Array) -> jax.Array:
        """z from the conditional prior, given standard normal `noise` ``[B, latent]``."""
        mu, log_var = self.prior_params(h)
        return mu + jnp.exp(0.5 * log_var) * noise

    def decode(self, z: jax.Array, h: jax.Array, log_v: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Location and log-scale ``[B, W, A]`` of the window given latent, context and features."""
        b = z.shape[0]
        out = self.dec_out(jax.nn.gelu(self.dec2(jax.nn.gelu(self.dec1(jnp.concatenate([z, h], axis=-1))))))
        loc, raw = jnp.split(out.reshape(b, 2, self.window, self.n_assets), 2, axis=1)
        base = 0.5 * log_v[:, None, self.vol_index, :]  # log volatility state, [B, 1, A]
        return loc[:, 0], soft_clamp(base + raw[:, 0], *LOG_SCALE_BAND)

    def nu(self) -> jax.Array:
        return 2.0 + jax.nn.softplus(NU_SPEED * self.nu_raw[...])


def log_likelihood(x: jax.Array, loc: jax.Array, log_scale: jax.Array, nu: jax.Array | None) -> jax.Array:
    """Elementwise log density of ``x = loc + exp(log_scale) * e``, e unit-variance t(nu) or N(0, 1) (None)."""
    e = (x - loc) * jnp.exp(-log_scale)
    if nu is None:
        return -0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * e * e - log_scale
    s2 = nu / (nu - 2.0)  # e * sqrt(s2) is a standard t variable
    return (jax.scipy.special.gammaln(0.5 * (nu + 1.0)) - jax.scipy.special.gammaln(0.5 * nu)
            - 0.5 * jnp.log(nu * jnp.pi) + 0.5 * jnp.log(s2)
            - 0.5 * (nu + 1.0) * jnp.log1p(e * e * s2 / nu) - log_scale)


def elbo_terms(net: VaeNet, window: jax.Array, ctx: jax.Array, log_v: jax.Array, key: jax.Array, *,
               student_t: bool, n_samples: int = 1) -> tuple[jax.Array, jax.Array]:
    """Per-window reconstruction NLL and KL(q(z | x, past) || p(z | past)), each ``[B]`` nats."""
    h = net.condition(ctx, log_v)
    mu, log_var = net.encode(window, h)
    mu_p, log_var_p = net.prior_params(h)
    kl = 0.5 * jnp.sum(log_var_p - log_var + (jnp.exp(log_var) + (mu - mu_p) ** 2) * jnp.exp(-log_var_p) - 1.0,
                       axis=-1)
    nu = net.nu() if student_t else None

    def nll_one(k):
        z = mu + jnp.exp(0.5 * log_var) * jax.random.normal(k, mu.shape, mu.dtype)
        loc, log_scale = net.decode(z, h, log_v)
        return -jnp.sum(log_likelihood(window, loc, log_scale, nu), axis=(-2, -1))

    nll = jnp.mean(jax.vmap(nll_one)(jax.random.split(key, n_samples)), axis=0)
    return nll, kl

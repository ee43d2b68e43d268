"""The temporal conditional VAE's network, features, likelihood and loss (pure functions over nnx modules).

Units: returns are standardized per asset (divided by their fit-sample standard deviation), ``x [.., A]``.

What the network sees for a window starting on day t (W days, A assets):

* the *context*: the C days before t (``asinh`` of them, so a crash day does not saturate the first layer),
  and the log of exponentially weighted mean squares of all returns and of down days before t at a few
  half-lives (the long memory of volatility, in 2H * A numbers, without a long window), both relative to
  the variance prior's level at t (`VaeNet.condition`);
* the encoder also sees the window itself; the decoder sees the latent z instead, drawn at sampling time
  from a learned conditional prior p(z | past) (a Gaussian whose mean the past sets).

Everything the decoder conditions on is computed from the past only, so a path of any length is made by
generating a window, appending it to the past, updating the features and generating the next one.

The decoder gives a location and a correction of the log-scale per day and asset, in units of a variance
prior: a component GJR-GARCH variance with a long-run level, ``w + sum_s c_s v_s`` (a convex combination of a
constant and the all-day and down-day states), fitted per asset before the network trains (`_vae_prior`).
With `daily_scale` (the default; see `VaeConfig`) each day reads the state before it: in training, the real
days'; in sampling, the state that the window's own earlier generated days left. So volatility clusters from
day to day inside a window and rises after down days (the leverage effect), not only from one window to the
next. Without it every day of a window reads the state at the window's start. The prior is fixed once fitted
(an earlier design let the network learn a blend of the states, which could move the persistence past the
cap). The log-scale is softly clamped to a band. Innovations are
unit-variance Student-t with a learned nu per asset, at least `NU_FLOOR` (or Gaussian, the likelihood the
fidelity figures compare against).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._neural import NU_FLOOR

__all__ = ["VaeNet", "ewma_decays", "ewma_states", "vol_states", "update_vol_states", "log_vol_features",
           "prior_log_scale", "log_likelihood", "elbo_terms", "soft_clamp", "LOG_SCALE_BAND", "CLAMP_SHARPNESS"]

LOG_SCALE_BAND = (-4.0, 3.0)  # standardized units: 0.02x to 20x the asset's average daily volatility
# The VAE's bend: within about half a unit of the band's ends, so the scale follows the prior up to about 12x
# the average volatility (e^2.5). At sharpness 1 a world whose drawn level (`_vae_level`) is 4x the prior's
# got 3.1x, and crisis days' scales were cut alike.
CLAMP_SHARPNESS = 4.0
LOG_V_BAND = (-9.0, 6.0)  # the log mean-square features are clipped to this band
_EPS = 1e-4
# nu = NU_FLOOR + softplus(NU_SPEED * nu_raw): Adam moves a parameter by about the learning rate per step
# whatever its gradient, so without the factor nu would need thousands of steps to leave its initial value
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


def vol_states(x: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``v [T + 1, 2H, A]`` before each day of ``x [T, A]`` (and after the last): per half-life, the EWMA of
    ``x^2`` (H states), then of ``2 x^2 1{x < 0}`` (H states; the 2 gives it the same mean as ``x^2`` for a
    symmetric law, so both start from 1). Host-side (NumPy, float64). The down-day states let the
    log-scale's prior weigh falling days more, as GJR-GARCH does: the leverage effect in a few parameters."""
    x = np.asarray(x, np.float64)
    return np.concatenate([ewma_states(x, decays), ewma_states(np.sqrt(2.0) * np.minimum(x, 0.0), decays)], axis=1)


def update_vol_states(v: jax.Array, x: jax.Array, decays: jax.Array) -> jax.Array:
    """The states ``v [.., 2H, A]`` of `vol_states` after a day ``x [.., A]`` (`decays`: ``[H]``)."""
    h = decays.shape[0]
    sq = jnp.repeat(jnp.stack([x * x, 2.0 * jnp.square(jnp.minimum(x, 0.0))], axis=-2), h, axis=-2)
    d = jnp.concatenate([decays, decays])[:, None]
    return d * v + (1.0 - d) * sq


def prior_log_scale(prior: jax.Array, log_v: jax.Array) -> jax.Array:
    """``[.., A]`` half the log of the prior variance ``w + sum_s c_s v_s`` (`_vae_prior`) given the state
    features ``log_v [.., S, A]`` and the fitted weights ``prior [1 + S, A]`` (row 0: w). A weight of 0 is a
    log of -inf: its term drops (the prior is data, never differentiated)."""
    ones = jnp.zeros_like(log_v[..., :1, :])  # the constant's "state": log 1
    return 0.5 * jax.nn.logsumexp(jnp.log(prior) + jnp.concatenate([ones, log_v], axis=-2), axis=-2)


def log_vol_features(v: jax.Array) -> jax.Array:
    """The network's view of the mean-square state: its log, clipped to a band."""
    return jnp.clip(jnp.log(v + _EPS), *LOG_V_BAND)


def soft_clamp(x: jax.Array, lo: float, hi: float, sharpness: float = 1.0) -> jax.Array:
    """About `x` inside ``(lo, hi)``, smoothly bent towards the bounds (gradients never vanish abruptly); the bend
    is about ``1 / sharpness`` wide. At sharpness 1, as nar uses it, the bend reaches far inside the band: 0.69
    (twice the average volatility) comes out 0.60."""
    s = sharpness
    return hi - jax.nn.softplus(s * (hi - (lo + jax.nn.softplus(s * (x - lo)) / s))) / s


class VaeNet(nnx.Module):
    """Conditioner, encoder and decoder MLPs plus per-asset tail parameters.

    MLPs rather than convolutions: on XLA-CPU, strided/transposed 1-D convolutions and convolutions inside
    `lax.scan` are tens of times slower (measured on the 2-core CI machine), and sampling scans the decoder.
    """

    def __init__(self, *, n_assets: int, window: int, context: int, n_states: int, latent: int, hidden: int,
                 nu_init: float, daily_scale: bool, rngs: nnx.Rngs):
        a, w = n_assets, window
        self.window, self.n_assets, self.daily_scale = window, n_assets, daily_scale
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
        # the mean of a day, per asset, in standardized units: constant, as GARCH's (`decode_raw`)
        self.drift = nnx.Param(jnp.zeros((a,), jnp.float32))
        # nu = NU_FLOOR + softplus(NU_SPEED nu_raw) > NU_FLOOR: unit-variance t innovations with tails
        # the volatility feedback can carry (see NU_FLOOR)
        self.nu_raw = nnx.Param(jnp.full((a,), np.log(np.expm1(nu_init - NU_FLOOR)) / NU_SPEED, jnp.float32))

    def condition(self, ctx: jax.Array, log_v: jax.Array, prior: jax.Array) -> jax.Array:
        """``h [B, hidden]`` from the context days ``ctx [B, C, A]`` and features ``log_v [B, S, A]``, both
        relative to the variance prior's level at the window's start: the days over its scale, the states'
        logs less its log-variance. Why: a network that reads the level can learn "higher after high", and in
        a generated path that multiplies the prior's variance on the very days that feed the state; a raise
        of e^(2 c) turns the prior ``w + sum_s c_s v_s`` (weights summing to 1) explosive once
        e^(2 c) (1 - w) > 1 (c about 0.06 at w = 0.12: the sp500-index fit's raise, under the first,
        single-half-life prior, was 0.13 at its last state and 0.19 at 8x it)."""
        b = ctx.shape[0]
        base = prior_log_scale(prior, log_v)[:, None, :]  # [B, 1, A]
        inp = jnp.concatenate([jnp.arcsinh(ctx * jnp.exp(-base)).reshape(b, -1),
                               (log_v - 2.0 * base).reshape(b, -1)], axis=-1)
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

    def _decoder(self, z: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        b = z.shape[0]
        out = self.dec_out(jax.nn.gelu(self.dec2(jax.nn.gelu(self.dec1(jnp.concatenate([z, h], axis=-1))))))
        loc, raw = jnp.split(out.reshape(b, 2, self.window, self.n_assets), 2, axis=1)
        return loc[:, 0], raw[:, 0]

    def decode_raw(self, z: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The location's shock and the log-scale's correction ``[B, W, A]`` of the window given latent and
        context, both centred on their values at the conditional prior's mean of z: at that z the past sets the
        volatility through the variance prior only and the mean not at all (`drift` is a constant), and z sets
        a window's departure from them (the decoder is nonlinear, so the mean over z keeps a second-order
        trace of the past). Why, for the scale: a correction the past alone sets is a raise the
        worlds' own days feed back into the state, and with a persistent prior a steady raise of e^(2 c) is
        explosive once e^(2 c) (1 - w) > 1 (`condition`). For the location: a mean the past sets is a drift
        the worlds extrapolate; fitted on the 1990s, the worlds continuing from 1999-12-31 had a median
        one-year return of +89% (the real one was +10%)."""
        loc, raw = self._decoder(z, h)
        loc_at_mean, raw_at_mean = self._decoder(self.prior_params(h)[0], h)
        return loc - loc_at_mean, raw - raw_at_mean

    def place(self, loc: jax.Array, raw: jax.Array, log_v: jax.Array, prior: jax.Array,
              level: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Location and log-scale (``[B, W, A]``, or one day's ``[B, A]``) of days from the decoder's `loc` and
        `raw`, the features ``log_v`` of the state before each day (``[B, D, S, A]`` with D = W, or 1: the
        window's start for every day of it, without `daily_scale`; ``[B, S, A]`` for one day) and the fitted
        variance prior ``[1 + S, A]`` with its log-scale shift `level` ``[A]`` (0 in training; the sampled
        variance's targeting after it, `_vae_after.target_moments`). The decoder works in units of the prior's
        scale e^b (b: `prior_log_scale` of the state before the day, plus `level`): location
        ``drift + loc e^b``, log-scale ``b + raw``, softly clamped. Why: with the shocks in the prior's units, a
        window's law does not depend on the volatility's level except through the prior, as the network's
        inputs do not (`condition`)."""
        base = prior_log_scale(prior, log_v) + level
        return self.drift[...] + loc * jnp.exp(base), soft_clamp(base + raw, *LOG_SCALE_BAND, CLAMP_SHARPNESS)

    def decode(self, z: jax.Array, h: jax.Array, log_v: jax.Array, prior: jax.Array,
               level: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Location and log-scale ``[B, W, A]`` of the window given latent, context, the features ``log_v
        [B, D, S, A]`` of the state before each of its days (D = W; 1, the start, without `daily_scale`; teacher
        forcing: the real days') and the variance prior (`place`)."""
        loc, raw = self.decode_raw(z, h)
        return self.place(loc, raw, log_v, prior, level)

    def nu(self) -> jax.Array:
        return NU_FLOOR + jax.nn.softplus(NU_SPEED * self.nu_raw[...])


def log_likelihood(x: jax.Array, loc: jax.Array, log_scale: jax.Array, nu: jax.Array | None) -> jax.Array:
    """Elementwise log density of ``x = loc + exp(log_scale) * e``, e unit-variance t(nu) or N(0, 1) (None)."""
    e = (x - loc) * jnp.exp(-log_scale)
    if nu is None:
        return -0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * e * e - log_scale
    s2 = nu / (nu - 2.0)  # e * sqrt(s2) is a standard t variable
    return (jax.scipy.special.gammaln(0.5 * (nu + 1.0)) - jax.scipy.special.gammaln(0.5 * nu)
            - 0.5 * jnp.log(nu * jnp.pi) + 0.5 * jnp.log(s2)
            - 0.5 * (nu + 1.0) * jnp.log1p(e * e * s2 / nu) - log_scale)


def elbo_terms(net: VaeNet, window: jax.Array, ctx: jax.Array, log_v: jax.Array, prior: jax.Array, level: jax.Array,
               key: jax.Array, *, student_t: bool, n_samples: int = 1) -> tuple[jax.Array, jax.Array]:
    """Per-window reconstruction NLL and KL(q(z | x, past) || p(z | past)), each ``[B]`` nats.

    ``log_v [B, D, S, A]``: the features of the state before each day of the window; the conditioner reads the
    first day's (the state at the window's start). `prior`, `level`: the variance prior (`VaeNet.place`)."""
    h = net.condition(ctx, log_v[:, 0], prior)
    mu, log_var = net.encode(window, h)
    mu_p, log_var_p = net.prior_params(h)
    kl = 0.5 * jnp.sum(log_var_p - log_var + (jnp.exp(log_var) + (mu - mu_p) ** 2) * jnp.exp(-log_var_p) - 1.0,
                       axis=-1)
    nu = net.nu() if student_t else None

    def nll_one(k):
        z = mu + jnp.exp(0.5 * log_var) * jax.random.normal(k, mu.shape, mu.dtype)
        loc, log_scale = net.decode(z, h, log_v, prior, level)
        return -jnp.sum(log_likelihood(window, loc, log_scale, nu), axis=(-2, -1))

    nll = jnp.mean(jax.vmap(nll_one)(jax.random.split(key, n_samples)), axis=0)
    return nll, kl

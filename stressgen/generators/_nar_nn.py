"""The neural autoregressive model's network, likelihood and one-day sampling step (pure functions).

Units: returns are standardized per asset (divided by their fit-sample standard deviation), ``x [.., A]``.

Why a GRU as the causal core: its hidden state is a learned volatility state, updated at O(1) cost per
sampled day (trained over 126-day stretches; the 250-day variance state carries the longer memory). A TCN
sees a fixed receptive field only, and a transformer's cost per sampled day grows with its context; sampling
thousands of worlds for hundreds of days is all sequential steps.
One cell is shared by all assets (each runs its own state), so the weights are fitted on every asset's days
and the GRU and head have no per-asset weights to fit each asset's training years with (see `NarNet`).

One day, given the state before it (the GRU states ``h [.., A, hidden]`` and the variance states ``v``,
`vol_states`):

* location ``[A]`` and log-scale ``[A]`` from a small head on each asset's ``h``; the log-scale starts from
  a learned per-asset blend of the variance states (of all days and of down days: a GJR-GARCH-like prior the
  network corrects, so an untrained model already clusters volatility) and is softly clamped to
  `LOG_SCALE_BAND`, so a sampled path cannot feed back into an explosive volatility spiral;
* the innovation is a unit-variance multivariate Student-t with a learned nu > 5 (`_neural.NU_FLOOR`) and a
  learned constant correlation ``R = L L^T`` (L lower triangular, rows normalised to unit length, so R has a
  unit diagonal):
  ``x = loc + exp(log_scale) * e``, ``e = sqrt((nu - 2) / nu) * sqrt(nu / W) * L z``, z ~ N(0, I),
  W ~ chi2(nu).
* then each asset's GRU reads ``asinh`` of its surprise ``e`` and the cross-section's mean of those (the
  market): signed and scale-free, so the same weights serve calm and wild years and can learn the leverage
  effect.

Exact log-density of ``x`` (A assets, ``e = (x - loc) / s``, ``w = L^{-1} e``)::

    log p(x) = lgamma((nu + A) / 2) - lgamma(nu / 2) - A/2 log((nu - 2) pi) - sum_i log L_ii
               - (nu + A) / 2 log(1 + |w|^2 / (nu - 2)) - sum_i log s_i

(a multivariate t with shape matrix ``S = diag(s) R diag(s) (nu - 2) / nu``; tests compare it with scipy).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import _tables as tb
from ._neural import NU_FLOOR
from ._vae_nn import LOG_SCALE_BAND, NU_SPEED, log_vol_features, soft_clamp, update_vol_states, vol_states

__all__ = ["NarNet", "vol_states", "update_vol_states", "mvt_log_density", "innovations", "sequence_nll",
           "run_history", "sample_day", "unit_chol", "init_chol_raw", "init_blend", "blend_prior", "BLEND_SPEED"]

# logits of the volatility-state blend = BLEND_SPEED * parameter (the NU_SPEED idea): early stopping ends a
# run within about a hundred steps on sp500-20, and the blend, the part that carries over to held-out years,
# must be able to move by several units of logit by then
BLEND_SPEED = 100.0


def init_blend(n_states: int, n_assets: int, vol_index: int) -> np.ndarray:
    """Initial blend parameters ``[S, A]``: about 80% of the weight on state `vol_index`."""
    blend = np.full((n_states, n_assets), -4.0, np.float32)
    blend[vol_index] = 0.0
    return blend / BLEND_SPEED


def blend_prior(blend: jax.Array, log_v: jax.Array) -> jax.Array:
    """A log-scale prior ``[.., A]``: half the log of a per-asset blend (softmax of ``BLEND_SPEED * blend``
    over the S states) of the variance states whose logs are ``log_v [.., S, A]``."""
    return 0.5 * jax.nn.logsumexp(jax.nn.log_softmax(BLEND_SPEED * blend, axis=0) + log_v, axis=-2)


def unit_chol(raw: jax.Array) -> jax.Array:
    """Lower-triangular L with unit-length rows (so ``L L^T`` is a correlation) from its free parameters:
    the strictly lower part of `raw` with a unit diagonal, each row then divided by its norm."""
    a = raw.shape[-1]
    lower = jnp.tril(raw, -1) + jnp.eye(a, dtype=raw.dtype)
    return lower / jnp.linalg.norm(lower, axis=-1, keepdims=True)


class NarNet(nnx.Module):
    """GRU core and location/log-scale head shared by all assets; correlation and tail parameters.

    Every asset runs the same GRU cell on its own state ``h [.., A, hidden]``, reading its own surprise and the
    cross-section's mean of those (the market). Sharing the weights across assets is what lets the network
    carry over to later years: per-asset heads fitted each asset's training-era volatility offsets and got
    worse on the held-out years from the first validation (measured on sp500-20). It also fits any number of
    assets with the same number of weights.
    """

    def __init__(self, *, n_assets: int, n_states: int, hidden: int, vol_index: int, vol_features: bool,
                 nu_init: float, rngs: nnx.Rngs):
        a = n_assets
        n_feat = n_states if vol_features else 0
        self.n_assets, self.hidden, self.vol_index, self.vol_features = a, hidden, vol_index, vol_features
        self.gru = nnx.GRUCell(2 + n_feat, hidden, rngs=rngs)
        self.head1 = nnx.Linear(hidden + n_feat, hidden, rngs=rngs)
        # zero output layer: training starts from loc = mu and the variance-state scale, a sane model
        self.head_out = nnx.Linear(hidden, 2, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)
        # each asset's mean (standardized units), beside the shared head's state-dependent part: the head has no
        # per-asset output, and the fit starts this from the fit sample's means (arch's constant mean)
        self.mu = nnx.Param(jnp.zeros((a,), jnp.float32))
        # free parameters of the correlation's Cholesky factor (see `unit_chol`); zero is independence, and
        # the fit starts them from the sample correlation (`init_chol_raw`)
        self.chol_raw = nnx.Param(jnp.zeros((a, a), jnp.float32))
        # the log-scale's prior: the log of a per-asset blend of the volatility states (softmax weights over the
        # states), starting with about 80% on the 21-day one. A GJR-GARCH-like variance in a few parameters
        self.blend = nnx.Param(jnp.asarray(init_blend(n_states, a, vol_index)))
        # nu = NU_FLOOR + softplus(NU_SPEED * nu_raw) > NU_FLOOR: unit-variance t innovations with tails the
        # variance states' feedback can carry (`_neural.NU_FLOOR`, the house floor)
        # (shape [1], not a scalar: the model files store arrays of at least one dimension)
        self.nu_raw = nnx.Param(jnp.full((1,), np.log(np.expm1(nu_init - NU_FLOOR)) / NU_SPEED, jnp.float32))

    def _features(self, log_v: jax.Array) -> list[jax.Array]:
        """Each asset's own volatility features, ``[.., A, S]`` (from ``log_v [.., S, A]``)."""
        return [jnp.swapaxes(log_v, -1, -2)] if self.vol_features else []

    def base(self, log_v: jax.Array) -> jax.Array:
        """The log-scale's prior ``[.., A]``: half the log of the blend of the variance states."""
        return blend_prior(self.blend[...], log_v)

    def head(self, h: jax.Array, log_v: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Location and log-scale ``[.., A]`` of the next day from ``h [.., A, hidden]`` and ``log_v [.., S, A]``."""
        inp = jnp.concatenate([h, *self._features(log_v)], axis=-1)
        out = self.head_out(jax.nn.gelu(self.head1(inp)))
        return self.mu[...] + out[..., 0], soft_clamp(self.base(log_v) + out[..., 1], *LOG_SCALE_BAND)

    def step(self, h: jax.Array, z: jax.Array, log_v_after: jax.Array) -> jax.Array:
        """The GRU states after a day whose surprises are ``z = (x - loc) * exp(-log_scale)`` ``[.., A]``
        (``log_v_after``: the features after that day). Each asset reads asinh of its own surprise and the
        cross-section's mean of those."""
        u = jnp.arcsinh(z)
        market = jnp.broadcast_to(jnp.mean(u, axis=-1, keepdims=True), u.shape)
        inp = jnp.concatenate([u[..., None], market[..., None], *self._features(log_v_after)], axis=-1)
        return self.gru(h, inp)[0]

    def day(self, h: jax.Array, x: jax.Array, log_v: jax.Array, log_v_after: jax.Array) -> tuple:
        """``(loc, log_scale, h')`` of a real day ``x``: its law given the state before it, and the state after."""
        loc, log_scale = self.head(h, log_v)
        return loc, log_scale, self.step(h, (x - loc) * jnp.exp(-log_scale), log_v_after)

    def chol(self) -> jax.Array:
        return unit_chol(self.chol_raw[...])

    def log_density(self, x: jax.Array, loc: jax.Array, log_scale: jax.Array, h: jax.Array) -> jax.Array:
        """Log density ``[..]`` of a day ``x [.., A]`` of this location and log-scale (`mvt_log_density`).
        ``h``, the GRU states before the day, is unused here; a flow (`_flow_nn.FlowNet`) reads it."""
        del h
        return mvt_log_density(x, loc, log_scale, self.chol(), self.nu())

    def shape_noise(self, w: jax.Array, h: jax.Array) -> jax.Array:
        """The unit surprise ``e`` of a day from its correlated t draw ``w [.., A]``: ``w`` itself here (a flow
        transforms it, `_flow_nn.FlowNet`)."""
        del h
        return w

    def core(self) -> NarNet:
        """The module holding the location/log-scale head, the correlation and nu (the fit initialises them)."""
        return self

    def nu(self) -> jax.Array:
        return NU_FLOOR + jax.nn.softplus(NU_SPEED * self.nu_raw[0])


def init_chol_raw(corr: np.ndarray) -> np.ndarray:
    """Free parameters whose `unit_chol` is the Cholesky factor of `corr` (its rows already have unit norm,
    so dividing each by its diagonal gives a unit-diagonal factor that normalises back to it)."""
    lower = np.linalg.cholesky(np.asarray(corr, np.float64))
    return (lower / np.diag(lower)[:, None]).astype(np.float32)


def mvt_log_density(x: jax.Array, loc: jax.Array, log_scale: jax.Array, chol: jax.Array,
                    nu: jax.Array) -> jax.Array:
    """Log density ``[..]`` of ``x [.., A]`` under the unit-variance multivariate t (module doc)."""
    a = x.shape[-1]
    e = (x - loc) * jnp.exp(-log_scale)
    w = jax.scipy.linalg.solve_triangular(chol, e.reshape(-1, a).T, lower=True).T.reshape(e.shape)
    q = jnp.sum(w * w, axis=-1)
    return (jax.scipy.special.gammaln(0.5 * (nu + a)) - jax.scipy.special.gammaln(0.5 * nu)
            - 0.5 * a * jnp.log((nu - 2.0) * jnp.pi) - jnp.sum(jnp.log(jnp.diagonal(chol)))
            - 0.5 * (nu + a) * jnp.log1p(q / (nu - 2.0)) - jnp.sum(log_scale, axis=-1))


def sequence_nll(net, x_seq: jax.Array, log_v_seq: jax.Array, warmup: int) -> jax.Array:
    """NLL ``[L - warmup, B]`` of the days after the warm-up of sequences ``x_seq [B, L, A]``.

    ``log_v_seq [B, L + 1, 2H, A]``: the features before each day and after the last. The GRU starts from
    zero on the first day and reads the warm-up days without a loss (truncated back-propagation in time).
    """
    b = x_seq.shape[0]

    def body(h, inp):
        x_t, lv, lv_after = inp
        loc, log_scale, h_after = net.day(h, x_t, lv, lv_after)
        return h_after, (loc, log_scale, h)

    h0 = jnp.zeros((b, net.n_assets, net.hidden), x_seq.dtype)
    lv = log_v_seq.swapaxes(0, 1)
    _, (loc, log_scale, h_before) = jax.lax.scan(body, h0, (x_seq.swapaxes(0, 1), lv[:-1], lv[1:]))
    days = x_seq[:, warmup:].swapaxes(0, 1)
    return -net.log_density(days, loc[warmup:], log_scale[warmup:], h_before[warmup:])


def run_history(net, x: jax.Array, log_v: jax.Array) -> jax.Array:
    """The GRU states ``[A, hidden]`` after the days ``x [T, A]`` (``log_v [T + 1, 2H, A]``), from zero."""
    def body(h, inp):
        return net.day(h, *inp)[2], None

    h0 = jnp.zeros((1, net.n_assets, net.hidden), x.dtype)
    h, _ = jax.lax.scan(body, h0, (x[:, None], log_v[:-1, None], log_v[1:, None]))
    return h[0]


def innovations(noise: jax.Array, chol: jax.Array, nu: jax.Array, mix_table: jax.Array, mix_grid: jax.Array,
                fence: jax.Array) -> jax.Array:
    """Unit-variance multivariate-t draws ``[.., A]`` from standard normals ``noise [.., A + 1]``: the last
    normal gives the chi-square mixing ``sqrt(nu / W)`` through its table (no gamma draw, `_tables`)."""
    a = chol.shape[0]
    z, mix = noise[..., :a], tb.interp(mix_table, mix_grid, noise[..., a], fence)
    factor = tb.rounded(mix * jnp.sqrt((nu - 2.0) / nu), fence)
    return tb.rounded(jnp.einsum("...j,ij->...i", z, chol), fence) * factor[..., None]


def sample_day(net, h: jax.Array, v: jax.Array, noise: jax.Array, p: dict) -> tuple:
    """One generated day from the state ``(h [B, A, hidden], v [B, 2H, A])``: ``(h', v', x [B, A])``.

    `p` holds the mixing table (``mix_table``, ``mix_grid``), the EWMA ``decays`` and the ``fence``.
    """
    loc, log_scale = net.head(h, log_vol_features(v))
    e = net.shape_noise(innovations(noise, net.chol(), net.nu(), p["mix_table"], p["mix_grid"], p["fence"]), h)
    x = loc + tb.rounded(jnp.exp(log_scale) * e, p["fence"])
    v = update_vol_states(v, x, p["decays"])
    # the surprise the GRU reads is the innovation itself (a real day's is recomputed from x in `day`)
    return net.step(h, e, log_vol_features(v)), v, x

"""The normalizing flow's network: a conditional affine-coupling flow over one day's cross-section (pure
functions and Flax NNX modules).

Generative direction of one day, given the state before it (the GRU states ``h [.., A, hidden]`` and the
volatility states of `_nar_nn`)::

    u  ~ multivariate Student-t, unit variance, nu degrees of freedom      (heavy-tailed base, learned nu)
    w  = L u                                                                (learned correlation, `unit_chol`)
    e  = C_K(... C_1(w; c) ...; c)                                          (affine couplings, context c)
    x  = loc + exp(log_scale) * e                                           (`NarNet.head`: location, scale)

The context ``c`` is the cross-section's mean GRU state (a learned summary of the whole past). Coupling k
splits the assets into two fixed halves (a different split per layer, `coupling_split`): the first half passes
through, and each asset of the second half is scaled and shifted by a small network of ``asinh`` of the first
half and of ``c``::

    e_b = w_b * exp(g(s_b)) + t_b,     (s, t) = MLP([asinh(w_a), c]),   g(s) = bound * tanh(s / bound)

so the transform is triangular with an exact Jacobian: ``log |det| = sum_b g(s_b)``, and its inverse is
closed form. Exact log-density of a day (`FlowNet.log_density`; ``e = (x - loc) / s``, each coupling inverted
in turn back to ``w``)::

    log p(x) = log t_L(w) - sum_k sum_b g(s_b^(k)) - sum_i log s_i

with ``log t_L`` the unit-variance multivariate t of `_nar_nn.mvt_log_density`.

Why this shape. What a flow adds over `nar`'s multivariate t is a dependence across assets that moves with
the day and the state: a coupling can spread a market-wide fall over the other half of the assets more than a
rise, and more in a nervous state than a calm one (correlations that rise in sell-offs), which a constant
correlation cannot. Tails: each coupling's log-scale is bounded and its shift grows like ``log|w|``, so the
map and its inverse grow at most linearly: ``|e| <= e^(K bound) |w| + O(log |w|)``, and the same the other
way. Such a map cannot make a light base heavy-tailed or a heavy one light (the argument of Jaini et al.,
2020, for Lipschitz triangular flows; the map is not Lipschitz, as the scale of one half depends on the
other, but its growth is what the argument needs), so the tails are the learned Student-t's, not Gaussian
by construction. The output layers start at zero, so an untrained flow is `nar`'s model exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._nar_nn import NarNet, mvt_log_density

__all__ = ["Coupling", "FlowNet", "coupling_split", "split_arrays"]


def coupling_split(n_assets: int, layer: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(conditioning, transformed)`` asset indices of coupling `layer`: the floor(A/2) first of a fixed
    permutation condition the others. Layer 0 splits by parity, layer 1 reverses it, and later layers take
    fixed pseudo-random permutations, so after a few layers every asset has been transformed given many
    different others. One asset: nothing conditions, the coupling is an affine map given the context.

    The splits are part of a fitted flow's digest (`split_arrays`), so a model file restored under code whose
    splits differ is refused, never silently rewired; tests pin them."""
    if layer == 0:
        order = list(range(0, n_assets, 2)) + list(range(1, n_assets, 2))
    elif layer == 1:
        order = list(range(1, n_assets, 2)) + list(range(0, n_assets, 2))
    else:
        # a fixed pseudo-random order from integer arithmetic (Knuth's multiplicative hash of the asset and the
        # layer): structure, not randomness, so no generator and no dependence on a library's stream
        order = sorted(range(n_assets), key=lambda i: (((i + 1) * (layer + 1) * 2654435761) >> 7) % 1_000_003)
    half = n_assets // 2
    return tuple(sorted(order[:half])), tuple(sorted(order[half:]))


def split_arrays(n_assets: int, couplings: int) -> tuple[np.ndarray, ...]:
    """Each coupling's transformed assets as an array (what a fitted flow's digest covers)."""
    return tuple(np.asarray(coupling_split(n_assets, k)[1], np.int32) for k in range(couplings))


class Coupling(nnx.Module):
    """One affine coupling: the `transformed` assets scaled and shifted given the `conditioning` ones and the
    context (module doc). Static: the two index tuples and the log-scale `bound`."""

    def __init__(self, *, n_assets: int, layer: int, context: int, width: int, bound: float, rngs: nnx.Rngs):
        self.conditioning, self.transformed = coupling_split(n_assets, layer)
        self.bound = bound
        n_b = len(self.transformed)
        self.hidden = nnx.Linear(len(self.conditioning) + context, width, rngs=rngs)
        # zero output layer: the coupling starts as the identity, so training starts from nar's model
        self.out = nnx.Linear(width, 2 * n_b, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)

    def _scale_shift(self, y: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        n_b = len(self.transformed)
        cond = jnp.arcsinh(y[..., list(self.conditioning)])
        batch = jnp.broadcast_shapes(cond.shape[:-1], c.shape[:-1])
        cond, c = jnp.broadcast_to(cond, (*batch, cond.shape[-1])), jnp.broadcast_to(c, (*batch, c.shape[-1]))
        out = self.out(jax.nn.gelu(self.hidden(jnp.concatenate([cond, c], axis=-1))))
        return self.bound * jnp.tanh(out[..., :n_b] / self.bound), out[..., n_b:]

    def forward(self, y: jax.Array, c: jax.Array) -> jax.Array:
        """The coupling applied to ``y [.., A]`` given the context ``c [.., C]`` (the generative direction)."""
        log_s, t = self._scale_shift(y, c)
        b = list(self.transformed)
        return y.at[..., b].set(y[..., b] * jnp.exp(log_s) + t)

    def inverse(self, y: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(y_before, log |det| [..])``: the input that `forward` maps to ``y``, and the forward map's log
        Jacobian determinant there (the conditioning half is the same on both sides, so it is read from ``y``)."""
        log_s, t = self._scale_shift(y, c)
        b = list(self.transformed)
        return y.at[..., b].set((y[..., b] - t) * jnp.exp(-log_s)), jnp.sum(log_s, axis=-1)


class FlowNet(nnx.Module):
    """`nar`'s GRU core and head (`ar`: location, log-scale, correlation, nu) followed by `couplings` affine
    couplings of the day's correlated t draw, conditioned on the cross-section's mean GRU state.

    It exposes the methods the shared likelihood and sampler call (`_nar_nn.sequence_nll`, `sample_day`):
    `day`, `head`, `step`, `chol`, `nu` from the core, and its own `log_density` and `shape_noise`.
    """

    def __init__(self, *, n_assets: int, n_states: int, hidden: int, vol_index: int, vol_features: bool,
                 nu_init: float, couplings: int, width: int, bound: float, rngs: nnx.Rngs):
        self.ar = NarNet(n_assets=n_assets, n_states=n_states, hidden=hidden, vol_index=vol_index,
                         vol_features=vol_features, nu_init=nu_init, rngs=rngs)
        self.n_assets, self.hidden = n_assets, hidden
        self.layers = nnx.List([Coupling(n_assets=n_assets, layer=k, context=hidden, width=width, bound=bound,
                                         rngs=rngs) for k in range(couplings)])

    # --- the core's parts, as the shared likelihood and sampler call them -----------------------------

    def head(self, h: jax.Array, log_v: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.ar.head(h, log_v)

    def step(self, h: jax.Array, z: jax.Array, log_v_after: jax.Array) -> jax.Array:
        return self.ar.step(h, z, log_v_after)

    def day(self, h: jax.Array, x: jax.Array, log_v: jax.Array, log_v_after: jax.Array) -> tuple:
        return self.ar.day(h, x, log_v, log_v_after)

    def chol(self) -> jax.Array:
        return self.ar.chol()

    def nu(self) -> jax.Array:
        return self.ar.nu()

    def core(self) -> NarNet:
        return self.ar

    # --- the flow -------------------------------------------------------------------------------------

    @staticmethod
    def context(h: jax.Array) -> jax.Array:
        """The couplings' context ``[.., hidden]``: the cross-section's mean of the GRU states ``h [.., A, hidden]``."""
        return jnp.mean(h, axis=-2)

    def shape_noise(self, w: jax.Array, h: jax.Array) -> jax.Array:
        """The day's unit surprise ``e [.., A]`` from its correlated t draw ``w``: the couplings in order."""
        c = self.context(h)
        for layer in self.layers:
            w = layer.forward(w, c)
        return w

    def unshape(self, e: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(w, log |det|)``: the correlated t draw that `shape_noise` maps to ``e``, and the log Jacobian
        determinant of that map at ``w``."""
        c = self.context(h)
        log_det = jnp.zeros(e.shape[:-1], e.dtype)
        for layer in reversed(self.layers):
            e, ld = layer.inverse(e, c)
            log_det = log_det + ld
        return e, log_det

    def log_density(self, x: jax.Array, loc: jax.Array, log_scale: jax.Array, h: jax.Array) -> jax.Array:
        """Exact log density ``[..]`` of a day ``x [.., A]`` given its location, log-scale and the GRU states
        before it ``h [.., A, hidden]`` (module doc)."""
        w, log_det = self.unshape((x - loc) * jnp.exp(-log_scale), h)
        zero = jnp.zeros_like(loc)
        return mvt_log_density(w, zero, zero, self.chol(), self.nu()) - log_det - jnp.sum(log_scale, axis=-1)

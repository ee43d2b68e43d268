"""The GAN's networks: causal temporal convolution networks (TCNs) in `flax.nnx`.

Both networks are stacks of dilated, stride-1, unpadded ("valid") 1-D convolutions with kernel size 2 and
dilations 1, 2, 4, ..., 2^(levels - 1). An output on day t sees inputs t - R + 1 .. t with the receptive
field ``R = 2^levels`` (128 days for the default 7 levels), and nothing after t: causal by construction. On
XLA:CPU, strided and transposed convolutions (and convolutions inside `lax.scan`) take a path 30-60x slower
than stride-1 ones (measured on the 2-core CI machine), so the networks use none.

Generator (the stochastic-volatility form of QuantGAN's C-SVNN, made multi-asset). With a noise sequence
``z[time, noise_dim]`` of i.i.d. standard normals::

    h_t   = TCN([z, |z|]_{t-R} .. [z, |z|]_{t-1})     strictly past noise and its magnitude
    u_t   = mu(h_t) + sigma(h_t) * (M z_t)              sigma > 0 per asset, M [assets, noise_dim] learned

so that day t's innovation ``z_t`` is scaled by a volatility that depends on the past innovations: volatility
clustering, leverage (through mu and sigma) and cross-asset correlation (through M) are built into the form
and the TCN learns their dynamics. A noise sequence of length ``L + R`` gives ``L`` output days; the first
``R`` noise days are a burn-in that produces no output.

Critic: a TCN over the window ``[u_t, |u_t|]`` (the magnitude channel lets a small critic see volatility
clustering without first having to learn an absolute value), one score per day with a full receptive field,
averaged over the days of the window.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["CausalConv", "Dense", "TemporalBlock", "TCN", "Generator", "Critic", "receptive_field", "state_arrays"]

_SLOPE = 0.2  # leaky ReLU slope: keeps gradients alive for the critic's gradient penalty
_SOFTPLUS_ONE = 0.5413248546129181  # softplus(x + this) = 1 at x = 0: sigma starts at 1


def receptive_field(levels: int) -> int:
    """Days an output sees (itself included) through `levels` kernel-2 convolutions with doubling dilations."""
    return 2**levels


class Dense(nnx.Module):
    """``[..., in] -> [..., out]``, a 1x1 convolution written as a matrix product."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, zero: bool = False):
        init = nnx.initializers.zeros_init() if zero else nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.kernel[...] + self.bias[...]


class CausalConv(nnx.Module):
    """Kernel-2 dilated causal convolution without padding: ``y_t = x_{t-d} W_0 + x_t W_1 + b``.

    Written as two matrix products of shifted slices rather than `lax.conv` with a kernel dilation: the
    gradient penalty differentiates the critic twice, and XLA:CPU's second derivatives of dilated
    convolutions take a path two orders of magnitude slower than plain matrix products (measured: 5 s
    against tens of milliseconds per training step).
    """

    def __init__(self, in_features: int, out_features: int, dilation: int, *, rngs: nnx.Rngs):
        self.dilation = dilation
        init = nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=(0, 1), out_axis=2)
        self.kernel = nnx.Param(init(rngs.params(), (2, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        d, w = self.dilation, self.kernel[...]
        return x[:, :-d] @ w[0] + x[:, d:] @ w[1] + self.bias[...]


class TemporalBlock(nnx.Module):
    """Dilated causal convolution, leaky ReLU, 1x1 mixing, residual connection (the input is cropped)."""

    def __init__(self, width: int, dilation: int, *, rngs: nnx.Rngs):
        self.conv = CausalConv(width, width, dilation, rngs=rngs)
        self.mix = Dense(width, width, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.mix(jax.nn.leaky_relu(self.conv(x), _SLOPE))
        return x[:, x.shape[1] - y.shape[1]:] + y


class TCN(nnx.Module):
    """``[batch, time, in] -> [batch, time - R + 1, width]``: input projection and `levels` temporal blocks."""

    def __init__(self, in_features: int, width: int, levels: int, *, rngs: nnx.Rngs):
        self.inp = Dense(in_features, width, rngs=rngs)
        self.blocks = nnx.List([TemporalBlock(width, 2**i, rngs=rngs) for i in range(levels)])

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.inp(x)
        for block in self.blocks:
            h = block(h)
        return jax.nn.leaky_relu(h, _SLOPE)


class Generator(nnx.Module):
    """Noise ``[batch, L + R, noise_dim]`` -> Gaussianised returns ``[batch, L, assets]``."""

    def __init__(self, noise_dim: int, n_assets: int, width: int, levels: int, *, rngs: nnx.Rngs):
        self.levels = levels
        self.tcn = TCN(2 * noise_dim, width, levels, rngs=rngs)
        # mu and sigma heads start at 0 and 1 exactly, so the untrained generator is a static Gaussian
        # copula: training starts from "no dynamics" rather than from random ones.
        self.mu = Dense(width, n_assets, zero=True, rngs=rngs)
        self.log_sigma = Dense(width, n_assets, zero=True, rngs=rngs)
        eye = jnp.eye(n_assets, noise_dim) if noise_dim >= n_assets else None
        init = (jax.random.normal(rngs.params(), (n_assets, noise_dim)) / jnp.sqrt(noise_dim)
                if eye is None else eye)
        self.mixing = nnx.Param(init)

    def state(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mu, sigma)``, each ``[batch, L, assets]``, of the L output days of noise ``z[batch, L + R, noise_dim]``.

        They depend on the past noise only (the last noise day of `z` is not read), which is what lets the
        GAN recover, day by day, the noise that reproduces a real history (`_gan_start._filter_noise`).
        """
        past = z[:, :-1]  # day t's state sees noise up to t - 1 only
        # the magnitude channel gives the state an ARCH-like path from past shock sizes to today's scale,
        # which a network fed only signed noise must first learn to build out of rectifiers
        h = self.tcn(jnp.concatenate([past, jnp.abs(past)], axis=-1))  # [batch, L, width]
        return self.mu(h), jax.nn.softplus(self.log_sigma(h) + _SOFTPLUS_ONE)

    def __call__(self, z: jax.Array) -> jax.Array:
        mu, sigma = self.state(z)
        now = z[:, receptive_field(self.levels):]  # day t's own innovation: [batch, L, noise_dim]
        return mu + sigma * jnp.einsum("bln,an->bla", now, self.mixing[...])


class Critic(nnx.Module):
    """Window ``[batch, W, assets]`` (W >= R) -> one score per window, the mean of its daily scores."""

    def __init__(self, n_assets: int, width: int, levels: int, *, rngs: nnx.Rngs):
        self.tcn = TCN(2 * n_assets, width, levels, rngs=rngs)
        self.head = Dense(width, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        features = jnp.concatenate([x, jnp.abs(x)], axis=-1)
        return jnp.mean(self.head(self.tcn(features))[..., 0], axis=1)


# ----------------------------------------------------------------------------------- parameters as named arrays

def state_arrays(state: nnx.State) -> dict[str, np.ndarray]:
    """The state's arrays by dotted path (``tcn.blocks.0.conv.kernel.value``), in a fixed order: the names
    under which a GAN's file stores its generator (``generator.`` first; read back by
    `_neural.restore_state`), and what its digest covers."""
    return {".".join(_key_name(k) for k in path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_leaves_with_path(state)}


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)

"""Sampling a fitted GAN's worlds in blocks of a fixed size (`gan.Gan.sample` calls `generate`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from flax import nnx

from .. import rng
from . import _gan_tails as margins
from . import _tails
from ._base import world_bucket

if TYPE_CHECKING:
    from .gan import GanFitted

__all__ = ["generate"]


@partial(jax.jit, static_argnums=0, static_argnames=("n_worlds", "horizon", "clip"))
def _sample_block(graphdef: Any, g_state: nnx.State, tails: _tails.TailTransform, out: _tails.TailTransform,
                  noise_context: jax.Array, key: jax.Array, first_world: jax.Array, *, n_worlds: int, horizon: int,
                  clip: float) -> jax.Array:
    keys = rng.world_keys(key, first_world, n_worlds)
    fresh = jax.vmap(lambda k: jax.random.normal(k, (horizon, noise_context.shape[1])))(keys)
    # the noise context (the state at the end of the history), then the world's own noise: the first
    # generated day sees that state, and the context produces no output of its own
    z = jnp.concatenate([jnp.broadcast_to(noise_context, (n_worlds, *noise_context.shape)), fresh], axis=1)
    u = nnx.merge(graphdef, g_state)(z)
    # The heavy-tail map grows like u * exp(delta u^2 / 2) and assumes u ~ N(0, 1); the generator's output is
    # a heavier scale mixture, so it is first calibrated to N(0, 1) by its own fitted law (`_gan_tails`).
    # Beyond +-clip (6: a Gaussian gets there with probability 2e-9) the calibrated value is held at the bound.
    return margins.to_returns(tails, out, u, clip).astype(jnp.float32)


def generate(fitted: GanFitted, *, key: jax.Array, first_world: int, n_worlds: int, horizon: int) -> jax.Array:
    """``[worlds, horizon, assets]`` log returns of worlds ``first_world ..`` in blocks of `sample_block`."""
    cfg = fitted.config
    block = min(world_bucket(n_worlds), cfg.sample_block)  # one program for many world counts (`world_bucket`)
    parts = []
    for start in range(0, n_worlds, block):
        # the last block is padded to the full block size: one compiled program, and world i's numbers
        # come from its own key only, so the padding worlds change nothing and are dropped
        out = _sample_block(fitted.graphdef, fitted.generator, fitted.tails, fitted.output_tails,
                            fitted.noise_context, key, jnp.uint32(first_world + start), n_worlds=block,
                            horizon=horizon, clip=float(cfg.max_gaussian))
        parts.append(out[: min(block, n_worlds - start)])
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)

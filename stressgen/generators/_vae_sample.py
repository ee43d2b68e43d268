"""The VAE's sampler: chained windows generated from the generated past, one block of worlds aligned to global
world indices at a time (`vae`'s module doc says why the blocks), each world at its own drawn long-run level
(`_vae_level`)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx

from .. import rng
from . import _tables as tb
from . import _vae_nn as nn
from ._neural import simulate_aligned

__all__ = ["world_factors", "simulate_block", "simulate"]


@partial(jax.jit, static_argnames=("block",))
def world_factors(key: jax.Array, block_index: jax.Array, level_factors: jax.Array, *, block: int) -> jax.Array:
    """``[block]`` the long-run level factor (`_vae_level`) of worlds ``block_index * block + (0 .. block-1)``:
    one of `level_factors`, uniformly, from a key of the world's that no window uses. A program of its own:
    the number of factors grows with the history, and inside `simulate_block` it would recompile the whole
    sampler for every history length (a rolling-origin calibration ran out of memory maps at its 50th fit)."""
    keys = rng.world_keys(key, block_index * block, block)
    pick = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, jnp.uint32(0xFFFFFFFF)), (), 0,
                                                 level_factors.shape[0]))(keys)
    return level_factors[pick]


@partial(jax.jit, static_argnames=("graphdef", "horizon", "block", "student_t"))
def simulate_block(graphdef, state, p: dict[str, jax.Array], key: jax.Array, block_index: jax.Array,
                   factor: jax.Array, *, horizon: int, block: int, student_t: bool) -> jax.Array:
    """Log returns ``[block, horizon, assets]`` (float32) of worlds ``block_index * block + (0 .. block-1)``, from
    the arrays of `vae._sim_params` less ``level_factors``, at the worlds' level factors ``factor [block]``
    (`world_factors`).

    One program per (horizon, block): every block of every draw runs the very same computation.
    """
    net = nnx.merge(graphdef, state)
    w, (c, a) = net.window, p["ctx0"].shape
    latent = net.dec1.in_features - net.cond2.out_features
    keys = rng.world_keys(key, block_index * block, block)
    n_win = -(-horizon // w)
    # each world's long-run level (`_vae_level`): its prior's constant times its factor
    factor = factor[:, None]  # [block, 1]
    prior = jnp.broadcast_to(p["prior"], (block, *p["prior"].shape)).at[:, 0].multiply(factor)  # [block, 1 + S, A]
    # the level moves a world's variance, not its expected simple return: a day's simple return is about
    # scale x + scale^2 x^2 / 2, so at f times the variance the drift (standardized) gives back scale (f - 1) / 2,
    # the volatility drag. With the log drift kept instead, a world at 4x the variance gained about 15% a year
    # on a stock of 2% a day, and the calmest worlds lost
    shift = -0.5 * p["scale"] * (factor - 1.0)  # [block, A]

    def one_window(carry, j):
        ctx, v = carry
        # one normal vector per world and window, split into z and the innovations (one threefry call site:
        # separate draws multiplied the compile time)
        draw = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, j), (latent + w * a,), jnp.float32))(keys)
        z, n = draw[:, :latent], draw[:, latent:].reshape(block, w, a)
        n = jnp.einsum("bwa,ca->bwc", n, p["innov_chol"])  # the innovations' normal copula (`_vae_copula`)
        h = net.condition(ctx, nn.log_vol_features(v), prior)
        loc, raw = net.decode_raw(net.sample_latent(h, z), h)
        e = tb.interp(p["t_table"], p["t_grid"], n, p["fence"]) if student_t else n
        if net.daily_scale:  # each day's scale from the state its window's earlier days left (W is small: unrolled)
            days = []
            for t in range(w):
                location, log_scale = net.place(loc[:, t], raw[:, t], nn.log_vol_features(v), prior, p["level"])
                days.append(location + shift + jnp.exp(log_scale) * e[:, t])
                v = nn.update_vol_states(v, days[-1], p["decays"])
            x = jnp.stack(days, axis=1)
        else:
            location, log_scale = net.place(loc, raw, nn.log_vol_features(v)[:, None], prior[:, None], p["level"])
            x = location + shift[:, None] + jnp.exp(log_scale) * e
            for t in range(w):
                v = nn.update_vol_states(v, x[:, t], p["decays"])
        ctx = jnp.concatenate([ctx, x], axis=1)[:, -c:]
        return (ctx, v), x

    init = (jnp.broadcast_to(p["ctx0"], (block, c, a)), jnp.broadcast_to(p["v0"], (block, *p["v0"].shape)))
    _, xs = jax.lax.scan(one_window, init, jnp.arange(n_win, dtype=jnp.uint32))  # [n_win, block, W, A]
    return xs.transpose(1, 0, 2, 3).reshape(block, n_win * w, a)[:, :horizon] * p["scale"]


def simulate(graphdef, state, p: dict[str, jax.Array], key: jax.Array, first_world: int, *, n_worlds: int,
             horizon: int, block: int, student_t: bool) -> jax.Array:
    """Log returns ``[worlds, horizon, assets]`` in aligned blocks (`_neural.simulate_aligned`), from the arrays
    of `vae._sim_params`."""
    fixed = {k: v for k, v in p.items() if k != "level_factors"}  # the sampler's program keeps one shape
    return simulate_aligned(lambda b: simulate_block(graphdef, state, fixed, key, b,
                                                     world_factors(key, b, p["level_factors"], block=block),
                                                     horizon=horizon, block=block, student_t=student_t),
                            first_world, n_worlds=n_worlds, block=block)

"""The regime mixture's sampler: a fused time loop over all worlds (`regime` fits and hands it the arrays).

Randomness: world i's numbers come only from ``rng.world_keys(key, first_world, n)[i]``; day t of world i
splits ``fold_in(world_key, t)`` into one key for the uniform that moves the regime and one for the normals
of the returns (and, with Student-t emissions, one more normal for the regime's chi-square mixing variable,
mapped through a table: `_tables` explains why no gamma draw).

A day: the regime is drawn from the row of the transition matrix of yesterday's regime (day 0: from the
start distribution the caller gives, e.g. the filtered probabilities at the end of the history pushed one
step through the transition matrix) by comparing a uniform with the row's cumulative probabilities; the
returns are ``mean[s] + sqrt(dof[s] / W) * chol[s] @ z``. Under an `InRegime` condition (`p` then holds
``hold_state`` and ``hold_days``) days ``t < hold_days`` take ``hold_state`` whatever the uniform says; the
uniform is still drawn, so each day consumes the same keys with or without a condition.

Stress conditions (`_regime_stress` builds their inputs). A `PathShock` (``shock_day``, ``shock_rows``,
``shock_start_cum``, ``shock_trans_cum``): on that day the regime is drawn, with the day's own uniform, from its
posterior given the shock rather than from the plain row, and the day's returns are that regime's shock row; the
days before are the plain program's days, the days after draw their own numbers as the plain worlds do. A
`CrisisReplay` (``replay_y [L, N]``, and ``start_cum`` the filtered probabilities at the episode's end): the loop
starts on day L - 1 (0-based), whose regime is drawn from ``start_cum`` and whose row is overwritten, with the
rest of the episode, by the real returns; days L.. use the plain worlds' keys of those days. The regimes of
days 0..L-2 are not drawn and read -1.

Bit-exact worlds whatever the chunking: as in `_garch_sim`, every product is rounded before it is added
(`_tables.rounded`) and ``chol[s] @ z`` is an explicit sum over columns in a fixed order, not a dot (XLA:CPU's
dot kernels block the worlds axis, and a row's last bit would depend on the number of worlds).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import rng
from . import _tables as tb

__all__ = ["simulate", "mixing_scale", "cumulative"]


def cumulative(p: np.ndarray) -> np.ndarray:
    """Cumulative probabilities along the last axis, float32, the last exactly 1 (no draw falls past it)."""
    c = np.cumsum(np.asarray(p, np.float64), axis=-1)
    c = c / c[..., -1:]
    c[..., -1] = 1.0
    return c.astype(np.float32)


def mixing_scale(table: jax.Array, grid: jax.Array, regime: jax.Array, z: jax.Array, fence: jax.Array) -> jax.Array:
    """``sqrt(dof / W)`` with ``W ~ chi2(dof)`` of each world's regime, read from its table at normal score `z`.

    table ``[K, G, 2]`` holds one `_tables.chi2_mixing_table` per regime (same grid); `regime` and `z` are
    ``[worlds]``. The same linear interpolation as `_tables.interp`, with the table row chosen per world.
    """
    g = table.shape[1]
    pos = jnp.clip((tb.rounded(z, fence) - grid[0]) * grid[1], 0.0, g - 1.0)
    i = jnp.minimum(pos.astype(jnp.int32), g - 2)
    frac = pos - i
    row = jnp.take(table.reshape(-1, 2), regime * g + i, axis=0, mode="clip")
    return row[:, 0] + tb.rounded(frac * row[:, 1], fence)


@partial(jax.jit, static_argnames=("n_worlds", "horizon", "student", "states"))
def simulate(p: dict[str, jax.Array], key: jax.Array, first_world: jax.Array, *, n_worlds: int, horizon: int,
             student: bool, states: bool = False) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Log returns ``[worlds, horizon, assets]`` float32, and with ``states=True`` the regimes ``[worlds, horizon]``.

    `p` holds ``start_cum [K]`` and ``trans_cum [K, K]`` (cumulative probabilities), ``mean [K, N]``, ``chol
    [K, N, N]`` (lower Cholesky factors of the scatter matrices), ``mix_table [K, G, 2]``, ``mix_grid [2]``
    and ``fence`` (a uint32 zero: `_tables.rounded`); optionally ``hold_state`` and ``hold_days`` (int32
    scalars, traced so that another regime or stay length does not compile again), or a `PathShock`'s or a
    `CrisisReplay`'s arrays (module doc); the keys present choose the program.
    """
    world_keys = rng.world_keys(key, first_world, n_worlds)
    fence = p["fence"]
    n_assets = p["mean"].shape[1]
    columns = jnp.swapaxes(p["chol"], 1, 2)  # [K, j, i]: column j of regime k's factor is columns[k, j]
    shocked = "shock_rows" in p  # Python branches: the plain path's program is unchanged
    # a replay's first drawn day is its last episode day (static: the episode's length is an array shape)
    first = p["replay_y"].shape[0] - 1 if "replay_y" in p else 0

    def day(t, carry):
        previous, out, path = carry
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(world_keys, t.astype(jnp.uint32))
        pair = jax.vmap(jax.random.split)(keys)
        u = jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32))(pair[:, 0])
        z = jax.vmap(lambda k: jax.random.normal(k, (n_assets + 1,), jnp.float32))(pair[:, 1])
        cum = jnp.where(t == first, p["start_cum"][None, :], p["trans_cum"][previous])  # [worlds, K]
        if shocked:  # the shock day's regime: its posterior given the shock (same uniform, another row)
            hit = t == p["shock_day"]
            posterior = jnp.where(t == 0, p["shock_start_cum"][None, :], p["shock_trans_cum"][previous])
            cum = jnp.where(hit, posterior, cum)
        s = jnp.sum(u[:, None] >= cum[:, :-1], axis=1).astype(jnp.int32)
        if "hold_days" in p:  # a Python branch: the plain path's program is unchanged
            s = jnp.where(t < p["hold_days"], p["hold_state"], s)
        e = z[:, :n_assets]
        if student:
            e = tb.rounded(e * mixing_scale(p["mix_table"], p["mix_grid"], s, z[:, n_assets], fence)[:, None], fence)

        def add_column(j, acc):
            return acc + tb.rounded(columns[s, j] * jax.lax.dynamic_slice_in_dim(e, j, 1, axis=1), fence)

        y = jax.lax.fori_loop(1, n_assets, add_column, tb.rounded(columns[s, 0] * e[:, :1], fence))
        y = p["mean"][s] + y
        if shocked:  # the regime's conditional row given the target's move, the same in every world of it
            y = jnp.where(hit, p["shock_rows"][s], y)
        out = jax.lax.dynamic_update_slice_in_dim(out, y[:, None, :], t, axis=1)
        if states:
            path = jax.lax.dynamic_update_slice_in_dim(path, s[:, None], t, axis=1)
        return s, out, path

    out = jnp.zeros((n_worlds, horizon, n_assets), jnp.float32)
    path = jnp.zeros((n_worlds, horizon if states else 0), jnp.int32)
    carry = (jnp.zeros(n_worlds, jnp.int32), out, path)
    _, out, path = jax.lax.fori_loop(first, horizon, day, carry)
    if "replay_y" in p:
        n_days = p["replay_y"].shape[0]
        out = out.at[:, :n_days].set(jnp.broadcast_to(p["replay_y"], (n_worlds, n_days, n_assets)))
        if states:
            path = path.at[:, :first].set(-1)
    return (out, path) if states else out

"""The GJR-GARCH sampler: the recursion, the innovations of each day and the fused time loop over all worlds
(`garch` fits; this module only simulates from the arrays `garch._sim_params` hands it).

Randomness: world i's numbers come only from ``rng.world_keys(key, first_world, n)[i]``; day t of world i
(burn days included) uses ``fold_in(world_key, t)``, and its long-run level a key no day uses. Drawing inside
the time loop, rather than drawing [worlds, time, assets] up front and transposing it for the loop, keeps
the draws fused with the recursion: no buffer the size of the output is written and read back.

Bit-exact worlds: world i must be the same, to the last bit, whatever the chunk it is drawn in. XLA:CPU
fuses ``a * b + c`` into an FMA for some array shapes and not for others, and its dot kernels block the
worlds axis, so the sampler rounds every product before adding it (`_tables.rounded`) and correlates
normals with an explicit, fixed-order sum instead of a matmul (`_correlate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp

from .. import rng
from . import _garch_state as gs
from . import _tables as tb
from ._tilt import ALIAS_BITS

__all__ = ["gjr_step", "garch_paths", "draw_innovations", "draw_tilted", "shock_innovations", "replay_filter",
           "simulate"]

NEWTON_STEPS = 20  # the shock's scalar equation converges quadratically from its start; 20 steps is ample


def gjr_step(p: Mapping[str, jax.Array], sigma2: jax.Array, e: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One day: (next conditional variance, return) from today's variance and innovation (percent units).

    Every product is `rounded` before it is added (``p["fence"]``: a uint32 zero), so that a world is
    bit-identical whatever the chunk it is drawn in (see `_tables.rounded`).
    """
    fence = p["fence"]
    eps = tb.rounded(jnp.sqrt(sigma2) * e, fence)
    arch = tb.rounded(jnp.where(eps < 0, p["alpha"] + p["gamma"], p["alpha"]) * (eps * eps), fence)
    sigma2_next = p["omega"] + arch + tb.rounded(p["beta"] * sigma2, fence)
    return sigma2_next, p["mu"] + eps


def garch_paths(p: Mapping[str, jax.Array], innovations: jax.Array,
                 sigma2_0: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The recursion on given innovations ``[time, ...]``: (returns, variances), both ``[time, ...]`` in
    percent units; ``variances[t]`` is the conditional variance of ``returns[t]``."""

    def body(sigma2, e):
        nxt, y = gjr_step(p, sigma2, e)
        return nxt, (y, sigma2)

    _, (y, sigma2) = jax.lax.scan(body, sigma2_0, innovations)
    return y, sigma2


def _correlate(z: jax.Array, chol: jax.Array, fence: jax.Array) -> jax.Array:
    """``z @ chol.T`` for ``z [worlds, assets]``, summed over columns in a fixed order.

    Not a dot: XLA:CPU's dot kernels block the worlds axis, and the bits of a row then depend on the number
    of worlds (measured: 1 world vs 10,000 differ in the last bit for 2 to 21 assets). The loop runs over
    the assets-major layout ``[assets, worlds]``, where each term scales a contiguous row of normals, and
    it is a loop rather than unrolled code so that compile time does not grow with the number of assets.
    """
    zt = z.T

    def add_column(k, n):
        column = jax.lax.dynamic_slice_in_dim(chol, k, 1, axis=1)  # [assets, 1]
        return n + tb.rounded(column * jax.lax.dynamic_slice_in_dim(zt, k, 1, axis=0), fence)

    return jax.lax.fori_loop(1, chol.shape[1], add_column, tb.rounded(chol[:, :1] * zt[:1], fence)).T


def draw_innovations(p: Mapping[str, jax.Array], world_keys: jax.Array, t: jax.Array, kind: str,
                      state: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(unit-variance innovations ``[worlds, assets]``, next state ``[worlds]``) of day `t` (burn days
    included) of each world. `state` is each world's slow volatility state (`_garch_state`), read and moved by
    state-matched FHS only; other kinds return it unchanged."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(world_keys, t)
    fence = p["fence"]
    n_assets = p["resid"].shape[1]
    if kind == "fhs-state":  # a date whose slow volatility state was nearest to the world's (`_garch_state`)
        rows, window = gs.matched_rows(keys, state, p["state_sorted"], p["state_order"], p["state_neighbours"])
        e = tb.rounded((p["resid"][rows] - p["state_center"][window]) * p["state_shrink"][window], fence)
        return e, gs.next_state(state, e, p["state_decay"], fence)
    if kind == "fhs-year":  # a date of the year the world's long-run level was drawn from (`_garch_state`)
        rows = gs.year_rows(keys, p["year_first"], p["state_neighbours"])
        e = tb.rounded(p["resid"][rows] * p["year_shrink"], fence)
        return e, state
    if kind == "fhs":  # one historical date per world and day: the whole cross-section moves together
        rows = jax.vmap(lambda k: jax.random.randint(k, (), 0, p["resid"].shape[0]))(keys)
        return p["resid"][rows], state
    return _copula(p, _latent(keys, kind, n_assets), kind), state


def _latent(keys: jax.Array, kind: str, n_assets: int) -> jax.Array:
    """``[worlds, assets (+1)]`` standard normals of a copula day; the t copula's mixing variable is last."""
    extra = 1 if kind == "t-copula" else 0
    return jax.vmap(lambda k: jax.random.normal(k, (n_assets + extra,), jnp.float32))(keys)


def _copula(p: Mapping[str, jax.Array], z: jax.Array, kind: str) -> jax.Array:
    """Unit-variance innovations ``[worlds, assets]`` from the latent normals `z` (`_latent`)."""
    fence = p["fence"]
    n_assets = p["resid"].shape[1]
    n = _correlate(z[:, :n_assets], p["copula_chol"], fence)  # rows ~ N(0, R)
    if kind == "gaussian-copula":
        return tb.interp(p["margin_table"], p["margin_grid"], n, fence)
    scale = tb.interp(p["mix_table"], p["mix_grid"], z[:, n_assets], fence)  # sqrt(nu_c / chi2_nu_c)
    return tb.interp(p["margin_table"], p["margin_grid"], tb.asinh(n * scale[:, None], fence), fence)


def _alias_pick(keys: jax.Array, n: jax.Array | int, threshold: jax.Array, alias: jax.Array,
                window: jax.Array | None = None) -> jax.Array:
    """``[worlds]`` an index in ``[0, n)`` per world by Walker's alias method: the column the plain draw would
    take (the same uniform integer from the same key), kept when 24 bits from a key the plain day does not use
    fall below its threshold, else its alias. `threshold`, `alias`: one ``[n]`` table, or ``[windows, n]``
    tables of which world i reads row ``window[i]``."""
    col = jax.vmap(lambda k: jax.random.randint(k, (), 0, n))(keys)
    bits = jax.vmap(lambda k: jax.random.bits(jax.random.fold_in(k, 1), (), jnp.uint32))(keys)
    at = col if window is None else (window, col)
    return jnp.where((bits >> (32 - ALIAS_BITS)) < threshold[at], col, alias[at])


def draw_tilted(p: Mapping[str, jax.Array], world_keys: jax.Array, t: jax.Array,
                kind: str) -> tuple[jax.Array, jax.Array]:
    """(innovations ``[worlds, assets]``, log likelihood ratio ``[worlds]``) of day `t` under a `Tilt`
    (`_tilt`: the arrays ``tilt_*`` come from `garch._tilt_params`).

    The draws reuse the plain day's numbers, so that theta = 0 gives the plain worlds bit for bit: FHS draws
    the same uniform column k as plain FHS and keeps it when 24 more bits (from a key the plain day does
    not use) fall below its alias threshold; the copulas shift the same latent normals by ``theta d``.
    """
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(world_keys, t)
    fence = p["fence"]
    if kind == "fhs":
        rows = _alias_pick(keys, p["resid"].shape[0], p["tilt_threshold"], p["tilt_alias"])
        return p["resid"][rows], p["tilt_log_lr"][rows]
    if kind == "fhs-year":  # the same within the world's window: its own alias table (`year_tilt_params`)
        window = p["year_window"]
        i = _alias_pick(keys, p["state_neighbours"], p["tilt_threshold"], p["tilt_alias"], window)
        e = tb.rounded(p["resid"][p["year_first"] + i] * p["year_shrink"], fence)
        return e, p["tilt_log_lr"][window, i]
    n_assets = p["resid"].shape[1]
    z = _latent(keys, kind, n_assets) + p["tilt_shift"]  # the shift is 0 on the t copula's mixing variable
    # log LR = -theta d.z + theta^2 / 2 at the shifted z; d.z summed in a fixed order (`_correlate`)
    dz = _correlate(z[:, :n_assets], p["tilt_direction"][None, :], fence)[:, 0]
    log_lr = tb.rounded(-p["tilt_theta"] * dz, fence) + p["tilt_half_theta2"]
    return _copula(p, z, kind), log_lr


def _rowsum(x: jax.Array, fence: jax.Array) -> jax.Array:
    """``[worlds]`` sum of ``x [worlds, assets]`` over assets in a fixed order (`_correlate`: chunk-exact)."""
    return _correlate(x, jnp.ones((1, x.shape[1]), x.dtype), fence)[:, 0]


def shock_innovations(p: Mapping[str, jax.Array], sigma2: jax.Array) -> jax.Array:
    """``[worlds, assets]`` innovations of a `PathShock` day (`_shock`) given the day's variances `sigma2`.

    The innovations are the conditional mean of a vector with correlation ``R = p["shock_corr"]`` given the
    value c of its portfolio ``v . e`` (``v = w * sigma``, w the target's weights): ``e = R v c / (v' R v)``.
    The scalar c is then solved, per world, so that the target's simple return
    ``sum_i w_i (exp((mu_i + sigma_i e_i) / 100) - 1)`` equals ``p["shock_size"]``: Newton's method from the
    log-linear solution, which by Jensen lies at or above the root of this convex equation, so the steps
    fall monotonically onto it when every target asset moves with the portfolio (positive dependence).
    """
    fence = p["fence"]
    w = p["shock_w"]
    v = tb.rounded(jnp.sqrt(sigma2) * w, fence)
    rv = _correlate(v, p["shock_corr"], fence)  # R symmetric: v @ R.T == R v per world
    d = rv / _rowsum(tb.rounded(v * rv, fence), fence)[:, None]
    a = p["mu"] / 100.0
    b = tb.rounded(jnp.sqrt(sigma2) * d, fence) / 100.0
    target = 1.0 + p["shock_size"]
    # sum_i w_i b_i = 1/100 exactly (v . R v / v' R v), so the log-linear start is this
    c0 = 100.0 * (jnp.log1p(p["shock_size"]) - _rowsum(tb.rounded(w * a, fence)[None, :], fence)[0])

    def newton(_, c):
        g = tb.rounded(w * jnp.exp(a + tb.rounded(b * c[:, None], fence)), fence)
        f = _rowsum(g, fence) - target
        fp = _rowsum(tb.rounded(g * b, fence), fence)
        return jnp.where(fp > 0, c - f / jnp.where(fp > 0, fp, 1.0), c)  # a flat slope (no root) stops the walk

    c = jax.lax.fori_loop(0, NEWTON_STEPS, newton, jnp.broadcast_to(c0, sigma2.shape[:1]))
    return tb.rounded(d * c[:, None], fence)


def replay_filter(p: Mapping[str, jax.Array], sigma2: jax.Array, state: jax.Array,
                  kind: str) -> tuple[jax.Array, jax.Array]:
    """(variance, state) ``[worlds, assets]``, ``[worlds]`` after filtering the real returns ``p["replay_y"]``
    (``[days, assets]``, natural units) through each world's recursion from `sigma2`/`state` (a `CrisisReplay`).
    Products are `rounded`, as in `gjr_step`, so that a world is the same whatever its chunk."""
    fence = p["fence"]

    def body(carry, y):
        sigma2, state = carry
        eps = tb.rounded(y * 100.0, fence) - p["mu"]
        if kind == "fhs-state":  # the slow state sees the episode's standardized residuals
            state = gs.next_state(state, eps / jnp.sqrt(sigma2), p["state_decay"], fence)
        arch = tb.rounded(jnp.where(eps < 0, p["alpha"] + p["gamma"], p["alpha"]) * (eps * eps), fence)
        return (p["omega"] + arch + tb.rounded(p["beta"] * sigma2, fence), state), None

    return jax.lax.scan(body, (sigma2, state), p["replay_y"])[0]


@partial(jax.jit, static_argnames=("n_worlds", "horizon", "burn", "kind", "tilted", "shocked", "replayed"))
def simulate(p: dict[str, jax.Array], key: jax.Array, first_world: jax.Array, *, n_worlds: int, horizon: int,
              burn: int | None, kind: str, tilted: bool = False, shocked: bool = False,
              replayed: bool = False) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Log returns ``[worlds, horizon, assets]`` (natural units, float32); a time loop over all worlds.

    ``burn=None`` starts from ``sigma2_next`` (conditional start); an integer starts from the unconditional
    variance and discards `burn` days. With `tilted`, the horizon's days are drawn by `draw_tilted` and the
    result is (log returns, ``[worlds]`` float32 log likelihood ratios summed over the horizon); burn days
    keep the plain law (their ratio is 1), so the start state is not tilted.

    With `shocked` (a `PathShock`; not with `tilted`), horizon day ``p["shock_day"]`` (0-based) takes
    `shock_innovations` instead of its draw; the days before run the plain loop (the plain worlds' days bit
    for bit) and the days after draw their own numbers, as the plain worlds do, from the shocked variance.

    With `replayed` (a `CrisisReplay`; alone), the first ``L = len(p["replay_y"])`` days are the real returns,
    the same in every world, filtered through each world's recursion (`replay_filter`); days L.. are drawn
    with the numbers the plain worlds use on those days, from the variance the episode left.
    """
    world_keys = rng.world_keys(key, first_world, n_worlds)
    # each world's long-run level (`_garch_level`): one factor per world, from a key no day uses
    pick = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, jnp.uint32(0xFFFFFFFF)), (), 0,
                                                 p["level_factors"].shape[0]))(world_keys)
    p = dict(p, omega=tb.rounded(p["omega"] * p["level_factors"][pick][:, None], p["fence"]))
    if kind == "fhs-year":  # the world replays the rows of the year its level came from
        first = p["level_starts"][pick]
        p = dict(p, year_first=first, year_window=pick, year_shrink=p["state_shrink"][pick])
    if burn is None:
        sigma2_0, burn = p["sigma2_next"], 0
    else:
        sigma2_0 = p["omega"] / (1.0 - (p["alpha"] + p["gamma"] / 2 + p["beta"]))

    def day(carry, t):
        sigma2, state = carry
        e, state = draw_innovations(p, world_keys, t, kind, state)
        sigma2, y = gjr_step(p, sigma2, e)
        return (sigma2, state), y

    def tilted_day(carry, t):
        sigma2, state, log_w = carry
        e, log_lr = draw_tilted(p, world_keys, t, kind)
        sigma2, y = gjr_step(p, sigma2, e)
        return (sigma2, state, log_w + log_lr), y

    def record(t, carry):
        # each day is written into [worlds, horizon, assets] in place: no [horizon, worlds, assets] stack to
        # transpose afterwards (one fresh output buffer instead of two)
        carry, out = carry
        carry, y = (tilted_day if tilted else day)(carry, (t + burn).astype(jnp.uint32))
        return carry, jax.lax.dynamic_update_slice_in_dim(out, (y / 100.0)[:, None, :], t, axis=1)

    n_assets = p["resid"].shape[1]
    # the co-movement state starts where the history ended (conditional) or at its mean (unconditional)
    state_0 = p["state_end"] if burn == 0 else p["state_mean"]
    carry = (jnp.broadcast_to(sigma2_0, (n_worlds, n_assets)), jnp.broadcast_to(state_0, (n_worlds,)))
    if burn:
        carry = jax.lax.fori_loop(0, burn, lambda t, c: day(c, t.astype(jnp.uint32))[0], carry)
    out = jnp.zeros((n_worlds, horizon, n_assets), jnp.float32)
    if replayed:
        n_days = p["replay_y"].shape[0]
        carry = replay_filter(p, *carry, kind)
        out = out.at[:, :n_days].set(jnp.broadcast_to(p["replay_y"], (n_worlds, n_days, n_assets)))
        return jax.lax.fori_loop(n_days, horizon, record, (carry, out))[1]
    if shocked:
        k = p["shock_day"]
        carry, out = jax.lax.fori_loop(0, k, record, (carry, out))
        sigma2, state = carry
        e = shock_innovations(p, sigma2)
        if kind == "fhs-state":  # the slow state sees the shock like any other day's innovation
            state = gs.next_state(state, e, p["state_decay"], p["fence"])
        sigma2, y = gjr_step(p, sigma2, e)  # the shock enters the next day's variance through the recursion
        out = jax.lax.dynamic_update_slice_in_dim(out, (y / 100.0)[:, None, :], k, axis=1)
        return jax.lax.fori_loop(k + 1, horizon, record, ((sigma2, state), out))[1]
    if not tilted:
        return jax.lax.fori_loop(0, horizon, record, (carry, out))[1]
    carry = (*carry, jnp.zeros((n_worlds,), jnp.float32))
    (_, _, log_w), out = jax.lax.fori_loop(0, horizon, record, (carry, out))
    return out, log_w

"""The GARCH sampler's side of a `Tilt` (`_tilt`): the arrays `_garch_sim.draw_tilted` reads, and the
likelihood ratios from the log ratios it sums."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from . import _tilt as tl
from ._tilt import Tilt

__all__ = ["tilt_params", "year_tilt_params", "tilt_weights"]


def tilt_params(resid: jax.Array, copula_chol: jax.Array, innovations: str, tilt: Tilt) -> dict[str, jax.Array]:
    """The ``tilt_*`` arrays of `tilt` for a fit with these residual rows, copula factor and innovations
    (FHS: an alias table and each row's log ratio; copulas: the latent shift and direction)."""
    w = tl.direction_weights(tilt, resid.shape[1])
    if innovations == "fhs":
        threshold, alias, log_lr = tl.alias_table(tilt.theta * tl.fhs_scores(np.asarray(resid), w))
        return {"tilt_threshold": jnp.asarray(threshold), "tilt_alias": jnp.asarray(alias),
                "tilt_log_lr": jnp.asarray(log_lr, jnp.float32)}
    d = tl.latent_direction(np.asarray(copula_chol), w)
    extra = 1 if innovations == "t-copula" else 0  # the mixing normal is not tilted
    shift = np.concatenate([tilt.theta * d, np.zeros(extra)])
    return {"tilt_shift": jnp.asarray(shift, jnp.float32), "tilt_direction": jnp.asarray(d, jnp.float32),
            "tilt_theta": jnp.float32(tilt.theta), "tilt_half_theta2": jnp.float32(tilt.theta ** 2 / 2)}


def year_tilt_params(resid: jax.Array, starts: jax.Array, length: int, shrink: jax.Array,
                     tilt: Tilt) -> dict[str, jax.Array]:
    """The ``tilt_*`` arrays for year-matched rows (`_garch_state.year_windows`): a world replays the rows of
    one window, ``resid[starts[j] + i] * shrink[j]`` for i < `length`, so the tilt reweights
    them within the window. The loss score is standardized over every window's rows together, as FHS
    standardizes its one pool, so that theta is one tilt whatever the year: a crisis year, whose portfolio
    moves spread wider, is tilted harder, as its rows are in the pool. One alias table per window
    ``[windows, length]`` and each row's log ratio ``log((1 / length) / pi'_i)``; the year itself is drawn
    as without a tilt (ratio 1)."""
    w = tl.direction_weights(tilt, resid.shape[1])
    e = np.asarray(resid, np.float64)
    starts, shrink = np.asarray(starts), np.asarray(shrink, np.float64)
    take = starts[:, None] + np.arange(length)  # [windows, length] the dates of each window
    rows = e[take] * shrink[:, None, :]  # [windows, length, assets] as replayed
    scores = tl.fhs_scores(rows.reshape(-1, rows.shape[2]), w).reshape(take.shape)
    tables = [tl.alias_table(tilt.theta * row) for row in scores]
    threshold, alias, log_lr = (np.stack(parts) for parts in zip(*tables, strict=True))
    return {"tilt_threshold": jnp.asarray(threshold), "tilt_alias": jnp.asarray(alias),
            "tilt_log_lr": jnp.asarray(log_lr, jnp.float32)}


def tilt_weights(log_w: jax.Array, tilt: Tilt) -> jax.Array:
    """Likelihood ratios ``exp(log_w)``; a ratio beyond float32 raises rather than becoming inf (which would
    give one world all the weight, or NaN). This reads the chunk's ratios on the host: a tilted chunk is
    waited for before the next is dispatched."""
    top = float(jnp.max(log_w))
    if not np.isfinite(top) or top > tl.MAX_LOG_WEIGHT:
        raise ConfigError(f"tilt.theta = {tilt.theta!r} is too strong for this horizon: a world's likelihood ratio "
                          f"reached exp({top:.1f}), beyond float32; lower tilt.theta")
    return jnp.exp(log_w)

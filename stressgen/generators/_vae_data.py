"""The VAE's data: standardized returns, the variance states before every day and the model's variance prior,
gathered into windows (pure functions; `vae` re-exports them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import _vae_nn as nn

if TYPE_CHECKING:
    from .vae import VaeConfig

__all__ = ["Prepared", "prepare", "gather_windows"]


@struct.dataclass
class Prepared:
    """Standardized returns and the features of every day, ready for windows (see `prepare`)."""

    x: jax.Array  # [T, A] standardized returns
    log_v: jax.Array  # [T + 1, S, A] features of the state before each day
    v_last: jax.Array  # [S, A] the state after the last day
    prior: jax.Array  # [1 + S, A] the model's variance prior (`VaeFitted.prior`)
    level: jax.Array  # [A] its log-scale shift (`VaeFitted.level`; 0 in training)


def prepare(returns: np.ndarray, scale: np.ndarray, config: VaeConfig, prior: np.ndarray | jax.Array,
            level: np.ndarray | jax.Array) -> Prepared:
    """Standardize ``returns [T, A]`` by `scale` and compute the volatility states of every day."""
    x = np.asarray(returns, dtype=np.float64) / scale
    decays = nn.ewma_decays(config.half_lives)
    v = nn.vol_states(x, decays)
    return Prepared(x=jnp.asarray(x, jnp.float32), log_v=nn.log_vol_features(jnp.asarray(v, jnp.float32)),
                    v_last=jnp.asarray(v[-1], jnp.float32), prior=jnp.asarray(prior, jnp.float32),
                    level=jnp.asarray(level, jnp.float32))


def gather_windows(data: Prepared, starts: jax.Array, config: VaeConfig):
    """``(window [B, W, A], ctx [B, C, A], log_v [B, D, S, A])`` of the windows starting at `starts` (>= C);
    ``log_v``: the features of the state before each day of the window with `daily_scale` (D = W), else
    before its first day only (D = 1, all the network reads then)."""
    days = starts[:, None] + jnp.arange(config.window)
    ctx = data.x[starts[:, None] - config.context + jnp.arange(config.context)]
    return data.x[days], ctx, data.log_v[days if config.daily_scale else starts[:, None]]

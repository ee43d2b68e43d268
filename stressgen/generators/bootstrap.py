"""Stationary block bootstrap (Politis and Romano, 1994) of whole cross-sectional return vectors.

Each world is a sequence of blocks of consecutive historical days. A block starts at a uniformly drawn
day and its length is geometric with mean `mean_block` (a new block starts on each day with probability
``p = 1 / mean_block``); blocks wrap around the end of the sample (circularly), which is what makes the
resampled series stationary. Whole rows ``r[t, :]`` are copied, so every cross-asset dependence of the
history (correlations, joint tails, common volatility regimes) is kept exactly.

The default mean block length is Politis and White's optimal length (with the Patton, Politis and White
correction, from `arch.bootstrap.optimal_block_length`) computed on |r|, not on r: on daily returns r is
nearly white and its optimal length comes out near 3 days, which would destroy volatility clustering;
|r| carries the clustering, and its optimal length (tens of days) keeps it.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from arch.bootstrap import optimal_block_length
from flax import struct

from .. import rng
from ..errors import ConfigError, InsufficientHistoryError
from ..types import MarketData, Scenarios
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict, config_to_dict,
                    digest, export_context, history_context, restore_context, take_arrays)

__all__ = ["BootstrapConfig", "BootstrapFitted", "StationaryBootstrap", "block_indices", "default_block_length"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BootstrapConfig:
    """Options of the stationary bootstrap.

    Attributes:
        mean_block: mean block length in periods (>= 1), or None for the data-driven default (the median
            over assets of the optimal stationary-bootstrap length of |r|).
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
    """

    mean_block: float | None = None
    history_days: int = 504

    def __post_init__(self) -> None:
        if self.mean_block is not None and not (isinstance(self.mean_block, int | float)
                                                and np.isfinite(self.mean_block) and self.mean_block >= 1):
            raise ConfigError(f"bootstrap.mean_block must be a number >= 1 or None, got {self.mean_block!r}")
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 0:
            raise ConfigError(f"bootstrap.history_days must be an integer >= 0, got {self.history_days!r}")


@struct.dataclass
class BootstrapFitted:
    """The sample to resample from; `mean_block` is a leaf so a new length does not recompile sampling."""

    returns: jax.Array  # [time, assets] float32 log returns
    mean_block: jax.Array  # scalar float32
    config: BootstrapConfig = struct.field(pytree_node=False)
    context: HistoryContext
    digest: str = struct.field(pytree_node=False)


def default_block_length(log_returns: np.ndarray) -> float:
    """Median over assets of the optimal stationary-bootstrap block length of |r| (at least 1)."""
    lengths = optimal_block_length(np.abs(np.asarray(log_returns, dtype=np.float64)))["stationary"]
    return float(max(1.0, np.median(lengths.to_numpy())))


def block_indices(key: jax.Array, n_obs: int, horizon: int, p: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Row indices ``[horizon]`` of one bootstrap world, and the flags of the days that start a block.

    Day 0 always starts a block. On later days a block starts with probability `p`; otherwise the index
    moves to the next day, wrapping from the last observation to the first.
    """
    k_new, k_start = jax.random.split(key)
    new = (jax.random.uniform(k_new, (horizon,)) < p).at[0].set(True)
    start = jax.random.randint(k_start, (horizon,), 0, n_obs)

    def step(prev: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        is_new, s = x
        i = jnp.where(is_new, s, (prev + 1) % n_obs)
        return i, i

    _, idx = jax.lax.scan(step, start[0], (new, start))
    return idx, new


@partial(jax.jit, static_argnames=("n_worlds", "horizon"))
def _sample(returns: jax.Array, mean_block: jax.Array, key: jax.Array, first_world: jax.Array,
            *, n_worlds: int, horizon: int) -> jax.Array:
    keys = rng.world_keys(key, first_world, n_worlds)
    idx, _ = jax.vmap(block_indices, in_axes=(0, None, None, None))(keys, returns.shape[0], horizon,
                                                                   1.0 / mean_block)
    return returns[idx]  # [worlds, horizon, assets]: whole rows, so cross-sections stay intact


class StationaryBootstrap(AbstractGenerator):
    """Stationary block bootstrap of cross-sectional return vectors (final)."""

    name = "bootstrap"
    config_type = BootstrapConfig

    def fit(self, market: MarketData, *, key: jax.Array, config: BootstrapConfig | None = None) -> BootstrapFitted:
        del key  # resampling has nothing random to estimate; the argument keeps the protocol uniform
        config = self._config(config)
        r = market.log_returns
        if r.shape[0] < 2:
            raise InsufficientHistoryError(f"the bootstrap needs at least 2 returns, got {r.shape[0]}",
                                           path=market.source, expected="2 or more returns")
        mean_block = default_block_length(r) if config.mean_block is None else float(config.mean_block)
        if mean_block > r.shape[0] / 2:
            warnings.warn(f"{market.source}: mean block length {mean_block:.1f} exceeds half the sample "
                          f"({r.shape[0]} returns); worlds will be few long stretches of history", stacklevel=2)
        returns = jnp.asarray(r, dtype=jnp.float32)
        block = jnp.asarray(mean_block, dtype=jnp.float32)
        return BootstrapFitted(returns=returns, mean_block=block, config=config,
                               context=history_context(market, config.history_days),
                               digest=digest(config, returns, block))

    def sample(self, fitted: BootstrapFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        self._no_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        log_returns = _sample(fitted.returns, fitted.mean_block, key, jnp.uint32(first_world),
                              n_worlds=n_worlds, horizon=horizon)
        return self._scenarios(fitted.context, log_returns, fitted.digest, first_world)

    def export_fitted(self, fitted: BootstrapFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest}
        return meta, {**arrays, "returns": np.asarray(fitted.returns), "mean_block": np.asarray(fitted.mean_block)}

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> BootstrapFitted:
        config = config_from_dict(BootstrapConfig, meta.get("config", {}), where="config")
        returns, block = (jnp.asarray(a) for a in take_arrays(arrays, ("returns", "mean_block")))
        return BootstrapFitted(returns=returns, mean_block=block, config=config,
                               context=restore_context(meta.get("context", {}), arrays),
                               digest=check_digest(meta.get("digest"), config, returns, block))

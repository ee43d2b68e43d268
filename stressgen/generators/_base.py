"""The generator protocol, the history context every fitted generator carries, and chunked sampling.

A generator family is a final subclass of `AbstractGenerator` with two methods:

* ``fit(market, *, key, config) -> fitted``: host-side estimation; `fitted` is a frozen pytree of arrays
  plus static metadata (the config, the history context and a digest of the fitted values);
* ``sample(fitted, *, key, n_worlds, horizon, condition=None, first_world=0) -> Scenarios``: pure and
  jitted. World i is drawn from ``rng.world_keys(key, i)`` alone, so it does not depend on `n_worlds`,
  `first_world` of the chunk it falls in, or the device count.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError
from ..types import MarketData, Provenance, Scenarios

__all__ = ["AbstractGenerator", "HistoryContext", "history_context", "digest", "iter_chunks", "check_sizes"]


@struct.dataclass
class HistoryContext:
    """The real history that sampled worlds continue from (the `Scenarios.history` prefix)."""

    history: jax.Array  # [time, assets] float32 log returns, the last `history_days` of the fit data
    anchor_prices: jax.Array  # [assets] last real prices
    assets: tuple[str, ...] = struct.field(pytree_node=False, default=())
    freq: str = struct.field(pytree_node=False, default="B")
    history_end: str = struct.field(pytree_node=False, default="")


def history_context(market: MarketData, days: int) -> HistoryContext:
    """Context from the last `days` log returns of `market` (all of them when shorter)."""
    r = market.log_returns[-days:] if days > 0 else market.log_returns[:0]
    return HistoryContext(
        history=jnp.asarray(r, dtype=jnp.float32),
        anchor_prices=jnp.asarray(market.prices[-1], dtype=jnp.float32),
        assets=market.assets,
        freq=market.freq,
        history_end=str(market.dates[-1].date()),
    )


def digest(config: Any, *arrays: Any) -> str:
    """Short SHA-256 of a config and fitted arrays, recorded in `Provenance.params_digest`."""
    h = hashlib.sha256(repr(config).encode())
    for leaf in jax.tree_util.tree_leaves(arrays):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def check_sizes(**sizes: int) -> None:
    """Each keyword (n_worlds, horizon, chunk_size, ...) must be a positive integer; the error names it."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class AbstractGenerator(abc.ABC):
    """A generator family. Subclasses are final; they hold no state (fitted values live in `fitted`)."""

    name: ClassVar[str]
    config_type: ClassVar[type]

    @abc.abstractmethod
    def fit(self, market: MarketData, *, key: jax.Array, config: Any = None) -> Any:
        """Estimate the generator on `market`; returns a fitted pytree."""

    @abc.abstractmethod
    def sample(self, fitted: Any, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: Any = None, first_world: int = 0) -> Scenarios:
        """Draw worlds ``first_world .. first_world + n_worlds - 1`` of `horizon` periods."""

    def _config(self, config: Any) -> Any:
        if config is None:
            return self.config_type()
        if not isinstance(config, self.config_type):
            raise ConfigError(f"generator {self.name!r} takes a {self.config_type.__name__}, "
                              f"got {type(config).__name__}")
        return config

    def _no_condition(self, condition: Any) -> None:
        if condition is not None:
            raise ConfigError(f"generator {self.name!r} does not support a stress condition (got {condition!r})")

    def _scenarios(self, context: HistoryContext, log_returns: jax.Array, params_digest: str,
                   first_world: int) -> Scenarios:
        return Scenarios(
            log_returns=log_returns, history=context.history, anchor_prices=context.anchor_prices,
            weights=None, assets=context.assets, freq=context.freq, history_end=context.history_end,
            provenance=Provenance(self.name, params_digest, first_world=int(first_world)),
        )


def iter_chunks(generator: AbstractGenerator, fitted: Any, *, key: jax.Array, n_worlds: int, horizon: int,
                chunk_size: int, first_world: int = 0, condition: Any = None) -> Iterator[Scenarios]:
    """Yield worlds in chunks of at most `chunk_size`, so memory is bounded by the chunk, not `n_worlds`.

    Every full chunk has the same shape, so only the last (shorter) chunk can compile a second program.
    """
    check_sizes(n_worlds=n_worlds, horizon=horizon, chunk_size=chunk_size)
    for start in range(first_world, first_world + n_worlds, chunk_size):
        size = min(chunk_size, first_world + n_worlds - start)
        yield generator.sample(fitted, key=key, n_worlds=size, horizon=horizon, condition=condition,
                               first_world=start)


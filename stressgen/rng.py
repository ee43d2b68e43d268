"""The one place where an integer seed becomes a key.

Rules (see docs/architecture.md, Randomness):

* an integer seed appears only in a run spec or a CLI flag; `root(seed)` turns it into a typed key;
* named streams are derived with `stream(key, NAME)`, so fitting, sampling, strategies and the bootstrap of
  statistics never share random numbers, whatever order they run in;
* world i's key is `fold_in(sample_key, i)`: world 17 is the same whether 1,000 or 1,000,000 worlds are
  drawn, in one chunk or many, on one device or many.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["FIT", "SAMPLE", "STRATEGY", "BOOTSTRAP", "OVERFIT", "root", "stream", "world_keys"]

# Stream identifiers. Fixed integers, never reordered: changing one changes every published number.
FIT = 0
SAMPLE = 1
STRATEGY = 2
BOOTSTRAP = 3
OVERFIT = 4  # the no-edge worlds of the overfitting statistics' chance share


def root(seed: int) -> jax.Array:
    """Typed root key from an integer seed (the only integer-to-key conversion in the package)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return jax.random.key(seed)


def stream(key: jax.Array, name: int) -> jax.Array:
    """Independent named stream derived from `key` (FIT, SAMPLE, STRATEGY, BOOTSTRAP or OVERFIT)."""
    return jax.random.fold_in(key, name)


def world_keys(key: jax.Array, first_world: jax.Array | int, n_worlds: int) -> jax.Array:
    """Keys of worlds `first_world .. first_world + n_worlds - 1`; key i depends only on (key, i).

    `first_world` may be a traced integer so that a new chunk offset does not trigger a recompile.
    """
    index = jnp.asarray(first_world, dtype=jnp.uint32) + jnp.arange(n_worlds, dtype=jnp.uint32)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)

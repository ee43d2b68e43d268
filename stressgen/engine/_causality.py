"""Look-ahead proof for vectorized strategies: changing returns after close t must not change the decisions up
to t, at every close whose decision is traded, for every parameter set, on the run's own input.

Why a perturbation proof, and why this one:

* The step tier is causal by construction (`stressgen.strategy.Obs` reads the tape only up to today). A
  vectorized strategy sees the whole ``[time, assets]`` array, so the only general test that does not read JAX
  internals is to change the future and watch the past: for a cut t, every return after t is changed, the
  weights are recomputed, and any weight (or trade flag) of a row ``<= t`` that moved is a look-ahead.
* Every cut, not a sample: a peek at one single row hides between sampled cuts. A look-ahead of row a on a
  later row b is seen by a cut t exactly when ``a <= t < b``, so cutting at every traded close
  (``-lag .. horizon - 1``: the decisions the engine executes) sees every look-ahead that can reach the P&L.
  Decisions before ``-lag`` are never executed, and a traded decision that reads history reads the past.
* The run's own input: the warm-up history the run uses (all of it, not a shortened copy) followed by world
  0's synthetic path, so behaviour that depends on the input length or the horizon is the behaviour proven.
* Every parameter set: the batched strategy (leaves ``[params, ...]``) is vmapped, so a grid is proven whole.
* Cached on exact values only: the key holds the bytes of every leaf, the static structure, the input's
  digest and the lag; a float parameter run at a new value is proven again.

The perturbation is deterministic (no random numbers): later returns are negated, scaled and shifted. The
proof's limit (docs/strategies.md): a strategy that reads the scenario arrays by a route other than its
input (a closure over them) is beyond any perturbation proof, and it is exact on the probe path only (world
0), so a peek that a strategy takes only on values that path never shows is not seen.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..errors import LookAheadError
from ..strategy import ParamGrid
from ._cache import LRU
from ._core import as_target

__all__ = ["prove_causal"]

_PROVEN = LRU(maxsize=256)  # bounded: a dropped entry is proven again
ATOL, RTOL = 1e-6, 1e-5
_BLOCK_ELEMENTS = 1 << 22  # cuts evaluated at once x params x rows x assets: bounds the proof's memory


def _perturb(x: jax.Array, t: jax.Array) -> jax.Array:
    rows = jnp.arange(x.shape[0])[:, None]
    cols = jnp.arange(x.shape[1])[None, :]
    changed = -1.7 * x + 0.02 * jnp.cos(0.7 * rows + 1.3 * cols)
    return jnp.where(rows > t, changed, x)


@functools.partial(jax.jit, static_argnames=("name", "block", "n_params"))
def _first_changed(batched: Any, x: jax.Array, cuts: jax.Array, *, name: str, block: int, n_params: int
                   ) -> jax.Array:
    """``[cuts, params]`` the first row ``<= cut`` whose decision changed when the rows after the cut were
    changed, or ``n`` where none did."""
    n, n_assets = x.shape

    def decide(xs: jax.Array) -> tuple[jax.Array, jax.Array]:
        # axis_size: a strategy without traced fields has no leaf to carry the parameter axis
        return jax.vmap(lambda s: as_target(s.weights(xs), n_assets, name, lead=(n,)), axis_size=n_params)(batched)

    base_w, base_t = decide(x)
    rows = jnp.arange(n)

    def one_cut(t: jax.Array) -> jax.Array:
        w, trade = decide(_perturb(x, t))
        moved = jnp.abs(w - base_w) > ATOL + RTOL * jnp.abs(base_w)
        moved |= jnp.isnan(w) != jnp.isnan(base_w)  # NaN before t must stay NaN
        bad = (moved.any(-1) | (trade != base_t)) & (rows <= t)
        return jnp.where(bad.any(-1), jnp.argmax(bad, axis=-1), n)

    return lax.map(one_cut, cuts, batch_size=block)


def _key(batched: Any, x: np.ndarray, lag: int) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(batched)
    digest = hashlib.sha256(x.tobytes())
    for leaf in leaves:
        a = np.asarray(leaf)
        digest.update(f"{a.shape}{a.dtype.str}".encode())
        digest.update(a.tobytes())
    return treedef, x.shape, lag, digest.hexdigest()


def prove_causal(batched: Any, history: np.ndarray, path: np.ndarray, *, lag: int, name: str,
                 grid: ParamGrid | None = None) -> None:
    """Raise `LookAheadError` if any parameter set's decision at a traded close depends on a later return.

    Args:
        batched: the vectorized strategy with every leaf carrying a leading ``[params]`` axis.
        history: ``[hist, assets]`` the run's warm-up rows (float32).
        path: ``[horizon, assets]`` the probe world's synthetic rows.
        lag: the run's execution lag (decisions from close ``-lag`` on are traded).
        name: the strategy's name for the error; grid: its grid, to name the parameter set.
    """
    x = np.concatenate([np.asarray(history, np.float32), np.asarray(path, np.float32)], axis=0)
    key = _key(batched, x, lag)
    if key in _PROVEN:
        return
    n, n_assets = x.shape
    n_hist = history.shape[0]
    cuts = np.arange(max(0, n_hist - 1 - lag), n - 1, dtype=np.int32)  # every traded close but the last
    if cuts.size:
        leaves = jax.tree_util.tree_leaves(batched)
        n_params = leaves[0].shape[0] if leaves else 1
        block = int(np.clip(_BLOCK_ELEMENTS // max(1, n_params * n * n_assets), 1, cuts.size))
        first = np.asarray(_first_changed(batched, jnp.asarray(x), jnp.asarray(cuts), name=name, block=block,
                                          n_params=n_params))
        if (first < n).any():
            k, p = np.unravel_index(np.argmin(first), first.shape)  # the earliest changed row
            row, cut = int(first[k, p]), int(cuts[k])
            at = ""
            if grid is not None:
                at = "parameter set " + ", ".join(f"{f}={v[p]}" for f, v in grid.values.items()) + "; "
            raise LookAheadError(name, row - (n_hist - 1),
                                 f"{at}returns after close t={cut - (n_hist - 1)} were changed; probe of world 0")
    _PROVEN.put(key, True)

"""Look-ahead proof for vectorized strategies: changing returns after t must not change weights up to t.

The step tier is causal by construction (the engine feeds it one close at a time). A vectorized strategy
sees the whole ``[time, assets]`` array, so on first use the engine recomputes its weights with every return
after t replaced (for several t, including the second-to-last day, where a one-day ``shift(-1)`` peek shows)
and refuses the strategy with `LookAheadError` naming the first day whose weights changed. Days are
reported as close indices (``t = 0`` is the last real close, the synthetic closes are ``1 .. horizon``).
The perturbation is deterministic (no random numbers): later returns are negated, scaled and shifted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..strategy import strategy_name
from ..types import Scenarios
from ._cache import LRU
from ._core import as_target

__all__ = ["check_causality"]

# Strategies already proven, keyed by (tree structure, shape): "on first use" means once per process for a
# class and its static fields; traced (float) parameters are not re-proven for every value, so a grid or a
# parameter change costs no new check and no compilation. Bounded (LRU): a dropped entry is proven again.
_PROVEN = LRU(maxsize=256)


def _perturb(x: jax.Array, t: jax.Array) -> jax.Array:
    rows = jnp.arange(x.shape[0])[:, None]
    cols = jnp.arange(x.shape[1])[None, :]
    changed = -1.7 * x + 0.02 * jnp.cos(0.7 * rows + 1.3 * cols)
    return jnp.where(rows > t, changed, x)


def check_causality(strategy, scenarios: Scenarios, *, n_points: int = 6, max_history: int = 256,
                    atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Raise `LookAheadError` if `strategy.weights` uses returns after row t for row t (world 0 probed)."""
    from ..errors import LookAheadError

    name = strategy_name(strategy)
    n_hist = min(max_history, scenarios.history.shape[0])
    key = (jax.tree_util.tree_structure(strategy), (n_hist + scenarios.horizon, scenarios.n_assets))
    if key in _PROVEN:  # checked before building the probe's input: a proven strategy costs nothing a call
        return
    history = jnp.asarray(scenarios.history, jnp.float32)
    history = history[history.shape[0] - n_hist:]
    x = jnp.concatenate([history, jnp.asarray(scenarios.log_returns[0], jnp.float32)], axis=0)
    n, n_assets = x.shape
    ts = np.unique(np.concatenate([np.linspace(n // 8, n - 2, n_points).astype(int), [n - 2]]))

    @jax.jit
    def run(xs):
        return jax.vmap(lambda v: as_target(strategy.weights(v), n_assets, name, lead=(n,)))(xs)

    base_w, base_t = (np.asarray(a)[0] for a in run(x[None]))
    pert_w, pert_t = (np.asarray(a) for a in run(jax.vmap(_perturb, in_axes=(None, 0))(x, jnp.asarray(ts))))
    first = None
    for k, t in enumerate(ts):
        rows = np.arange(n) <= t
        diff = np.abs(pert_w[k] - base_w) > atol + rtol * np.abs(base_w)
        # NaN before t must stay NaN: compare NaN-ness too
        diff |= np.isnan(pert_w[k]) != np.isnan(base_w)
        bad = (diff.any(-1) | (pert_t[k] != base_t)) & rows
        if bad.any():
            row = int(np.argmax(bad))
            if first is None or row < first[0]:
                first = (row, int(t))
    if first is not None:
        row, t = first
        to_close = lambda j: j - (history.shape[0] - 1)  # noqa: E731
        raise LookAheadError(name, to_close(row),
                             f"returns after close t={to_close(t)} were changed; probe of world 0")
    _PROVEN.put(key, True)

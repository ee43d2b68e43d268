"""Entry/exit signals to positions and weights, in the spirit of vectorbt's ``Portfolio.from_signals``.

    pos = positions_from_signals(fast > slow, fast < slow)          # [time, assets] in {-1, 0, 1}
    w = weights_from_signals(fast > slow, fast < slow, gross=1.0)   # equal weight over assets in position

Row t of the result is the position held after close t, decided from the signals of rows ``<= t`` only
(a `lax.scan` over time, so it is causal and a vectorized strategy may return it directly). The step tier
uses `signal_update` once per close with the previous position in its state.

Rules (vectorbt's defaults with ``accumulate=False``, checked against vectorbt's ``resolve_signal_conflict_nb``,
``resolve_dir_conflict_nb``, ``resolve_opposite_entry_nb`` and ``signals_to_size_nb``), per asset and close:

1. An entry and an exit of the same side on the same close cancel: both are ignored
   (``upon_long_conflict = upon_short_conflict = "ignore"``), so a position is neither opened nor closed.
2. A long entry and a short entry on the same close cancel (``upon_dir_conflict = "ignore"``).
3. Long: a short entry reverses to short (``upon_opposite_entry = "reversereduce"``, which reverses when
   not accumulating), else a long exit goes flat; a repeated long entry changes nothing (no pyramiding).
   Short mirrors this. Flat: a long entry goes long, else a short entry goes short; exits do nothing.

With only `entries` and `exits` this is vectorbt's ``direction="longonly"``. Signals are booleans (any
nonzero value counts); positions are float32 so they can be scaled into weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["signal_update", "positions_from_signals", "weights_from_signals"]


def signal_update(position: jax.Array, entry: jax.Array, exit: jax.Array, short_entry: jax.Array | None = None,
                  short_exit: jax.Array | None = None) -> jax.Array:
    """The position after one close (``[assets]`` floats in {-1, 0, 1}) from the one before and the close's
    signals (``[assets]`` booleans); see the module doc for the rules."""
    le, lx = jnp.asarray(entry, bool), jnp.asarray(exit, bool)
    se = jnp.zeros_like(le) if short_entry is None else jnp.asarray(short_entry, bool)
    sx = jnp.zeros_like(le) if short_exit is None else jnp.asarray(short_exit, bool)
    # 1. same-side conflicts cancel; 2. opposite entries cancel
    le, lx = le & ~lx, lx & ~le
    se, sx = se & ~sx, sx & ~se
    le, se = le & ~se, se & ~le
    # 3. the transition from the current side (reversal beats exit; after the conflicts le and se are exclusive)
    long_, short_ = position > 0, position < 0
    new = jnp.where(long_, jnp.where(se, -1.0, jnp.where(lx, 0.0, 1.0)),
                    jnp.where(short_, jnp.where(le, 1.0, jnp.where(sx, 0.0, -1.0)),
                              jnp.where(le, 1.0, jnp.where(se, -1.0, 0.0))))
    return new.astype(jnp.float32)


def positions_from_signals(entries: jax.Array, exits: jax.Array, short_entries: jax.Array | None = None,
                           short_exits: jax.Array | None = None) -> jax.Array:
    """``[time, assets]`` float32 positions in {-1, 0, 1} (row t held after close t), starting flat.

    All signal arrays are ``[time, assets]`` (or ``[time]`` for one asset) booleans; None means never."""
    entries = jnp.asarray(entries, bool)
    squeeze = entries.ndim == 1

    def prep(x):
        x = jnp.zeros_like(entries) if x is None else jnp.broadcast_to(jnp.asarray(x, bool), entries.shape)
        return x[:, None] if squeeze else x

    sig = tuple(prep(x) for x in (entries, exits, short_entries, short_exits))

    def body(pos, row):
        pos = signal_update(pos, *row)
        return pos, pos

    _, out = lax.scan(body, jnp.zeros(sig[0].shape[1:], jnp.float32), sig)
    return out[:, 0] if squeeze else out


def weights_from_signals(entries: jax.Array, exits: jax.Array, short_entries: jax.Array | None = None,
                         short_exits: jax.Array | None = None, *, gross: float | jax.Array = 1.0,
                         sizing: str = "equal") -> jax.Array:
    """``[time, assets]`` target weights from signals.

    Args:
        gross: total ``sum(|w|)`` when at least one asset is in position (``sizing="equal"``), or when every
            asset is (``"fixed"``).
        sizing: ``"equal"``: `gross` split equally over the assets in position on that row (an asset's
            weight changes when others enter or exit, as vectorbt's ``size_type="targetpercent"`` with
            ``group_by`` and ``cash_sharing``); ``"fixed"``: each position is ``gross / n_assets``
            regardless of the others (the rest stays in cash).
    """
    pos = positions_from_signals(entries, exits, short_entries, short_exits)
    if pos.ndim == 1:
        return pos * gross
    if sizing == "fixed":
        return pos * (gross / pos.shape[-1])
    if sizing != "equal":
        raise ValueError(f"sizing must be 'equal' or 'fixed', got {sizing!r}")
    n_in = jnp.sum(jnp.abs(pos), axis=-1, keepdims=True)
    return pos * gross / jnp.maximum(n_in, 1.0)

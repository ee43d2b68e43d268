"""Risk overlays that wrap any step strategy: per-asset stop-loss, take-profit and trailing stop, and a
whole-portfolio drawdown stop. They compose (``TakeProfit(inner=StopLoss(inner=MACrossover()))``) and
with `VolTarget`.

Per-asset stops (`StopLoss`, `TakeProfit`, `TrailingStop`), for each asset:

* Entry: the close at which the overlay's target for the asset goes from flat (or the other side) to a
  position; the entry price is that close. Resizing on the same side keeps the entry. Decisions in the
  warm-up (``t < 0``) are not traded, so no position and no entry exist before close 0.
* Exit: at the first later close where the price has fallen `stop` below the entry (long; risen `stop`
  above it for a short), risen `take` above it (fallen for a short), or fallen `trail` below the highest
  close since entry (risen `trail` above the lowest, short). Today's close counts in that extreme.
* After an exit the asset stays flat while the inner strategy's target for it stays on the stopped side;
  once the target goes to zero or changes sign the asset follows the inner strategy again (a flip
  re-enters at once, on the other side).

Compared with vectorbt's ``from_signals(sl_stop=, tp_stop=, sl_trail=True)``: the thresholds are the same
fractions of the entry (or extreme) price and the entry price is the entry close (vectorbt's default
``stop_entry_price="close"``). vectorbt also checks the bar's high/low and fills at the stop price
(``stop_exit_price="stoplimit"``); the engine only has closes, so the exit fills at the close that breaches
the level, gaps included (vectorbt's ``stop_exit_price="close"``). vectorbt re-enters on the next entry
*signal*, even on the same side; an inner step strategy emits target *levels*, so the equivalent of a new
signal is the target first leaving the stopped side. With ``lag > 0`` the entry price is still the decision
close.

The inner strategy sees its own holdings (``obs.replace(holdings=...)``): for an asset the overlay holds
flat against the inner's wish, its own weight drifted with the asset's returns, so ``Rebalance(..., False)``
keeps meaning "keep what I hold". When no stop fires the overlay passes the inner's output through
unchanged (same weights, same trade flag), so the equity is the inner strategy's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from stressgen.strategy import Obs, Rebalance, StepStrategy, business_days

__all__ = ["StopLoss", "TakeProfit", "TrailingStop", "DrawdownStop", "StopState", "DrawdownState"]


def _default_inner():
    from ._allocation import EqualWeight
    return EqualWeight()


def _split(out: Any) -> tuple[jax.Array, jax.Array]:
    return (out.weights, out.trade) if isinstance(out, Rebalance) else (out, jnp.asarray(True))


def _drift(w: jax.Array, simple_return: jax.Array) -> jax.Array:
    """Weights ``w`` (rest in cash at zero rate) after one day: what the inner strategy would now hold."""
    grown = w * (1.0 + simple_return)
    value = 1.0 + jnp.dot(w, simple_return)
    return jnp.where(value > 0, grown / jnp.where(value > 0, value, 1.0), 0.0)


class StopState(NamedTuple):
    inner: Any            # the inner strategy's state
    side: jax.Array       # [assets] sign of the overlay's position after its last decision (-1, 0, 1)
    entry: jax.Array      # [assets] log price at entry
    extreme: jax.Array    # [assets] log price: highest close since entry for a long, lowest for a short
    blocked: jax.Array    # [assets] bool: stopped out, waiting for the inner target to leave `blocked_side`
    blocked_side: jax.Array
    virtual: jax.Array    # [assets] the inner strategy's own weights after its last decision


class _AssetStop(StepStrategy):
    """Shared machinery of the per-asset stops; subclasses define `_hit` (see the module doc)."""

    def init(self, n_assets):
        z = jnp.zeros((n_assets,), jnp.float32)
        no = jnp.zeros((n_assets,), bool)
        return StopState(self.inner.init(n_assets), z, z, z, no, z, z)

    def _hit(self, from_entry: jax.Array, from_extreme: jax.Array, side: jax.Array) -> jax.Array:
        """[assets] bool; the arguments are price ratios ``price / entry`` and ``price / extreme``."""
        raise NotImplementedError

    def step(self, state: StopState, obs: Obs):
        lp = obs.log_price
        side = state.side
        virtual = _drift(state.virtual, obs.simple_return)
        # the inner strategy sees its own weight where the overlay holds it flat, else the real holdings
        view = jnp.where(state.blocked, virtual, obs.holdings)
        inner_state, out = self.inner.step(state.inner, obs.replace(holdings=view))
        w, trade = _split(out)
        target = jnp.where(trade, w, view)  # what the inner strategy wants held after this close
        want = jnp.sign(target)

        extreme = jnp.where(side > 0, jnp.maximum(state.extreme, lp),
                            jnp.where(side < 0, jnp.minimum(state.extreme, lp), state.extreme))
        hit = (side != 0) & ~state.blocked & self._hit(jnp.exp(lp - state.entry), jnp.exp(lp - extreme), side)
        # a stop binds only while the inner strategy still wants the stopped side; it is released once the
        # target goes to zero or flips
        blocked = jnp.where(state.blocked, want == state.blocked_side, hit & (want == side))
        blocked_side = jnp.where(hit & blocked, side, state.blocked_side)

        new = jnp.where(blocked, 0.0, target)
        # pass the inner's flag through unless a held asset must be closed today
        trade = trade | jnp.any(blocked & (obs.holdings != 0))
        weights = jnp.where(trade, new, obs.holdings)
        new_side = jnp.where(obs.t >= 0, jnp.sign(new), 0.0)  # warm-up decisions are never traded
        entered = (new_side != 0) & (new_side != side)
        state = StopState(inner_state, new_side, jnp.where(entered, lp, state.entry),
                          jnp.where(entered, lp, extreme), blocked, blocked_side, target)
        return state, Rebalance(weights, trade)


@dataclasses.dataclass(frozen=True)
class StopLoss(_AssetStop):
    """Per-asset stop-loss overlay: close an asset once its price falls `stop` below its entry price (rises
    `stop` above it for a short); stay flat until the inner target leaves that side (see the module doc).

    Parameters:
        inner: the wrapped step strategy.
        stop: loss from the entry price that closes the position (0.1 = 10 %).
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    stop: float = 0.10

    def _hit(self, from_entry, from_extreme, side):
        return jnp.where(side > 0, from_entry <= 1.0 - self.stop, from_entry >= 1.0 + self.stop)


@dataclasses.dataclass(frozen=True)
class TakeProfit(_AssetStop):
    """Per-asset take-profit overlay: close an asset once its price rises `take` above its entry price
    (falls `take` below it for a short); stay flat until the inner target leaves that side.

    Parameters:
        inner: the wrapped step strategy.
        take: gain from the entry price that closes the position (0.2 = 20 %).
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    take: float = 0.20

    def _hit(self, from_entry, from_extreme, side):
        return jnp.where(side > 0, from_entry >= 1.0 + self.take, from_entry <= 1.0 - self.take)


@dataclasses.dataclass(frozen=True)
class TrailingStop(_AssetStop):
    """Per-asset trailing stop: close an asset once its price falls `trail` below its highest close since
    entry (rises `trail` above its lowest, short); stay flat until the inner target leaves that side.

    Parameters:
        inner: the wrapped step strategy.
        trail: retreat from the best close since entry that closes the position (0.1 = 10 %).
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    trail: float = 0.10

    def _hit(self, from_entry, from_extreme, side):
        return jnp.where(side > 0, from_extreme <= 1.0 - self.trail, from_extreme >= 1.0 + self.trail)


class DrawdownState(NamedTuple):
    inner: Any
    high: jax.Array       # equity high-water mark since the last re-entry (obs.peak until the first stop)
    resume: jax.Array     # int32: close at which the overlay follows the inner strategy again
    in_cash: jax.Array    # bool: the last decision was cash
    virtual: jax.Array    # [assets] the inner strategy's own weights after its last decision


@dataclasses.dataclass(frozen=True)
class DrawdownStop(StepStrategy):
    """Portfolio drawdown stop: sell everything at the first close where the strategy's own drawdown
    exceeds `max_drawdown`, hold cash for `cooloff` closes, then follow the inner strategy again.

    The drawdown is ``1 - equity / high``: ``high`` is the equity high-water mark, which is ``obs.peak``
    (so the drawdown is ``obs.drawdown``) until the first stop; afterwards it restarts from the equity at
    re-entry, since cash cannot recover the loss and the old peak would stop the strategy again at once.
    A stop at close t sells at close t; the inner strategy is followed again from close ``t + cooloff``
    (at least ``t + 1``), when the overlay buys the inner's own (drifted) weights even if the inner does
    not trade that close. During the cash period the inner strategy still steps and sees its own holdings.

    Parameters:
        inner: the wrapped step strategy.
        max_drawdown: drawdown that triggers the stop (0.2 = 20 % below the high-water mark).
        cooloff: closes in cash before following the inner strategy again.
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    max_drawdown: float = 0.20
    cooloff: int = business_days(21)

    def init(self, n_assets):
        return DrawdownState(self.inner.init(n_assets), jnp.ones((), jnp.float32),
                             jnp.asarray(jnp.iinfo(jnp.int32).min, jnp.int32), jnp.zeros((), bool),
                             jnp.zeros((n_assets,), jnp.float32))

    def step(self, state: DrawdownState, obs: Obs):
        virtual = _drift(state.virtual, obs.simple_return)
        # during the cash period (and on the close that ends it) the inner strategy sees its own book
        view = jnp.where(state.in_cash, virtual, obs.holdings)
        inner_state, out = self.inner.step(state.inner, obs.replace(holdings=view))
        w, trade = _split(out)
        target = jnp.where(trade, w, view)

        cooling = obs.t < state.resume
        # while in cash the mark follows the (flat) equity, so the drawdown restarts at re-entry
        high = jnp.where(cooling, obs.equity, jnp.maximum(state.high, obs.equity))
        fire = ~cooling & (1.0 - obs.equity / high > self.max_drawdown)
        resume = jnp.where(fire, obs.t + jnp.maximum(self.cooloff, 1), state.resume)
        cash = cooling | fire
        # trade when going to cash, while in cash (zero turnover once flat) and on re-entry
        trade = cash | state.in_cash | trade
        weights = jnp.where(cash, 0.0, jnp.where(trade, target, obs.holdings))
        return DrawdownState(inner_state, high, resume, cash, target), Rebalance(weights, trade)

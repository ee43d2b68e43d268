"""Signal strategies (step tier): moving-average crossover, time-series and cross-sectional momentum,
z-score mean reversion, and the volatility-targeting overlay that wraps any step strategy.

Conventions: weights decided at close t earn r_{t+1} at the earliest; prices are ``exp(obs.log_price)``
(relative to the first warm-up day); momentum is the log return from ``lookback`` to ``skip`` days ago;
each asset's weight is its signal times ``gross / n_assets`` unless stated otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from stressgen import ta
from stressgen.engine import indicators as ind
from stressgen.numerics import check_windows
from stressgen.strategy import Obs, Rebalance, StepStrategy, business_days, static

__all__ = ["MACrossover", "TimeSeriesMomentum", "CrossSectionalMomentum", "ZScoreReversion", "VolTarget"]


class MAState(NamedTuple):
    fast: ind.Rolling   # running sums of the fast window
    slow: ind.Rolling


@dataclasses.dataclass(frozen=True)
class MACrossover(StepStrategy):
    """Long each asset while its fast simple moving average of price is above the slow one (short below
    it when `long_short`), flat until the slow window is full. Trades every day the signal says so.

    Parameters:
        fast: fast moving-average window, days.
        slow: slow moving-average window, days.
        long_short: short (-1) instead of flat when fast < slow.
        gross: total weight when every asset is in the market.
    """

    fast: int = business_days(10)
    slow: int = business_days(50)
    long_short: bool = static(False)  # a Python `if`: part of the program
    gross: float = 1.0

    def __post_init__(self):  # a concrete bad value fails here, naming the field; a grid's values too
        check_windows(type(self).__name__, fast=self.fast, slow=self.slow)

    def init(self, n_assets):
        return MAState(ta.SMA(self.fast).init(n_assets), ta.SMA(self.slow).init(n_assets))

    def step(self, state: MAState, obs: Obs):
        fast, slow = ta.SMA(self.fast), ta.SMA(self.slow)  # of price; each reads its leaving value itself
        state = MAState(fast.update(state.fast, obs), slow.update(state.slow, obs))
        up = fast.value(state.fast) > slow.value(state.slow)
        signal = jnp.where(up, 1.0, -1.0 if self.long_short else 0.0)
        signal = jnp.where(slow.ready(state.slow), signal, 0.0)
        return state, signal * (self.gross / signal.shape[0])


@dataclasses.dataclass(frozen=True)
class TimeSeriesMomentum(StepStrategy):
    """Time-series momentum 12-1: long each asset whose log return from `lookback` to `skip` days ago is
    positive (short if negative when `long_short`, else flat), rebalanced every `every` closes.

    Parameters:
        lookback: start of the momentum window, days ago (252 = 12 months).
        skip: end of the window, days ago (21 = skip the last month's reversal).
        every: rebalancing period in closes.
        long_short: short assets with negative momentum.
        gross: total weight when every asset is in the market.
    """

    lookback: int = business_days(252)
    skip: int = business_days(21)
    every: int = business_days(21)
    long_short: bool = static(False)  # a Python `if`: part of the program
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, lookback=self.lookback, every=self.every)
        check_windows(type(self).__name__, minimum=0, skip=self.skip)

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        mom = obs.log_price_ago(self.skip) - obs.log_price_ago(self.lookback)
        signal = jnp.sign(mom) if self.long_short else (mom > 0).astype(jnp.float32)
        signal = jnp.where(obs.seen > self.lookback, signal, 0.0)
        return state, Rebalance(signal * (self.gross / mom.shape[0]), obs.t % self.every == 0)


@dataclasses.dataclass(frozen=True)
class CrossSectionalMomentum(StepStrategy):
    """Cross-sectional momentum: equal weight in the `k` assets with the highest `lookback`-to-`skip`
    momentum, rebalanced every `every` closes; equal weight in all assets until the window is full.

    Parameters:
        lookback: start of the momentum window, days ago.
        skip: end of the momentum window, days ago.
        k: number of assets held.
        every: rebalancing period in closes.
        gross: total weight.
    """

    lookback: int = business_days(252)
    skip: int = business_days(21)
    k: int = 3
    every: int = business_days(21)
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, lookback=self.lookback, k=self.k, every=self.every)
        check_windows(type(self).__name__, minimum=0, skip=self.skip)

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        mom = obs.log_price_ago(self.skip) - obs.log_price_ago(self.lookback)
        n = mom.shape[0]
        top = ind.top_k_mask(mom, self.k).astype(jnp.float32) / self.k
        w = jnp.where(obs.seen > self.lookback, top, 1.0 / n)
        return state, Rebalance(w * self.gross, obs.t % self.every == 0)


@dataclasses.dataclass(frozen=True)
class ZScoreReversion(StepStrategy):
    """Mean reversion on the z-score of log price over a rolling window: position ``clip(-z / entry)`` per
    asset, i.e. fully long when the price is `entry` standard deviations below its mean (fully short that
    far above when `long_short`, else flat above the mean). Trades daily.

    Parameters:
        window: days in the rolling mean and standard deviation.
        entry: z-score at which the position is full.
        long_short: allow short positions.
        gross: total weight when every asset holds a full position.
    """

    window: int = business_days(20)
    entry: float = 2.0
    long_short: bool = static(False)  # a Python `if`: part of the program
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, window=self.window)

    def init(self, n_assets):
        return ta.ZScore(self.window).init(n_assets)

    def step(self, state: ta.ZScoreState, obs: Obs):
        zscore = ta.ZScore(self.window)  # of log price, over a window that includes today
        state = zscore.update(state, obs)
        pos = jnp.clip(-zscore.value(state) / self.entry, -1.0 if self.long_short else 0.0, 1.0)
        pos = jnp.where(zscore.ready(state), pos, 0.0)
        return state, pos * (self.gross / pos.shape[0])


class VolTargetState(NamedTuple):
    inner: Any          # the wrapped strategy's own state
    vol: ind.Ewma       # EWMA of the inner portfolio's daily return and its variance
    weights: jax.Array  # [assets] the inner strategy's weights after its last decision
    scale: jax.Array    # the scale factor in force


@dataclasses.dataclass(frozen=True)
class VolTarget(StepStrategy):
    """Volatility-targeting overlay for any step strategy: scales the inner strategy's weights by
    ``min(target / realised vol, max_leverage)``, the realised vol being an EWMA estimate of the inner
    portfolio's returns (annualised with the data's periods per year, `obs.periods_per_year`, unless
    `periods_per_year` is set). Rescales every `every` closes and whenever the inner strategy trades.

    Parameters:
        inner: the wrapped step strategy (its own parameters stay its own).
        target: annualised volatility target (0.10 = 10 %).
        span: EWMA span in days of the volatility estimate (alpha = 2 / (span + 1)).
        max_leverage: cap on the scale factor (1.0 never levers up past the inner weights).
        every: rescaling period in closes.
        max_gross: cap on the output's ``sum(|weights|)``: the inner strategy's drifted holdings can sum to a
            little more than its traded gross (costs are paid from cash), and scaling them must not breach
            the engine's cap.
        periods_per_year: annualisation factor; None (default): the data's (252 on business days, 52 on
            weekly data, 12 on monthly), as the run's own annualisation.
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    target: float = 0.10
    span: float = business_days(40.0)
    max_leverage: float = 1.0
    every: int = 1
    max_gross: float = 1.0
    periods_per_year: int | None = static(None)  # a convention, not a parameter to sweep

    def __post_init__(self):
        check_windows(type(self).__name__, every=self.every)

    def init(self, n_assets):
        zeros = jnp.zeros((n_assets,), jnp.float32)
        return VolTargetState(self.inner.init(n_assets), ind.ewma_init(()), zeros, jnp.ones((), jnp.float32))

    def step(self, state: VolTargetState, obs: Obs):
        inner_state, vol, w_prev, scale_prev = state
        vol = ind.ewma_update(vol, jnp.dot(w_prev, obs.simple_return), ind.span_to_alpha(self.span))
        # The inner strategy sees its own (unscaled) holdings, so "keep holdings" means what it expects.
        holdings = obs.holdings / jnp.where(scale_prev > 0, scale_prev, 1.0)
        inner_state, out = self.inner.step(inner_state, obs.replace(holdings=holdings))
        w, trade = (out.weights, out.trade) if isinstance(out, Rebalance) else (out, True)
        w_inner = jnp.where(trade, w, holdings)
        ppy = obs.periods_per_year if self.periods_per_year is None else self.periods_per_year
        ann = ind.ewma_std(vol) * jnp.sqrt(float(ppy))
        scale = jnp.where(ann > 0, jnp.minimum(self.target / jnp.where(ann > 0, ann, 1.0), self.max_leverage),
                          self.max_leverage)
        rescale = (obs.t % self.every == 0) | trade
        scale = jnp.where(rescale, scale, scale_prev)
        out = w_inner * scale
        out = out * jnp.minimum(1.0, self.max_gross / jnp.maximum(jnp.sum(jnp.abs(out)), 1e-30))
        return VolTargetState(inner_state, vol, w_inner, scale), Rebalance(out, rescale)


def _default_inner():
    from ._allocation import EqualWeight
    return EqualWeight()

"""Signal strategies (step tier): moving-average crossover, time-series and cross-sectional momentum,
z-score mean reversion, and the volatility-targeting overlay that wraps any step strategy.

Conventions: weights decided at close t earn r_{t+1} at the earliest; prices are ``exp(obs.log_price)``
(relative to the first warm-up day); momentum is the log return from ``lookback`` to ``skip`` days ago;
each asset's weight is its signal times ``gross / n_assets`` unless stated otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from stressgen.engine import indicators as ind
from stressgen.strategy import Obs, Rebalance, StepStrategy

__all__ = ["MACrossover", "TimeSeriesMomentum", "CrossSectionalMomentum", "ZScoreReversion", "VolTarget"]


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

    fast: int = 10
    slow: int = 50
    long_short: bool = False
    gross: float = 1.0

    def init(self, n_assets):
        return ind.rolling_init((n_assets,)), ind.rolling_init((n_assets,))

    def step(self, state, obs: Obs):
        price = jnp.exp(obs.log_price)
        fast = ind.rolling_update(state[0], price, jnp.exp(obs.log_price_ago(self.fast)), self.fast)
        slow = ind.rolling_update(state[1], price, jnp.exp(obs.log_price_ago(self.slow)), self.slow)
        up = ind.rolling_mean(fast, self.fast) > ind.rolling_mean(slow, self.slow)
        signal = jnp.where(up, 1.0, -1.0 if self.long_short else 0.0)
        signal = jnp.where(ind.ready(slow, self.slow), signal, 0.0)
        return (fast, slow), signal * (self.gross / price.shape[0])


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

    lookback: int = 252
    skip: int = 21
    every: int = 21
    long_short: bool = False
    gross: float = 1.0

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

    lookback: int = 252
    skip: int = 21
    k: int = 3
    every: int = 21
    gross: float = 1.0

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

    window: int = 20
    entry: float = 2.0
    long_short: bool = False
    gross: float = 1.0

    def init(self, n_assets):
        return ind.rolling_init((n_assets,))

    def step(self, state, obs: Obs):
        state = ind.rolling_update(state, obs.log_price, obs.log_price_ago(self.window), self.window)
        z = ind.rolling_zscore(state, obs.log_price, self.window)
        pos = jnp.clip(-z / self.entry, -1.0 if self.long_short else 0.0, 1.0)
        pos = jnp.where(ind.ready(state, self.window), pos, 0.0)
        return state, pos * (self.gross / pos.shape[0])


@dataclasses.dataclass(frozen=True)
class VolTarget(StepStrategy):
    """Volatility-targeting overlay for any step strategy: scales the inner strategy's weights by
    ``min(target / realised vol, max_leverage)``, the realised vol being an EWMA estimate of the inner
    portfolio's daily returns (annualised with `periods_per_year`). Rescales every `every` closes and
    whenever the inner strategy trades.

    Parameters:
        inner: the wrapped step strategy (its own parameters stay its own).
        target: annualised volatility target (0.10 = 10 %).
        span: EWMA span in days of the volatility estimate (alpha = 2 / (span + 1)).
        max_leverage: cap on the scale factor (1.0 never levers up past the inner weights).
        every: rescaling period in closes.
        max_gross: cap on the output's ``sum(|weights|)``: the inner strategy's drifted holdings can sum to a
            little more than its traded gross (costs are paid from cash), and scaling them must not breach
            the engine's cap.
        periods_per_year: annualisation factor.
    """

    inner: Any = dataclasses.field(default_factory=lambda: _default_inner())
    target: float = 0.10
    span: float = 40.0
    max_leverage: float = 1.0
    every: int = 1
    max_gross: float = 1.0
    periods_per_year: int = 252

    def init(self, n_assets):
        zeros = jnp.zeros((n_assets,), jnp.float32)
        return self.inner.init(n_assets), ind.ewma_init(()), zeros, jnp.ones((), jnp.float32)

    def step(self, state, obs: Obs):
        inner_state, vol, w_prev, scale_prev = state
        vol = ind.ewma_update(vol, jnp.dot(w_prev, obs.simple_return), ind.span_to_alpha(self.span))
        # The inner strategy sees its own (unscaled) holdings, so "keep holdings" means what it expects.
        holdings = obs.holdings / jnp.where(scale_prev > 0, scale_prev, 1.0)
        inner_state, out = self.inner.step(inner_state, obs._replace(holdings=holdings))
        w, trade = (out.weights, out.trade) if isinstance(out, Rebalance) else (out, True)
        w_inner = jnp.where(trade, w, holdings)
        ann = ind.ewma_std(vol) * jnp.sqrt(float(self.periods_per_year))
        scale = jnp.where(ann > 0, jnp.minimum(self.target / jnp.where(ann > 0, ann, 1.0), self.max_leverage),
                          self.max_leverage)
        rescale = (obs.t % self.every == 0) | trade
        scale = jnp.where(rescale, scale, scale_prev)
        out = w_inner * scale
        out = out * jnp.minimum(1.0, self.max_gross / jnp.maximum(jnp.sum(jnp.abs(out)), 1e-30))
        return (inner_state, vol, w_inner, scale), Rebalance(out, rescale)


def _default_inner():
    from ._allocation import EqualWeight
    return EqualWeight()

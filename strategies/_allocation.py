"""Allocation strategies (step tier): buy and hold, equal weight, inverse volatility, minimum variance.

Conventions: weights decided at close t earn r_{t+1} at the earliest; ``t`` is the close index relative to
the synthetic horizon (0 = last real close, which is when the first trade happens); rebalancing "every n
days" means closes with ``t % n == 0``, and between them the engine lets the weights drift (no trade, no
cost). Window lengths may be gridded: rolling windows read their leaving value from the engine's tape.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from stressgen import ta
from stressgen.engine import indicators as ind
from stressgen.numerics import check_windows
from stressgen.strategy import Obs, Rebalance, StepStrategy, business_days, static

__all__ = ["BuyAndHold", "EqualWeight", "InverseVolatility", "MinimumVariance"]


def _equal(n: int, gross) -> jnp.ndarray:
    return jnp.full((n,), 1.0 / n, jnp.float32) * gross


@dataclasses.dataclass(frozen=True)
class BuyAndHold(StepStrategy):
    """Buy at the last real close and never trade again.

    Parameters:
        weights: initial weight per asset (a tuple, one per asset); None for equal weights.
        gross: fraction of equity invested (scales `weights`; 1.0 = fully invested).
    """

    weights: tuple[float, ...] | None = None
    gross: float = 1.0

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        n = obs.log_return.shape[0]
        w = _equal(n, 1.0) if self.weights is None else jnp.asarray(self.weights, jnp.float32)
        return state, Rebalance(w * self.gross, obs.t == 0)


@dataclasses.dataclass(frozen=True)
class EqualWeight(StepStrategy):
    """Equal weight in every asset, rebalanced back to equal every `every` closes.

    Parameters:
        every: rebalancing period in closes (21 ~ monthly, 1 = daily).
        gross: fraction of equity invested.
    """

    every: int = business_days(21)
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, every=self.every)

    def init(self, n_assets):
        return ()

    def step(self, state, obs: Obs):
        return state, Rebalance(_equal(obs.log_return.shape[0], self.gross), obs.t % self.every == 0)


@dataclasses.dataclass(frozen=True)
class InverseVolatility(StepStrategy):
    """Naive risk parity: weight each asset by 1 / its rolling volatility, rebalanced every `every` closes.

    Parameters:
        window: days of log returns in the volatility estimate (sample std, ddof=1).
        every: rebalancing period in closes.
        gross: fraction of equity invested.
    """

    window: int = business_days(63)
    every: int = business_days(21)
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, window=self.window, every=self.every)

    def init(self, n_assets):
        return ta.RollingStd(self.window).init(n_assets)

    def step(self, state: ind.Rolling, obs: Obs):
        vol = ta.RollingStd(self.window)  # of log returns, ddof=1
        state = vol.update(state, obs)
        inv = 1.0 / jnp.maximum(vol.value(state), 1e-8)
        return state, Rebalance(self.gross * inv / jnp.sum(inv), obs.t % self.every == 0)


@dataclasses.dataclass(frozen=True)
class MinimumVariance(StepStrategy):
    """Rolling minimum-variance portfolio ``w ~ inverse(S) 1`` from the sample covariance of the last
    `window` log returns, shrunk toward its average variance, rebalanced every `every` closes.

    Parameters:
        window: days in the covariance estimate.
        every: rebalancing period in closes.
        shrink: weight of the shrinkage target ``mean(diag(S)) I`` (0 = sample covariance).
        long_only: clip negative weights to 0 and renormalise (a heuristic, not a constrained QP).
        gross: fraction of equity invested.
    """

    window: int = business_days(126)
    every: int = business_days(21)
    shrink: float = 0.1
    long_only: bool = static(True)  # a Python `if`: part of the program
    gross: float = 1.0

    def __post_init__(self):
        check_windows(type(self).__name__, window=self.window, every=self.every)

    def init(self, n_assets):
        return ind.rolling_cov_init(n_assets)

    def step(self, state: ind.RollingCov, obs: Obs):
        state = ind.rolling_cov_update(state, obs.log_return, obs.log_return_ago(self.window), self.window)
        rebalance = obs.t % self.every == 0
        # The solve (a LAPACK call per world) runs on rebalancing closes only: the other closes' weights are
        # never traded. A branch, not a select, whenever `every` is one number for the run (not a grid axis).
        w = lax.cond(rebalance, lambda: self._weights(state), lambda: jnp.zeros_like(obs.log_return))
        return state, Rebalance(self.gross * w, rebalance)

    def _weights(self, state: ind.RollingCov):
        cov = ind.rolling_cov(state, self.window)
        n = cov.shape[0]
        target = jnp.mean(jnp.diag(cov)) * jnp.eye(n, dtype=cov.dtype)
        shrunk = (1.0 - self.shrink) * cov + self.shrink * target + 1e-10 * jnp.eye(n, dtype=cov.dtype)
        raw = jnp.linalg.solve(shrunk, jnp.ones((n,), cov.dtype))
        if self.long_only:
            raw = jnp.maximum(raw, 0.0)
        total = jnp.sum(raw)
        # Before two observations (or if everything clipped) the covariance says nothing: hold equal weights.
        ok = (state.count >= 2) & (total > 0) & jnp.all(jnp.isfinite(raw))
        return jnp.where(ok, raw / jnp.where(ok, total, 1.0), 1.0 / n)

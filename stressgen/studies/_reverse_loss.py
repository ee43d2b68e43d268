"""A strategy's loss, ``1 - final equity``, as a differentiable function of one world's log returns.

The P&L is the engine's own: `engine._core.simulate`, the day loop `backtest` compiles, run on one world
with the scenarios' history prefix, costs, lag and limits (`engine._run._prepare` builds its inputs exactly
as `backtest` does). Nothing of the accounting is re-implemented here.

The smooth relaxation, one for every strategy: the strategy's decisions (target weights and trade flags)
are held fixed under differentiation. The strategy sees its observations through `jax.lax.stop_gradient`
and its output passes through it too, so thresholds, signals and rebalancing schedules need no relaxation
of their own: the gradient flows only through the returns that the held weights earn (drift, costs of the
drift, compounding), which is what makes a loss larger. The VALUE is unchanged (stop_gradient is the
identity forward), so the constraint is evaluated on the exact strategy; only the search direction ignores
how the strategy would have reacted. `exact` re-measures the found paths with `stressgen.engine.backtest`
(the program `stressgen.backtest` runs; its risk reducer does not touch equity, and the studies layer may not
import `stressgen.backtesting`), validation probe and causality proof included.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import engine
from ..engine._core import STEP, simulate
from ..engine._run import _prepare
from ..errors import ConfigError
from ..strategy import StepStrategy, VectorStrategy
from ..types import Scenarios

__all__ = ["StrategyLoss", "strategy_loss"]


def _held(tree: Any) -> Any:
    """`tree` with every floating leaf behind `stop_gradient` (flags and counters pass as they are)."""
    def stop(x: Any) -> Any:
        return jax.lax.stop_gradient(x) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x

    return jax.tree_util.tree_map(stop, tree)


@dataclasses.dataclass(frozen=True)
class _HeldStep(StepStrategy):
    """A step strategy whose decisions carry no derivative (module doc). `inner` is a pytree child."""

    inner: Any

    def init(self, n_assets: int) -> Any:
        return self.inner.init(n_assets)

    def step(self, state: Any, obs: Any) -> Any:
        seen = obs.replace(**{f.name: _held(getattr(obs, f.name)) for f in dataclasses.fields(obs)})
        state, out = self.inner.step(state, seen)
        return state, _held(out)


@dataclasses.dataclass(frozen=True)
class _HeldVector(VectorStrategy):
    inner: Any

    def weights(self, log_returns: jax.Array) -> Any:
        return _held(self.inner.weights(_held(log_returns)))


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: jax.jit(loss) needs a hashable callable
class StrategyLoss:
    """``loss(log_returns [horizon, assets]) -> 1 - final equity`` (a float32 scalar, differentiable with the
    strategy's decisions held), and `exact` for many paths at once. Build it with `strategy_loss`.

    `arrays` holds the engine's runtime inputs and the held strategy; `most_likely_paths` passes them to its
    compiled program as arguments (`split`), so that the FMA fence stays a runtime zero (`numerics.rounded`).
    """

    strategy: Any
    scenarios: Scenarios
    config: engine.BacktestConfig
    tier: str
    arrays: tuple

    def __call__(self, log_returns: jax.Array) -> jax.Array:
        return self.smooth(self.arrays, log_returns)

    def smooth(self, arrays: tuple, log_returns: jax.Array) -> jax.Array:
        """The loss with the engine's inputs `arrays` (``self.arrays`` or their traced copy)."""
        held, history, num, rates, calendar = arrays
        _, daily = simulate(self.tier, held, log_returns[None], history, num, lag=self.config.lag,
                            long_only=self.config.long_only, mode="full", reducer=None, rates=rates,
                            calendar=calendar, periods_per_year=self.config.periods_per_year)
        return 1.0 - daily["equity"][0, 0, -1]

    def exact(self, log_returns: np.ndarray | jax.Array) -> np.ndarray:
        """``[paths]`` float64 ``1 - final equity`` of the exact strategy (no held decisions) on
        `log_returns` ``[paths, horizon, assets]``, by `stressgen.engine.backtest`."""
        worlds = self.scenarios.replace(log_returns=jnp.asarray(log_returns, jnp.float32), weights=None)
        equity = np.asarray(engine.backtest(self.strategy, worlds, self.config).equity, np.float64)
        return 1.0 - equity[:, -1]


def strategy_loss(strategy: Any, scenarios: Scenarios,
                  config: engine.BacktestConfig = engine.BacktestConfig()) -> StrategyLoss:
    """The loss of `strategy` (step or vectorized tier, not a grid) on a world that continues `scenarios`:
    its history prefix, calendar and assets are used (its log returns are not; any sample of the generator,
    one world, will do)."""
    grid, _, tier, batched, inputs = _prepare(strategy, scenarios, config)
    if grid is not None:
        raise ConfigError("strategy_loss: one strategy, not a parameter grid (search each parameter set alone)")
    held = (_HeldStep if tier == STEP else _HeldVector)(inner=batched)
    arrays = (held, jnp.asarray(inputs.history), jnp.asarray(inputs.num),
              None if inputs.rates is None else jnp.asarray(inputs.rates),
              None if inputs.calendar is None else jnp.asarray(inputs.calendar))
    return StrategyLoss(strategy=strategy, scenarios=scenarios, config=config, tier=tier, arrays=arrays)

"""Small synthetic worlds and reference strategies shared by the engine tests (imported by name: the
test folders are not packages)."""

import dataclasses

import jax.numpy as jnp
import numpy as np

from stressgen.engine import indicators as ind
from stressgen.strategy import StepStrategy, VectorStrategy, static
from stressgen.types import Scenarios


def make_scenarios(n_worlds=6, horizon=40, n_assets=3, n_hist=60, seed=0):
    rng = np.random.default_rng(seed)  # test data only; the package never uses np.random
    return Scenarios(log_returns=jnp.asarray(rng.normal(0.0003, 0.012, (n_worlds, horizon, n_assets)), jnp.float32),
                     history=jnp.asarray(rng.normal(0.0003, 0.012, (n_hist, n_assets)), jnp.float32),
                     anchor_prices=jnp.asarray(rng.uniform(20, 200, n_assets), jnp.float32),
                     assets=tuple(f"A{i}" for i in range(n_assets)), history_end="2024-01-02")


@dataclasses.dataclass(frozen=True)
class SoftMomentum(VectorStrategy):
    """Causal vectorized strategy: softmax of a 5-day rolling mean, scaled to `gross`."""

    gross: float = 0.9
    temp: float = 150.0

    def weights(self, x):
        e = jnp.exp(self.temp * ind.rolling_mean_array(x, 5))
        return self.gross * e / e.sum(-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Peeking(VectorStrategy):
    """Uses tomorrow's return: must be refused."""

    def weights(self, x):
        nxt = jnp.concatenate([x[1:], x[-1:]], axis=0)
        return 0.5 * (nxt > 0).astype(jnp.float32) / x.shape[1]


@dataclasses.dataclass(frozen=True)
class Constant(StepStrategy):
    """Fixed weights every day (for accounting tests)."""

    level: float = 0.5
    negative: bool = static(False)

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        n = obs.log_return.shape[0]
        w = jnp.full((n,), self.level / n)
        if self.negative:
            w = w.at[0].set(-w[0])
        return state, w

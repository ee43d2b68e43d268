"""Signals to positions (stressgen.signals) against vectorbt's ``Portfolio.from_signals`` and a slow loop."""

import dataclasses
import sys
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from stressgen import BacktestConfig, backtest
from stressgen.signals import positions_from_signals, signal_update, weights_from_signals
from stressgen.strategy import StepStrategy, VectorStrategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import make_scenarios  # noqa: E402


def _random_signals(seed, shape=(80, 4), p=0.25):
    rng = np.random.default_rng(seed)  # test data only
    return [rng.random(shape) < p for _ in range(4)]


def _vbt_positions(entries, exits, short_entries=None, short_exits=None):
    """Shares held after each bar by vectorbt with one-share orders (so position = -1, 0 or 1)."""
    vbt = pytest.importorskip("vectorbt")
    close = pd.DataFrame(np.full(entries.shape, 100.0))
    kw = {} if short_entries is None else dict(short_entries=pd.DataFrame(short_entries),
                                               short_exits=pd.DataFrame(short_exits))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(close, pd.DataFrame(entries), pd.DataFrame(exits), size=1.0,
                                        init_cash=1e9, **kw)
        return pf.assets().to_numpy()


def _slow(entries, exits, short_entries, short_exits):
    """The module doc's rules written out with ifs, one asset and close at a time."""
    out = np.zeros(entries.shape)
    for a in range(entries.shape[1]):
        pos = 0
        for t in range(entries.shape[0]):
            le, lx, se, sx = entries[t, a], exits[t, a], short_entries[t, a], short_exits[t, a]
            if le and lx:
                le = lx = False
            if se and sx:
                se = sx = False
            if le and se:
                le = se = False
            if pos > 0:
                pos = -1 if se else (0 if lx else 1)
            elif pos < 0:
                pos = 1 if le else (0 if sx else -1)
            else:
                pos = 1 if le else (-1 if se else 0)
            out[t, a] = pos
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_long_short_matches_vectorbt_and_slow_loop(seed):
    sig = _random_signals(seed)
    got = np.asarray(positions_from_signals(*sig))
    np.testing.assert_array_equal(got, _vbt_positions(*sig))
    np.testing.assert_array_equal(got, _slow(*sig))
    assert {-1.0, 0.0, 1.0} == set(np.unique(got))


def test_long_only_matches_vectorbt():
    entries, exits, *_ = _random_signals(7, p=0.3)
    got = np.asarray(positions_from_signals(entries, exits))
    np.testing.assert_array_equal(got, _vbt_positions(entries, exits))
    assert (got >= 0).all()
    np.testing.assert_array_equal(positions_from_signals(entries[:, 0], exits[:, 0]), got[:, 0])  # 1-D


def test_conflicts_follow_vectorbt_ignore():
    # columns: entry+exit while flat, entry+exit while long, long+short entry while flat, short entry while long
    T = jnp.array
    entries = T([[1, 1, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0]], bool)
    exits = T([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], bool)
    short_entries = T([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], bool)
    short_exits = jnp.zeros_like(entries)
    got = np.asarray(positions_from_signals(entries, exits, short_entries, short_exits))
    np.testing.assert_array_equal(got, [[0, 1, 0, 1], [0, 1, 0, -1], [0, 1, 0, -1]])
    np.testing.assert_array_equal(got, _vbt_positions(*(np.asarray(x) for x in (entries, exits, short_entries,
                                                                                  short_exits))))


def test_weights_sizing():
    sig = _random_signals(3)
    pos = np.asarray(positions_from_signals(*sig))
    eq = np.asarray(weights_from_signals(*sig, gross=0.8))
    n_in = np.abs(pos).sum(1, keepdims=True)
    np.testing.assert_allclose(eq, np.where(n_in > 0, 0.8 * pos / np.maximum(n_in, 1), 0.0), rtol=1e-6)
    np.testing.assert_allclose(np.abs(eq).sum(1), np.where(n_in[:, 0] > 0, 0.8, 0.0), rtol=1e-6)
    np.testing.assert_allclose(weights_from_signals(*sig, gross=0.8, sizing="fixed"), 0.2 * pos, rtol=1e-6)
    with pytest.raises(ValueError, match="sizing"):
        weights_from_signals(*sig, sizing="kelly")


# ----------------------------------------------------------------------------------------- in the engine
@dataclasses.dataclass(frozen=True)
class ReturnSignals(VectorStrategy):
    """Vector tier: long after an up day, out after a down day beyond `band` (short entries the mirror)."""

    band: float = 0.01

    def weights(self, x):
        return weights_from_signals(x > self.band, x < -self.band, x < -2 * self.band, x > 2 * self.band)


@dataclasses.dataclass(frozen=True)
class ReturnSignalsStep(StepStrategy):
    """The same rule, step tier: the position is the state, `signal_update` once per close."""

    band: float = 0.01

    def init(self, n_assets):
        return jnp.zeros((n_assets,), jnp.float32)

    def step(self, pos, obs):
        x = obs.log_return
        pos = signal_update(pos, x > self.band, x < -self.band, x < -2 * self.band, x > 2 * self.band)
        return pos, pos / jnp.maximum(jnp.sum(jnp.abs(pos)), 1.0)


def test_step_and_vector_tiers_agree_in_the_engine():
    s = make_scenarios(n_worlds=3, horizon=40, n_assets=3, n_hist=20, seed=2)
    config = BacktestConfig(fee_bps=2, long_only=False)
    vec = backtest(ReturnSignals(), s, config)  # the engine proves the vectorized form causal on first use
    step = backtest(ReturnSignalsStep(), s, config)
    np.testing.assert_allclose(np.asarray(vec.equity), np.asarray(step.equity), rtol=1e-6)
    assert np.asarray(vec.turnover).sum() > 0

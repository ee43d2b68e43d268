"""Indicator objects (stressgen.ta): each stepped day by day over a tape and compared with pandas rolling /
ewm or a slow float64 NumPy loop (independent references), then inside the engine."""

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from stressgen import BacktestConfig, backtest, ta
from stressgen.strategy import StepStrategy, grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import make_scenarios  # noqa: E402

T, A = 60, 3


class TapeObs:
    """The two tape accessors of `stressgen.strategy.Obs` at close t, over arrays ``[T, A]`` (the
    indicators read nothing else)."""

    def __init__(self, r, lp, t):
        self.r, self.lp, self.t = r, lp, t

    def log_return_ago(self, k):
        return self.r[jnp.maximum(self.t - k, 0)]

    def log_price_ago(self, k):
        return self.lp[jnp.maximum(self.t - k, 0)]


def _tape(seed=0):
    rng = np.random.default_rng(seed)  # test data only
    r = rng.normal(0.0005, 0.02, (T, A)).astype(np.float32)
    lp = np.cumsum(r.astype(np.float64), axis=0)
    return r, lp


def _step_through(indicator, r, lp):
    """``[T, A]`` values and ``[T]`` ready flags after each close, one `update` per close."""
    rj, lpj = jnp.asarray(r), jnp.asarray(lp, jnp.float32)

    @jax.jit
    def one(state, t):
        state = indicator.update(state, TapeObs(rj, lpj, t))
        return state, indicator.value(state), indicator.ready(state)

    state, vals, ready = indicator.init(A), [], []
    for t in range(T):
        state, v, ok = one(state, jnp.int32(t))
        vals.append(np.asarray(v))
        ready.append(bool(np.all(ok)))
    return np.array(vals), np.array(ready)


def _series(source, r, lp):
    return pd.DataFrame({"price": np.exp(lp), "log_price": lp, "return": r.astype(np.float64)}[source])


@pytest.mark.parametrize("window", [1, 5, 20])
def test_sma_std_max_min_match_pandas(window):
    r, lp = _tape()
    cases = [(ta.SMA(window), "price", "mean"), (ta.SMA(window, source="return"), "return", "mean"),
             (ta.RollingStd(window), "return", "std"), (ta.RollingStd(window, source="price"), "price", "std"),
             (ta.RollingMax(window), "price", "max"), (ta.RollingMin(window, source="log_price"), "log_price", "min")]
    for indicator, source, how in cases:
        got, ready = _step_through(indicator, r, lp)
        x = _series(source, r, lp)
        ref = getattr(x.rolling(window, min_periods=1), how)().to_numpy()
        if how == "std":
            ref = np.nan_to_num(ref, nan=0.0)  # pandas: NaN with one point; ours: 0 (no spread)
        # float32 running sums: the error scales with the series' level, not with the statistic
        level = np.abs(x.to_numpy()).max()
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6 * level, err_msg=f"{indicator}")
        np.testing.assert_array_equal(ready, np.arange(T) + 1 >= window)


@pytest.mark.parametrize("span", [1.0, 4.0, 19.5])
def test_ema_matches_pandas_ewm(span):
    r, lp = _tape(1)
    got, ready = _step_through(ta.EMA(span), r, lp)
    ref = _series("price", r, lp).ewm(span=span, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(got, ref, rtol=2e-6)
    np.testing.assert_array_equal(ready, np.arange(T) + 1 >= span)


def _wilder_rsi(x, n):
    """Slow float64 Wilder RSI: mean of the first n changes, then avg = (avg * (n - 1) + change) / n."""
    out = np.full(x.shape, 50.0)
    for a in range(x.shape[1]):
        gains, losses = [], []
        g = l_ = 0.0
        for t in range(1, x.shape[0]):
            d = x[t, a] - x[t - 1, a]
            gains.append(max(d, 0.0))
            losses.append(max(-d, 0.0))
            if len(gains) <= n:  # before the window is full: the mean of the changes so far
                g, l_ = np.mean(gains), np.mean(losses)
            else:
                g, l_ = (g * (n - 1) + gains[-1]) / n, (l_ * (n - 1) + losses[-1]) / n
            out[t, a] = 100.0 - 100.0 / (1.0 + g / l_) if l_ > 0 else (100.0 if g > 0 else 50.0)
    return out


@pytest.mark.parametrize("window,source", [(14, "price"), (3, "log_price")])
def test_rsi_matches_slow_wilder(window, source):
    r, lp = _tape(2)
    got, ready = _step_through(ta.RSI(window, source=source), r, lp)
    x = _series(source, r, lp).to_numpy()
    np.testing.assert_allclose(got, _wilder_rsi(x, window), atol=2e-3)
    np.testing.assert_array_equal(ready, np.arange(T) >= window)  # close t has seen t changes
    assert ((got >= 0) & (got <= 100)).all()


def test_zscore_matches_pandas():
    r, lp = _tape(3)
    window = 10
    got, _ = _step_through(ta.ZScore(window), r, lp)
    x = _series("log_price", r, lp)
    roll = x.rolling(window, min_periods=1)
    ref = ((x - roll.mean()) / roll.std()).to_numpy()
    # float32 sums of log prices: the z-score divides two small differences
    np.testing.assert_allclose(got[1:], ref[1:], atol=2e-3, rtol=1e-3)
    np.testing.assert_array_equal(got[0], 0.0)


def test_array_forms_match_pandas_and_accept_traced_windows():
    r, lp = _tape(4)
    p = np.exp(lp)
    df = pd.DataFrame(p)
    x = jnp.asarray(p, jnp.float32)
    np.testing.assert_allclose(ta.SMA(7).array(x), df.rolling(7, min_periods=1).mean(), rtol=2e-6)
    np.testing.assert_allclose(ta.rolling_max_array(x, 7), df.rolling(7, min_periods=1).max(), rtol=1e-6)
    np.testing.assert_allclose(ta.rolling_min_array(x[:, 0], 7), df[0].rolling(7, min_periods=1).min(), rtol=1e-6)
    np.testing.assert_allclose(ta.EMA(5.0).array(x), df.ewm(span=5.0, adjust=False).mean(), rtol=2e-6)
    np.testing.assert_allclose(ta.rsi_array(x, 5), _wilder_rsi(p, 5), atol=2e-3)
    # windows are traced: one vmapped program over several windows, each equal to its own run
    maxes = jax.jit(jax.vmap(ta.rolling_max_array, in_axes=(None, 0)))(x, jnp.array([3, 9]))
    np.testing.assert_allclose(maxes[1], df.rolling(9, min_periods=1).max(), rtol=1e-6)


def test_source_is_static_and_checked():
    assert jax.tree_util.tree_leaves(ta.RSI(7, source="log_price")) == [7]
    with pytest.raises(ValueError, match="source must be one of"):
        ta.SMA(5, source="close")


# ----------------------------------------------------------------------------------------- in the engine
@dataclasses.dataclass(frozen=True)
class Breakout(StepStrategy):
    """Long an asset at a new `window`-close high of its price (the probe strategy of the tests below)."""

    window: int = 10

    def init(self, n_assets):
        return ta.RollingMax(self.window).init(n_assets)

    def step(self, state, obs):
        hi = ta.RollingMax(self.window)
        state = hi.update(state, obs)
        at_high = jnp.exp(obs.log_price) >= hi.value(state) * (1 - 1e-6)
        return state, jnp.where(at_high, 1.0 / obs.log_price.shape[0], 0.0)


def test_rolling_max_in_the_engine_matches_pandas_and_grids():
    from stressgen.engine import trace_world

    s = make_scenarios(n_worlds=3, horizon=50, n_assets=3, n_hist=30, seed=5)
    w = trace_world(Breakout(window=8), s, BacktestConfig())["decision"][0, 0]  # closes 0 .. horizon
    lp = np.cumsum(np.concatenate([np.asarray(s.history), np.asarray(s.log_returns[0])]).astype(np.float64), 0)
    p = pd.DataFrame(np.exp(lp))
    ref = (p >= p.rolling(8, min_periods=1).max() * (1 - 1e-6)).to_numpy()[s.history.shape[0] - 1:]
    np.testing.assert_array_equal(w > 0, ref)
    assert 0 < ref.mean() < 1
    # the window is a traced leaf: a grid is one program and each row is its own run
    res = backtest(grid(Breakout(), window=[4, 8]), s, metrics_only=True)
    single = backtest(Breakout(window=8), s, metrics_only=True)
    np.testing.assert_allclose(res.summary["total_return"][1], single.summary["total_return"], atol=1e-6)


@dataclasses.dataclass(frozen=True)
class HeldIndicator(StepStrategy):
    """An indicator held as a field: a pytree child whose window is a traced leaf."""

    ema: ta.EMA = ta.EMA(5.0)

    def init(self, n_assets):
        return self.ema.init(n_assets)

    def step(self, state, obs):
        state = self.ema.update(state, obs)
        up = jnp.exp(obs.log_price) > self.ema.value(state)
        return state, jnp.where(up, 1.0 / obs.log_price.shape[0], 0.0)


def test_indicator_as_a_strategy_field():
    s = make_scenarios(n_worlds=3, horizon=40, n_assets=3, n_hist=30, seed=7)
    assert jax.tree_util.tree_leaves(HeldIndicator()) == [5.0]
    a = backtest(HeldIndicator(), s, metrics_only=True).summary["total_return"]
    b = backtest(HeldIndicator(ta.EMA(12.0)), s, metrics_only=True).summary["total_return"]
    assert np.isfinite(a).all() and not np.allclose(a, b)

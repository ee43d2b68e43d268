"""Vectorized strategies streamed inside the day loop (engine/_stream.py) against their weights arrays.

The reference is the array program itself: `strategy.weights` on the whole ``[history + horizon, assets]``
array of a world, evaluated by XLA as written (and the engine's up-front path, forced, for whole backtests).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from enginekit import Peeking, SoftMomentum, make_scenarios

from stressgen.engine import BacktestConfig, _run, backtest, indicators as ind, stream_reason
from stressgen.engine._core import as_target
from stressgen.engine._stream import Streamed
from stressgen.strategy import Obs, Rebalance, Tape, VectorStrategy, grid


@dataclasses.dataclass(frozen=True)
class VectorMA(VectorStrategy):
    """MA crossover on prices, the bench's vectorized case: rolling means of a derived series."""

    fast: int = 5
    slow: int = 20

    def weights(self, x):
        p = jnp.exp(ind.cumsum_array(x))
        up = ind.rolling_mean_array(p, self.fast) > ind.rolling_mean_array(p, self.slow)
        ready = (jnp.arange(x.shape[0]) >= self.slow - 1)[:, None]
        return jnp.where(up & ready, 1.0, 0.0) / x.shape[1]


@dataclasses.dataclass(frozen=True)
class Mixed(VectorStrategy):
    """jnp.cumsum, a z-score, an EWMA, a cross-sectional rank, a softmax, a matrix product and a trade
    mask: most of what streams, in one program."""

    gross: float = 0.9

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        z = ind.rolling_zscore_array(lp, 15)
        vol = ind.ewma_std_array(x, 0.06)
        rank = ind.cs_rank(z)
        tilt = x @ jnp.linspace(0.5, 1.5, x.shape[1])
        w = jax.nn.softmax(-z, axis=-1) * (rank >= 1) / (1.0 + vol.sum(-1, keepdims=True) + tilt[:, None] ** 2)
        w = self.gross * w / jnp.maximum(jnp.abs(w).sum(-1, keepdims=True), 1.0)
        return Rebalance(w, jnp.arange(x.shape[0]) % 3 == 0)


@dataclasses.dataclass(frozen=True)
class Momentum(VectorStrategy):
    """12-1 style momentum through `momentum_array` and top-k."""

    def weights(self, x):
        mom = ind.momentum_array(ind.cumsum_array(x), 30, 5)
        return ind.top_k_mask(mom, 2).astype(jnp.float32) * 0.45


@dataclasses.dataclass(frozen=True)
class Diff(VectorStrategy):
    """A shift along time (jnp.diff): does not stream, runs on the up-front path."""

    def weights(self, x):
        d = jnp.concatenate([jnp.zeros_like(x[:1]), jnp.diff(x, axis=0)], axis=0)
        return jnp.where(d > 0, 0.2, 0.0)


@dataclasses.dataclass(frozen=True)
class SmoothedMean(VectorStrategy):
    """A rolling mean of an EWMA: its leaving value is a past row only a scan computes."""

    def weights(self, x):
        m = ind.rolling_mean_array(ind.ewma_mean_array(x, 0.2), 10)
        return jnp.where(m > 0, 0.2, 0.0)


@dataclasses.dataclass(frozen=True)
class ScanPeek(VectorStrategy):
    """Reads tomorrow's row inside a scan: the stream clamps the read to today."""

    def weights(self, x):
        n = x.shape[0]
        out = jax.lax.scan(lambda c, t: (c, x[jnp.minimum(t + 1, n - 1)]), 0.0, jnp.arange(n))[1]
        return jnp.where(out > 0, 0.2, 0.0)


@dataclasses.dataclass(frozen=True)
class SeededEwma(VectorStrategy):
    """An EWMA whose starting carry is the first row, and bars since a jump (integer cummax): the state of
    row 0 is computed at row 0, integers start from their own minimum."""

    def weights(self, x):
        m = jax.lax.scan(lambda m, v: (m + 0.1 * (v - m),) * 2, ind.lagged(x, 0, 0), x)[1]
        n = x.shape[0]
        last = jax.lax.cummax(jnp.where(x > 0.01, jnp.arange(n)[:, None], -1), axis=0)
        since = jnp.arange(n)[:, None] - last
        return jnp.where((m > 0) & (since < 5), 0.2, 0.0) * jnp.linspace(0.5, 1.0, x.shape[1])[None]


@dataclasses.dataclass(frozen=True)
class ReadAhead(VectorStrategy):
    """Causal overall (row t is x[t]) but its scan reads row t + 1 into the carry: streaming would clamp
    that read, so the agreement check must send it to the up-front path."""

    def weights(self, x):
        n = x.shape[0]
        nxt = jax.lax.scan(lambda c, t: (ind.lagged(x, jnp.minimum(t + 1, n - 1), 0), c),
                           jnp.zeros(x.shape[1]), jnp.arange(n))[1]
        return jnp.where(nxt > 0, 0.2, 0.0)


@dataclasses.dataclass(frozen=True)
class Broadcasts(VectorStrategy):
    """Per-asset vectors broadcast over time (``v[None]``), a dead ``x[0]`` slice, a scan seeded with
    ``zeros_like(x[0])`` and ``jnp.stack`` across assets."""

    def weights(self, x):
        mu = jnp.linspace(-0.001, 0.001, x.shape[1])
        s = jax.lax.scan(lambda c, v: (c + v, c + v), jnp.zeros_like(x[0]), x - mu[None])[1]
        pair = jnp.stack([s, x], axis=1).sum(1)
        return jnp.clip(pair * 10, -0.1, mu[None] * 100 + 0.2)


def _rows(strategy, x):
    """The streamed strategy's decisions row by row, on a tape that is all history (one world)."""
    n, n_assets = x.shape
    s = Streamed(strategy, n)
    lp = ind.cumsum_array(x)
    tape = Tape(x, lp, x[:1], lp[:1])

    @jax.jit
    def step(state, i):
        one = jnp.float32(1.0)
        obs = Obs(x[i], jnp.expm1(x[i]), lp[i], jnp.zeros(n_assets), i - (n - 1), i + 1, one, one * 0, one,
                  tape)
        state, out = s.step(state, obs)
        return state, as_target(out, n_assets, "test", lead=())

    state, ws, ts = s.init(n_assets), [], []
    for i in range(n):
        state, (w, t) = step(state, i)
        ws.append(w)
        ts.append(t)
    return np.stack(ws), np.stack(ts)


def _array(strategy, x):
    w, t = as_target(strategy.weights(x), x.shape[1], "test", lead=(x.shape[0],))
    return np.asarray(w), np.asarray(t)


X = jnp.asarray(np.random.default_rng(3).normal(0.0003, 0.012, (90, 4)), jnp.float32)


@pytest.mark.parametrize("strategy,atol", [
    (VectorMA(), 0.0),        # the log prices are the tape's, to the last bit
    (SeededEwma(), 0.0),
    (Broadcasts(), 1e-6),
    (SoftMomentum(), 1e-6),
    (Momentum(), 0.0),
    # jnp.cumsum is XLA's (not the tape's sequential sum) and the z-score amplifies its rounding
    (Mixed(), 2e-5),
])
def test_streamed_rows_match_the_weights_array(strategy, atol):
    assert stream_reason(strategy, make_scenarios(horizon=30, n_hist=60, n_assets=4)) is None
    w_ref, t_ref = _array(strategy, X)
    w, t = _rows(strategy, X)
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=atol)
    np.testing.assert_array_equal(t, t_ref)


@pytest.mark.parametrize("strategy,reason", [
    (Diff(), "slice cuts the time axis"),
    (Peeking(), "slice cuts the time axis"),
    (ReadAhead(), "differ from the weights array at row"),
    (SeededEwma(), None),
    (SmoothedMean(), "past row of a series only a scan"),
    (SoftMomentum(), None),
])
def test_stream_reason_names_the_op(strategy, reason):
    got = stream_reason(strategy, make_scenarios(horizon=30, n_hist=60, n_assets=4))
    assert got == reason if reason is None else reason in got


def test_reads_of_the_future_are_clamped_to_the_present():
    w, _ = _rows(ScanPeek(), X)
    np.testing.assert_array_equal(w, np.where(np.asarray(X) > 0, np.float32(0.2), np.float32(0.0)))


def _up_front(monkeypatch):
    monkeypatch.setattr(_run, "why_not_streamed", lambda *a: "forced by the test")


@pytest.mark.parametrize("strategy,atol", [
    (VectorMA(), 1e-7), (Momentum(), 1e-7), (SoftMomentum(), 1e-7),
    (grid(VectorMA(), fast=[3, 5], slow=[10, 20]), 1e-7),
    (Mixed(), 1e-4),  # weights agree to 2e-5 (jnp.cumsum, above); turnover sums 4 assets' differences
])
def test_backtest_streamed_equals_up_front(strategy, atol, monkeypatch):
    scen = make_scenarios(n_worlds=5, horizon=30, n_assets=4, n_hist=60, seed=2)
    config = BacktestConfig(fee_bps=10, lag=1)
    fast = backtest(strategy, scen, config, check=False)
    _up_front(monkeypatch)
    slow = backtest(strategy, scen, config, check=False)
    for key in ("equity", "turnover", "costs"):
        np.testing.assert_allclose(np.asarray(getattr(fast, key)), np.asarray(getattr(slow, key)),
                                   rtol=2e-5, atol=atol, err_msg=key)


def test_unstreamable_strategies_still_run(monkeypatch):
    scen = make_scenarios(n_worlds=4, horizon=25, n_assets=3, n_hist=40)
    res = backtest(SmoothedMean(), scen, BacktestConfig())
    assert np.isfinite(np.asarray(res.equity)).all()
    assert np.asarray(res.turnover).sum() > 0


def test_no_history_streams_from_the_first_synthetic_day(monkeypatch):
    scen = make_scenarios(n_worlds=3, horizon=40, n_assets=2, n_hist=0)
    fast = backtest(VectorMA(), scen, check=False)
    _up_front(monkeypatch)
    slow = backtest(VectorMA(), scen, check=False)
    np.testing.assert_array_equal(np.asarray(fast.equity), np.asarray(slow.equity))

"""Conformance of every built-in strategy, strategy-specific behaviour, and plugin loading."""

import dataclasses
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import strategies
from stressgen import BacktestConfig, backtest
from stressgen.plugins import available_strategies, load_strategy
from stressgen.errors import PluginLoadError, UnknownNameError
from stressgen.strategy import grid
from stressgen.types import Scenarios


def _scen(n_assets=4, horizon=30, n_hist=300, n_worlds=4, seed=3):
    rng = np.random.default_rng(seed)  # test data only
    return Scenarios(log_returns=jnp.asarray(rng.normal(0.0004, 0.012, (n_worlds, horizon, n_assets)), jnp.float32),
                     history=jnp.asarray(rng.normal(0.0004, 0.012, (n_hist, n_assets)), jnp.float32),
                     anchor_prices=jnp.ones(n_assets))


SCEN = _scen()


@pytest.mark.parametrize("name", sorted(strategies.BUILTIN))
def test_builtin_conformance(name):
    cls = strategies.BUILTIN[name]
    assert cls.__doc__ and "Parameters:" in cls.__doc__
    res = backtest(cls(), SCEN, BacktestConfig(fee_bps=5), metrics_only=True)  # probe validates outputs
    tr = res.summary["total_return"]
    assert tr.shape == (SCEN.n_worlds,) and np.isfinite(np.asarray(tr)).all()
    again = backtest(cls(), SCEN, BacktestConfig(fee_bps=5), metrics_only=True)
    np.testing.assert_array_equal(again.summary["total_return"], tr)  # deterministic


def test_buy_and_hold_trades_once_and_equal_weight_monthly():
    s = _scen(horizon=50)
    bh = backtest(strategies.BuyAndHold(), s)
    assert np.count_nonzero(np.asarray(bh.turnover)[0]) == 1
    g = np.expm1(np.asarray(s.log_returns[1], np.float64))
    np.testing.assert_allclose(bh.equity[1][-1], np.prod(1 + g, axis=0).mean(), rtol=1e-5)
    ew = backtest(strategies.EqualWeight(every=21), s)
    traded = np.flatnonzero(np.asarray(ew.turnover)[0])
    np.testing.assert_array_equal(traded, [0, 21, 42])


def test_ma_crossover_signal_matches_numpy():
    s = _scen(n_assets=1, horizon=60, n_hist=20, n_worlds=1)
    strat = strategies.MACrossover(fast=3, slow=10)
    from stressgen.engine import trace_world
    w = trace_world(strat, s, BacktestConfig())["decision"][0, 0, :, 0]  # closes 0..horizon
    r = np.concatenate([np.asarray(s.history), np.asarray(s.log_returns[0])])[:, 0].astype(np.float64)
    p = np.exp(np.cumsum(r))
    ref = []
    for j in range(19, len(p)):
        ok = j + 1 >= 10
        ref.append(float(ok and p[j - 2:j + 1].mean() > p[j - 9:j + 1].mean()))
    np.testing.assert_array_equal(w, ref)


def test_cs_momentum_holds_top_k():
    s = _scen(n_assets=5, n_hist=80)
    strat = strategies.CrossSectionalMomentum(lookback=40, skip=5, k=2, every=1)
    from stressgen.engine import trace_world
    w = trace_world(strat, s, BacktestConfig())["decision"][0, 0]
    assert ((w > 0).sum(-1) == 2).all() and np.allclose(w.sum(-1), 1.0)


def test_vol_target_scales_down_and_composes():
    s = _scen()
    inner = strategies.EqualWeight(every=1)
    low = backtest(strategies.VolTarget(inner=inner, target=0.01), s)
    full = backtest(inner, s)
    assert np.asarray(low.pnl).std() < 0.5 * np.asarray(full.pnl).std()


def test_vol_target_annualises_with_the_data_periods_per_year():
    """Unset, `periods_per_year` is the run's (`BacktestConfig`, from the data's frequency): the scale is
    target / (EWMA SD x sqrt(periods per year)), so on monthly data it is sqrt(252 / 12) times the daily one."""
    from stressgen.engine import trace_world

    s = _scen()
    inner = strategies.EqualWeight(every=1)
    follows = strategies.VolTarget(inner=inner, target=0.01, max_leverage=100.0)
    monthly, daily = BacktestConfig(periods_per_year=12), BacktestConfig(periods_per_year=252)
    np.testing.assert_array_equal(np.asarray(backtest(follows, s, monthly).pnl),
                                  np.asarray(backtest(dataclasses.replace(follows, periods_per_year=12), s,
                                                      monthly).pnl))
    np.testing.assert_array_equal(np.asarray(backtest(follows, s, daily).pnl),
                                  np.asarray(backtest(dataclasses.replace(follows, periods_per_year=252), s,
                                                      daily).pnl))
    w12 = trace_world(follows, s, monthly)["decision"][0, 0]
    w252 = trace_world(follows, s, daily)["decision"][0, 0]
    assert 0 < w12.sum(-1).max() < 1.0  # below the caps: the ratio is the annualisation's alone
    np.testing.assert_allclose(w12, w252 * np.sqrt(252 / 12), rtol=1e-5)


def test_grid_over_windows_runs_as_one_program():
    g = grid(strategies.MACrossover(), fast=[5, 10], slow=[20, 40])
    # windows are traced leaves (the tape serves any lag), so the four sets share one program
    assert np.shape(g.strategy.fast) == (4,) and np.shape(g.strategy.slow) == (4,)
    res = backtest(g, SCEN, metrics_only=True)
    single = backtest(strategies.MACrossover(fast=10, slow=20), SCEN, metrics_only=True)
    np.testing.assert_allclose(res.summary["total_return"][2], single.summary["total_return"], atol=1e-6)


def test_load_strategy_forms(tmp_path):
    assert load_strategy("ma_crossover") is strategies.MACrossover
    assert load_strategy("strategies:VolTarget") is strategies.VolTarget
    assert "equal_weight" in available_strategies()
    f = tmp_path / "my_strat.py"
    f.write_text(textwrap.dedent('''
        import dataclasses
        import jax.numpy as jnp
        from stressgen.strategy import StepStrategy

        @dataclasses.dataclass(frozen=True)
        class Half(StepStrategy):
            def init(self, n_assets):
                return ()
            def step(self, state, obs):
                return state, jnp.full(obs.log_return.shape, 0.5 / obs.log_return.shape[0])

        NOT_A_STRATEGY = 3
    '''))
    cls = load_strategy(f"{f}:Half")
    assert dataclasses.is_dataclass(cls)
    assert np.isfinite(np.asarray(backtest(cls(), SCEN).equity)).all()
    with pytest.raises(PluginLoadError, match="no attribute 'Nope'.*Half"):
        load_strategy(f"{f}:Nope")
    with pytest.raises(PluginLoadError, match="not a stressgen.strategy"):
        load_strategy(f"{f}:NOT_A_STRATEGY")
    with pytest.raises(PluginLoadError, match="does not exist"):
        load_strategy(f"{tmp_path}/missing.py:X")
    with pytest.raises(PluginLoadError, match="cannot import module"):
        load_strategy("no_such_module_xyz:X")
    with pytest.raises(UnknownNameError, match="unknown strategy 'nope'.*ma_crossover"):
        load_strategy("nope")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginLoadError, match="RuntimeError: boom"):
        load_strategy(f"{broken}:X")
    assert not any(m.startswith("_stressgen_plugin_") and "broken" in m for m in sys.modules)


@pytest.mark.parametrize("params", [dict(window=40, every=5, shrink=0.1), dict(window=25, every=7, shrink=0.0)])
def test_minimum_variance_weights_match_a_numpy_loop(params):
    # Reference: a plain float64 loop over the closes, the covariance of the last `window` log returns
    # (ddof=1) shrunk toward its mean variance, solved, clipped at 0 and normalised, on rebalancing closes.
    s = _scen(n_assets=5, horizon=40, n_hist=60, n_worlds=2)
    strat = strategies.MinimumVariance(**params)
    from stressgen.engine import trace_world
    out = trace_world(strat, s, BacktestConfig(), worlds=slice(0, 2))
    for world in range(2):
        w, trade = out["decision"][0, world], out["decision_trade"][0, world]  # closes 0..horizon
        r = np.concatenate([np.asarray(s.history), np.asarray(s.log_returns[world])]).astype(np.float64)
        n_hist = s.history.shape[0]
        np.testing.assert_array_equal(trade, np.arange(w.shape[0]) % params["every"] == 0)
        for t in np.flatnonzero(trade):
            rows = r[n_hist + t - params["window"]:n_hist + t]  # returns up to and including close t's
            cov = np.cov(rows, rowvar=False, ddof=1)
            shrunk = (1 - params["shrink"]) * cov + params["shrink"] * np.mean(np.diag(cov)) * np.eye(5)
            raw = np.maximum(np.linalg.solve(shrunk, np.ones(5)), 0.0)
            # float32 running sums over a hundred updates against float64 sums of the window: about 1e-4
            # relative in the covariance, amplified by the solve
            np.testing.assert_allclose(w[t], raw / raw.sum(), rtol=2e-3, atol=2e-4)

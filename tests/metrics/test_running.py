"""The risk reducer (stressgen.metrics.running.RunningRisk): its identity, its runtime inputs, its defaults.

Its numbers are checked against the array form and a NumPy loop in tests/engine/test_engine.py.
"""

import jax.numpy as jnp
import numpy as np

import stressgen as sg
import strategies
from stressgen.metrics import RiskConfig
from stressgen.metrics.running import RunningRisk, risk_reducer


def test_only_the_var_levels_shape_the_program():
    a = RunningRisk(RiskConfig(rf=0.0, periods_per_year=252))
    b = RunningRisk(RiskConfig(rf=0.05, periods_per_year=12))
    assert a == b and hash(a) == hash(b)  # the jit cache key: a new rate reuses the compiled program
    assert RunningRisk(RiskConfig(var_levels=(0.9,))) != a
    np.testing.assert_array_equal(b.inputs(), np.float32([(1.05) ** (1 / 12) - 1]))


def test_default_conventions_come_from_the_backtest():
    r = risk_reducer(sg.BacktestConfig(rf=0.03, periods_per_year=52))
    assert r.config == RiskConfig(periods_per_year=52, rf=0.03)
    given = RiskConfig(rf=0.01, var_levels=(0.975,))
    assert risk_reducer(sg.BacktestConfig(rf=0.03), given).config is given


def test_a_new_rate_does_not_recompile(count_compiles):
    rng = np.random.default_rng(0)  # test data only
    scen = sg.Scenarios(log_returns=jnp.asarray(rng.normal(0.0, 0.01, (4, 30, 2)), jnp.float32),
                        history=jnp.zeros((5, 2), jnp.float32), anchor_prices=jnp.ones(2))
    strategy = strategies.EqualWeight(every=5)
    first = sg.world_metrics(strategy, scen, risk=RiskConfig(rf=0.0), check=False)
    with count_compiles() as compiles:
        second = sg.world_metrics(strategy, scen, risk=RiskConfig(rf=0.04), check=False)
    assert compiles.count == 0
    assert (second["sortino"] != first["sortino"]).any() and (second["sharpe"] < first["sharpe"]).all()
    np.testing.assert_array_equal(second["total_return"], first["total_return"])

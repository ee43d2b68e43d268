"""docs/strategies.md's examples run as written, and do what the guide says they do."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from stressgen.engine import BacktestConfig, backtest
from stressgen.engine._run import trace_world
from stressgen.strategy import grid

GUIDE = Path(__file__).parents[1] / "docs" / "strategies.md"


def _namespace() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2, "docs/strategies.md: expected the step and the vectorized example"
    ns: dict = {}
    for block in blocks:  # in order, in one namespace, as a reader would paste them
        exec(compile(block, str(GUIDE), "exec"), ns)
    return ns


def _scenarios():
    import jax.numpy as jnp

    from stressgen.types import Scenarios

    rng = np.random.default_rng(11)  # test data only
    return Scenarios(log_returns=jnp.asarray(rng.normal(4e-4, 0.012, (3, 90, 3)), jnp.float32),
                     history=jnp.asarray(rng.normal(4e-4, 0.012, (80, 3)), jnp.float32),
                     anchor_prices=jnp.ones(3), history_end="2024-01-31")


def test_the_guides_step_example_trades_only_at_month_ends():
    ns = _namespace()
    scen = _scenarios()
    out = trace_world(ns["MonthEndMA"](), scen, BacktestConfig())
    traded = out["decision_trade"][0, 0]  # closes 0 .. horizon
    dates = pd.DatetimeIndex([pd.Timestamp("2024-01-31")]).append(
        pd.bdate_range("2024-02-01", periods=91))
    month_end = dates[1:].month != dates[:-1].month
    np.testing.assert_array_equal(traded, month_end)
    res = backtest(grid(ns["MonthEndMA"](), fast=[5, 10]), scen)  # windows are traced: one program
    assert np.asarray(res.equity).shape == (2, 3, 90)


def test_the_guides_vectorized_example_is_proven_causal_and_runs():
    ns = _namespace()
    res = backtest(ns["Momentum"](), _scenarios(), BacktestConfig(fee_bps=5))
    eq = np.asarray(res.equity)
    assert eq.shape == (3, 90) and np.isfinite(eq).all() and not np.allclose(eq, 1.0)

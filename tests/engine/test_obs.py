"""What a step strategy observes (equity, P&L, drawdown, calendar), declared static fields, and per-asset
costs, each checked against an independent reference (the engine's own daily series, pandas' calendar,
vectorbt's from_orders)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from enginekit import make_scenarios

import strategies
from stressgen.engine import BacktestConfig, backtest, to_vectorbt
from stressgen.engine._calendar import calendar_table
from stressgen.engine._run import trace_world
from stressgen.errors import ConfigError, StrategyError
from stressgen.strategy import StepStrategy, grid, static
from stressgen.types import future_dates


@dataclasses.dataclass(frozen=True)
class Echo(StepStrategy):
    """Trades a small long-short book whose weights are what it observed, so the decisions record it."""

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        w = jnp.stack([0.3 * obs.equity, 5.0 * obs.pnl, 0.3 * obs.peak, obs.drawdown])
        return state, w


def test_obs_carries_the_strategys_own_equity_pnl_peak_and_drawdown():
    scen = make_scenarios(n_worlds=3, horizon=30, n_assets=4, seed=3)
    config = BacktestConfig(fee_bps=10, long_only=False, max_gross=2.0)
    out = trace_world(Echo(), scen, config, worlds=slice(0, 2))  # the two probe worlds carry decisions
    seen = out["decision"][0][:, 1:]  # [worlds, closes 1..horizon, 4]
    equity, pnl = out["equity"][0], out["pnl"][0]  # the engine's daily series: day t ends at close t
    peak = np.maximum.accumulate(np.maximum(equity, 1.0), axis=1)
    np.testing.assert_allclose(seen[..., 0] / 0.3, equity, rtol=1e-6)
    np.testing.assert_allclose(seen[..., 1] / 5.0, pnl, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(seen[..., 2] / 0.3, peak, rtol=1e-6)
    np.testing.assert_allclose(seen[..., 3], 1.0 - equity / peak, atol=1e-6)
    # close 0 (the warm-up's last close): nothing earned yet
    np.testing.assert_allclose(out["decision"][0][:, 0], [[0.3, 0.0, 0.3, 0.0]] * 2, atol=1e-7)


@dataclasses.dataclass(frozen=True)
class CalendarEcho(StepStrategy):
    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        c = obs.calendar
        flags = jnp.stack([c.week_end, c.month_end, c.quarter_end, c.year_end]).astype(jnp.float32)
        return state, 0.1 * flags + 0.01 * jnp.stack([c.weekday, 0, 0, 0]).astype(jnp.float32) \
            + 1e-5 * jnp.stack([0, 0, 0, c.date - 19_000]).astype(jnp.float32)


def test_calendar_matches_pandas_on_the_worlds_dates():
    scen = make_scenarios(n_worlds=2, horizon=130, n_assets=4, n_hist=20)
    scen = dataclasses.replace(scen, history_end="2023-11-20")
    out = trace_world(CalendarEcho(), scen, BacktestConfig(max_gross=2.0))
    seen = out["decision"][0, 0]  # closes 0 .. horizon
    end = pd.Timestamp("2023-11-20")
    dates = pd.DatetimeIndex([end]).append(future_dates(end, "B", 131))
    now, nxt = dates[:-1], dates[1:]
    week = lambda d: np.asarray(d.isocalendar().week)  # noqa: E731
    np.testing.assert_array_equal(seen[:, 0] >= 0.1, week(nxt) != week(now))
    np.testing.assert_array_equal((seen[:, 1] > 0.05), nxt.month != now.month)
    np.testing.assert_array_equal((seen[:, 2] > 0.05), nxt.quarter != now.quarter)
    assert (seen[:, 1] > 0.05).sum() == 6 and (seen[:, 2] > 0.05).sum() == 2
    days = (now - pd.Timestamp("1970-01-01")).days.to_numpy()
    np.testing.assert_allclose(np.round((seen[:, 3] - 0.1 * (nxt.year != now.year)) / 1e-5), days - 19_000)


def test_calendar_table_counts_the_warmup_back_on_the_same_calendar():
    table = calendar_table("2024-01-31", "B", 3, 2)
    dates = pd.to_datetime(table[:, 0], unit="D")
    assert list(dates.strftime("%Y-%m-%d")) == ["2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01",
                                                 "2024-02-02"]
    assert table[:, 3].tolist() == [0, 0, 1, 0, 0] and table[:, 2].tolist() == [0, 0, 0, 0, 1]
    assert calendar_table("", "B", 3, 2) is None


def test_calendar_without_dates_is_refused_before_compute():
    scen = dataclasses.replace(make_scenarios(n_worlds=2), history_end="")
    with pytest.raises(ConfigError, match="history_end"):
        backtest(CalendarEcho(), scen, BacktestConfig(max_gross=2.0))


@dataclasses.dataclass(frozen=True)
class Switch(StepStrategy):
    level: float = 0.5
    flip: bool = static(False)
    mode: str = static("equal")

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        n = obs.log_return.shape[0]
        w = jnp.full((n,), self.level / n)
        if self.flip:  # a Python `if`: allowed on a static field
            w = w[::-1]
        return state, w


def test_static_fields_are_declared_and_everything_else_is_traced():
    scen = make_scenarios(n_worlds=2)
    backtest(Switch(flip=True), scen)  # a static bool in a Python `if` traces fine
    with pytest.raises(ConfigError, match="static"):
        grid(Switch(), flip=[True, False])

    @dataclasses.dataclass(frozen=True)
    class Undeclared(StepStrategy):
        mode: str = "equal"

        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            return state, obs.log_return * 0

    with pytest.raises(StrategyError, match="field 'mode' holds a str.*static"):
        backtest(Undeclared(), scen)
    # windows are traced ints: one program for a grid over them, the same numbers as one run each
    g = backtest(grid(strategies.MACrossover(fast=3, slow=8), fast=[2, 3, 4]), scen)
    one = backtest(strategies.MACrossover(fast=4, slow=8), scen)
    np.testing.assert_allclose(np.asarray(g.equity[2]), np.asarray(one.equity), rtol=1e-6)


def test_per_asset_costs_match_vectorbt_and_reduce_to_one_rate():
    scen = make_scenarios(n_worlds=2, horizon=40, n_assets=3, seed=7)
    strategy = strategies.InverseVolatility(window=10, every=5, gross=0.9)
    config = BacktestConfig(fee_bps=(5.0, 25.0, 0.0), slippage_bps=3.0)
    res = backtest(strategy, scen, config)
    pf = to_vectorbt(res, scen, world=1, strategy=strategy)
    eq = np.asarray(res.equity[1], np.float64)
    cost = np.asarray(res.costs[1], np.float64)
    ours = np.concatenate([[1 - cost[0]], eq[:-1] * (1 - cost[1:]), [eq[-1]]])  # see test_causality_vbt
    np.testing.assert_allclose(pf.value().to_numpy(), ours, rtol=2e-6)
    same = backtest(strategy, scen, BacktestConfig(fee_bps=(8.0, 8.0, 8.0)))
    np.testing.assert_allclose(np.asarray(same.equity), np.asarray(backtest(strategy, scen, BacktestConfig(
        fee_bps=8.0)).equity), rtol=1e-6)
    with pytest.raises(ConfigError, match="3 assets"):
        backtest(strategy, scen, BacktestConfig(fee_bps=(1.0, 2.0)))
    with pytest.raises(ConfigError, match="fee_bps"):
        BacktestConfig(fee_bps=(1.0, -2.0))

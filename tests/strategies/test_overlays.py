"""Risk overlays (strategies/_overlays.py): each against a slow NumPy loop of its rule on one world."""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import strategies
from stressgen import BacktestConfig, backtest
from stressgen.engine import trace_world
from stressgen.types import Scenarios

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import make_scenarios  # noqa: E402


def _closes(s, world=0):
    """float64 prices at closes 0 .. horizon of one world (relative to the first history day)."""
    r = np.concatenate([np.asarray(s.history), np.asarray(s.log_returns[world])]).astype(np.float64)
    return np.exp(np.cumsum(r, axis=0))[s.history.shape[0] - 1:]


def _decisions(strategy, s, config=BacktestConfig()):
    tr = trace_world(strategy, s, config)
    return tr["decision"][0, 0], tr["decision_trade"][0, 0]


def _slow_stops(target, price, rule):
    """The per-asset stop rule written out close by close for each asset.

    `target[i, a]` is what the inner strategy wants held after close i (it trades every close here),
    `rule(from_entry, from_extreme, side)` says whether the stop is hit. Returns (decisions, number of stop
    exits, number of releases)."""
    out = np.zeros_like(target)
    exits = releases = 0
    for a in range(target.shape[1]):
        side, entry, extreme, stopped_side = 0, np.nan, np.nan, 0  # stopped_side != 0: held flat
        for i in range(target.shape[0]):
            p, want = price[i, a], np.sign(target[i, a])
            if side > 0:
                extreme = max(extreme, p)
            elif side < 0:
                extreme = min(extreme, p)
            if stopped_side and want != stopped_side:
                stopped_side, releases = 0, releases + 1  # the target left the stopped side: follow it
            elif not stopped_side and side and rule(p / entry, p / extreme, side) and want == side:
                stopped_side, exits = side, exits + 1
            w = 0.0 if stopped_side else target[i, a]
            if np.sign(w) != 0 and np.sign(w) != side:
                entry = extreme = p  # a new position (or the other side): the stop anchors at this close
            side = np.sign(w)
            out[i, a] = w
    return out, exits, releases


RULES = {
    "stop_loss": (lambda inner: strategies.StopLoss(inner=inner, stop=0.01),
                  lambda e, x, s: e <= 0.99 if s > 0 else e >= 1.01),
    "take_profit": (lambda inner: strategies.TakeProfit(inner=inner, take=0.02),
                    lambda e, x, s: e >= 1.02 if s > 0 else e <= 0.98),
    "trailing_stop": (lambda inner: strategies.TrailingStop(inner=inner, trail=0.02),
                      lambda e, x, s: x <= 0.98 if s > 0 else x >= 1.02),
}


@pytest.mark.parametrize("long_short", [False, True])
@pytest.mark.parametrize("name", sorted(RULES))
def test_asset_stops_match_slow_loop(name, long_short):
    s = make_scenarios(n_worlds=3, horizon=60, n_assets=3, n_hist=30, seed=11)
    # a fast crossover flips often, so both re-arm paths occur (target to zero, target flips); thresholds
    # are tight enough for this calm world (1.2 % daily vol) to hit each stop a few times
    inner = strategies.MACrossover(fast=3, slow=10, long_short=long_short)
    make, rule = RULES[name]
    target, _ = _decisions(inner, s)
    ref, exits, releases = _slow_stops(target, _closes(s), rule)
    assert exits >= 2 and releases >= 1, "the test world must hit the stop and release it"
    assert (ref != target).any()
    got, trade = _decisions(make(inner), s)
    assert trade.all()  # the inner trades every close, so does the overlay
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name", ["stop_loss", "take_profit", "trailing_stop", "all"])
def test_stop_never_hit_leaves_the_inner_strategy_alone(name):
    s = make_scenarios(n_worlds=4, horizon=50, n_assets=3, n_hist=30, seed=4)
    inner = strategies.EqualWeight(every=7)  # trades on some closes only: trade=False must pass through
    wrap = {"stop_loss": lambda i: strategies.StopLoss(inner=i, stop=0.99),
            "take_profit": lambda i: strategies.TakeProfit(inner=i, take=50.0),
            "trailing_stop": lambda i: strategies.TrailingStop(inner=i, trail=0.99),
            "all": lambda i: strategies.TakeProfit(inner=strategies.StopLoss(inner=i, stop=0.99), take=50.0)}[name]
    config = BacktestConfig(fee_bps=5)
    base, wrapped = backtest(inner, s, config), backtest(wrap(inner), s, config)
    np.testing.assert_array_equal(np.asarray(wrapped.equity), np.asarray(base.equity))
    np.testing.assert_array_equal(np.asarray(wrapped.turnover), np.asarray(base.turnover))


def _crash_world(n_assets=2, horizon=50, n_hist=30):
    """World 0: gentle rise, a 10-day crash of 4 % a day, then a recovery; world 1: calm."""
    rng = np.random.default_rng(0)  # test data only
    calm = rng.normal(0.0005, 0.004, (2, horizon, n_assets))
    calm[0, 10:20] = -0.04
    calm[0, 20:] = 0.01
    return Scenarios(log_returns=jnp.asarray(calm, jnp.float32),
                     history=jnp.asarray(rng.normal(0.0005, 0.004, (n_hist, n_assets)), jnp.float32),
                     anchor_prices=jnp.ones(n_assets), history_end="2024-01-02")


def _slow_drawdown(s, max_dd, cooloff, n_assets):
    """The drawdown stop over an inner equal-weight strategy that trades every close, with the portfolio's
    equity compounded alongside (no costs): returns the decisions of closes 0 .. horizon."""
    R = np.expm1(np.asarray(s.log_returns[0], np.float64))
    target = np.full(n_assets, 1.0 / n_assets)
    equity, high, resume, out = 1.0, 1.0, -np.inf, []
    for i in range(R.shape[0] + 1):
        cooling = i < resume
        high = equity if cooling else max(high, equity)
        fire = not cooling and 1.0 - equity / high > max_dd
        if fire:
            resume = i + max(cooloff, 1)
        w = np.zeros(n_assets) if (cooling or fire) else target
        out.append(w)
        if i < R.shape[0]:
            equity *= 1.0 + w @ R[i]
    return np.array(out)


def test_drawdown_stop_holds_cash_after_a_crash():
    s = _crash_world()
    strat = strategies.DrawdownStop(inner=strategies.EqualWeight(every=1), max_drawdown=0.15, cooloff=5)
    got, trade = _decisions(strat, s)
    ref = _slow_drawdown(s, 0.15, 5, 2)
    np.testing.assert_allclose(got, ref, atol=1e-7)
    cash = np.flatnonzero(ref.sum(1) == 0)
    assert len(cash) >= 5 and trade[cash].all()
    # in cash the equity does not move; the unprotected strategy keeps falling
    res, bare = backtest(strat, s), backtest(strategies.EqualWeight(every=1), s)
    pnl = np.asarray(res.pnl)[0]
    np.testing.assert_array_equal(pnl[cash[:5]], 0.0)
    assert np.asarray(res.equity)[0, 19] > np.asarray(bare.equity)[0, 19]
    # the calm world never reaches the threshold: the overlay is invisible there
    np.testing.assert_array_equal(np.asarray(res.equity)[1], np.asarray(bare.equity)[1])


def test_drawdown_stop_reenters_the_inner_book_without_an_inner_trade():
    s = _crash_world()
    # the inner trades at t = 0 only; after the cool-off the overlay buys its drifted weights back
    strat = strategies.DrawdownStop(inner=strategies.BuyAndHold(), max_drawdown=0.15, cooloff=3)
    got, trade = _decisions(strat, s)
    cash = np.flatnonzero((np.abs(got).sum(1) == 0) & trade)
    first_back = cash[-1] + 1
    assert len(cash) == 3 and trade[first_back] and np.abs(got[first_back]).sum() > 0.9
    assert not trade[first_back + 1:].any()  # then the inner's "keep holdings" passes through again


def test_overlays_compose_and_grid_as_one_program():
    from stressgen.strategy import grid

    s = make_scenarios(n_worlds=3, horizon=40, n_assets=3, n_hist=30, seed=6)
    inner = strategies.MACrossover(fast=3, slow=10)
    # the thresholds are traced leaves: one program for the grid, row p equal to its own run
    res = backtest(grid(strategies.StopLoss(inner=inner), stop=[0.01, 0.99]), s, metrics_only=True)
    np.testing.assert_array_equal(res.summary["total_return"][1],
                                  backtest(inner, s, metrics_only=True).summary["total_return"])
    stack = strategies.DrawdownStop(inner=strategies.VolTarget(inner=strategies.TrailingStop(inner=inner)),
                                    max_drawdown=0.05, cooloff=2)
    assert np.isfinite(np.asarray(backtest(stack, s, BacktestConfig(fee_bps=5)).equity)).all()

"""The engine runs the per-world reducer it is given (stressgen.engine.Reducer), and nothing without one.

A reducer written here, knowing nothing of risk, must give what a slow NumPy loop over the daily pnl gives,
in every path of the engine: one piece, chunks, two devices, a parameter grid, debug mode, and its
runtime inputs must not recompile the program.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen.engine import BacktestConfig, Day, Reducer, backtest, world_metrics
from stressgen.errors import ConfigError
from stressgen.numerics import rounded
from stressgen.strategy import grid

from enginekit import Constant, SoftMomentum, make_scenarios


class PnlState(NamedTuple):
    total: jax.Array    # sum of daily pnl
    squares: jax.Array  # sum of squared daily pnl (a product feeding an add: fenced)
    n_pos: jax.Array    # days with pnl > 0
    above: jax.Array    # days with pnl > the runtime threshold


@dataclasses.dataclass(frozen=True)
class PnlCounter(Reducer):
    """Sums and counts of the daily pnl; the running maximum goes through the cross-world batch path."""

    threshold: float = dataclasses.field(default=0.0, compare=False)  # a runtime input: not in the identity

    def inputs(self):
        return np.asarray([self.threshold], np.float32)

    def init(self):
        z, zi = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return PnlState(z, z, zi, zi)

    def update(self, state, day, inputs, fence):
        return PnlState(state.total + day.pnl, state.squares + rounded(day.pnl * day.pnl, fence),
                        state.n_pos + (day.pnl > 0), state.above + (day.pnl > inputs[0]))

    def batch_init(self, lead, n_worlds, horizon):
        return jnp.full(lead + (n_worlds,), -jnp.inf, jnp.float32)

    def batch_update(self, batch, day):
        return jnp.maximum(batch, day.pnl)

    def pack(self, state, batch):
        ints = [jax.lax.bitcast_convert_type(x, jnp.float32) for x in (state.n_pos, state.above)]
        return jnp.stack([state.total, state.squares, batch, *ints], axis=-2)

    def finalize(self, packed, horizon):
        return {"pnl_sum": packed[..., 0, :], "pnl_squares": packed[..., 1, :], "best_day": packed[..., 2, :],
                "n_pos": packed[..., 3, :].view(np.int32), "n_above": packed[..., 4, :].view(np.int32)}


def slow(pnl: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """The same numbers from the daily series, by a Python loop in float32 (sequential sums, like the loop)."""
    out = {k: [] for k in ("pnl_sum", "pnl_squares", "best_day", "n_pos", "n_above")}
    for row in np.asarray(pnl, np.float32).reshape(-1, pnl.shape[-1]):
        total, squares = np.float32(0), np.float32(0)
        for v in row:
            total, squares = np.float32(total + v), np.float32(squares + np.float32(v * v))
        out["pnl_sum"].append(total)
        out["pnl_squares"].append(squares)
        out["best_day"].append(row.max())
        out["n_pos"].append((row > 0).sum())
        out["n_above"].append((row > np.float32(threshold)).sum())
    return {k: np.asarray(v).reshape(pnl.shape[:-1]) for k, v in out.items()}


@pytest.fixture(scope="module")
def scen():
    return make_scenarios(n_worlds=7, horizon=50, n_assets=3, n_hist=40, seed=5)


def test_custom_reducer_matches_a_numpy_loop(scen):
    cfg = BacktestConfig(fee_bps=5, lag=1)
    reducer = PnlCounter(threshold=0.002)
    res = backtest(SoftMomentum(), scen, cfg, reducer=reducer)
    assert set(res.summary) == {"pnl_sum", "pnl_squares", "best_day", "n_pos", "n_above"}
    want = slow(np.asarray(res.pnl), 0.002)
    for k, v in want.items():
        assert res.summary[k].shape == (scen.n_worlds,), k
        np.testing.assert_allclose(res.summary[k], v, rtol=1e-6, atol=1e-9, err_msg=k)
    np.testing.assert_array_equal(res.summary["n_pos"], want["n_pos"])
    np.testing.assert_array_equal(res.summary["n_above"], want["n_above"])
    assert 0 < res.summary["n_above"].sum() < res.summary["n_pos"].sum()  # the threshold did something


def test_custom_reducer_is_invariant_to_chunks_and_devices(scen):
    cfg = BacktestConfig(fee_bps=5)
    reducer = PnlCounter()
    whole = backtest(SoftMomentum(), scen, cfg, reducer=reducer, devices=1)
    parts = [backtest(SoftMomentum(), scen, cfg, reducer=reducer, **kw).summary
             for kw in ({"chunk_size": 3}, {"devices": 2}, {"metrics_only": True, "chunk_size": 5})]
    parts.append(world_metrics(SoftMomentum(), scen, cfg, reducer=reducer, chunk_size=4, devices=2))
    for kw, part in enumerate(parts):
        for k, v in whole.summary.items():
            np.testing.assert_array_equal(part[k], v, err_msg=f"{k} {kw}")


def test_custom_reducer_on_a_grid_and_in_debug_mode(scen):
    g = grid(Constant(), level=[0.3, 0.9])
    res = backtest(g, scen, reducer=PnlCounter())
    assert res.summary["pnl_sum"].shape == (2, scen.n_worlds)
    want = slow(np.asarray(res.pnl), 0.0)
    for k, v in want.items():
        np.testing.assert_allclose(res.summary[k], v, rtol=1e-6, atol=1e-9, err_msg=k)
    dbg = backtest(Constant(level=0.9), scen, reducer=PnlCounter(), debug=True, debug_world=4)
    for k, v in slow(np.asarray(dbg.pnl), 0.0).items():
        np.testing.assert_allclose(dbg.summary[k], v, rtol=1e-6, atol=1e-9, err_msg=k)
        assert dbg.summary[k].shape == (1,)


def test_runtime_inputs_do_not_recompile(scen, count_compiles):
    backtest(Constant(), scen, reducer=PnlCounter(threshold=0.0), metrics_only=True, check=False)
    with count_compiles() as compiles:
        res = backtest(Constant(), scen, reducer=PnlCounter(threshold=0.01), metrics_only=True, check=False)
    assert compiles.count == 0
    ref = backtest(Constant(), scen, reducer=PnlCounter(threshold=0.01), check=False)
    np.testing.assert_array_equal(res.summary["n_above"], slow(np.asarray(ref.pnl), 0.01)["n_above"])


def test_no_reducer_no_summary(scen):
    res = backtest(Constant(), scen)
    assert res.summary is None and res.pnl.shape == (scen.n_worlds, scen.horizon)
    assert res.to_pandas().summary is None


def test_metrics_only_needs_a_reducer(scen):
    with pytest.raises(ConfigError, match="needs a reducer"):
        backtest(Constant(), scen, metrics_only=True)


def test_bad_reducers_are_refused(scen):
    with pytest.raises(ConfigError, match="must be a stressgen.engine.Reducer"):
        backtest(Constant(), scen, reducer=object())

    @dataclasses.dataclass(frozen=True)
    class Unhashable(PnlCounter):
        table: list = dataclasses.field(default_factory=list)

    with pytest.raises(ConfigError, match="hashable"):
        backtest(Constant(), scen, reducer=Unhashable())


def test_day_fields_reach_the_reducer(scen):
    """equity, turnover and cost arrive as the daily series say (the risk reducer reads all of them)."""

    class Last(NamedTuple):
        equity: jax.Array
        turn: jax.Array
        cost: jax.Array
        t: jax.Array

    @dataclasses.dataclass(frozen=True)
    class Trail(Reducer):
        def init(self):
            z = jnp.zeros((), jnp.float32)
            return Last(z, z, z, jnp.zeros((), jnp.int32))

        def update(self, state, day: Day, inputs, fence):
            return Last(day.equity, state.turn + day.turnover, state.cost + day.cost, day.t)

        def pack(self, state, batch):
            return jnp.stack([state.equity, state.turn, state.cost,
                              jax.lax.bitcast_convert_type(state.t, jnp.float32)], axis=-2)

        def finalize(self, packed, horizon):
            return {"equity": packed[..., 0, :], "turn": packed[..., 1, :], "cost": packed[..., 2, :],
                    "t": packed[..., 3, :].view(np.int32)}

    res = backtest(SoftMomentum(), scen, BacktestConfig(fee_bps=7), reducer=Trail())
    np.testing.assert_array_equal(res.summary["equity"], np.asarray(res.equity)[:, -1])
    np.testing.assert_allclose(res.summary["turn"], np.asarray(res.turnover).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(res.summary["cost"], np.asarray(res.costs).sum(-1), rtol=1e-5)
    assert (res.summary["t"] == scen.horizon).all()

"""Engine accounting against an independent NumPy loop, plus grids, lag, costs, summaries and errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen import BacktestConfig, backtest
from stressgen.metrics import RiskConfig, per_world_metrics
from stressgen.errors import ConfigError, StrategyError
from stressgen.engine import indicators as ind
from stressgen.strategy import StepStrategy, VectorStrategy, grid, static

from enginekit import Constant, SoftMomentum, make_scenarios


def reference(r, decisions, trades, *, lag, cost, rf, long_only, cap):
    """Slow loop written from the documented conventions: the decision of close k trades at close k + lag.

    ``decisions[j]`` is the decision of close ``j - lag`` (the first `lag` rows come from the warm-up)."""
    horizon, n = r.shape
    e, h = 1.0, np.zeros(n)
    pnl, equity = [], []
    for i in range(horizon):
        k = i  # row of the decision executed at close i
        trade = trades[k]
        w = h.copy()
        if trade:
            w = decisions[k].astype(np.float64)
            w = np.maximum(w, 0) if long_only else w
            w = w * min(1.0, cap / max(np.abs(w).sum(), 1e-30))
        c = cost * np.abs(w - h).sum()
        g = np.expm1(r[i].astype(np.float64))
        gross = (w * (1 + g)).sum() + (1 - w.sum() - c) * (1 + rf)
        h = w * (1 + g) / gross
        e *= gross
        pnl.append(gross - 1)
        equity.append(e)
    return np.array(pnl), np.array(equity)


@pytest.mark.parametrize("lag,long_only", [(0, True), (2, False)])
def test_matches_numpy_reference(scen, lag, long_only):
    cfg = BacktestConfig(lag=lag, fee_bps=7, slippage_bps=3, rf=0.04, long_only=long_only, max_gross=0.8)
    strat = SoftMomentum(gross=0.8)
    res = backtest(strat, scen, cfg)
    n_hist = scen.history.shape[0]
    for world in range(2):
        full = jnp.concatenate([scen.history, scen.log_returns[world]])
        decisions = np.asarray(strat.weights(full))[n_hist - 1 - lag:]  # closes -lag .. horizon
        pnl, eq = reference(np.asarray(scen.log_returns[world]), decisions, np.ones(len(decisions), bool), lag=lag, cost=cfg.cost_rate, rf=cfg.rf_per_period,
                            long_only=long_only, cap=cfg.max_gross)
        np.testing.assert_allclose(res.pnl[world], pnl, atol=2e-6)
        np.testing.assert_allclose(res.equity[world], eq, rtol=2e-6)


def test_constant_weights_costs_and_cash(scen):
    cfg = BacktestConfig(fee_bps=10, rf=0.05)
    res = backtest(Constant(level=0.6), scen, cfg)
    # the first trade buys 0.6 of equity: turnover 0.6, cost 0.6 * 10 bps
    np.testing.assert_allclose(res.turnover[:, 0], 0.6, rtol=1e-6)
    np.testing.assert_allclose(res.costs[:, 0], 0.6e-3, rtol=1e-5)
    assert (res.turnover[:, 1:] > 0).all()  # drift makes every later rebalance trade a little
    pnl, eq = reference(np.asarray(scen.log_returns[3]), np.full((41, 3), 0.2), np.ones(41, bool), lag=0,
                        cost=1e-3, rf=cfg.rf_per_period, long_only=True, cap=1.0)
    np.testing.assert_allclose(res.equity[3], eq, rtol=2e-6)


def _numpy_metrics(pnl, turnover, costs, rf_p, ppy=252):
    """Slow float64 reference of the per-world metrics, written from docs/conventions.md."""
    out = {}
    for w in range(len(pnl)):
        r = pnl[w].astype(np.float64)
        eq = np.cumprod(1 + r)
        peak = np.maximum.accumulate(np.concatenate([[1.0], eq]))[1:]
        dd = 1 - eq / peak
        run = longest = 0
        for under in eq < peak:
            run = run + 1 if under else 0
            longest = max(longest, run)
        e = r - rf_p
        row = {"total_return": eq[-1] - 1, "max_drawdown": dd.max(), "max_drawdown_duration": longest,
               "volatility": r.std(ddof=1) * np.sqrt(ppy), "sharpe": e.mean() / r.std(ddof=1) * np.sqrt(ppy),
               "sortino": e.mean() / np.sqrt(np.mean(np.minimum(e, 0) ** 2)) * np.sqrt(ppy),
               "worst_day": r.min(), "hit_rate": (r > 0).sum() / (r != 0).sum(),
               "turnover": turnover[w].mean(), "cost_drag": costs[w].sum() * ppy / len(r)}
        row["cagr"] = (1 + row["total_return"]) ** (ppy / len(r)) - 1
        row["calmar"] = row["cagr"] / row["max_drawdown"]
        srt = np.sort(r)
        for level, name in ((0.95, "95"), (0.99, "99")):
            q = srt[max(1, int(np.ceil(round((1 - level) * len(r), 9)))) - 1]
            row[f"var_{name}"], row[f"es_{name}"] = -q, -r[r <= q].mean()
        for k, v in row.items():
            out.setdefault(k, []).append(v)
    return {k: np.array(v) for k, v in out.items()}


def test_running_metrics_match_array_form_and_numpy(scen):
    cfg = BacktestConfig(fee_bps=5, rf=0.02)
    full = backtest(SoftMomentum(), scen, cfg)
    lean = backtest(SoftMomentum(), scen, cfg, metrics_only=True)
    assert lean.pnl is None and lean.equity is None
    arrays = per_world_metrics(full.pnl, full.turnover, full.costs, config=RiskConfig(rf=0.02))
    assert set(lean.summary) == set(arrays)
    ref = _numpy_metrics(np.asarray(full.pnl), np.asarray(full.turnover), np.asarray(full.costs),
                         cfg.rf_per_period)
    # float32 rounding of ~40 compounded days (eps * 40 ~ 5e-6), amplified by CAGR's exponent 252 / 40;
    # Calmar is a ratio of two such numbers, so its tolerance propagates their absolute errors
    def close(got, want, k):
        if k == "calmar":
            tol = (5e-6 + np.abs(want) * 5e-6) / ref["max_drawdown"]
            assert (np.abs(got - want) <= tol).all(), (k, got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=5e-5, atol=5e-6, err_msg=k)

    for k in arrays:
        close(lean.summary[k], arrays[k], k)
        np.testing.assert_allclose(full.summary[k], lean.summary[k], rtol=1e-6, atol=1e-7, err_msg=k)
        if k in ref:
            close(lean.summary[k], ref[k], k)


def test_expected_shortfall_counts_ties_like_the_array_form():
    # flat days (zero pnl) tie with the 95% quantile when fewer than k days lose money
    scen = make_scenarios(n_worlds=5, horizon=60)

    @dataclasses.dataclass(frozen=True)
    class Sometimes(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            on = (obs.t % 9 == 0) | (obs.t % 13 == 0)
            return state, jnp.where(on, 0.3, 0.0) * jnp.ones(obs.log_return.shape)

    res = backtest(Sometimes(), scen)
    pnl = np.asarray(res.pnl)
    assert ((pnl == 0).sum(1) > 20).all()
    arrays = per_world_metrics(res.pnl, res.turnover, res.costs)
    for k in ("var_95", "es_95", "var_99", "es_99", "hit_rate"):
        np.testing.assert_allclose(res.summary[k], arrays[k], rtol=1e-5, atol=1e-8, err_msg=k)


def test_chunked_run_equals_one_piece(scen):
    cfg = BacktestConfig(fee_bps=5)
    whole = backtest(SoftMomentum(), scen, cfg)
    for size in (1, 4):  # 4 leaves a short last chunk, which is padded
        part = backtest(SoftMomentum(), scen, cfg, chunk_size=size)
        np.testing.assert_array_equal(part.equity, whole.equity)
        for k, v in whole.summary.items():
            np.testing.assert_array_equal(part.summary[k], v, err_msg=k)
    with pytest.raises(ConfigError, match="chunk_size"):
        backtest(SoftMomentum(), scen, cfg, chunk_size=0)


def test_grid_is_one_program_equal_to_single_runs(scen, count_compiles):
    g = grid(SoftMomentum(), gross=[0.5, 0.9], temp=[50.0, 200.0])
    assert g.size == 4 and g.strategy.gross.shape == (4,)
    res = backtest(g, scen, metrics_only=True)
    assert res.summary["total_return"].shape == (4, scen.n_worlds)
    for p in range(4):
        one = backtest(g.at(p), scen, metrics_only=True)
        np.testing.assert_allclose(res.summary["total_return"][p], one.summary["total_return"], atol=1e-6)
    with count_compiles() as c:
        backtest(g, scen, metrics_only=True)
        backtest(dataclasses.replace(SoftMomentum(), gross=0.3), scen, metrics_only=True)  # float: traced
    assert c.count == 0


def test_debug_mode_matches_compiled_run(scen, capsys):
    @dataclasses.dataclass(frozen=True)
    class Loud(StepStrategy):
        def init(self, n_assets):
            return ()

        def step(self, state, obs):
            if int(obs.t) == 3:  # concrete values: only possible without jit
                print("day three", np.asarray(obs.holdings).round(3))
            return state, jnp.full(obs.log_return.shape, 0.3)

    dbg = backtest(Loud(), scen, BacktestConfig(fee_bps=5), debug=True, debug_world=2)
    assert "day three" in capsys.readouterr().out
    ref = backtest(Constant(level=0.9), scen, BacktestConfig(fee_bps=5))
    np.testing.assert_allclose(dbg.equity[0], ref.equity[2], rtol=2e-6)
    with pytest.raises(ConfigError, match="one parameter set"):
        backtest(grid(Constant(), level=[0.1, 0.2]), scen, debug=True)


@dataclasses.dataclass(frozen=True)
class Bad(StepStrategy):
    kind: str = static("nan")

    def init(self, n_assets):
        return ()

    def step(self, state, obs):
        n = obs.log_return.shape[0]
        if self.kind == "shape":
            return state, jnp.ones((n + 1,)) / n
        if self.kind == "nan":
            return state, jnp.where(obs.t >= 5, jnp.nan, 0.1) * jnp.ones(n)
        if self.kind == "short":
            return state, -jnp.ones(n) * 0.1
        return state, jnp.ones(n)  # gross = n > 1


@pytest.mark.parametrize("kind,match", [("shape", r"shape \(4,\), expected \(3,\)"), ("nan", "NaN.*t=5"),
                                        ("short", "negative weights"), ("lever", "gross exposure cap 1.0")])
def test_invalid_outputs_raise_typed_error_naming_strategy(scen, kind, match):
    with pytest.raises(StrategyError, match=match) as err:
        backtest(Bad(kind), scen)
    assert "test_engine.Bad" in str(err.value)


def test_not_a_frozen_dataclass_is_refused(scen):
    class Plain(StepStrategy):
        def init(self, n_assets):
            return ()

    with pytest.raises(StrategyError, match="frozen"):
        backtest(Plain(), scen)


def test_config_validation():
    with pytest.raises(ConfigError, match="lag"):
        BacktestConfig(lag=-1)
    with pytest.raises(ConfigError, match="max_gross"):
        BacktestConfig(max_gross=0)


def test_warmup_uses_history_and_shared_counter_fallback(scen):
    @dataclasses.dataclass(frozen=True)
    class PerWorldCounter(StepStrategy):
        """Integer state that differs per world: the engine must fall back to per-world carries."""

        def init(self, n_assets):
            return jnp.int32(0)

        def step(self, state, obs):
            state = state + (obs.log_return[0] > 0).astype(jnp.int32)
            return state, jnp.full(obs.log_return.shape, 0.1) * (state % 2)

    res = backtest(PerWorldCounter(), scen)
    assert np.isfinite(np.asarray(res.equity)).all()
    short = backtest(Constant(), scen, BacktestConfig(warmup=0))
    assert np.isfinite(np.asarray(short.equity)).all()
    jax.block_until_ready(res.pnl)


@dataclasses.dataclass(frozen=True)
class _VectorCross(VectorStrategy):
    """A moving-average crossover on prices in the vectorized tier, windows as traced fields."""

    fast: int = 3
    slow: int = 9

    def weights(self, x):
        p = jnp.exp(ind.cumsum_array(x))
        up = ind.rolling_mean_array(p, self.fast) > ind.rolling_mean_array(p, self.slow)
        return jnp.where(up, 1.0, 0.0) / x.shape[1]


def test_vector_tier_default_chunks_and_window_grid_equal_single_runs(scen, monkeypatch):
    from stressgen.engine import _run

    cfg = BacktestConfig(fee_bps=5)
    whole = backtest(_VectorCross(), scen, cfg, chunk_size=scen.n_worlds)
    # the default chunk holds about VECTOR_CHUNK_BYTES per [rows, worlds, assets] array, 64 worlds at least
    assert _run.vector_chunk_cap(552, 1) == _run.VECTOR_CHUNK_BYTES // (4 * 552)
    assert _run.vector_chunk_cap(2520 + 252, 50) == 64
    # 6 worlds split by default into chunks of 2 per device: the same numbers as one piece
    monkeypatch.setattr(_run, "vector_chunk_cap", lambda rows, assets: 2)
    parts = backtest(_VectorCross(), scen, cfg)
    np.testing.assert_array_equal(parts.equity, whole.equity)
    g = backtest(grid(_VectorCross(), slow=[5, 9, 30]), scen, cfg)
    for i, slow in enumerate((5, 9, 30)):
        one = backtest(_VectorCross(slow=slow), scen, cfg)
        np.testing.assert_array_equal(g.equity[i], one.equity, err_msg=f"slow={slow}")

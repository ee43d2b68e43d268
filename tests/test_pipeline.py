"""End to end on a small spec (200 worlds x 20 days x 3 assets, chunks of 64): the pipeline's numbers are
checked against the library pieces run directly on all worlds at once, and against NumPy."""

import dataclasses
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from stressgen import engine, generators, metrics, pipeline, rng
from stressgen.errors import ConfigError
from stressgen.report import render_html
from stressgen.spec import load_spec

SPEC = Path(__file__).parent / "data" / "specs" / "small.toml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def stages():
    return []


@pytest.fixture(scope="module")
def result(spec, stages):
    return pipeline.run(spec, progress=lambda stage, done, total: stages.append((stage, done, total)))


@pytest.fixture(scope="module")
def direct(spec):
    """Everything recomputed in one chunk, without the pipeline."""
    market = spec.data.load()
    root = rng.root(spec.simulation.seed)
    gen = generators.get("bootstrap")
    fitted = gen.fit(market, key=rng.stream(root, rng.FIT), config=spec.generator.config)
    worlds = gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=spec.simulation.worlds,
                        horizon=spec.simulation.horizon)
    return market, worlds


def test_shapes_and_names(result, spec):
    assert [s.name for s in result.strategies] == ["equal_weight", "ma_crossover[fast=5]",
                                                   "ma_crossover[fast=10]"]
    assert result.strategies[1].params == {"slow": 30, "fast": 5}
    assert (result.n_worlds, result.horizon, result.assets) == (200, 20, ("AAPL", "JPM", "XOM"))
    assert result.sample_paths.shape == (4, 20, 3) and result.real_paths.shape == (4, 20, 3)
    for s in result.strategies:
        assert len(s.metrics) == 200 and list(s.metrics.index) == list(range(200))
        assert s.worst_equity.shape == (3, 21)
        assert s.aggregate.summary.index.names == ["metric", "statistic"]
    assert list(result.head_to_head.index) == [s.name for s in result.strategies]
    assert set(result.timings) == {"data", "strategies", "fit", "sample_backtest", "real_history",
                                   "worst_worlds", "aggregate", "fidelity", "overfit", "regimes"}
    assert isinstance(result.fidelity.failures, tuple) and len(result.fidelity.scorecard) > 0
    assert result.spec["simulation"]["worlds"] == 200 and result.versions["jax"]


def test_progress_reaches_every_stage(stages):
    finished = {s for s, done, total in stages if done == total}
    assert {"data", "fit", "worlds", "strategies", "real", "worst", "aggregate", "fidelity", "overfit"} <= finished
    worlds = [done for s, done, _ in stages if s == "worlds"]
    assert worlds == [64, 128, 192, 200]


def test_chunked_metrics_equal_one_chunk(result, spec, direct):
    _, worlds = direct
    assert np.array_equal(result.sample_paths, np.asarray(worlds.log_returns[:4]))
    bt = dataclasses.replace(spec.costs, periods_per_year=252)
    risk = metrics.RiskConfig(periods_per_year=252, rf=bt.rf)
    for j, strategy in enumerate([spec.strategies[0].build(), spec.strategies[1].build().at(1)]):
        res = engine.backtest(strategy, worlds, bt)
        want = metrics.per_world_metrics(res.pnl, res.turnover, res.costs, config=risk)
        got = result.strategies[[0, 2][j]].metrics
        for k in ("total_return", "max_drawdown", "sharpe", "cost_drag"):
            # float32: equity-based values (near 1) carry an absolute error of a few ulps of 1.0 (1.2e-7 each)
            np.testing.assert_allclose(got[k].to_numpy(), np.asarray(want[k]), rtol=1e-5, atol=1e-6,
                                       err_msg=k)


def test_worst_worlds_are_redrawn_exactly(result, direct):
    _, worlds = direct
    for s in result.strategies:
        tr = s.metrics["total_return"].to_numpy()
        assert s.worst_worlds == tuple(np.argsort(tr, kind="stable")[:3])
        # the re-run equity of each worst world ends where its metric says
        np.testing.assert_allclose(s.worst_equity[:, -1], 1.0 + tr[list(s.worst_worlds)], rtol=1e-5)
        assert np.all(s.worst_equity[:, 0] == 1.0)
        for i in s.worst_worlds:
            assert np.array_equal(result.worst_paths[i], np.asarray(worlds.log_returns[i]))


def test_real_history_rank(result, spec, direct):
    market, worlds = direct
    r = market.log_returns
    real = worlds.replace(log_returns=jnp.asarray(r[-20:][None], jnp.float32),
                          history=jnp.asarray(r[:-20][-worlds.history.shape[0]:], jnp.float32))
    res = engine.backtest(spec.strategies[0].build(), real,
                          dataclasses.replace(spec.costs, periods_per_year=252))
    total = float(np.prod(1.0 + np.asarray(res.pnl[0], np.float64)) - 1.0)
    s = result.strategies[0]
    assert s.real["total_return"] == pytest.approx(total, rel=1e-5)
    tr = s.metrics["total_return"].to_numpy()
    below, ties = np.sum(tr < s.real["total_return"]), np.sum(tr == s.real["total_return"])
    assert s.real_rank["total_return"] == pytest.approx(100 * (below + ties / 2) / len(tr), abs=1e-3)


def test_fidelity_against_numpy(result, direct):
    market, worlds = direct
    syn = np.asarray(worlds.log_returns, np.float64).reshape(-1, 3)
    mom = result.fidelity.moments
    np.testing.assert_allclose(mom["mean_syn"], syn.mean(0) * 252, rtol=1e-9)
    np.testing.assert_allclose(mom["vol_syn"], syn.std(0, ddof=1) * np.sqrt(252), rtol=1e-9)
    np.testing.assert_allclose(mom["vol_real"], market.log_returns.std(0, ddof=1) * np.sqrt(252), rtol=1e-9)
    from scipy import stats
    np.testing.assert_allclose(mom["kurt_syn"], stats.kurtosis(syn, axis=0), rtol=1e-6)
    np.testing.assert_allclose(mom["skew_real"], stats.skew(market.log_returns, axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.fidelity.corr_syn, np.corrcoef(syn, rowvar=False), atol=1e-9)
    np.testing.assert_allclose(result.fidelity.corr_real, np.corrcoef(market.log_returns, rowvar=False),
                               atol=1e-9)
    acf = result.fidelity.acf_abs
    assert list(acf.index) == list(range(1, 20))
    a = np.abs(np.asarray(worlds.log_returns, np.float64))  # [worlds, time, assets]
    want = metrics.acf(np.moveaxis(a, 1, 2), np.arange(1, 20)).mean(axis=(0, 1))
    np.testing.assert_allclose(acf["synthetic"], want, rtol=1e-5, atol=1e-7)  # the pipeline works in float32
    # the diversity statistic of every run is metrics.diversity of the worlds against the real history
    d = metrics.diversity(np.asarray(worlds.log_returns), market.log_returns)
    assert result.fidelity.diversity.n_worlds == d.n_worlds
    np.testing.assert_allclose(result.fidelity.diversity.ratio, d.ratio, rtol=1e-6)


def test_fan_quantiles(result, direct):
    _, worlds = direct
    daily = np.expm1(np.asarray(worlds.log_returns, np.float64)).mean(-1)
    eq = np.concatenate([np.ones((200, 1)), np.cumprod(1 + daily, axis=1)], axis=1)
    np.testing.assert_allclose(result.fan["q50"], np.quantile(eq.astype(np.float32), 0.5, axis=0), rtol=1e-6)
    assert result.fan["real"].shape == (21,) and result.fan["real"][0] == 1.0


def test_plausibility_gate_streams_over_every_chunk(result, spec, direct):
    """The gate fed chunk by chunk in the run equals the one-shot check of all worlds; the bootstrap of
    the history passes it."""
    from stressgen.metrics import plausibility

    market, worlds = direct
    once = plausibility.check_worlds(np.asarray(worlds.log_returns), market.log_returns, market.assets,
                                     periods_per_year=252)
    gate = result.plausibility
    assert [(c.check, c.asset, c.passed, c.worst_world) for c in gate.checks] == \
           [(c.check, c.asset, c.passed, c.worst_world) for c in once.checks]
    np.testing.assert_allclose([c.value for c in gate.checks], [c.value for c in once.checks], rtol=1e-6)
    assert gate.failures == () and len(gate.checks) == 3 + 2 * 3 and gate.n_worlds == 200
    assert result.suspects == tuple(market.suspects)


def test_real_history_tear_sheet(result, spec, direct):
    """The tear sheet's run: every strategy on the whole history after the worlds' warm-up, dated."""
    market, worlds = direct
    rh, warm = result.real_history, worlds.history.shape[0]
    assert rh.warmup == warm
    assert rh.dates == tuple(d.date().isoformat() for d in market.dates[warm:])
    r = market.log_returns[warm:]
    bench = np.cumprod(np.r_[1.0, 1.0 + np.expm1(r).mean(axis=1)])  # equal weight, rebalanced daily
    np.testing.assert_allclose(rh.benchmark, bench, rtol=1e-10)
    whole = worlds.replace(log_returns=jnp.asarray(r[None], jnp.float32),
                           history=jnp.asarray(market.log_returns[:warm], jnp.float32), weights=None)
    bt = dataclasses.replace(spec.costs, periods_per_year=252)
    for s, strategy in zip((result.strategies[0], result.strategies[2]),
                           (spec.strategies[0].build(), spec.strategies[1].build().at(1))):
        want = np.asarray(engine.backtest(strategy, whole, bt).equity[0], np.float64)
        assert s.real_equity.shape == (len(rh.dates),) and s.real_equity[0] == 1.0
        np.testing.assert_array_equal(s.real_equity[1:], want)


def test_overfit_stage_for_the_grid(result, spec, direct):
    """The grid's overfitting statistics (issue 18): real Sharpe ratios from the tear sheet's equity, the
    winner's ranks from the per-world Sharpe ratios, and the chance share from no-edge worlds redrawn here and
    de-meaned in float64 NumPy; the plain strategy gets none."""
    market, worlds = direct
    (o,) = result.overfit
    grid = result.strategies[1:]
    assert o.strategy == "ma_crossover" and o.sets == tuple(s.name for s in grid) and o.n_trials == 2
    eq = np.stack([s.real_equity for s in grid], axis=1)
    r = eq[1:] / eq[:-1] - 1.0  # rf = 0 in this spec
    assert o.n_periods == r.shape[0] == market.log_returns.shape[0] - worlds.history.shape[0]
    sr = [float(np.mean(c) / np.sqrt(np.mean((c - np.mean(c)) ** 2))) * np.sqrt(252) for c in r.T]
    np.testing.assert_allclose(o.real_sharpe, sr, rtol=1e-10)
    win = int(np.argmax(sr))
    assert o.winner == win and o.pbo_splits == 16 and o.pbo_combinations == 12870
    ws = np.stack([s.metrics["sharpe"].to_numpy() for s in grid])
    ranks = [1 + sum(v > c[win] for v in c) + 0.5 * (sum(v == c[win] for v in c) - 1) for c in ws.T]
    assert o.p_below_median == np.mean(np.array(ranks) > 1.5) and o.n_worlds == 200
    assert o.rank_shares.sum() == pytest.approx(1.0)
    root = rng.root(spec.simulation.seed)
    gen = generators.get("bootstrap")
    fitted = gen.fit(market, key=rng.stream(root, rng.FIT), config=spec.generator.config)
    null = gen.sample(fitted, key=rng.stream(root, rng.OVERFIT), n_worlds=200, horizon=o.n_periods)
    x = np.asarray(null.log_returns, np.float64)
    flat = null.replace(log_returns=jnp.asarray(x - x.mean(axis=1, keepdims=True), jnp.float32), weights=None)
    pnl = np.asarray(engine.backtest(spec.strategies[1].build().at(win), flat,
                                     dataclasses.replace(spec.costs, periods_per_year=252)).pnl, np.float64)
    null_sr = pnl.mean(axis=1) / pnl.std(axis=1) * np.sqrt(252)
    # float32 de-meaning differs from float64 by an ulp: a world exactly at the real Sharpe ratio could flip
    assert abs(o.chance_share * 200 - np.sum(null_sr >= sr[win])) <= 1
    assert o.null_sharpe_median == pytest.approx(np.median(null_sr), rel=1e-4, abs=1e-6)
    assert o.null_worlds == 200 and "Overfitting" in render_html(result)


def test_world_dates_continue_the_calendar(result, direct):
    market, worlds = direct
    dates = result.world_dates()
    assert len(dates) == result.horizon + 1 and dates[0] == market.dates[-1]
    assert list(dates[1:]) == list(worlds.dates())  # business days after the last close
    assert list(result.real_window_dates()) == list(market.dates[-result.horizon - 1:])


def test_a_short_horizon_runs_and_says_what_it_skipped(spec):
    """Worlds shorter than a scorecard metric's window: the run completes, the metric is NaN, and a note says
    why (it used to crash after all the compute)."""
    short = dataclasses.replace(spec, simulation=dataclasses.replace(spec.simulation, horizon=5, worlds=40))
    result = pipeline.run(short)
    card = result.fidelity.scorecard.set_index("metric")
    for metric in ("w1n_20d", "strategy_re", "disc_score"):
        assert np.isnan(card.loc[metric, "mean"]), metric
        assert any(line.startswith(f"{metric}: needs worlds of") for line in result.fidelity.skipped), metric
    assert not any(line.startswith("w1n_1d") for line in result.fidelity.skipped)
    assert all(len(s.metrics) == 40 for s in result.strategies)
    html = render_html(result)
    assert "Not scored (the worlds are too short)" in html and \
        "strategy_re: needs worlds of 21 periods" in html


def test_a_chunk_too_big_for_memory_is_refused_with_the_chunk_size_to_use(spec):
    from stressgen.errors import ConfigError
    from stressgen.stages import CHUNK_MEMORY_FACTOR, PROCESS_BASELINE, check_memory

    sim = spec.simulation  # 200 worlds in chunks of 64, 20 periods, 3 assets
    per_world = CHUNK_MEMORY_FACTOR * 4 * sim.horizon * 3
    check_memory(spec, 3, limit=int((PROCESS_BASELINE + 64 * per_world) / 0.8) + 1)  # fits exactly
    with pytest.raises(ConfigError, match=r"simulation.chunk_size: 64 worlds x 20 periods x 3 assets .* "
                                          r"chunk_size to at most 32\b"):
        check_memory(spec, 3, limit=int((PROCESS_BASELINE + 32.5 * per_world) / 0.8))
    with pytest.raises(ConfigError, match="not even one world fits"):
        check_memory(spec, 3, limit=PROCESS_BASELINE)


def test_an_unknown_memory_size_is_said_not_skipped_in_silence(spec, monkeypatch):
    from stressgen import stages

    monkeypatch.setattr(stages, "_memory_limit", lambda: None)
    with pytest.warns(RuntimeWarning, match="chunk-size check before the run is skipped"):
        stages.check_memory(spec, 3)


def _refused_before_the_fit(spec, monkeypatch, match):
    """The run raises a ConfigError naming the spec's strategy before the generator is fitted."""
    def no_fit(*args, **kwargs):
        raise AssertionError("the generator was fitted before the grid was refused")

    monkeypatch.setattr(pipeline, "fit_generator", no_fit)
    with pytest.raises(ConfigError, match=match):
        pipeline.run(spec)


def test_a_one_point_grid_is_refused_before_any_compute(spec, monkeypatch):
    one = dataclasses.replace(spec.strategies[1], grid={"fast": (5,)})
    bad = dataclasses.replace(spec, strategies=(spec.strategies[0], one))
    _refused_before_the_fit(bad, monkeypatch, r"small\.toml: strategies\.ma_crossover\.grid: strategy "
                                              r"'ma_crossover': grid has 1 parameter set.*PBO needs at least 2")


def test_a_history_too_short_for_cscv_is_refused_before_any_compute(spec, monkeypatch):
    # about 330 real days, 300 of them the warm-up (history_days): 4 CSCV blocks of 21 days need 84 more
    short = dataclasses.replace(spec, data=dataclasses.replace(spec.data, start="2021-09-01"))
    _refused_before_the_fit(short, monkeypatch, r"strategies\.ma_crossover\.grid: strategy 'ma_crossover': "
                                                r"PBO by CSCV .* at least 84 real periods after the warm-up; "
                                                r"the history gives \d+")

"""The in-run scorecard's strategy tails come from the run's own strategies, on programs the run compiled for
its worst worlds; padding the worst worlds into the scorecard's chunk leaves their numbers as they were."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from stressgen import engine, rng, stage_series, stages
from stressgen.engine import _run
from stressgen.metrics import RiskConfig
from stressgen.metrics.fidelity import strategy_tails
from stressgen.spec import load_spec
from stressgen.strategy import ParamGrid

SPEC = Path(__file__).parent / "data" / "specs" / "small.toml"


@pytest.fixture(scope="module")
def run():
    # 30 periods: the 20-day P&L windows of the strategy tails exist (small.toml's 20 leave them NaN)
    spec = load_spec(SPEC).with_overrides(horizon=30)
    root = rng.root(spec.simulation.seed)
    market = stages.load_market(spec)
    plans = stages.build_strategies(spec)
    bt = dataclasses.replace(spec.costs, periods_per_year=market.periods_per_year)
    risk = RiskConfig(periods_per_year=market.periods_per_year, rf=bt.rf)
    fit = stages.fit_generator(spec, market, key=rng.stream(root, rng.FIT))
    key = rng.stream(root, rng.SAMPLE)
    sampled = stages.sample_and_backtest(spec, market, fit, plans, bt, risk, key=key)
    real = stage_series.backtest_real(market, plans, sampled.template, bt, risk)
    worst = stage_series.worst_worlds(spec, fit, plans, sampled, bt, key=key)
    programs = _run._program._cache_size()
    fidelity = stage_series.fidelity_summary(market, sampled, spec.simulation.horizon, key=rng.stream(root, 3),
                                       plans=plans, bt=bt, real=real)
    return dict(market=market, plans=plans, bt=bt, sampled=sampled, real=real, worst=worst, fidelity=fidelity,
                new_programs=_run._program._cache_size() - programs)


def test_strategy_tails_are_the_run_strategies(run):
    """strategy_re is the mean over every parameter set of the relative VaR/ES error of its 20-day P&L: real
    from the tear sheet's equity, synthetic from the scored worlds."""
    errors = []
    for j, plan in enumerate(run["plans"]):
        scored = run["sampled"].scored
        syn = np.asarray(engine.backtest(plan.built, scored, run["bt"], check=False,
                                         chunk_size=min(stage_series.SCORE_CHUNK, scored.n_worlds)).pnl)
        syn = syn.reshape(len(plan.sets), *syn.shape[-2:])
        for p in range(len(plan.sets)):
            eq = run["real"].equity[(j, p)]
            errors.append(strategy_tails.pnl_error(eq[1:] / eq[:-1] - 1.0, syn[p], 20))
    card = run["fidelity"].scorecard.set_index("metric")
    assert len(errors) == 3 and np.isfinite(errors).all()
    np.testing.assert_allclose(card.loc["strategy_re", "mean"], np.mean(errors), rtol=1e-9)


def test_the_scorecard_compiles_only_a_grid_program(run):
    """A plan without a grid is backtested on the scored worlds by the program its padded worst worlds
    compiled; a grid runs as a whole (one program of its own)."""
    grids = sum(isinstance(plan.built, ParamGrid) for plan in run["plans"])
    assert grids == 1 and run["new_programs"] == grids


def test_padded_worst_worlds_keep_their_numbers(run):
    """Padded to the scorecard's chunk, the worst worlds' equity is that of a batch of them alone, and ends
    where their metrics say."""
    sampled, worst = run["sampled"], run["worst"]
    for plan, m in zip(run["plans"], sampled.metrics):
        for p, (name, _) in enumerate(plan.sets):
            idx = list(worst.index[name])
            alone = sampled.template.replace(log_returns=np.stack([worst.paths[i] for i in idx]))
            eq = np.asarray(engine.backtest(plan.at(p), alone, run["bt"], check=False).equity, np.float64)
            assert worst.equity[name].shape == (3, 31) and np.all(worst.equity[name][:, 0] == 1.0)
            np.testing.assert_array_equal(worst.equity[name][:, 1:], eq)
            np.testing.assert_allclose(worst.equity[name][:, -1], 1.0 + m["total_return"][p, idx], rtol=1e-5)


def test_the_run_strategies_come_together(run):
    with pytest.raises(TypeError, match="together"):
        stage_series.fidelity_summary(run["market"], run["sampled"], 30, key=rng.root(0), plans=run["plans"])

"""[[stress]] cases end to end at small sizes: each case's worlds, weights and statistics checked against
independent computations (the market's own returns, plain NumPy frequencies), and the data checks that must
refuse a case before any fit."""

import dataclasses

import numpy as np
import pytest

from stressgen import data, generators, pipeline, rng
from stressgen.errors import ConfigError
from stressgen.metrics import RiskConfig
from stressgen.spec import parse_spec
from stressgen.spec_stress import check_stress, parse_stress
from stressgen.stage_stress import check_spec_stress, run_stress
from stressgen.stages import build_strategies, fit_generator, load_market, sample_and_backtest

N, H = 128, 30
BASE = {
    "data": {"dataset": "sp500-20", "start": "2005-01-01", "assets": ["AAPL", "JPM", "XOM"]},
    "generator": {"family": "garch"},
    "simulation": {"worlds": N, "horizon": H, "seed": 3, "chunk_size": N},
    "strategies": [{"plugin": "equal_weight", "params": {"every": 5}}],
    "report": {"n_boot": 20, "min_ess": 100},
}
CASES = [
    {"name": "crash", "shock": {"day": 5, "size": -0.2}},
    {"name": "covid", "replay": "covid-2020"},
    {"name": "wild-start", "start": {"vol_percentile": 95}},
    {"name": "tail", "tilt": {"z": 1.0}},
    {"name": "down", "views": [{"kind": "probability", "quantity": "ew_return", "threshold": -0.05,
                                "probability": 0.2}]},
]


def _spec(cases, **generator):
    doc = {**BASE, "generator": {**BASE["generator"], **generator}, "stress": cases}
    return parse_spec(doc, source="stress-test.toml")


@pytest.fixture(scope="module")
def staged():
    spec = _spec(CASES)
    market = load_market(spec)
    plans = build_strategies(spec)
    bt = dataclasses.replace(spec.costs, periods_per_year=market.periods_per_year)
    risk = RiskConfig(periods_per_year=market.periods_per_year, rf=bt.rf)
    check_spec_stress(spec, market, plans, risk)
    root = rng.root(spec.simulation.seed)
    fit = fit_generator(spec, market, key=rng.stream(root, rng.FIT))
    key = rng.stream(root, rng.SAMPLE)
    base = sample_and_backtest(spec, market, fit, plans, bt, risk, key=key)
    cases = run_stress(spec, market, fit, plans, bt, risk, base, key=key, boot_key=root)
    return spec, market, fit, plans, bt, risk, base, {c.name: c for c in cases}, [c.name for c in cases]


def test_cases_come_base_first_in_spec_order(staged):
    *_, names = staged
    assert names == ["base", "crash", "covid", "wild-start", "tail", "down"]


def test_base_case_numbers_are_plain_frequencies(staged):
    _, _, _, _, _, _, base, cases, _ = staged
    tr = base.metrics[0]["total_return"][0]
    b = cases["base"]
    assert b.weights is None and b.ess_kish == pytest.approx(N) and not b.low_ess
    assert b.strategies[0].p_loss.value == pytest.approx(np.mean(tr < 0))
    dd = base.metrics[0]["max_drawdown"][0]
    for x, est in b.strategies[0].p_drawdown:
        assert est.value == pytest.approx(np.mean(dd > x))
    # VaR: minus the inverted-CDF 5% quantile of the worlds' total returns
    assert b.strategies[0].var.value == pytest.approx(-np.sort(tr)[int(np.ceil(0.05 * N)) - 1], rel=1e-5)


def test_replayed_days_are_the_episode_in_every_world(staged):
    _, market, *_, cases, _ = staged
    c = cases["covid"]
    dates = market.return_dates
    mask = (dates >= "2020-02-19") & (dates <= "2020-03-23")
    ew = np.cumprod(1 + np.expm1(market.log_returns[mask]).mean(axis=1))
    days = int(mask.sum())
    # every world holds the same episode, so the fan's band is closed over it and equals the real path
    for q in ("q05", "q50", "q95"):
        np.testing.assert_allclose(c.fan[q][1:days + 1], ew, rtol=2e-5)
    assert c.condition.startswith("replay(covid-2020")
    assert c.strategies[0].median_return < cases["base"].strategies[0].median_return


def test_shock_case_is_base_worlds_then_a_fall(staged):
    *_, cases, _ = staged
    c, b = cases["crash"], cases["base"]
    assert "shock(day=5" in c.condition
    # common random numbers: the fan before the shock day is the base case's, exactly
    for q in ("q05", "q50", "q95"):
        np.testing.assert_array_equal(c.fan[q][:5], b.fan[q][:5])
    np.testing.assert_allclose(c.fan["q50"][5] / c.fan["q50"][4], 0.8, atol=0.02)
    assert c.strategies[0].es.value > b.strategies[0].es.value


def test_view_holds_under_the_case_weights(staged):
    *_, cases, _ = staged
    c = cases["down"]
    assert c.weights.sum() == pytest.approx(1.0)
    assert np.sum(c.weights * (c.ew_return <= -0.05)) == pytest.approx(0.2, abs=1e-6)
    (fit,) = c.views
    assert abs(fit.residual) < 1e-6 and fit.posterior == pytest.approx(0.2, abs=1e-6)
    assert c.ess_kish < N and c.ess_entropy >= c.ess_kish


def test_tilt_weights_and_low_effective_size_are_reported(staged):
    *_, cases, _ = staged
    c = cases["tail"]
    assert c.condition.startswith("tilt(") and c.weights.sum() == pytest.approx(1.0)
    kish = 1.0 / np.sum(c.weights ** 2)
    assert c.ess_kish == pytest.approx(kish)
    assert c.low_ess == (kish < 100)
    if c.low_ess:
        assert c.notes[0].startswith("effective number of worlds")


def test_start_case_names_the_resolved_day(staged):
    *_, cases, _ = staged
    c = cases["wild-start"]
    assert c.start is not None and "percentile" in c.start


def test_views_the_worlds_cannot_meet_name_the_case(staged):
    spec, market, fit, plans, bt, risk, base, _, _ = staged
    bad = _spec([{"name": "impossible", "views": [{"kind": "probability", "quantity": "ew_return",
                                                   "threshold": -2.0, "probability": 0.1}]}])
    with pytest.raises(ConfigError, match=r"stress\[0\] \(impossible\)\.views"):
        run_stress(bad, market, fit, plans, bt, risk, base, key=rng.root(0), boot_key=rng.root(0))


@pytest.mark.parametrize("case, generator, expect", [
    ({"name": "x", "shock": {"day": 2, "size": -0.1, "assets": ["MSFT"]}}, {}, r"shock\.assets: unknown asset"),
    ({"name": "x", "replay": "ltcm-1998"}, {}, "lies outside the history"),
    ({"name": "x", "start": {"date": "2004-06-01"}}, {}, "start.date"),
    ({"name": "x", "views": [{"kind": "mean", "quantity": "ew_retrun", "target": 0.0}]}, {},
     r"views\[0\]: unknown quantity 'ew_retrun' \(did you mean 'ew_return'"),
    ({"name": "x", "regime": "turbulent"}, {}, "generator 'garch' does not support a InRegime"),
    ({"name": "x", "regime": "stormy"}, {"family": "bootstrap"}, r"unknown regime 'stormy'.*calm"),
    ({"name": "x", "tilt": {"z": 1.0, "direction": [1.0, 0.0]}}, {}, "2 weights for 3 assets"),
])
def test_data_checks_refuse_before_any_fit(case, generator, expect, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("the generator was fitted before the stress case was checked")

    monkeypatch.setattr(pipeline, "fit_generator", no_fit)
    with pytest.raises(ConfigError, match=expect) as info:
        pipeline.run(_spec([case], **generator))
    assert "stress-test.toml: stress[0] (x)" in str(info.value)


class _NoReanchor(generators.AbstractGenerator):
    """A family that keeps the base class's `reanchor`: no built-in family does any more."""

    name = "no-reanchor"
    config_type = dict

    def fit(self, market, *, key, config=None):
        raise AssertionError("the generator was fitted before the stress case was checked")

    def sample(self, fitted, *, key, n_worlds, horizon, condition=None, first_world=0):
        raise AssertionError("never sampled")


def test_start_for_a_family_without_reanchor_refused(monkeypatch):
    assert not _NoReanchor().can_reanchor
    assert all(generators.get(name).can_reanchor for name in generators.BUILTIN)
    monkeypatch.setitem(generators.BUILTIN, _NoReanchor.name, _NoReanchor)
    cases = parse_stress([{"name": "x", "start": {"vol_percentile": 50}}], "stress", H)
    market = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM"])
    with pytest.raises(ConfigError, match=r"stress\[0\] \(x\)\.start: generator 'no-reanchor' cannot continue"):
        check_stress(cases, "stress", market, _NoReanchor.name, ())
    check_stress(cases, "stress", market, "vae", ())  # every built-in family takes a start

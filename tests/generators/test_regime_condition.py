"""The `InRegime` condition of the regime mixture (stressgen.generators._regime_condition): held regime paths,
wider worlds from a turbulent condition than a calm one, the event's probability in the provenance, chunk
invariance, and typed errors. Fit: the session's regime mixture on four stocks (`small_fits`)."""

import numpy as np
import pytest
from scipy import stats

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import InRegime, Tilt, regime
from stressgen.generators import _regime_condition as rc


@pytest.fixture(scope="module")
def fit(small_fits):
    return small_fits("regime")


def _ew_total(scenarios):
    """``[worlds]`` float64 equal-weight log return over the horizon."""
    r = np.asarray(scenarios.log_returns, np.float64)
    return np.log(np.expm1(r).mean(axis=2) + 1).sum(axis=1)


def test_held_days_are_in_the_regime_then_the_chain_takes_over(fit):
    """Every world's regime path is the named regime on days 1..stay_days; afterwards worlds leave it at the
    fitted rate (so the hold ends). The held days' returns have the regime's covariance within 4 standard
    errors (worlds x days i.i.d. draws given the regime; SE of a t variance: sigma^2 sqrt((2 + 6 / (dof - 4))
    / n)). Weights stay None; the provenance names the condition and the plain-model probability."""
    gen, fitted = fit
    k, days = len(fitted.labels) - 1, 10
    cond = InRegime(regime=fitted.labels[k], stay_days=days)
    scen, states = gen.sample_regimes(fitted, key=rng.root(21), n_worlds=2000, horizon=40, condition=cond)
    states = np.asarray(states)
    assert (states[:, :days] == k).all()
    stay = float(fitted.trans[k, k])
    left = (states[:, days] != k).mean()  # day days+1 leaves with probability 1 - trans[k, k]
    assert abs(left - (1 - stay)) < 4 * np.sqrt(stay * (1 - stay) / len(states)) + 1e-3, (left, stay)
    y = np.asarray(scen.log_returns, np.float64)[:, :days].reshape(-1, scen.n_assets)
    want = np.diag(fitted.covariance[k])
    dof = float(fitted.dof[k])
    se = want * np.sqrt((2 + 6 / (dof - 4)) / len(y))
    assert np.all(np.abs(y.var(axis=0) - want) < 4 * se), (y.var(axis=0), want)
    assert scen.weights is None
    p = rc.event_probability(regime.start_distribution(fitted), np.asarray(fitted.trans), k, days)
    assert scen.provenance.condition == cond.describe(p) and "plain-model probability=" in scen.provenance.condition
    assert 0 < p < 1


def test_turbulent_condition_spreads_wider_than_calm(fit):
    """The first month (21 days) of equal-weight return is wider when worlds start and stay 5 days turbulent
    than calm: one-sided, on log standard deviations, SE(log sd) = sqrt((kurt - 1) / (4 n)) per side, the
    difference beyond 3 standard errors of the difference."""
    gen, fitted = fit
    log_sd, se2 = {}, 0.0
    for label in (fitted.labels[0], fitted.labels[-1]):
        scen = gen.sample(fitted, key=rng.root(22), n_worlds=1000, horizon=21,
                          condition=InRegime(regime=label, stay_days=5))
        total = _ew_total(scen)
        log_sd[label] = np.log(total.std(ddof=1))
        se2 += (stats.kurtosis(total, fisher=False) - 1) / (4 * len(total))
    diff = log_sd[fitted.labels[-1]] - log_sd[fitted.labels[0]]
    assert diff > 3 * np.sqrt(se2), (np.exp(diff), np.sqrt(se2))


def test_a_one_day_hold_is_a_start_in_the_regime_bit_for_bit(fit):
    """Holding only day 1 consumes the same random numbers as the plain sampler started in that regime
    (`with_start`), so the worlds are bit-identical: the hold changes the path, never the draws."""
    gen, fitted = fit
    label = fitted.labels[-1]
    held = gen.sample(fitted, key=rng.root(23), n_worlds=64, horizon=30, condition=InRegime(regime=label))
    started = gen.sample(regime.with_start(fitted, label), key=rng.root(23), n_worlds=64, horizon=30)
    np.testing.assert_array_equal(np.asarray(held.log_returns), np.asarray(started.log_returns))


def test_conditioned_worlds_do_not_depend_on_the_chunking(fit):
    """64 worlds at once equal two chunks of 32 (shapes shared with the test above: fewer compilations)."""
    gen, fitted = fit
    cond = InRegime(regime=fitted.labels[0], stay_days=7)
    whole = gen.sample(fitted, key=rng.root(24), n_worlds=64, horizon=30, condition=cond)
    parts = [gen.sample(fitted, key=rng.root(24), n_worlds=32, horizon=30, condition=cond, first_world=f)
             for f in (0, 32)]
    np.testing.assert_array_equal(np.asarray(whole.log_returns),
                                  np.concatenate([np.asarray(p.log_returns) for p in parts]))
    assert {p.provenance.condition for p in parts} == {whole.provenance.condition}


@pytest.mark.parametrize("options, field", [
    (dict(regime="calm", stay_days=-1), "in_regime.stay_days"),
    (dict(regime="calm", stay_days=2.0), "in_regime.stay_days"),
    (dict(regime="calm", stay_days=True), "in_regime.stay_days"),
    (dict(regime=""), "in_regime.regime"),
])
def test_bad_conditions_are_typed_errors_naming_the_field(options, field):
    with pytest.raises(ConfigError, match=field):
        InRegime(**options)


def test_an_unknown_regime_is_refused_at_sample_time_listing_the_labels(fit):
    gen, fitted = fit
    with pytest.raises(ConfigError, match=r"in_regime\.regime.*'crash'.*" + ", ".join(fitted.labels)):
        gen.sample(fitted, key=rng.root(0), n_worlds=2, horizon=3, condition=InRegime(regime="crash"))


def test_other_conditions_and_other_families_are_refused_naming_the_generator(fit, small_fits):
    gen, fitted = fit
    with pytest.raises(ConfigError, match="'regime'.*Tilt"):
        gen.sample(fitted, key=rng.root(0), n_worlds=2, horizon=3, condition=Tilt(theta=1.0))
    other, other_fit = small_fits("garch")  # the bootstrap takes InRegime too (its volatility regimes)
    with pytest.raises(ConfigError, match="'garch'.*InRegime"):
        other.sample(other_fit, key=rng.root(0), n_worlds=2, horizon=3, condition=InRegime(regime="calm"))

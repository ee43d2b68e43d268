"""`StartState`: worlds that continue from the state of a chosen historical day (docs/stress.md, "Start state").

The test of meaning: worlds started on a day of high volatility (95th percentile of history) spread wider than
worlds started on a calm day (5th percentile). GARCH shows it on the 1-year equal-weight return; the
bootstrap's state lives about a month (its state decays at 0.94 a day), so it is checked on the first month
(measured on this data: bootstrap 1.03x and regime 1.02x at one year, 1.32x and 1.58x at one month; GARCH
1.38x at one year).

The SD ratio's test: for n draws with kurtosis k (4th standardised moment), var(s^2) ~ sigma^4 (k - 1) / n, so
by the delta method var(log s) ~ (k - 1) / (4 n) (1 / (2 n) for normal data). The log ratio of two independent
samples' SDs has the sum of their variances. k is estimated from each sample and floored at 3 (normal), so fat
tails widen the error and never narrow it; the ratio must clear 3 standard errors (one-sided, ~0.1%).
"""

import math
import re
import warnings

import jax
import numpy as np
import pytest

from stressgen import data, generators, rng
from stressgen.errors import ConfigError
from stressgen.generators import StartState
from stressgen.generators._start import TOLERANCE, start_from
from stressgen.types import MarketData


def _key():
    return rng.stream(rng.root(0), rng.FIT)


def _ew_log_return(scen) -> np.ndarray:
    """[worlds] log return of the daily rebalanced equal-weight portfolio over the horizon."""
    y = np.asarray(scen.log_returns, np.float64)
    return np.log(np.exp(y).mean(axis=2)).sum(axis=1)


def _log_sd_ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(log SD(a) / SD(b), its standard error; see the module doc)."""
    def var_log_sd(x):
        k = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
        return (max(k, 3.0) - 1.0) / (4.0 * x.size)
    return math.log(a.std(ddof=1) / b.std(ddof=1)), math.sqrt(var_log_sd(a) + var_log_sd(b))


def _spread(name, small_fits, small_market, horizon, n_worlds):
    gen, fitted = small_fits(name)
    out = {}
    for q in (95, 5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the GARCH guards re-warn on the cut's filter
            moved, resolved = start_from(gen, fitted, small_market, StartState(vol_percentile=q), key=_key())
        scen = gen.sample(moved, key=rng.stream(rng.root(1), rng.SAMPLE), n_worlds=n_worlds, horizon=horizon)
        out[q] = (_ew_log_return(scen), resolved)
    assert out[95][1].volatility > 2 * out[5][1].volatility, (out[95][1], out[5][1])
    return _log_sd_ratio(out[95][0], out[5][0])


def test_high_vol_start_spreads_wider_over_a_year_garch(small_fits, small_market):
    ratio, se = _spread("garch", small_fits, small_market, horizon=252, n_worlds=500)
    assert ratio > 3.0 * se, (math.exp(ratio), se)


def test_high_vol_start_spreads_wider_over_a_month_bootstrap(small_fits, small_market):
    ratio, se = _spread("bootstrap", small_fits, small_market, horizon=21, n_worlds=400)
    assert ratio > 3.0 * se, (math.exp(ratio), se)


# ------------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize("kwargs, field", [
    ({}, "start.date and start.vol_percentile"),
    ({"date": "2020-01-02", "vol_percentile": 50}, "start.date and start.vol_percentile"),
    ({"vol_percentile": 101}, "start.vol_percentile"),
    ({"vol_percentile": -0.5}, "start.vol_percentile"),
    ({"vol_percentile": float("nan")}, "start.vol_percentile"),
    ({"vol_percentile": True}, "start.vol_percentile"),
    ({"date": "not a date"}, "start.date"),
])
def test_invalid_start_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        StartState(**kwargs)


# ------------------------------------------------------------------------------------------------ date

def test_date_on_a_trading_day_is_that_day(small_market):
    day = small_market.return_dates[400]
    res = StartState(date=str(day.date())).resolve(small_market)
    assert res.date == str(day.date()) and res.note == ""


def test_weekend_date_rolls_back_and_says_so(small_market):
    res = StartState(date="2020-03-14").resolve(small_market)  # a Saturday
    assert res.date == "2020-03-13"
    assert "not a trading day" in res.note and "2020-03-13" in res.note


@pytest.mark.parametrize("date", ["2010-01-04", "2017-06-01", "2030-01-02"])
def test_date_outside_the_usable_history_names_start_date(small_market, date):
    with pytest.raises(ConfigError, match=r"start\.date"):
        StartState(date=date).resolve(small_market)


DAILY_YEAR = 252  # a start needs one year of returns up to it: on business days, 252


def test_first_usable_date_has_the_minimum_history(small_market):
    first = small_market.return_dates[DAILY_YEAR - 1]
    assert StartState(date=str(first.date())).resolve(small_market).date == str(first.date())
    with pytest.raises(ConfigError, match=r"start\.date .*at least 252 returns: one year\)"):
        StartState(date=str(small_market.return_dates[DAILY_YEAR - 2].date())).resolve(small_market)


@pytest.mark.parametrize("freq,rule,need,why", [
    ("W", "W-FRI", 128, "a year of this data is 52, below the 128 every family's re-anchor needs"),
    ("M", "ME", 128, "a year of this data is 12, below the 128 every family's re-anchor needs"),
    ("D", "D", 365, "one year")])
def test_the_minimum_history_is_a_year_of_the_datas_periods_and_at_least_128(sp500_20, freq, rule, need, why):
    # Before, the minimum was 252 returns at every frequency: 21 years of monthly data, 5 of weekly. A year of
    # weekly or monthly returns is below the floor the re-anchors need (GARCH's filter 100, the GAN's
    # receptive field 128), so those ask for 128; calendar-day data asks for its own year, 365.
    frame = sp500_20.to_frame().iloc[:, :3]
    frame = frame.resample(rule).last().dropna() if freq != "D" else frame.asfreq("D").ffill()
    market = MarketData(prices=frame.to_numpy(), dates=frame.index, assets=tuple(frame.columns), freq=freq,
                        source=f"{freq}.csv")
    first = market.return_dates[need - 1]
    assert StartState(date=str(first.date())).resolve(market).date == str(first.date())
    expected = f"on or after {first.date()} (at least {need} returns: {why})"
    with pytest.raises(ConfigError, match=r"start\.date .*" + re.escape(expected)):
        StartState(date=str(market.return_dates[need - 2].date())).resolve(market)
    # a percentile start looks only at days with that history; the calmest of them, for one
    calm = StartState(vol_percentile=0).resolve(market)
    assert market.return_dates.get_loc(calm.date) >= need - 1
    short = MarketData(prices=market.prices[:need], dates=market.dates[:need], assets=market.assets, freq=freq,
                       source=f"{freq}.csv")
    with pytest.raises(ConfigError, match=re.escape(f"{freq}.csv has {need - 1} returns; a start day needs at "
                                                    f"least {need} returns: {why} (up to and including the day)")):
        StartState(vol_percentile=50).resolve(short)


# ------------------------------------------------------------------------------------------------ percentile

def _slow_vol_and_ranks(market):
    """Independent loops: annualised RMS of the equal-weight log return over 21 days, rank 0..100."""
    r = market.log_returns
    ew = [sum(row) / len(row) for row in r.tolist()]
    vol = [math.nan] * len(ew)
    for t in range(20, len(ew)):
        vol[t] = math.sqrt(sum(x * x for x in ew[t - 20:t + 1]) / 21 * 252)
    full = [v for v in vol if not math.isnan(v)]
    n = len(full)
    rank = [math.nan] * len(ew)
    for t, v in enumerate(vol):
        if not math.isnan(v):
            below = sum(1 for w in full if w < v)
            equal = sum(1 for w in full if w == v)
            rank[t] = 100.0 * (below + (equal - 1) / 2) / (n - 1)
    return np.array(vol), np.array(rank), np.array(full)


@pytest.mark.parametrize("q", [5, 50, 95])
def test_percentile_picks_the_latest_day_within_tolerance(small_market, q):
    vol, rank, full = _slow_vol_and_ranks(small_market)
    res = StartState(vol_percentile=q).resolve(small_market)
    t = small_market.return_dates.get_loc(res.date)
    assert abs(res.percentile - q) <= TOLERANCE and res.note == ""
    np.testing.assert_allclose([res.volatility, res.percentile], [vol[t], rank[t]], rtol=1e-9)
    within = [i for i in range(DAILY_YEAR - 1, len(vol)) if abs(rank[i] - q) <= TOLERANCE]
    assert t == within[-1]
    np.testing.assert_allclose(np.percentile(full, res.percentile), res.volatility, rtol=1e-9)


# ------------------------------------------------------------------------------------------------ worlds

def test_worlds_continue_from_the_resolved_day_and_repeat(small_fits, small_market):
    gen, fitted = small_fits("garch")
    state = StartState(date="2020-03-14")
    runs = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved, res = start_from(gen, fitted, small_market, state, key=_key())
        runs.append(gen.sample(moved, key=rng.stream(rng.root(3), rng.SAMPLE), n_worlds=8, horizon=5))
    t = small_market.return_dates.get_loc(res.date)
    scen = runs[0]
    assert scen.history_end == res.date == "2020-03-13"
    np.testing.assert_array_equal(np.asarray(scen.history[-1]), small_market.log_returns[t].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(scen.anchor_prices), small_market.prices[t + 1].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(runs[0].log_returns), np.asarray(runs[1].log_returns))
    # start_from is the family's reanchor on the cut, nothing more: no refit (mu and nu are the fit's; GARCH's
    # reanchor re-runs its guards on the cut, which may scale omega, alpha, gamma, beta a little)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = gen.reanchor(fitted, data.select(small_market, end=res.date), key=_key())
    for name in ("mu", "omega", "alpha", "gamma", "beta", "nu"):
        np.testing.assert_array_equal(np.asarray(getattr(moved, name)), np.asarray(getattr(direct, name)))
    for name in ("mu", "nu"):
        np.testing.assert_array_equal(np.asarray(getattr(moved, name)), np.asarray(getattr(fitted, name)))


def test_vae_continues_from_the_resolved_day(small_fits, small_market):
    gen, fitted = small_fits("vae")
    moved, res = start_from(gen, fitted, small_market, StartState(date="2020-03-14"), key=_key())
    t = small_market.return_dates.get_loc(res.date)
    scen = gen.sample(moved, key=rng.stream(rng.root(3), rng.SAMPLE), n_worlds=4, horizon=5)
    assert scen.history_end == res.date == "2020-03-13"
    np.testing.assert_array_equal(np.asarray(scen.history[-1]), small_market.log_returns[t].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(scen.anchor_prices), small_market.prices[t + 1].astype(np.float32))
    # the family's reanchor on the cut, nothing more: the trained network and scale are the fit's
    direct = gen.reanchor(fitted, data.select(small_market, end=res.date), key=_key())
    assert moved.digest == direct.digest != fitted.digest
    np.testing.assert_array_equal(np.asarray(moved.scale), np.asarray(fitted.scale))
    for a, b in zip(jax.tree_util.tree_leaves(moved.state), jax.tree_util.tree_leaves(fitted.state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _NoReanchor(generators.AbstractGenerator):
    """A family that keeps the base class's `reanchor` (None): it cannot continue from another day."""

    name = "no-reanchor"
    config_type = dict

    def fit(self, market, *, key, config=None):
        raise AssertionError("a start state never refits")

    def sample(self, fitted, *, key, n_worlds, horizon, condition=None, first_world=0):
        raise AssertionError("never sampled")


def test_family_without_reanchor_refused(small_market):
    gen = _NoReanchor()
    assert not gen.can_reanchor and all(generators.get(n).can_reanchor for n in generators.BUILTIN)
    with pytest.raises(ConfigError, match=r"start: generator 'no-reanchor' cannot continue"):
        start_from(gen, None, small_market, StartState(vol_percentile=50), key=_key())


def test_other_assets_refused(small_fits, small_market):
    gen, fitted = small_fits("bootstrap")
    other = data.select(small_market, assets=["JPM", "AAPL", "XOM", "WMT"])
    with pytest.raises(ConfigError, match="start"):
        start_from(gen, fitted, other, StartState(vol_percentile=50), key=_key())

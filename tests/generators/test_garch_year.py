"""Year-matched FHS rows for the GARCH (``fhs_matching="year"``: `_garch_state.year_windows`), against slow
loops: each window's law, the rows a world replays, and what the matching is for (worlds whose correlation
varies from year to year as the history's does)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import GarchConfig, GjrGarch
from stressgen.generators.garch import GarchFitWarning
from stressgen.generators import _levels as lv
from stressgen.generators import _garch_state as gs
from stressgen.types import MarketData


def _market(r: np.ndarray) -> MarketData:
    """A market whose daily log returns are ``r [time, assets]``."""
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)]))
    return MarketData(prices=prices, dates=pd.bdate_range("2000-01-03", periods=len(prices)),
                      assets=tuple(f"A{i}" for i in range(r.shape[1])))


@pytest.fixture(scope="module")
def regime_market():
    """Four assets over 12 years, alternating two-year regimes: calm (daily vol 0.7%, correlation 0.1) and
    stressed (2%, correlation 0.7), Gaussian within. A GARCH(1,1) with i.i.d. rows cannot make the
    correlation move; year-matched rows bring each year's along."""
    g = np.random.default_rng(11)
    years, n = 12, 4
    blocks = []
    for y in range(years):
        stressed = (y // 2) % 2 == 1
        rho, vol = (0.7, 0.02) if stressed else (0.1, 0.007)
        corr = np.full((n, n), rho) + (1 - rho) * np.eye(n)
        blocks.append(vol * g.standard_normal((252, n)) @ np.linalg.cholesky(corr).T)
    return _market(np.vstack(blocks))


@pytest.fixture(scope="module")
def fits(regime_market):
    """i.i.d. and year-matched rows from the unconditional start (every year may be drawn), and year-matched
    from the conditional one (the default start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        out = {m: GjrGarch().fit(regime_market, key=rng.root(0), config=GarchConfig(fhs_matching=m,
                                                                                   start="unconditional"))
               for m in ("none", "year")}
        out["year-conditional"] = GjrGarch().fit(regime_market, key=rng.root(0),
                                                 config=GarchConfig(fhs_matching="year"))
    return out


def test_year_windows_are_unit_variance_and_the_largest_stable_factor():
    """Against a slow loop: per window and asset the rows minus the window mean, times the scale, have
    variance factor^2; at the factor the window's own law keeps E[A^p] <= 1 and E[A] <= max_persistence;
    a factor higher by more than the bisection's resolution breaks one of them (where it is below 1)."""
    g = np.random.default_rng(5)
    n, k, max_p = 600, 50, 0.995
    wild = np.where(np.arange(n) > 420, 1.8, 0.8)[:, None]
    e = g.standard_t(4, size=(n, 2)) * wild
    params = np.array([[0.0, 0.02, 0.06, 0.09, 0.88, 6.0], [0.0, 0.02, 0.04, 0.05, 0.93, 6.0]])
    power = np.array([2.0, 2.2])
    rows = gs.year_windows(e, k, params=params, power=power, max_persistence=max_p)  # a 50-day "year"
    starts, scale, factor = rows.starts, rows.scale, rows.factor
    np.testing.assert_array_equal(starts, lv.window_starts(n, k))
    assert rows.length == k
    assert (factor < 1).any() and (factor == 1).any()
    step = 0.95 / 2**gs.BISECTIONS
    for j, s in enumerate(starts):
        for i in range(2):
            x = e[s:s + k, i]  # as replayed: not centred, the window's drift is kept
            np.testing.assert_allclose(np.var(x * scale[j, i]), factor[j, i] ** 2, rtol=1e-10)
            unit = x / np.std(x)

            def ok(c):
                a = (params[i, 2] + params[i, 3] * (unit < 0)) * (c * unit) ** 2 + params[i, 4]
                return np.mean(a ** power[i]) <= 1 + 1e-9 and np.mean(a) <= max_p + 1e-9

            assert ok(factor[j, i]), (j, i, factor[j, i])
            if factor[j, i] < 1:
                assert not ok(factor[j, i] + 1.01 * step), (j, i, factor[j, i])
    # without a moment condition the rows are only scaled to unit variance about their mean
    plain = gs.year_windows(e, k, params=None, power=power, max_persistence=max_p)
    assert (plain.factor == 1).all()
    np.testing.assert_allclose(plain.scale, scale / factor, rtol=1e-12)


def _assert_each_world_replays_one_window(fitted, n_worlds: int = 12, horizon: int = 30) -> None:
    """Inverting the recursion from the sampled returns (float64, from the conditional start's known
    variance) for every candidate window: each world's residuals are, day after day, rows of one window,
    scaled as that window says (not centred: the year's drift is kept), with that window's level factor in
    omega."""
    k = int(fitted.state_neighbours)
    starts = np.asarray(fitted.level_starts)
    factors = np.asarray(fitted.level_factors, np.float64)
    s = GjrGarch().sample(fitted, key=rng.root(3), n_worlds=n_worlds, horizon=horizon)
    p = {k: np.asarray(getattr(fitted, k), np.float64)
         for k in ("mu", "omega", "alpha", "gamma", "beta", "resid", "state_shrink")}
    resid, scale = p["resid"], p["state_shrink"]
    y = 100.0 * np.asarray(s.log_returns, np.float64) - p["mu"]  # eps [worlds, days, assets]
    for w in range(n_worlds):
        misses = []
        for j in range(starts.size):
            rows = resid[starts[j]:starts[j] + k] * scale[j]  # [k, assets]
            sigma2, worst = np.asarray(fitted.sigma2_next, np.float64), 0.0
            for t in range(horizon):
                e = y[w, t] / np.sqrt(sigma2)
                worst = max(worst, float(np.min(np.max(np.abs(e[None, :] - rows), axis=1))))
                if worst > 1e-2:
                    break
                arch = (p["alpha"] + p["gamma"] * (y[w, t] < 0)) * y[w, t] ** 2
                sigma2 = p["omega"] * factors[j] + arch + p["beta"] * sigma2
            misses.append(worst)
        assert min(misses) < 1e-3, (w, min(misses))


def test_each_world_replays_the_rows_of_one_year(fits):
    fitted = fits["year-conditional"]
    assert int(fitted.state_neighbours) == 252
    assert np.asarray(fitted.level_starts).size == fitted.level_factors.size == fitted.state_shrink.shape[0] > 1
    assert fitted.state_center.shape[0] == 0  # nothing is subtracted from a year's rows
    _assert_each_world_replays_one_window(fitted)


def test_a_world_is_the_same_in_any_chunk(fits):
    fitted = fits["year-conditional"]
    batch = GjrGarch().sample(fitted, key=rng.root(3), n_worlds=9, horizon=25).log_returns
    for first in (0, 4, 8):
        alone = GjrGarch().sample(fitted, key=rng.root(3), n_worlds=1, horizon=25, first_world=first).log_returns
        np.testing.assert_array_equal(np.asarray(alone[0]), np.asarray(batch[first]))


def test_year_matched_worlds_carry_the_historys_correlation_regimes(fits, regime_market):
    """The worlds' one-year mean pairwise correlation spreads as the history's years do (0.1 and 0.7
    regimes); with i.i.d. rows every world has about the pooled correlation. Standard error of a one-year
    correlation near 0.4 is about (1 - 0.16) / sqrt(252) = 0.05, so the bars below are many of them."""
    def mean_corr(x):
        c = np.corrcoef(x.T)
        return c[np.triu_indices_from(c, 1)].mean()

    spread = {}
    for m in ("none", "year"):
        w = np.asarray(GjrGarch().sample(fits[m], key=rng.root(4), n_worlds=200, horizon=252).log_returns, np.float64)
        corr = np.array([mean_corr(x) for x in w])
        spread[m] = np.quantile(corr, [0.1, 0.9])
    assert spread["none"][1] - spread["none"][0] < 0.15, spread
    assert spread["year"][0] < 0.25 and spread["year"][1] > 0.55, spread


def test_a_fixed_level_still_replays_a_year(regime_market):
    """level="fixed" with the default year matching: one long-run level for every world (all factors 1),
    while each world still replays the rows of a year drawn among all of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        fitted = GjrGarch().fit(regime_market, key=rng.root(0), config=GarchConfig(level="fixed"))
    every = lv.window_starts(regime_market.log_returns.shape[0], regime_market.periods_per_year)
    np.testing.assert_array_equal(np.asarray(fitted.level_starts), every)
    np.testing.assert_array_equal(np.asarray(fitted.level_factors), np.ones(every.size))
    _assert_each_world_replays_one_window(fitted, n_worlds=6)


def test_year_matching_needs_a_fit_with_it(fits):
    with pytest.raises(ConfigError, match="fit again"):
        GjrGarch().sample(fits["none"].replace(config=GarchConfig(fhs_matching="year")), key=rng.root(0),
                          n_worlds=2, horizon=3)


def test_a_world_replays_any_year_whatever_the_start(fits, regime_market):
    """From the conditional start too, a year-matched world's window is drawn among every one-year window of
    the history (not the neighbours of the last year, as the level of i.i.d. rows is), each with its own
    shrunk level; the level of i.i.d. rows keeps sqrt(windows) neighbours."""
    n, year = regime_market.log_returns.shape[0], regime_market.periods_per_year
    every = lv.window_starts(n, year)
    for name in ("year", "year-conditional"):
        np.testing.assert_array_equal(np.asarray(fits[name].level_starts), every)
    np.testing.assert_allclose(np.asarray(fits["year-conditional"].level_factors),
                               np.asarray(fits["year"].level_factors), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        iid = GjrGarch().fit(regime_market, key=rng.root(0), config=GarchConfig(fhs_matching="none"))
    assert np.asarray(iid.level_factors).size == lv.neighbour_windows(every[every >= year].size) < every.size
    assert lv.neighbour_windows(192) == 14 and lv.neighbour_windows(1) == 1


def test_a_short_history_replays_all_rows_and_says_so():
    g = np.random.default_rng(2)
    vol = 0.01 * np.exp(0.5 * np.sin(np.arange(400) / 20.0))[:, None]  # clustered, so the GARCH is identified
    market = _market(vol * g.standard_t(6, size=(400, 2)))
    with pytest.warns(GarchFitWarning, match="fewer than three years"):
        fitted = GjrGarch().fit(market, key=rng.root(0), config=GarchConfig(fhs_matching="year"))
    assert int(fitted.state_neighbours) == 400 and np.asarray(fitted.level_starts).tolist() == [0]
    s = GjrGarch().sample(fitted, key=rng.root(1), n_worlds=8, horizon=20)
    assert np.isfinite(np.asarray(s.log_returns)).all()


def test_a_file_with_centred_year_rows_is_refused(fits, regime_market):
    """A model saved when year-matched rows were centred stores each window's mean; its worlds cannot be
    reproduced by a sampler that keeps the drift, so loading it says so instead of drawing other worlds."""
    gen = GjrGarch()
    meta, arrays = gen.export_fitted(fits["year"])
    assert gen.restore_fitted(meta, arrays).digest == fits["year"].digest
    n_windows = arrays["state_shrink"].shape[0]
    old = dict(arrays, state_center=np.zeros((n_windows, arrays["resid"].shape[1]), np.float32))
    with pytest.raises(ConfigError, match="earlier stressgen.*centred"):
        gen.restore_fitted(meta, old)
    # state-matched windows still store (and subtract) their means: their files load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        state = gen.fit(regime_market, key=rng.root(0), config=GarchConfig(fhs_matching="state"))
    meta, arrays = gen.export_fitted(state)
    assert arrays["state_center"].shape[0] > 0
    assert gen.restore_fitted(meta, arrays).digest == state.digest


def test_a_world_keeps_its_years_drift():
    """Alternating two-year regimes, calm and rising (+0.1% a day, vol 0.7%) or wild and falling (-0.2%, 2%):
    a year's drift goes with its level. Year-matched worlds keep that: their one-year equal-weight return
    and log variance are strongly negatively correlated (as the history's years are); i.i.d. rows, which
    give every world the fitted mean, do not. With 400 worlds a correlation's standard error is at most
    0.05, so the bounds sit 4 SE and more from both measured values (-0.74 and -0.07)."""
    g = np.random.default_rng(12)
    n, blocks = 4, []
    for y in range(12):
        rho, vol, drift = (0.7, 0.02, -0.002) if (y // 2) % 2 else (0.1, 0.007, 0.001)
        corr = np.full((n, n), rho) + (1 - rho) * np.eye(n)
        blocks.append(drift + vol * g.standard_normal((252, n)) @ np.linalg.cholesky(corr).T)
    market = _market(np.vstack(blocks))
    lean = {}
    for m in ("none", "year"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GarchFitWarning)
            fitted = GjrGarch().fit(market, key=rng.root(0), config=GarchConfig(fhs_matching=m, start="unconditional"))
        ew = np.asarray(GjrGarch().sample(fitted, key=rng.root(4), n_worlds=400, horizon=252).log_returns,
                        np.float64).mean(axis=2)
        lean[m] = np.corrcoef(ew.sum(axis=1), np.log(ew.var(axis=1)))[0, 1]
    assert lean["year"] < -0.5 and lean["none"] > -0.3, lean


@pytest.mark.parametrize("year, month", [(252, 21), (365, 30), (52, 4), (12, 1)])
def test_windows_start_a_month_apart_at_every_frequency(year, month):
    """Twelve one-year windows a year, whatever the period: a monthly history's start every month (they
    started 21 periods apart, nearly two years, at every frequency)."""
    n = 5 * year
    starts = lv.window_starts(n, year)
    assert starts[0] == 0 and np.all(np.diff(starts) == month)
    assert starts[-1] + year <= n < starts[-1] + month + year

"""The GARCH innovation law and its moment condition (generators/_garch_tails.py), against closed forms,
scipy and slow reference computations."""

import warnings

import numpy as np
import pytest
from scipy import stats

from stressgen import rng
from stressgen.generators import GarchConfig, GjrGarch
from stressgen.generators import _garch_fit as gf
from stressgen.generators import _garch_tails as gt
from stressgen.types import MarketData


def _t(nu: float, n: int, seed: int) -> np.ndarray:
    """Unit-variance Student-t draws."""
    return stats.t.rvs(nu, size=n, random_state=np.random.default_rng(seed)) * np.sqrt((nu - 2) / nu)


def _gpd_tailed(xi: float, n: int, seed: int) -> np.ndarray:
    """A symmetric law whose outer 5% on each side is exactly generalised Pareto beyond |e| = 1.6."""
    g = np.random.default_rng(seed)
    tail = g.random(n) < 0.1
    e = g.uniform(-1.6, 1.6, n)
    e[tail] = 1.6 + stats.genpareto.rvs(xi, scale=0.6, size=tail.sum(), random_state=g)
    return np.where(tail & (g.random(n) < 0.5), -e, e)


def test_gpd_shape_is_recovered_and_ranks_kept():
    xi = 0.15
    e = _gpd_tailed(xi, 40_000, 0)
    smooth, left, right = gt.evt_tails(e)
    for fit in (left, right):
        assert fit.k == 2000
        # the MLE's standard error is about (1 + xi) / sqrt(k) (Smith, 1987)
        assert abs(fit.xi - xi) < 3 * (1 + xi) / np.sqrt(fit.k), fit
    np.testing.assert_array_equal(np.argsort(smooth, kind="stable"), np.argsort(e, kind="stable"))
    body = (e > -left.threshold) & (e < right.threshold)
    np.testing.assert_array_equal(smooth[body], e[body])  # only the tails change
    # the smoothed 1-in-1000 quantile sits on the true one: P(|e| > x) = 0.1 * GPD survival of x - 1.6
    true = 1.6 + stats.genpareto.isf(0.001 / 0.05, xi, scale=0.6)
    assert abs(np.quantile(smooth, 0.999) / true - 1) < 0.1


def test_a_lone_outlier_no_longer_sets_the_tail():
    e = _t(6.0, 8_000, 1)
    e[123] = -84.0  # a bad print's residual, as RRC's on 1990-04-10
    smooth, left, _ = gt.evt_tails(e)
    # still the worst day, but at the capped GPD's quantile of rank 1 in 400, not at 84 standard deviations
    assert smooth[123] == smooth.min() and -15 < smooth.min() < -5
    assert left.xi <= gt.XI_MAX


def test_shape_is_capped_and_the_fit_reported():
    smooth, left, right = gt.evt_tails(_t(2.5, 20_000, 2))  # GPD shape 0.4: no finite fourth moment
    assert left.xi == gt.XI_MAX and right.xi == gt.XI_MAX
    assert left.xi_fitted > gt.XI_MAX and right.xi_fitted > gt.XI_MAX
    assert np.isfinite(np.mean(smooth ** 4))


def test_short_samples_are_left_alone():
    e = _t(6.0, 90, 3)
    smooth, left, _ = gt.evt_tails(e)
    np.testing.assert_array_equal(smooth, e)
    assert left.k == 0


def test_law_moments_match_closed_forms():
    e = _t(8.0, 10_000, 4)
    e = (e - e.mean()) / e.std()
    law = gt.fhs_law(e)
    a, g, b = 0.03, 0.09, 0.9
    neg = e < 0
    m2n, m4, m4n = np.mean(e * e * neg), np.mean(e ** 4), np.mean(e ** 4 * neg)
    closed = b * b + 2 * b * (a + g * m2n) + a * a * m4 + (2 * a * g + g * g) * m4n  # E[A^2] expanded
    assert law.moment(a, g, b, 2.0) == pytest.approx(closed, rel=1e-12)
    assert law.persistence(a, g, b) == pytest.approx(a + g * m2n + b, rel=1e-12)
    for nu in (5.0, 8.0, 20.0):  # the t margin's law: unit variance, kurtosis 3 (nu - 2) / (nu - 4)
        t = gt.t_law(nu)
        assert np.dot(t.w, t.e ** 2) == pytest.approx(1.0, rel=1e-12)
        assert np.dot(t.w, t.e) == pytest.approx(0.0, abs=1e-9)
        assert np.dot(t.w, t.e ** 4) == pytest.approx(3 * (nu - 2) / (nu - 4), rel=0.01)


@pytest.fixture(scope="module")
def heavy():
    """One asset whose fit breaks the fourth-moment condition: near-integrated GJR with t(4.5) shocks."""
    g = np.random.default_rng(5)
    n, omega, alpha, gamma, beta = 6000, 0.02, 0.03, 0.08, 0.92
    s2, y = omega / (1 - alpha - gamma / 2 - beta), np.empty(n)
    z = stats.t.rvs(4.5, size=n, random_state=g) * np.sqrt(2.5 / 4.5)
    for t in range(n):  # the GJR recursion, a slow reference loop
        y[t] = np.sqrt(s2) * z[t]
        s2 = omega + (alpha + gamma * (y[t] < 0)) * y[t] ** 2 + beta * s2
    return y


def test_moment_guard_lands_on_the_boundary_at_the_most_likely_point(heavy):
    y100 = heavy
    params = gf.arch_fit(y100, "A")
    e, _ = gf.arch_filter(y100, params)
    law = gt.fhs_law(gf.restandardize(e[:, None])[:, 0])
    _, _, a, g, b, _ = params
    assert law.moment(a, g, b, 2.0) > 1.0  # the case under test
    loglik = lambda p: gf.loglik(y100, p)  # noqa: E731
    fixed, note = gt.moment_guard(params, law, sample_var=float(np.var(y100)), max_persistence=0.999,
                                  tail_index=4.0, loglik=loglik)
    assert note and "E[A^2]" in note
    _, _, a2, g2, b2, _ = fixed
    assert law.moment(a2, g2, b2, 2.0) == pytest.approx(1.0, abs=1e-8)
    # the two ends of the boundary path: news shrunk at fixed persistence, and everything scaled down
    c_all = law.moment(a, g, b, 2.0) ** -0.5
    scaled = np.array([params[0], 0, c_all * a, c_all * g, c_all * b, params[5]])
    scaled[1] = np.var(y100) * (1 - law.persistence(*scaled[2:5]))
    assert loglik(fixed) >= loglik(scaled) - 1e-6
    assert fixed[0] == params[0] and fixed[5] == params[5]  # mean and nu untouched
    untouched, none = gt.moment_guard(fixed, law, sample_var=float(np.var(y100)), max_persistence=0.999,
                                      tail_index=4.0, loglik=loglik)
    assert none is None
    np.testing.assert_array_equal(untouched, fixed)


def test_fitted_worlds_stay_plausible_where_the_unguarded_ones_explode(heavy):
    y = np.concatenate([heavy[:3000] / 100, [-0.6, 0.55], heavy[3000:] / 100])  # a bad print, undone next day
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(y)]))
    dates = np.array(np.datetime64("2000-01-03") + np.arange(prices.size), dtype="datetime64[D]")
    market = MarketData(prices=prices[:, None], dates=dates, assets=("A",), freq="D")
    gen = GjrGarch()
    worlds = {}
    for label, config in [("guarded", GarchConfig()), ("raw", GarchConfig(tails="empirical", tail_index=None))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gf.GarchFitWarning)
            fitted = gen.fit(market, key=rng.root(0), config=config)
        worlds[label] = np.asarray(gen.sample(fitted, key=rng.root(1), n_worlds=4000, horizon=252).log_returns)
    big = {k: np.mean((np.abs(v) > 0.5).any(axis=(1, 2))) for k, v in worlds.items()}
    assert np.isfinite(worlds["guarded"]).all()
    # the real series has one such window in 24: the raw fit replays the 50-sigma print in the worlds whose year
    # holds it (with i.i.d. rows, in about every 25th world)
    assert big["raw"] > 3 * big["guarded"], big
    assert np.abs(worlds["guarded"]).max() > np.abs(heavy / 100).max()  # crashes as deep as history's remain

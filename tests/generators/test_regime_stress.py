"""Path shocks and crisis replays on the regime mixture (`_regime_stress`): the conditioned worlds against the
plain ones, the shock day's regimes against their Bayes posterior, the replay's filter against an independent
NumPy forward recursion. Tiny sizes (four stocks, days to weeks), fixed keys: deterministic."""

import hashlib

import numpy as np
import pytest
from scipy import optimize, stats

from stressgen import data, rng
from stressgen.errors import ConfigError
from stressgen.generators import CrisisReplay, PathShock, regime
from stressgen.generators import _regime_stress as rs

# a plain draw (the session's regime fit with start="stationary", key root(3), 2,000 worlds x 30 days), made
# with the sampler as it was before the stress conditions: the plain program must stay the same, bit for bit
PLAIN_RETURNS_SHA256 = "69ccc41bd4d901e5b2571464e3e9597c19825e4866664eec5d17b831fe2b3234"
PLAIN_REGIMES_SHA256 = "785dcdfb39b1f85a4077642f1f0bf0160ee59eaa108e83bed5d6bf1de03d4e88"
W = np.full(4, 0.25)
N, H = 2_000, 30  # every test's worlds and days: one shape, so that each program compiles once


@pytest.fixture(scope="module")
def fit(small_fits):
    gen, fitted = small_fits("regime")
    return gen, regime.with_start(fitted, "stationary")  # a prior with every regime present on any day


@pytest.fixture(scope="module")
def covid(small_market):
    return CrisisReplay.from_market(small_market, "covid-2020")


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _target_move(mean, cov, size):
    """The target's log move w.r on a regime's shock row (conditional mean given w.r), by root finding."""
    b = cov @ W / (W @ cov @ W)
    return optimize.brentq(lambda t: W @ np.expm1(mean + b * (t - W @ mean)) - size, -2.0, 1.0, xtol=1e-14)


def test_shock_keeps_the_plain_days_meets_its_size_and_follows_the_bayes_posterior(fit):
    gen, fitted = fit
    size, day = -0.20, 2
    plain, plain_path = gen.sample_regimes(fitted, key=rng.root(3), n_worlds=N, horizon=H)
    base, plain_path = np.asarray(plain.log_returns), np.asarray(plain_path)
    assert _sha(base) == PLAIN_RETURNS_SHA256 and _sha(plain_path) == PLAIN_REGIMES_SHA256
    out, path = gen.sample_regimes(fitted, key=rng.root(3), n_worlds=N, horizon=H,
                                   condition=PathShock(day=day, size=size))
    hit, path = np.asarray(out.log_returns), np.asarray(path)
    np.testing.assert_array_equal(hit[:, :day - 1], base[:, :day - 1])  # days before the shock, bit for bit
    np.testing.assert_array_equal(path[:, :day - 1], plain_path[:, :day - 1])
    np.testing.assert_allclose(np.expm1(hit[:, day - 1].astype(np.float64)) @ W, size, atol=2e-5)
    assert out.weights is None
    assert out.provenance.condition.startswith("shock(day=2, size=-0.2, assets=equal-weight), regime on the shock")
    # P(s_2 = j) = sum_i P(s_1 = i) trans[i, j] f_j / sum_m trans[i, m] f_m, f_j the t density of the target's
    # log move under regime j's marginal (location w.mean_j, scale^2 w' scatter_j w, dof_j)
    mean, scatter = np.asarray(fitted.mean, np.float64), np.asarray(fitted.scatter, np.float64)
    dof, trans = np.asarray(fitted.dof, np.float64), np.asarray(fitted.trans, np.float64)
    x = [_target_move(mean[j], scatter[j], size) for j in range(3)]
    f = np.array([stats.t.pdf(x[j], dof[j], loc=W @ mean[j], scale=np.sqrt(W @ scatter[j] @ W)) for j in range(3)])
    post = trans * f
    expected = regime.start_distribution(fitted) @ (post / post.sum(axis=1, keepdims=True))
    freq = np.bincount(path[:, day - 1], minlength=3) / N
    se = np.sqrt(expected * (1 - expected) / N)  # worlds are independent: a binomial count per regime
    assert (np.abs(freq - expected) < 4 * se).all(), (freq, expected, se)
    # the -20% day points to the turbulent regime: more likely than on the plain worlds' same day
    base_share, turbulent = np.mean(plain_path[:, day - 1] == 2), freq[2]
    assert turbulent - base_share > 4 * np.sqrt(turbulent * (1 - turbulent) / N + base_share * (1 - base_share) / N)
    # a named asset: its own simple return is met, the others (positively correlated) fall by less
    one = np.asarray(gen.sample_regimes(fitted, key=rng.root(7), n_worlds=N, horizon=H,
                                        condition=PathShock(day=1, size=-0.30, assets=("JPM",)))[0].log_returns)
    np.testing.assert_allclose(np.expm1(one[:, 0, 1].astype(np.float64)), -0.30, atol=2e-5)
    assert (one[:, 0, [0, 2, 3]] > one[:, 0, 1:2]).all()


def _forward(fitted, y, start):
    """Filtered probabilities [L, K] by the textbook forward recursion, densities from SciPy."""
    mean, scatter = np.asarray(fitted.mean, np.float64), np.asarray(fitted.scatter, np.float64)
    dof, trans = np.asarray(fitted.dof, np.float64), np.asarray(fitted.trans, np.float64)
    log_b = np.stack([stats.multivariate_t(mean[k], scatter[k], df=dof[k]).logpdf(y) for k in range(3)], axis=1)
    alpha, prior = [], start
    for lb in log_b:
        a = prior * np.exp(lb - lb.max())
        alpha.append(a / a.sum())
        prior = alpha[-1] @ trans
    return np.array(alpha)


def test_replay_opens_with_the_episode_and_filters_the_regimes(fit, covid, small_market):
    gen, fitted = fit
    n = N
    y = covid.check(small_market.assets, H)
    out, path = gen.sample_regimes(fitted, key=rng.root(4), n_worlds=n, horizon=H, condition=covid)
    r, path = np.asarray(out.log_returns), np.asarray(path)
    np.testing.assert_array_equal(r[:, :covid.days], np.broadcast_to(y, (n, *y.shape)))
    assert out.weights is None
    start = regime.start_distribution(fitted)
    alpha = _forward(fitted, y.astype(np.float64), start)
    np.testing.assert_allclose(rs.replay_filtered(fitted, y, start), alpha, atol=1e-6)
    assert alpha[-1, 2] > 0.9  # March 2020 ends turbulent
    shares = ", ".join(f"{label} {p:.3g}" for label, p in zip(fitted.labels, alpha[-1]))
    assert out.provenance.condition == f"{covid.describe()}, regime filtered at its end: {shares}"
    assert (path[:, :covid.days - 1] == -1).all()
    # the episode's last day's regime is drawn from the filtered law, the next from the chain
    for day, law in ((covid.days - 1, alpha[-1]), (covid.days, alpha[-1] @ np.asarray(fitted.trans, np.float64))):
        freq = np.bincount(path[:, day], minlength=3) / n
        assert (np.abs(freq - law) <= 4 * np.sqrt(law * (1 - law) / n) + 1.5 / n).all(), (day, freq, law)


def test_chunk_invariance(fit, covid):
    gen, fitted = fit
    # the shape of the tests above (its programs are compiled): the last worlds again, in a chunk of two
    for condition in (PathShock(day=3, size=-0.10), covid):
        whole = np.asarray(gen.sample_regimes(fitted, key=rng.root(2), n_worlds=N, horizon=H,
                                              condition=condition)[0].log_returns)
        part = np.asarray(gen.sample_regimes(fitted, key=rng.root(2), n_worlds=2, horizon=H, first_world=N - 2,
                                             condition=condition)[0].log_returns)
        np.testing.assert_array_equal(part, whole[N - 2:])


def test_bad_conditions_are_typed_errors(fit, covid):
    gen, fitted = fit
    cases = [(PathShock(day=6, size=-0.1), 5, r"shock\.day = 6 is beyond the horizon of 5"),
             (PathShock(day=1, size=-0.1, assets=("MSFT",)), 5, r"shock\.assets: unknown asset 'MSFT'"),
             (covid, 10, r"replay\.episode 'covid-2020' lasts 24 trading days"),
             (CrisisReplay(episode="covid-2020"), 40, r"replay\.returns")]
    other = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM"])
    cases.append((CrisisReplay.from_market(other, "covid-2020"), 40, r"replay\.assets"))
    for condition, horizon, match in cases:
        with pytest.raises(ConfigError, match=match):
            gen.sample(fitted, key=rng.root(0), n_worlds=2, horizon=horizon, condition=condition)
    with pytest.raises(ConfigError, match=r"shock\.day must be an integer >= 1"):
        PathShock(day=0, size=-0.1)

"""The regime mixture (stressgen.generators.regime): its likelihood against hmmlearn, parameter recovery on a
known two-regime process, its sampler's laws, plausible worlds, start regimes, decoding and persistence.

The conformance suite (test_conformance.py) runs it through the registry like every family, and so do the
acceptance runs of bench/acceptance (the plausibility gate on all 20 bundled stocks, test_plausible_worlds.py,
and the crisis-versus-calm start, test_start_state.py). Data: sp500-20 (its last six years on four stocks,
the conftest's `small_market`) for fits; sp500-index was kept out of every choice of default and tolerance and is used
only by `test_held_out_index_worlds_match_history`.
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hmmlearn import hmm
from scipy import stats

from stressgen import data, generators, persist, rng
from stressgen.errors import ConfigError
from stressgen.generators import RegimeConfig, regime
from stressgen.generators import _regime_em as em
from stressgen.spec import parse_spec

GEN = generators.get("regime")


def _fit(market, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("error", regime.RegimeFitWarning)  # every fit here must converge
        return GEN.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=RegimeConfig(**config))


@pytest.fixture(scope="module")
def fitted_t(small_market):
    return _fit(small_market)


@pytest.fixture(scope="module")
def fitted_gauss(fitted_t):
    """The t fit's means and scatters read as a Gaussian model (a model at given parameters: no second fit)."""
    return fitted_t.replace(config=dataclasses.replace(fitted_t.config, emissions="gaussian"))


# ------------------------------------------------------------------------------------------ a known DGP

TRANS = np.array([[0.98, 0.02], [0.05, 0.95]])
MEANS = np.array([[0.0006, 0.0004, 0.0005], [-0.0015, -0.001, -0.002]])
VOLS = np.array([[0.008, 0.010, 0.012], [0.025, 0.030, 0.035]])
CORRS = np.array([[[1, 0.3, 0.2], [0.3, 1, 0.25], [0.2, 0.25, 1]],
                  [[1, 0.7, 0.6], [0.7, 1, 0.65], [0.6, 0.65, 1]]])
COVS = VOLS[:, :, None] * CORRS * VOLS[:, None, :]


def _simulate_dgp(n_days, seed):
    """States and returns of the two-regime Gaussian HMM above (NumPy, independent of the package)."""
    gen = np.random.default_rng(seed)
    states = np.empty(n_days, int)
    states[0] = 0
    u = gen.random(n_days)
    for t in range(1, n_days):
        states[t] = int(u[t] < TRANS[states[t - 1], 1 - states[t - 1]]) ^ states[t - 1]
    z = gen.standard_normal((n_days, 3))
    chol = np.linalg.cholesky(COVS)
    return states, MEANS[states] + np.einsum("tij,tj->ti", chol[states], z)


def _market(r, name="dgp"):
    from stressgen.types import MarketData
    import pandas as pd
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0)]))
    dates = pd.bdate_range("2000-01-03", periods=len(prices))
    return MarketData(prices=prices, dates=dates, assets=tuple(f"A{i}" for i in range(r.shape[1])), source=name)


def test_parameter_recovery_on_a_known_two_regime_process():
    """Fit 4,000 days of a known Gaussian HMM; every parameter within 4 standard errors of the truth.

    Standard errors, from the sample size (the regimes are well separated, so the days are assigned almost
    surely and each regime's estimates are those of an i.i.d. sample of its n_k days): a mean sigma_i /
    sqrt(n_k); a variance sigma_i^2 * sqrt(2 / n_k); a correlation (1 - rho^2) / sqrt(n_k); a transition
    probability sqrt(p (1 - p) / n_k), with n_k the days spent in regime k (the visits a row is estimated
    from). 4 standard errors over 22 parameters: a false alarm below 0.2% (normal approximation); the seed is
    fixed, so the test is deterministic. The covariance prior's pull (tau / (n_k + tau) with tau = 3 days,
    below 0.3%) is far inside these bands.
    """
    states, r = _simulate_dgp(4000, seed=7)
    fit = _fit(_market(r), n_regimes=2, emissions="gaussian", stickiness=0.0)  # maximum likelihood
    n = np.bincount(states, minlength=2).astype(float)
    mean, cov = np.asarray(fit.mean, np.float64), fit.covariance
    for k in range(2):
        sd = np.sqrt(np.diag(COVS[k]))
        assert np.all(np.abs(mean[k] - MEANS[k]) < 4 * sd / np.sqrt(n[k])), (k, mean[k], MEANS[k])
        var = np.diag(cov[k])
        assert np.all(np.abs(var - sd**2) < 4 * sd**2 * np.sqrt(2 / n[k])), (k, var, sd**2)
        rho_hat = cov[k] / np.sqrt(np.outer(var, var))
        bound = 4 * (1 - CORRS[k] ** 2) / np.sqrt(n[k])
        assert np.all(np.abs(rho_hat - CORRS[k]) <= bound + 1e-12), (k, rho_hat, CORRS[k])
    trans = np.asarray(fit.trans, np.float64)
    se = np.sqrt(TRANS * (1 - TRANS) / n[:, None])
    assert np.all(np.abs(trans - TRANS) < 4 * se), (trans, TRANS)
    assert fit.labels == ("calm", "turbulent")
    # the decoded path is the true one on almost every day (separation: the turbulent vols are 3x the calm)
    path = regime.decode(fit, _market(r)).viterbi
    assert np.mean(path == states) > 0.97


# --------------------------------------------------------------------------------- hmmlearn as the peer

def _hmmlearn(params):
    model = hmm.GaussianHMM(n_components=params.start.shape[0], covariance_type="full", init_params="",
                            params="")
    model.startprob_ = np.asarray(params.start, np.float64)
    model.transmat_ = np.asarray(params.trans, np.float64)
    model.means_ = np.asarray(params.mean, np.float64)
    model.covars_ = np.asarray(params.scatter, np.float64)
    return model


def test_log_likelihood_posteriors_and_viterbi_agree_with_hmmlearn(fitted_gauss, fitted_t, small_market):
    """Our float64 forward pass, smoothed probabilities and Viterbi path against hmmlearn's, for a fitted
    three-regime model on its fit data: float64 sums of ~1,500 terms agree to ~1e-12 relative; 1e-9 leaves
    room."""
    x = small_market.log_returns
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), fitted_gauss.params)
    peer = _hmmlearn(params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(jnp.asarray, params)
        ll, _ = em.log_likelihood(p64, jnp.asarray(x), student=False)
        ll = float(ll)
    assert ll == pytest.approx(peer.score(x), rel=1e-9)
    # the fit reports the likelihood of its own float64 estimate; the float32 copy is a rounding away
    t_params = jax.tree.map(lambda a: np.asarray(a, np.float64), fitted_t.params)
    with jax.enable_x64(True):
        t_ll, _ = em.log_likelihood(jax.tree.map(jnp.asarray, t_params), jnp.asarray(x), student=True)
    assert fitted_t.info.loglik == pytest.approx(float(t_ll), rel=1e-6)
    path = regime.decode(fitted_gauss, small_market)
    np.testing.assert_allclose(path.smoothed, peer.predict_proba(x), atol=1e-8)
    _, peer_path = peer.decode(x, algorithm="viterbi")
    np.testing.assert_array_equal(path.viterbi, peer_path)


def test_student_t_emission_density_is_scipys():
    gen = np.random.default_rng(3)
    a = gen.standard_normal((4, 4))
    scatter = np.stack([a @ a.T + 4 * np.eye(4), np.eye(4) * 2.0])
    mean = gen.standard_normal((2, 4))
    dof = np.array([5.5, 30.0])
    x = gen.standard_t(4, (50, 4))
    params = em.HmmParams(start=np.full(2, 0.5), trans=np.full((2, 2), 0.5), mean=mean, scatter=scatter, dof=dof)
    with jax.enable_x64(True):
        ours, _ = em.emission_logpdf(jax.tree.map(jnp.asarray, params), jnp.asarray(x), student=True)
        ours = np.asarray(ours)
    for k in range(2):
        ref = stats.multivariate_t(loc=mean[k], shape=scatter[k], df=dof[k]).logpdf(x)
        np.testing.assert_allclose(ours[:, k], ref, rtol=1e-10)


# ------------------------------------------------------------------------------------------- the sampler

def test_sampled_regimes_follow_the_chain(fitted_t):
    """From the stationary start, the share of world-days in each regime is the chain's stationary law.

    Standard error of a share over n independent worlds of H days: the indicator of a regime is a
    two-state-like Markov chain whose autocorrelation decays at most like lambda^h, lambda the second
    largest eigenvalue modulus of the transition matrix, so Var(share) <= pi (1 - pi) / (n H) *
    (1 + lambda) / (1 - lambda). 4 standard errors per regime."""
    fit = regime.with_start(fitted_t, "stationary")
    scen, states = GEN.sample_regimes(fit, key=rng.root(11), n_worlds=1000, horizon=252)
    plain = GEN.sample(fit, key=rng.root(11), n_worlds=1000, horizon=252)  # the shape of the next test
    np.testing.assert_array_equal(np.asarray(scen.log_returns), np.asarray(plain.log_returns))
    pi = fit.stationary
    lam = np.sort(np.abs(np.linalg.eigvals(np.asarray(fit.trans, np.float64))))[-2]
    share = np.bincount(np.asarray(states).ravel(), minlength=3) / states.size
    se = np.sqrt(pi * (1 - pi) / states.size * (1 + lam) / (1 - lam))
    assert np.all(np.abs(share - pi) < 4 * se), (share, pi, se)


@pytest.mark.parametrize("emissions", ["student-t", "gaussian"])
def test_first_day_draws_have_the_regimes_covariance(fitted_t, fitted_gauss, emissions):
    """Worlds started in one regime draw day 1 from that regime's law: their covariance is dof / (dof - 2) *
    scatter for t emissions (which checks the chi-square mixing table) and the scatter for Gaussian ones,
    through the Cholesky sum. 20,000 i.i.d. draws per regime; the standard error of a sample variance is
    sigma^2 * sqrt((2 + kurt_excess) / n), kurt_excess = 6 / (dof - 4) for a t, 0 for a normal; 4 standard
    errors."""
    fitted = fitted_t if emissions == "student-t" else fitted_gauss
    for k, label in enumerate(fitted.labels):
        fit = regime.with_start(fitted, label)
        y = np.asarray(GEN.sample(fit, key=rng.root(12), n_worlds=20_000, horizon=1).log_returns, np.float64)[:, 0]
        dof = float(fit.dof[k])
        assert 5.0 <= dof < 30.0, dof  # daily stock returns: a t with a handful of degrees of freedom
        excess = 6 / (dof - 4) if emissions == "student-t" else 0.0
        want = fit.covariance[k] if emissions == "student-t" else np.asarray(fit.scatter[k], np.float64)
        se = np.diag(want) * np.sqrt((2 + excess) / len(y))
        assert np.all(np.abs(y.var(axis=0) - np.diag(want)) < 4 * se), (label, y.var(axis=0), np.diag(want))
        np.testing.assert_allclose(y.mean(axis=0), np.asarray(fit.mean[k]),
                                   atol=4 * np.sqrt(np.diag(want) / len(y)).max())
    if emissions == "gaussian":  # normal draws: no |z| beyond 6 standard deviations in 80,000
        z = y - np.asarray(fit.mean[-1])
        assert np.abs(z / np.sqrt(np.diag(want))).max() < 6.0


def test_random_restarts_and_the_iteration_cap(fitted_t, small_market):
    """n_init = 2 adds a random start (from the fit key) and keeps the better likelihood; a cap of 2 EM
    iterations is reported as not converged, with a RegimeFitWarning."""
    two = GEN.fit(small_market, key=rng.root(5), config=RegimeConfig(n_init=2))
    again = GEN.fit(small_market, key=rng.root(5), config=RegimeConfig(n_init=2))
    assert two.info == again.info and two.digest == again.digest  # deterministic given the key
    assert two.info.loglik >= fitted_t.info.loglik - 1e-6 * abs(fitted_t.info.loglik)
    with pytest.warns(regime.RegimeFitWarning, match="max_iter = 2"):
        capped = GEN.fit(small_market, key=rng.root(0), config=RegimeConfig(max_iter=2))
    assert capped.info.n_iter == 2 and not capped.info.converged


def test_turbulent_start_spreads_wider_than_calm_start(fitted_t):
    """Worlds that start in the turbulent regime have a wider one-year equal-weight return than worlds that
    start calm (same key, same fit). One-sided test on the log standard deviations: for n independent
    worlds, SE(log sd) = sqrt((kurt - 1) / (4 n)) with the sample kurtosis; the difference must exceed 3
    standard errors of the difference."""
    log_sd, se2 = {}, 0.0
    for start in ("calm", "turbulent"):
        y = GEN.sample(regime.with_start(fitted_t, start), key=rng.root(13), n_worlds=1000, horizon=252)
        total = np.log(np.expm1(np.asarray(y.log_returns, np.float64)).mean(axis=2) + 1).sum(axis=1)
        log_sd[start] = np.log(total.std(ddof=1))
        se2 += (stats.kurtosis(total, fisher=False) - 1) / (4 * len(total))
    assert log_sd["turbulent"] - log_sd["calm"] > 3 * np.sqrt(se2), (np.exp(log_sd["turbulent"] - log_sd["calm"]),
                                                                     np.sqrt(se2))


def _kurtosis(x):
    return stats.kurtosis(x, axis=0, fisher=False)


@pytest.mark.parametrize("dataset", ["sp500-20", "sp500-index"])
def test_worlds_match_history(dataset):
    """Worlds of the default model (t emissions, three regimes, stationary start) against the history, 400
    worlds x 252 days: no daily |log return| of 1 or more (a 63% one-day fall: a sanity bound that only a
    wrong scale or an exploding draw breaks; heavy t tails may legitimately pass history's worst day in 400
    simulated years); the 99.9% quantile of |log return| within [0.67, 1.5] x history's; each asset's
    annualised volatility within [0.8, 1.25] x history's; each asset's kurtosis at least 4 (regimes and t
    make it heavy-tailed) and within [0.5, 1.5] x history's (a sample kurtosis of heavy tails is noisy).
    The bands were set before sp500-index was first fitted (sp500-index is kept out of every choice of
    default; the index is a single asset).
    """
    market = data.load(dataset, start="2005-01-01", assets=["AAPL", "JPM", "XOM", "WMT", "PG"]
                       if dataset == "sp500-20" else None)
    fit = regime.with_start(_fit(market), "stationary")
    y = np.asarray(GEN.sample(fit, key=rng.root(14), n_worlds=400, horizon=252).log_returns, np.float64)
    y = y.reshape(-1, y.shape[-1])
    real = market.log_returns
    assert np.abs(y).max() < 1.0
    tail = np.quantile(np.abs(y), 0.999) / np.quantile(np.abs(real), 0.999)
    assert 0.67 < tail < 1.5, tail
    ratio = y.std(axis=0) / real.std(axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    kurt = _kurtosis(y)
    band = kurt / _kurtosis(real)
    assert np.all((kurt >= 4.0) & (band >= 0.5) & (band <= 1.5)), (kurt, _kurtosis(real))


# ------------------------------------------------------------------------------------ decoding, labels

def test_decoded_history_names_the_covid_crash_turbulent(fitted_t, small_market):
    path = regime.decode(fitted_t, small_market)
    frame = path.to_pandas()
    assert list(frame.columns) == ["calm", "normal", "turbulent", "regime"]
    assert len(frame) == small_market.log_returns.shape[0] and frame.index.equals(small_market.return_dates)
    np.testing.assert_allclose(path.smoothed.sum(axis=1), 1.0, atol=1e-9)
    assert (frame.loc["2020-03-09":"2020-03-27", "regime"] == "turbulent").all()
    # the labels are ordered by the equal-weight portfolio's variance under each regime
    ew = fitted_t.covariance.sum(axis=(1, 2))
    assert np.all(np.diff(ew) > 0)
    # the filtered probabilities of the last day are those the fit stored
    np.testing.assert_allclose(path.filtered[-1], np.asarray(fitted_t.filtered_end), atol=1e-4)
    # Viterbi and the smoothed argmax agree on most days
    assert np.mean(path.viterbi == path.smoothed.argmax(axis=1)) > 0.9


def test_save_and_load_give_bit_identical_worlds(fitted_t, tmp_path):
    directory = persist.save_model(tmp_path / "model", GEN, fitted_t)
    gen2, fit2 = persist.load_model(directory)
    assert gen2.name == "regime" and fit2.config == fitted_t.config and fit2.info == fitted_t.info
    for first in (0, 29):
        a = GEN.sample(fitted_t, key=rng.root(15), n_worlds=9, horizon=30, first_world=first)
        b = gen2.sample(fit2, key=rng.root(15), n_worlds=9, horizon=30, first_world=first)
        np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
        assert a.provenance == b.provenance


def test_reanchor_keeps_the_parameters_and_filters_the_new_end(fitted_t, small_market):
    cut = data.select(small_market, end="2020-03-20")
    moved = GEN.reanchor(fitted_t, cut, key=rng.root(0))
    np.testing.assert_array_equal(np.asarray(moved.trans), np.asarray(fitted_t.trans))
    assert moved.context.history_end == "2020-03-20"
    assert float(moved.filtered_end[-1]) > 0.99  # mid-March 2020 is turbulent


# ------------------------------------------------------------------------------------------- bad input

def test_too_short_a_history_is_refused_naming_the_key(small_market):
    short = data.select(small_market, end="2017-03-01")  # ~40 days for 3 t regimes of 4 assets
    with pytest.raises(ConfigError, match=r"generator 'regime'.*regime\.n_regimes = 3.*needs at least 106 returns"):
        GEN.fit(short, key=rng.root(0))


@pytest.mark.parametrize("options,key", [({"n_regimes": 6}, "n_regimes"), ({"emissions": "laplace"}, "emissions"),
                                         ({"n_regimes": 2, "start": "normal"}, "start"), ({"tol": 0}, "tol"),
                                         ({"dof_min": 2.0}, "dof_min"), ({"cov_prior_days": -1}, "cov_prior_days"),
                                         ({"n_init": 0}, "n_init")])
def test_bad_config_is_a_typed_error_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=rf"regime\.{key}"):
        RegimeConfig(**options)


def test_a_spec_selects_the_family():
    spec = parse_spec({"data": {"dataset": "sp500-20"},
                       "generator": {"family": "regime", "n_regimes": 2, "emissions": "gaussian",
                                     "start": "turbulent"},
                       "strategies": [{"plugin": "equal_weight"}]})
    assert spec.generator.family == "regime"
    assert spec.generator.config == RegimeConfig(n_regimes=2, emissions="gaussian", start="turbulent")
    with pytest.raises(ConfigError, match=r"generator\.start"):
        parse_spec({"data": {"dataset": "sp500-20"}, "generator": {"family": "regime", "start": "panic"},
                    "strategies": [{"plugin": "equal_weight"}]})

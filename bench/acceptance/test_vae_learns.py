"""What fitted temporal VAEs learn: on the bundled 20 stocks, heavier tails and volatility clustering closer
to history's than an i.i.d. Gaussian's, diverse worlds, and anomaly scores that put 2008 and 2020 on top; on
GARCH returns, more volatility clustering with the daily scale (the default) than with one scale per window;
on i.i.d. Student-t returns, a loss down to the law's entropy, and nu held at its floor where the tails are
heavier; on correlated returns, worlds with the history's correlation (the copula) and without it not.

An acceptance run (see conftest.py): a modest VAE (hidden 96, up to 400 steps) on the bundled history, and
six small or tiny ones on 2,500-3,000 days of known laws.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import special

from stressgen import data, generators, rng
from stressgen.generators import anomalies
from stressgen.generators._neural import NU_FLOOR
from stressgen.generators._training import TrainConfig
from stressgen.generators.vae import VaeConfig
from stressgen.metrics import acf, excess_kurtosis
from stressgen.metrics.diversity import diversity
from stressgen.metrics.stylized import mean_pairwise_correlation
from stressgen.types import MarketData

GEN = generators.get("vae")


@pytest.fixture(scope="module")
def bundled_fit(sp500_20):
    """A modest model on the bundled 20 assets (the stylized-facts and anomaly tests share it)."""
    config = VaeConfig(hidden=96, latent=8, context=10,
                       train=TrainConfig(steps=400, batch_size=128, eval_every=50, steps_per_call=25, patience=4,
                                         progress=False))
    return GEN.fit(sp500_20, key=rng.stream(rng.root(0), rng.FIT), config=config)


def test_stylized_facts_beat_an_iid_gaussian(bundled_fit, sp500_20):
    r = sp500_20.log_returns
    n_worlds, horizon = 200, 252
    x = np.asarray(GEN.sample(bundled_fit, key=rng.root(6), n_worlds=n_worlds, horizon=horizon).log_returns,
                   dtype=np.float64)
    # the i.i.d. Gaussian baseline: the real covariance, the same number of worlds and days
    g = np.random.default_rng(7).multivariate_normal(r.mean(0), np.cov(r.T), size=(n_worlds, horizon))
    series = lambda w: w.transpose(0, 2, 1).reshape(-1, horizon)  # noqa: E731  one series per world and asset
    # tails: excess kurtosis per series; under the Gaussian each estimate has SE sqrt(24 / 252), and the
    # mean over 4000 correlated series has an SE of at most that (all perfectly correlated)
    k_syn, k_gauss = excess_kurtosis(series(x)).mean(), excess_kurtosis(series(g)).mean()
    assert k_syn > k_gauss + 3 * np.sqrt(24 / horizon), (k_syn, k_gauss)
    # volatility clustering: mean ACF of |r| at lags 1..5 within 252-day windows, real vs synthetic
    lags = [1, 2, 3, 4, 5]
    real_w = np.stack([r[s:s + horizon] for s in range(0, r.shape[0] - horizon, 21)])
    a_real = acf(np.abs(series(real_w)), lags).mean()
    a_syn, a_gauss = acf(np.abs(series(x)), lags).mean(), acf(np.abs(series(g)), lags).mean()
    # SE of an ACF estimate is ~1/sqrt(252) per series; worlds are independent, and counting the 20 assets of a
    # world as one series (fully dependent) gives a conservative SE of each side's mean over worlds
    se = 1.0 / np.sqrt(horizon * n_worlds)
    assert abs(a_syn - a_real) < abs(a_gauss - a_real) - 3 * np.sqrt(2) * se, (a_syn, a_gauss, a_real)
    # and the worlds are diverse (no mode collapse): their spread is comparable to that of real years
    d = diversity(x, r)
    assert 0.3 < d.ratio < 3.0, d


def test_crises_of_2008_and_2020_top_the_anomaly_list(bundled_fit, sp500_20):
    scores = anomalies.anomaly_scores(bundled_fit, sp500_20, key=rng.root(8))
    assert list(scores.columns) == ["start", "end", "score"]
    assert scores["score"].is_monotonic_decreasing
    top = scores.head(10)
    in_2008 = ((top["end"] >= "2008-09-01") & (top["start"] <= "2009-03-31")).sum()
    in_2020 = ((top["end"] >= "2020-02-15") & (top["start"] <= "2020-04-30")).sum()
    assert in_2008 >= 1 and in_2020 >= 1, top
    # same key, same scores; every window of the history is scored once
    again = anomalies.anomaly_scores(bundled_fit, sp500_20, key=rng.root(8))
    pd.testing.assert_frame_equal(scores, again)
    c, w = bundled_fit.config.context, bundled_fit.config.window
    assert len(scores) == len(range(c, sp500_20.log_returns.shape[0] - w + 1, w))


def _garch_market(seed: int) -> MarketData:
    """Three assets of persistent GARCH(1,1) returns (alpha 0.12, beta 0.86), Gaussian shocks."""
    g, n, a = np.random.default_rng(seed), 3000, 3
    z = g.normal(size=(n, a))
    r, s2 = np.empty((n, a)), np.ones(a)
    for t in range(n):
        r[t] = np.sqrt(s2) * z[t]
        s2 = 0.02 + 0.12 * r[t] ** 2 + 0.86 * s2
    r *= 0.01
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, a)), np.cumsum(r, axis=0)]))
    return MarketData(prices=prices, dates=pd.bdate_range("2000-01-03", periods=n + 1),
                      assets=tuple(f"A{i}" for i in range(a)))


def _acf_abs(y: np.ndarray) -> np.ndarray:
    """corr(|r_t|, |r_t+1|) per world, averaged over assets: ``[worlds]``."""
    u, v = np.abs(y[:, :-1]), np.abs(y[:, 1:])
    u, v = u - u.mean(axis=1, keepdims=True), v - v.mean(axis=1, keepdims=True)
    return ((u * v).sum(axis=1) / np.sqrt((u * u).sum(axis=1) * (v * v).sum(axis=1))).mean(axis=-1)


def test_the_daily_scale_clusters_volatility_more_than_a_scale_per_window():
    """On GARCH returns, the worlds of the daily scale cluster volatility more than those of the first design
    (one scale per window from its start), by many standard errors."""
    market, n = _garch_market(4), 400
    base = VaeConfig.preset("tiny")
    acf = {}
    for daily in (True, False):
        fitted = GEN.fit(market, key=rng.root(0), config=dataclasses.replace(base, daily_scale=daily))
        y = np.asarray(GEN.sample(fitted, key=rng.root(6), n_worlds=n, horizon=252).log_returns, np.float64)
        acf[daily] = _acf_abs(y)
    se = np.sqrt(acf[True].var(ddof=1) / n + acf[False].var(ddof=1) / n)
    assert acf[True].mean() > acf[False].mean() + 4.0 * se, (acf[True].mean(), acf[False].mean(), se)


def _t_entropy(nu):
    """Differential entropy (nats) of a standard Student-t with nu degrees of freedom."""
    return ((nu + 1) / 2 * (special.digamma((nu + 1) / 2) - special.digamma(nu / 2))
            + np.log(np.sqrt(nu) * special.beta(nu / 2, 0.5)))


def _iid_t_fit(nu: float, seed: int, steps: int):
    """Returns ``r [3000, 3]`` = 0.01 x i.i.d. t(nu), and a small VAE fitted to their prices."""
    n, a = 3000, 3
    r = 0.01 * np.random.default_rng(seed).standard_t(nu, size=(n, a))
    prices = 100.0 * np.exp(np.cumsum(np.vstack([np.zeros(a), r]), axis=0))
    market = data.from_frame(pd.DataFrame(prices, index=pd.bdate_range("2000-01-03", periods=n + 1),
                                          columns=["A", "B", "C"]))
    config = VaeConfig(window=4, context=4, latent=2, hidden=32, half_lives=(5, 21),
                       train=TrainConfig(steps=steps, learning_rate=3e-3, batch_size=64, eval_every=50,
                                         steps_per_call=25, patience=100, progress=False))
    return r, GEN.fit(market, key=rng.root(1), config=config)


def test_fits_iid_student_t_down_to_its_entropy():
    # i.i.d. t(6) returns (above the floor on nu, so inside the model class): the best possible per-element
    # NLL of the standardized data is the entropy of t(6) minus log(std): there is nothing else to learn, so
    # the model's loss must come down to it
    nu = 6.0
    r, fit = _iid_t_fit(nu, seed=0, steps=600)
    n, a = r.shape
    cut = int(round(n * (1 - fit.config.val_fraction)))
    std = r[:cut].std(axis=0)
    entropy = float(np.mean(_t_entropy(nu) - np.log(std / 0.01)))
    # the validation score is the per-element negative ELBO on ~450 x 3 held-out values: its standard error
    # is sd(log p) / sqrt(1350) with sd(log p) < 0.9 for t(6), at most 0.025; the ELBO also pays the KL of an
    # unused latent (near 0 once the posterior matches the prior)
    se = 0.9 / np.sqrt((n - cut) * a)
    assert fit.history.best_score < entropy + 4 * se + 0.02, (fit.history.best_score, entropy)
    # training loss of the last steps (batch noise averages out over 100 steps x 64 windows)
    assert fit.history.loss[-100:].mean() < entropy + 0.03
    assert np.all((fit.nu > NU_FLOOR) & (fit.nu < 12.0)), fit.nu  # tails learned near the true nu = 6


def test_nu_stops_at_the_floor_on_tails_heavier_than_it():
    # i.i.d. t(2.5) returns: the likelihood pulls nu below the floor, which holds it (a GARCH-like volatility
    # feedback with such tails let a few draws set whole paths)
    _, fit = _iid_t_fit(2.5, seed=1, steps=400)
    assert NU_FLOOR == 5.0  # the house floor (GARCH's margins)
    assert np.all((fit.nu >= 5.0) & (fit.nu < 5.5)), fit.nu


def _correlated_market(n: int = 2500, seed: int = 11):
    """Four assets, i.i.d. multivariate t(6) days with correlations 0.3-0.75 and a 1%-2% daily scale."""
    r = np.array([[1.0, 0.75, 0.5, 0.3], [0.75, 1.0, 0.5, 0.3], [0.5, 0.5, 1.0, 0.4], [0.3, 0.3, 0.4, 1.0]])
    g = np.random.default_rng(seed)
    z = g.standard_normal((n, 4)) @ np.linalg.cholesky(r).T
    x = z / np.sqrt(g.chisquare(6.0, (n, 1)) / 6.0) * np.sqrt(4.0 / 6.0)
    ret = x * np.array([0.01, 0.015, 0.02, 0.012])
    prices = 100.0 * np.exp(np.cumsum(np.vstack([np.zeros(4), ret]), axis=0))
    return data.from_frame(pd.DataFrame(prices, index=pd.bdate_range("2005-01-03", periods=n + 1),
                                        columns=["A", "B", "C", "D"]))


def test_worlds_have_the_history_correlation_and_without_the_copula_do_not():
    """The worlds' mean pairwise correlation against the history's: within 4 standard errors of a sample
    correlation over the history ((1 - rho^2) / sqrt(T), the precision the history itself gives) with the copula;
    short of it by more than that without (the tiny decoder's location carries little of the co-movement).
    The copula is set after training, so the fit with ``correlation="none"`` is this one with the identity
    factor (`test_none_and_one_asset_have_no_copula`)."""
    market = _correlated_market()
    fitted = GEN.fit(market, key=rng.root(3), config=VaeConfig.preset("tiny"))
    real = mean_pairwise_correlation(market.log_returns)
    tol = 4 * (1 - real ** 2) / np.sqrt(market.log_returns.shape[0])
    fits = {"targeted": fitted, "none": fitted.replace(innov_chol=jnp.eye(4, dtype=jnp.float32))}
    worlds = {c: mean_pairwise_correlation(np.asarray(
        GEN.sample(f, key=rng.root(4), n_worlds=200, horizon=250).log_returns, np.float64).reshape(-1, 4))
        for c, f in fits.items()}
    assert abs(worlds["targeted"] - real) < tol, (worlds, real, tol)
    assert worlds["none"] < real - tol, (worlds, real, tol)
    chol = np.asarray(fitted.innov_chol, np.float64)
    assert np.allclose(np.sum(chol * chol, axis=1), 1.0, atol=1e-5) and np.allclose(chol, np.tril(chol))

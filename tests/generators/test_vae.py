"""Temporal VAE: known-entropy fit, save/load, divergence guard, stylized facts, anomalies, latent paths."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import special

from stressgen import data, rng
from stressgen.errors import ConfigError, ModelFileError, UnknownAssetError
from stressgen.generators import anomalies
from stressgen.generators._training import TrainConfig, TrainingDivergedWarning
from stressgen.generators._neural import NU_FLOOR
from stressgen.generators.vae import TemporalVae, VaeConfig
from stressgen.metrics import acf, excess_kurtosis
from stressgen.metrics.diversity import diversity

GEN = TemporalVae()


def _quiet(**train):
    base = dict(batch_size=64, eval_every=50, steps_per_call=25, patience=100, progress=False)
    return TrainConfig(**{**base, **train})


@pytest.fixture(scope="module")
def bundled_fit(sp500_20):
    """A modest model on the bundled 20 assets (the stylized-facts and anomaly tests share it)."""
    config = VaeConfig(hidden=96, latent=8, context=10,
                       train=TrainConfig(steps=400, batch_size=128, eval_every=50, steps_per_call=25, patience=4,
                                         progress=False))
    return GEN.fit(sp500_20, key=rng.stream(rng.root(0), rng.FIT), config=config)


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
                       train=_quiet(steps=steps, learning_rate=3e-3))
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


def test_a_file_saved_under_the_old_floor_is_refused(small_market):
    fit = GEN.fit(small_market, key=rng.root(2), config=VaeConfig.preset("tiny"))
    meta, arrays = GEN.export_fitted(fit)
    assert GEN.restore_fitted(meta, arrays).digest == fit.digest
    old = {k: v for k, v in meta.items() if k != "nu_floor"}
    with pytest.raises(ModelFileError, match="another floor on its Student-t nu .*refit"):
        GEN.restore_fitted(old, arrays)
    # a Gaussian VAE reads no nu: its files from before the floor restore as they were
    tiny = VaeConfig.preset("tiny")
    gauss = GEN.fit(small_market, key=rng.root(2), config=dataclasses.replace(tiny, likelihood="gaussian"))
    meta, arrays = GEN.export_fitted(gauss)
    assert GEN.restore_fitted({k: v for k, v in meta.items() if k != "nu_floor"}, arrays).digest == gauss.digest
    # its innovations' copula (`_vae_copula`: the Pearson target itself, no t margins to invert) is a
    # correlation matrix, and four stocks of one market co-move
    c = np.asarray(gauss.innov_chol, np.float64) @ np.asarray(gauss.innov_chol, np.float64).T
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-5)
    assert (c[np.triu_indices(4, 1)] > 0).all()


def test_save_and_load_give_bit_identical_worlds(small_market, tmp_path):
    fit = GEN.fit(small_market, key=rng.root(2), config=VaeConfig.preset("tiny"))
    meta, arrays = GEN.export_fitted(fit)
    back = GEN.restore_fitted(meta, arrays)
    a = GEN.sample(fit, key=rng.root(3), n_worlds=20, horizon=30)
    b = GEN.sample(back, key=rng.root(3), n_worlds=20, horizon=30)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
    assert back.digest == fit.digest and back.config == fit.config
    from stressgen import persist

    persist.save_model(tmp_path / "vae", GEN, fit)
    gen2, loaded = persist.load_model(tmp_path / "vae")
    c = gen2.sample(loaded, key=rng.root(3), n_worlds=20, horizon=30)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(c.log_returns))
    # a tampered parameter is caught by the digest
    name = next(k for k in arrays if k.startswith("net/"))
    bad = dict(arrays, **{name: arrays[name] + 1.0})
    with pytest.raises(ModelFileError, match="digest"):
        GEN.restore_fitted(meta, bad)
    with pytest.raises(ModelFileError, match="missing"):
        GEN.restore_fitted(meta, {k: v for k, v in arrays.items() if k != name})


def test_divergence_guard_fires_on_a_blow_up_learning_rate(small_market):
    config = dataclasses.replace(VaeConfig.preset("tiny"), train=_quiet(steps=200, learning_rate=1e4,
                                                                        eval_every=25, steps_per_call=25))
    with pytest.warns(TrainingDivergedWarning, match="diverged"):
        fit = GEN.fit(small_market, key=rng.root(4), config=config)
    assert fit.history.stop_reason == "diverged" and fit.history.restored
    s = GEN.sample(fit, key=rng.root(5), n_worlds=8, horizon=50)
    assert np.isfinite(np.asarray(s.log_returns)).all()


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


def test_encode_gives_a_dated_latent_path(small_market):
    fit = GEN.fit(small_market, key=rng.root(9), config=VaeConfig.preset("tiny"))
    z = anomalies.encode(fit, small_market, stride=5)
    cfg = fit.config
    assert list(z.columns) == [f"z{i}" for i in range(cfg.latent)]
    assert len(z) == len(range(cfg.context, small_market.log_returns.shape[0] - cfg.window + 1, 5))
    assert z.index[0] == small_market.return_dates[cfg.context + cfg.window - 1]
    assert np.isfinite(z.to_numpy()).all() and z.index.is_monotonic_increasing
    other = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM", "MSFT"])
    with pytest.raises(UnknownAssetError, match="not those the VAE was fitted on"):
        anomalies.encode(fit, other)


def test_diversity_sees_mode_collapse():
    rng_np = np.random.default_rng(10)
    real = 0.01 * rng_np.standard_normal((3000, 3))
    fresh = 0.01 * rng_np.standard_normal((300, 100, 3))
    collapsed = np.broadcast_to(fresh[:1], fresh.shape)
    assert diversity(collapsed, real).ratio == 0.0
    # fresh draws of the same law: the ratio is 1 up to the sampling error of two means of distances
    assert 0.85 < diversity(fresh, real).ratio < 1.15


@pytest.mark.parametrize("kwargs", [dict(window=0), dict(likelihood="laplace"), dict(val_fraction=0.7),
                                    dict(half_lives=()), dict(nu_init=1.5), dict(nu_init=4.0),
                                    dict(train={"steps": 10})])
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError, match="vae\\."):
        VaeConfig(**kwargs)
    with pytest.raises(ConfigError, match="preset"):
        VaeConfig.preset("huge")

"""The GARCH worlds' drift is the history's mean log return (`GarchConfig.drift = "sample"`), not the t
likelihood's location, which skewed returns pull away from the mean."""

import warnings

import numpy as np
import pandas as pd
import pytest

from stressgen import rng
from stressgen.errors import ConfigError, ModelFileError
from stressgen.generators.garch import GarchConfig, GjrGarch
from stressgen.types import MarketData


@pytest.fixture(scope="module")
def skewed():
    """Ten years of one asset whose calm days gain and whose rare crash days lose: mean +0.02% a day, where
    the t likelihood's location is several standard errors of the mean higher."""
    g = np.random.default_rng(3)
    n = 2500
    z = np.where(g.uniform(size=n) < 0.04, -g.exponential(3.0, size=n) - 1.0, 0.8 * g.standard_normal(n) + 0.15)
    r = 0.01 * (z - z.mean() + 0.02)
    prices = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    return MarketData(prices=prices[:, None], dates=pd.bdate_range("2000-01-03", periods=n + 1), assets=("X",))


def _worlds_mean(market, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the guards' notes on this made-up asset are not the point
        fitted = GjrGarch().fit(market, key=rng.root(0), config=GarchConfig(**config))
    x = np.asarray(GjrGarch().sample(fitted, key=rng.root(1), n_worlds=2000, horizon=252).log_returns[..., 0],
                   np.float64)
    per_world = x.mean(axis=1)
    return float(fitted.mu[0]) / 100.0, per_world.mean(), per_world.std(ddof=1) / np.sqrt(per_world.size)


@pytest.mark.parametrize("config", [dict(fhs_matching="none", level="fixed"), dict(innovations="t-copula")])
def test_the_worlds_drift_by_the_history_mean(skewed, config):
    """With i.i.d. rows or copula draws E[r] = mu exactly: the worlds' mean is the history's within 4 of its
    standard errors over worlds."""
    y = skewed.log_returns[:, 0]
    mu, got, se = _worlds_mean(skewed, **config)
    assert mu == pytest.approx(y.mean(), rel=1e-6)
    assert abs(got - y.mean()) < 4 * se, (got, y.mean(), se)


def test_the_likelihood_location_is_a_drift_history_did_not_earn(skewed):
    """The default (year-matched rows, drawn levels) stays within half a standard error of the history's mean
    (its years' rows and levels move it a little); the likelihood's location is more than 3 away."""
    y = skewed.log_returns[:, 0]
    se_mean = y.std(ddof=1) / np.sqrt(y.size)
    _, got, se = _worlds_mean(skewed)
    assert abs(got - y.mean()) < 0.5 * se_mean + 4 * se, (got, y.mean(), se_mean)
    mu, got, se = _worlds_mean(skewed, drift="likelihood")
    assert mu - y.mean() > 3 * se_mean and got - y.mean() > 3 * se_mean, (mu, got, y.mean(), se_mean)


def test_a_bad_drift_is_a_config_error():
    with pytest.raises(ConfigError, match="garch.drift must be one of sample, likelihood; got 'median'"):
        GarchConfig(drift="median")


def test_a_file_saved_before_the_drift_choice_is_refused(skewed):
    """A model saved before `drift` existed holds the likelihood's location, and its digest covers a config
    without the field: loading it says so and what to do, rather than calling the file corrupt."""
    gen = GjrGarch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = gen.fit(skewed, key=rng.root(0))
    meta, arrays = gen.export_fitted(fitted)
    assert gen.restore_fitted(meta, arrays).digest == fitted.digest
    old = dict(meta, config={k: v for k, v in meta["config"].items() if k != "drift"})
    with pytest.raises(ModelFileError, match="before GarchConfig.drift.*fit again and save"):
        gen.restore_fitted(old, arrays)

"""Path shocks (`stressgen.generators.PathShock` on the GARCH generator): a move of a portfolio on one day,
then the generator's own dynamics. Small sizes (four stocks, a month's horizon), fixed keys: deterministic."""

import warnings

import numpy as np
import pytest

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import GarchConfig, GjrGarch, PathShock
from stressgen.generators import garch

H = 20
DAY = 6  # 1-based: five plain days, the shock, fourteen days after it
GEN = GjrGarch()
KINDS = ("fhs", "fhs-iid", "gaussian-copula")  # the t copula's shock is the Gaussian one's (same correlation, code)


@pytest.fixture(scope="module")
def fits(small_market, small_fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", garch.GarchFitWarning)
        copula = GEN.fit(small_market, key=rng.root(0), config=GarchConfig(innovations="gaussian-copula"))
        iid = GEN.fit(small_market, key=rng.root(0), config=GarchConfig(fhs_matching="none"))
        # the default fit (FHS, year-matched rows) is shared
        return {"fhs": small_fits("garch")[1], "fhs-iid": iid, "gaussian-copula": copula}


def _pair(fitted, shock, n=64, first_world=0):
    key = rng.root(5)
    base = GEN.sample(fitted, key=key, n_worlds=n, horizon=H, first_world=first_world)
    hit = GEN.sample(fitted, key=key, n_worlds=n, horizon=H, first_world=first_world, condition=shock)
    return np.asarray(base.log_returns), np.asarray(hit.log_returns), hit


@pytest.mark.parametrize("kind", KINDS)
def test_equal_weight_shock(fits, kind):
    fitted = fits[kind]
    base, hit, out = _pair(fitted, PathShock(day=DAY, size=-0.20))
    k = DAY - 1
    # the days before the shock are the plain worlds' days, bit for bit
    np.testing.assert_array_equal(hit[:, :k], base[:, :k])
    # on the shock day the equal-weight portfolio's simple return is the requested one
    ew = np.expm1(hit[:, k].astype(np.float64)).mean(axis=1)
    np.testing.assert_allclose(ew, -0.20, atol=2e-5)
    # the day after: same draws, larger variance, so larger moves about the mean (the shock entered the variance)
    mu = np.asarray(fitted.mu) / 100.0
    assert np.abs(hit[:, k + 1] - mu).mean() > 2.0 * np.abs(base[:, k + 1] - mu).mean()
    assert out.provenance.condition == "shock(day=6, size=-0.2, assets=equal-weight)"
    assert out.weights is None


def test_named_asset_shock_moves_the_others(fits, small_market):
    names = small_market.assets
    base, hit, _ = _pair(fits["gaussian-copula"], PathShock(day=1, size=-0.30, assets=(names[1],)))
    np.testing.assert_allclose(np.expm1(hit[:, 0, 1].astype(np.float64)), -0.30, atol=2e-5)
    others = np.delete(np.arange(len(names)), 1)
    # positively correlated stocks fall with it, by less than it does
    assert (hit[:, 0, others] < 0).all() and (hit[:, 0, others] > hit[:, 0, 1:2]).all()


def test_world_depends_only_on_its_key(fits):
    def draw(n, first):
        return np.asarray(GEN.sample(fits["fhs"], key=rng.root(5), n_worlds=n, horizon=H, first_world=first,
                                     condition=PathShock(day=DAY, size=-0.10)).log_returns)

    np.testing.assert_array_equal(draw(5, 7), draw(12, 0)[7:12])


@pytest.mark.parametrize("kwargs, key", [
    (dict(day=3, size=-1.0), "shock.size"),
    (dict(day=3, size=-1.5), "shock.size"),
    (dict(day=3, size=float("nan")), "shock.size"),
    (dict(day=0, size=-0.1), "shock.day"),
    (dict(day=2.0, size=-0.1), "shock.day"),
    (dict(day=3, size=-0.1, assets=()), "shock.assets"),
    (dict(day=3, size=-0.1, assets="AAPL"), "shock.assets"),
])
def test_bad_shock_is_refused(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        PathShock(**kwargs)


def test_shock_checked_against_the_fit(fits):
    with pytest.raises(ConfigError, match=r"shock\.day = 21 is beyond the horizon of 20"):
        GEN.sample(fits["fhs"], key=rng.root(0), n_worlds=2, horizon=H, condition=PathShock(day=21, size=-0.1))
    with pytest.raises(ConfigError, match="unknown asset 'NOPE'"):
        GEN.sample(fits["fhs"], key=rng.root(0), n_worlds=2, horizon=H,
                   condition=PathShock(day=2, size=-0.1, assets=("NOPE",)))

"""Crisis replay (`stressgen.generators.CrisisReplay` on the GARCH generator): a historical episode's real returns
open every world, then the model continues from the state they left. Four stocks from 2017 (COVID inside)."""

import warnings

import numpy as np
import pytest

from stressgen import data, rng
from stressgen.errors import ConfigError
from stressgen.generators import CrisisReplay, GarchConfig, GjrGarch
from stressgen.generators.garch import GarchFitWarning
from stressgen.generators._replay import EPISODES

GEN = GjrGarch()
MONTH = 21


@pytest.fixture(scope="module", params=["year", "none"])
def fitted(request, small_fits, small_market):
    """The default fit (year-matched rows, shared) and one with i.i.d. rows."""
    if request.param == "year":
        return small_fits("garch")[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        return GEN.fit(small_market, key=rng.root(0), config=GarchConfig(fhs_matching="none"))


@pytest.fixture(scope="module")
def covid(small_market):
    return CrisisReplay.from_market(small_market, "covid-2020")


def test_episode_is_cut_from_the_market(covid, small_market):
    dates = small_market.return_dates
    mask = (dates >= "2020-02-19") & (dates <= "2020-03-23")
    assert covid.days == mask.sum() == 24
    np.testing.assert_array_equal(covid.returns, small_market.log_returns[mask])
    assert covid.describe() == "replay(covid-2020, 2020-02-19..2020-03-23, 24 days)"


def test_worlds_open_with_the_episode_and_stay_volatile(fitted, covid):
    n, L = 400, covid.days
    key = rng.root(5)
    hit = GEN.sample(fitted, key=key, n_worlds=n, horizon=L + MONTH, condition=covid)
    base = GEN.sample(fitted, key=key, n_worlds=n, horizon=MONTH)
    r = np.asarray(hit.log_returns)
    # every world's first L days are the real episode, exactly (as float32)
    np.testing.assert_array_equal(r[:, :L], np.broadcast_to(covid.returns.astype(np.float32), (n, L, 4)))
    assert hit.provenance.condition == covid.describe() and hit.weights is None
    # the month after COVID is more volatile than a plain month from today's state: per-world mean |r|
    after = np.abs(r[:, L:]).mean(axis=(1, 2))
    plain = np.abs(np.asarray(base.log_returns)).mean(axis=(1, 2))
    diff = after.mean() - plain.mean()
    se = np.sqrt(after.var(ddof=1) / n + plain.var(ddof=1) / n)
    assert diff > 5 * se, (diff, se)


def _filter(f, eps, sigma2):
    """numpy GJR recursion over ``eps [time, worlds, assets]`` (percent) from ``sigma2``: the variance after it."""
    for e in eps:
        sigma2 = f["omega"] + (f["alpha"] + f["gamma"] * (e < 0)) * e * e + f["beta"] * sigma2
    return sigma2


def test_the_model_filters_the_episode(fitted, covid):
    # with a fixed long-run level, day L+1 of a replayed world is the plain world's day-(L+1) innovation scaled by
    # the variance the real episode left, which the recursion in numpy reproduces
    fixed = fitted.replace(level_factors=np.ones(1, np.float32))
    f = {k: np.asarray(getattr(fixed, k), np.float64) for k in ("mu", "omega", "alpha", "gamma", "beta")}
    n, L = 16, covid.days
    hit = np.asarray(GEN.sample(fixed, key=rng.root(5), n_worlds=n, horizon=L + 1, condition=covid).log_returns)
    base = np.asarray(GEN.sample(fixed, key=rng.root(5), n_worlds=n, horizon=L + 1).log_returns)
    s0 = np.broadcast_to(np.asarray(fixed.sigma2_next, np.float64), (n, 4))
    s_hit = _filter(f, 100.0 * covid.returns[:, None, :] - f["mu"], s0)
    s_base = _filter(f, 100.0 * base[:, :L].transpose(1, 0, 2).astype(np.float64) - f["mu"], s0)
    ratio = (100.0 * hit[:, L] - f["mu"]) / (100.0 * base[:, L] - f["mu"])
    np.testing.assert_allclose(ratio, np.sqrt(s_hit / s_base), rtol=2e-3)
    assert (s_hit > 2 * s_base).mean() > 0.9  # COVID leaves a far higher variance than a plain month


def test_world_depends_only_on_its_key(fitted, covid):
    def draw(n, first):
        return np.asarray(GEN.sample(fitted, key=rng.root(5), n_worlds=n, horizon=covid.days + 5,
                                     first_world=first, condition=covid).log_returns)

    np.testing.assert_array_equal(draw(5, 7), draw(12, 0)[7:12])


def test_plain_path_unchanged(fitted):
    # the plain worlds do not read the replay code: the same numbers as before for the same key
    a = np.asarray(GEN.sample(fitted, key=rng.root(5), n_worlds=8, horizon=10).log_returns)
    b = np.asarray(GEN.sample(fitted, key=rng.root(5), n_worlds=8, horizon=10, condition=None).log_returns)
    np.testing.assert_array_equal(a, b)


def test_custom_dates(fitted, small_market):
    c = CrisisReplay.from_market(small_market, start="2018-02-01", end="2018-02-08")
    assert c.days == 6 and c.describe() == "replay(custom, 2018-02-01..2018-02-08, 6 days)"
    out = GEN.sample(fitted, key=rng.root(1), n_worlds=3, horizon=8, condition=c)
    np.testing.assert_array_equal(np.asarray(out.log_returns)[:, :6], np.broadcast_to(c.returns.astype(np.float32),
                                                                                        (3, 6, 4)))


def test_bundled_episodes():
    assert set(EPISODES) == {"ltcm-1998", "dotcom-2000", "gfc-2008", "euro-2011", "covid-2020", "rates-2022"}
    for name, (start, end, _) in EPISODES.items():
        c = CrisisReplay(episode=name)
        assert (c.start, c.end) == (start, end) and start < end


@pytest.mark.parametrize("kwargs, key", [
    (dict(episode="crash-1929"), "replay.episode"),
    (dict(), "replay.episode"),
    (dict(start="2020-02-19"), "replay.episode"),
    (dict(start="2020-03-23", end="2020-02-19"), "replay.start"),
    (dict(start="not a date", end="2020-02-19"), "replay.start"),
])
def test_bad_replay_is_refused(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        CrisisReplay(**kwargs)


def test_unknown_episode_lists_the_bundled_ones():
    with pytest.raises(ConfigError, match="covid-2020"):
        CrisisReplay(episode="crash-1929")


def test_episode_outside_the_data(small_market):
    with pytest.raises(ConfigError, match=r"replay\.episode 'ltcm-1998' \(1998-08-17\.\.1998-10-08\) lies outside"):
        CrisisReplay.from_market(small_market, "ltcm-1998")


def test_replay_checked_against_the_fit(fitted, covid):
    with pytest.raises(ConfigError, match=r"replay\.episode 'covid-2020' lasts 24 trading days, longer than the "
                                          r"horizon of 10"):
        GEN.sample(fitted, key=rng.root(0), n_worlds=2, horizon=10, condition=covid)
    with pytest.raises(ConfigError, match=r"replay\.returns"):
        GEN.sample(fitted, key=rng.root(0), n_worlds=2, horizon=40, condition=CrisisReplay(episode="covid-2020"))
    other = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM"])
    with pytest.raises(ConfigError, match=r"replay\.assets"):
        GEN.sample(fitted, key=rng.root(0), n_worlds=2, horizon=40,
                   condition=CrisisReplay.from_market(other, "covid-2020"))

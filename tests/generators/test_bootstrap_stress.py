"""Path shocks and crisis replay in the stationary bootstrap (`StationaryBootstrap` with `PathShock` /
`CrisisReplay`): forced rows, then a block from the pool that stands for the state they left, then the plain
bootstrap. The session's four-stock fit, a month's horizon, fixed keys: deterministic."""

import numpy as np
import pytest

from stressgen import data, rng
from stressgen.errors import ConfigError
from stressgen.generators import BootstrapConfig, CrisisReplay, PathShock, StationaryBootstrap
from stressgen.generators._bootstrap_regime import ANALOGS

GEN = StationaryBootstrap()
H, N = 30, 200  # covid-2020 is 24 days: its worlds share the horizon, so fewer programs compile
DAY = 6  # 1-based: five plain days, the shock, then its aftermath
KEY = rng.root(5)


@pytest.fixture(scope="module")
def fitted(small_fits):
    return small_fits("bootstrap")[1]


@pytest.fixture(scope="module")
def covid(small_market):
    return CrisisReplay.from_market(small_market, "covid-2020")


def _draw(fitted, condition=None, n=N, first_world=0, horizon=H):
    out = GEN.sample(fitted, key=KEY, n_worlds=n, horizon=horizon, first_world=first_world, condition=condition)
    return np.asarray(out.log_returns), out


def _rows(history, rows):
    """``[...]`` index of each row of ``rows [..., assets]`` in ``history [time, assets]`` (-1: none); slow."""
    flat = rows.reshape(-1, rows.shape[-1])
    hit = (flat[:, None, :] == history[None]).all(axis=2)
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1).reshape(rows.shape[:-1])


def test_shock_day_and_the_days_before(fitted):
    base, _ = _draw(fitted)
    hit, out = _draw(fitted, PathShock(day=DAY, size=-0.20))
    k = DAY - 1
    np.testing.assert_array_equal(hit[:, :k], base[:, :k])  # the plain worlds' days, bit for bit
    # the target's simple return is the size; float32 log returns hold it to a few ulps of exp (1e-7 relative)
    np.testing.assert_allclose(np.expm1(hit[:, k].astype(np.float64)).mean(axis=1), -0.20, atol=2e-6)
    # the row is history's conditional mean given the target's move: (row - mean) is along cov @ w
    r = np.asarray(fitted.returns, np.float64)
    along = np.cov(r, rowvar=False) @ np.full(4, 0.25)
    ratio = (hit[0, k] - r.mean(axis=0)) / along
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-5)
    np.testing.assert_array_equal(hit[:, k], np.broadcast_to(hit[0, k], hit[:, k].shape))
    assert out.provenance.condition == "shock(day=6, size=-0.2, assets=equal-weight)" and out.weights is None


@pytest.mark.parametrize("size, assets", [(-0.20, None), (-0.30, ("JPM",))])
def test_aftermath_follows_an_analog_day(fitted, small_market, size, assets):
    hit, _ = _draw(fitted, PathShock(day=DAY, size=size, assets=assets))
    r32 = np.asarray(fitted.returns)
    # the analog set, slowly and independently: history days (not the last) by distance of the target's log
    # simple return to log(1 + size)
    w = np.zeros(4)
    w[[small_market.assets.index(a) for a in (assets or small_market.assets)]] = 1.0 / len(assets or "abcd")
    target = [np.log(sum(w[i] * np.exp(float(r32[t, i])) for i in range(4))) for t in range(len(r32) - 1)]
    analogs = sorted(range(len(target)), key=lambda t: (abs(target[t] - np.log1p(size)), t))[:ANALOGS]
    first = _rows(r32, hit[:, DAY])
    assert np.isin(first - 1, analogs).all()
    # each analog is drawn with probability 1/m: its count over N worlds lies within 5 binomial standard errors
    counts = np.array([(first - 1 == a).sum() for a in analogs])
    p = 1.0 / ANALOGS
    assert (np.abs(counts - N * p) < 5 * np.sqrt(N * p * (1 - p))).all(), counts
    # the block runs on: the next day is the history day after it unless a new block starts (p = 1/16.7 a
    # day): expected 94% of the worlds continue, with a standard error of 1.7% over N worlds: half is far below
    assert (_rows(r32, hit[:, DAY + 1]) == first + 1).mean() > 0.5
    if assets:
        np.testing.assert_allclose(np.expm1(hit[:, DAY - 1, 1].astype(np.float64)), size, atol=2e-6)


def test_replay_opens_with_the_episode_then_its_label(fitted, covid):
    L = covid.days
    hit, out = _draw(fitted, covid)
    np.testing.assert_array_equal(hit[:, :L], np.broadcast_to(covid.returns.astype(np.float32), (N, L, 4)))
    assert out.provenance.condition == covid.describe() and out.weights is None
    # labels by hand: equal-weight 21-day trailing RMS, history's terciles, the episode's last 21 days
    r = np.asarray(fitted.returns, np.float64)
    ew = r.mean(axis=1)
    vol = np.array([np.sqrt(np.mean(ew[t - 20:t + 1] ** 2)) for t in range(20, len(ew))])
    lo, hi = np.quantile(vol, [1 / 3, 2 / 3])
    day_label = np.full(len(ew), -1)
    day_label[20:] = (vol > lo).astype(int) + (vol > hi)
    end_vol = np.sqrt(np.mean(covid.returns[-21:].mean(axis=1) ** 2))
    label = int(end_vol > lo) + int(end_vol > hi)
    assert label == 2  # COVID leaves the turbulent label
    first = _rows(np.asarray(fitted.returns), hit[:, L])
    assert (first >= 0).all() and (day_label[first] == label).all()


def test_short_episode_is_labelled_with_the_history_before_it(small_market, fitted):
    # a 3-day episode: the trailing window is history's last 18 days and the episode
    short = CrisisReplay.from_market(small_market, start="2018-02-05", end="2018-02-07")
    hit, _ = _draw(fitted, short, n=8, horizon=H)
    assert (hit[:, :3] == short.returns.astype(np.float32)).all()
    assert (_rows(np.asarray(fitted.returns), hit[:, 3]) >= 0).all()


@pytest.mark.parametrize("condition", ["shock", "replay"])
def test_world_depends_only_on_its_key(fitted, covid, condition):
    c = PathShock(day=DAY, size=-0.20) if condition == "shock" else covid
    np.testing.assert_array_equal(_draw(fitted, c, n=5, first_world=7)[0], _draw(fitted, c)[0][7:12])


def test_uniform_matching_shock(small_market):
    fitted = GEN.fit(small_market, key=rng.root(0), config=BootstrapConfig(matching="none", mean_block=10.0))
    base, _ = _draw(fitted, n=8)
    hit, _ = _draw(fitted, PathShock(day=DAY, size=-0.20), n=8)
    np.testing.assert_array_equal(hit[:, :DAY - 1], base[:, :DAY - 1])
    np.testing.assert_allclose(np.expm1(hit[:, DAY - 1].astype(np.float64)).mean(axis=1), -0.20, atol=2e-6)


def test_bad_conditions_are_typed_errors(fitted, covid):
    def sample(condition, horizon=H):
        GEN.sample(fitted, key=rng.root(0), n_worlds=2, horizon=horizon, condition=condition)

    with pytest.raises(ConfigError, match=r"shock\.day = 31 is beyond the horizon of 30"):
        sample(PathShock(day=31, size=-0.1))
    with pytest.raises(ConfigError, match="unknown asset 'NOPE'"):
        sample(PathShock(day=2, size=-0.1, assets=("NOPE",)))
    with pytest.raises(ConfigError, match=r"replay\.episode 'covid-2020' lasts 24 trading days"):
        sample(covid, horizon=20)
    with pytest.raises(ConfigError, match=r"replay\.returns"):
        sample(CrisisReplay(episode="covid-2020"), horizon=40)
    other = data.load("sp500-20", start="2017-01-01", assets=["AAPL", "JPM", "XOM"])
    with pytest.raises(ConfigError, match=r"replay\.assets"):
        sample(CrisisReplay.from_market(other, "covid-2020"), horizon=40)

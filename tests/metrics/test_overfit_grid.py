"""grid_overfit (issue 18, point 2 and the typed refusals of point 5) against float64 references written here
from the formulas, one loop at a time, independent of the module's vectorised code paths."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from stressgen.errors import ConfigError
from stressgen.metrics import GridOverfit, check_grid_overfit, demean_log_returns, grid_overfit
from stressgen.metrics.overfit_grid import MIN_BLOCK_PERIODS, cscv_n_splits


def ref_sharpe(x):
    x = [float(v) for v in x]
    mu = sum(x) / len(x)
    return mu / math.sqrt(sum((v - mu) ** 2 for v in x) / len(x))


def ref_psr(r, sr_star):
    r = np.asarray(r, np.float64)
    sr = ref_sharpe(r)
    g3, g4 = stats.skew(r, bias=True), stats.kurtosis(r, fisher=False, bias=True)
    return stats.norm.cdf((sr - sr_star) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))


def ref_pbo(m, s):
    """Bailey et al. (2014), split by split: argmax in sample, scipy's average rank out of sample."""
    t, n = m.shape
    blocks = np.array_split(np.arange(t), s)
    below = total = 0
    for ins in itertools.combinations(range(s), s // 2):
        r_is = np.concatenate([blocks[b] for b in ins])
        r_oos = np.concatenate([blocks[b] for b in range(s) if b not in ins])
        best = int(np.argmax([ref_sharpe(m[r_is, j]) for j in range(n)]))
        oos = [ref_sharpe(m[r_oos, j]) for j in range(n)]
        w = stats.rankdata(oos)[best] / (n + 1)
        below += math.log(w / (1 - w)) <= 0
        total += 1
    return below / total


def ref_rank_shares(world, winner):
    """Each world: the winner's tie group covers positions above+1 .. above+tied, each with 1/tied."""
    n, w = world.shape
    shares = np.zeros(n)
    for j in range(w):
        col = world[:, j]
        above = sum(1 for v in col if v > col[winner])
        tied = sum(1 for v in col if v == col[winner])
        for pos in range(above, above + tied):
            shares[pos] += 1.0 / tied / w
    return shares


def _grid(seed=0, t=300, n=5, w=200, edge=0.0):
    rng = np.random.default_rng(seed)
    real = rng.standard_t(5, size=(t, n)) * 0.01
    real[:, 0] += edge
    world = rng.normal(size=(n, w))
    world[0] += 1500 * edge  # 6 standard deviations of the world metric at edge = 0.004
    return real, world


def test_matches_float64_references():
    real, world = _grid(seed=1)
    world[:, :7] = np.round(world[:, :7], 0)  # integer metrics: ties, so averaged ranks are exercised
    world[2, 10] = np.nan  # an undefined metric ranks last
    null = np.random.default_rng(2).normal(0.0, 0.06, size=400)
    seen = []
    res = grid_overfit("ma", real, world, lambda i: seen.append(i) or null)
    srs = [ref_sharpe(real[:, j]) for j in range(real.shape[1])]
    winner = int(np.argmax(srs))
    assert isinstance(res, GridOverfit) and res.winner == winner and seen == [winner]
    np.testing.assert_allclose(res.real_sharpe, srs, rtol=0, atol=1e-12)
    assert res.psr.psr == pytest.approx(ref_psr(real[:, winner], 0.0), abs=1e-10)
    n = len(srs)
    g = np.euler_gamma
    sr_star = np.std(srs, ddof=1) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * np.e)))
    assert res.dsr.benchmark_sr == pytest.approx(sr_star, abs=1e-12)
    assert res.dsr.dsr == pytest.approx(ref_psr(real[:, winner], sr_star), abs=1e-10)
    s = 300 // MIN_BLOCK_PERIODS  # 14 blocks of 21 days fit in 300
    assert res.pbo.n_splits == s == 14
    assert res.pbo.pbo == pytest.approx(ref_pbo(real, s), abs=1e-12)
    ranked = np.where(np.isnan(world), np.nanmin(world) - 1, world)
    np.testing.assert_allclose(res.rank_shares, ref_rank_shares(ranked, winner), atol=1e-12)
    assert res.rank_shares.sum() == pytest.approx(1.0, abs=1e-12)
    ref_ranks = [1 + sum(v > c[winner] for v in c) + 0.5 * (sum(v == c[winner] for v in c) - 1) for c in ranked.T]
    np.testing.assert_allclose(res.rank.ranks, ref_ranks, atol=0)
    assert res.rank.p_below_median == pytest.approx(np.mean(np.array(ref_ranks) > (n + 1) / 2), abs=0)
    assert res.n_undefined_worlds == 1
    k = sum(1 for v in null if v >= srs[winner])
    assert res.chance.n_reached == k and res.chance.share == pytest.approx(k / 400, abs=0)
    assert res.null_sharpe_median == pytest.approx(np.median(null), abs=0)


def test_noise_grid_rank_is_uniform_within_sampling_error():
    """Worlds where every set is the same noise: the winner's rank is uniform on 1..N, so P(rank > (N+1)/2)
    is (N - 1) / (2N) for odd N; the tolerance is 4 binomial standard errors."""
    n, w = 5, 4000
    real, _ = _grid(seed=3, n=n)
    world = np.random.default_rng(4).normal(size=(n, w))
    res = grid_overfit("noise", real, world, lambda i: np.zeros(10))
    p = (n - 1) / (2 * n)
    assert abs(res.rank.p_below_median - p) < 4 * math.sqrt(p * (1 - p) / w)
    np.testing.assert_allclose(res.rank_shares, 1 / n, atol=4 * math.sqrt((1 / n) * (1 - 1 / n) / w))
    # the flags follow their documented thresholds, robustness first
    flags = [res.rank.p_below_median > 0.5, res.pbo.pbo > 0.5, res.dsr.dsr < 0.95, res.chance.share > 0.05]
    words = ["below the grid median", "PBO is", "deflated Sharpe ratio", "edge removed"]
    assert [w for w, f in zip(words, flags) if f] == [w for m in res.warnings for w in words if w in m]
    assert res.robust == (not flags[0] and not flags[1])


def test_real_edge_is_robust_and_flags_nothing_on_ranks():
    real, world = _grid(seed=5, t=2000, edge=0.004)
    res = grid_overfit("edge", real, world, lambda i: np.random.default_rng(6).normal(0, 0.02, 500))
    assert res.winner == 0 and res.rank.p_below_median == 0.0 and res.pbo.pbo < 0.05 and res.robust
    assert res.dsr.dsr > 0.99 and res.chance.n_reached == 0 and res.warnings == ()


def test_nan_null_counts_as_not_reached():
    real, world = _grid(seed=7)
    res = grid_overfit("x", real, world, lambda i: np.array([np.nan, np.inf, -np.inf, -1.0]))
    assert res.chance.n_reached == 1 and res.chance.n_worlds == 4


def test_demean_log_returns_zeroes_each_world_asset_mean():
    x = np.random.default_rng(0).normal(0.001, 0.01, size=(3, 50, 2)).astype(np.float32)
    d = demean_log_returns(x)
    assert d.dtype == np.float32 and d.shape == x.shape
    for i in range(3):
        for a in range(2):
            assert abs(float(np.mean(d[i, :, a].astype(np.float64)))) < 1e-8
            np.testing.assert_allclose(np.diff(d[i, :, a]), np.diff(x[i, :, a]), atol=1e-6)
    with pytest.raises(ConfigError, match="worlds, time, assets"):
        demean_log_returns(x[0])


# --- point 5: typed refusals, before any compute, naming the strategy ------------------------------------------


def test_one_point_grid_is_refused_naming_the_strategy():
    with pytest.raises(ConfigError, match="strategy 'ma_crossover'.*1 parameter set.*PBO needs at least 2"):
        check_grid_overfit("ma_crossover", 1, 5000)
    real, world = _grid()
    with pytest.raises(ConfigError, match="'solo'.*PBO needs at least 2"):
        grid_overfit("solo", real[:, :1], world[:1], lambda i: pytest.fail("computed before refusing"))


def test_too_few_real_days_is_refused_naming_the_strategy():
    need = 4 * MIN_BLOCK_PERIODS
    assert cscv_n_splits(need) == 4 and cscv_n_splits(need + 2 * MIN_BLOCK_PERIODS - 1) == 4
    assert cscv_n_splits(6 * MIN_BLOCK_PERIODS) == 6 and cscv_n_splits(10_000) == 16
    with pytest.raises(ConfigError, match=f"strategy 'mom'.*at least {need} real periods.*gives {need - 1}"):
        check_grid_overfit("mom", 3, need - 1)
    for none_left in (0, -5):  # a warm-up as long as the history, or longer: the same message, not a type error
        with pytest.raises(ConfigError, match=f"at least {need} real periods after the warm-up.*gives 0"):
            check_grid_overfit("mom", 3, none_left)
    with pytest.raises(ConfigError, match="'mom': n_splits=16 CSCV blocks .* need 336 real periods; .* 300"):
        check_grid_overfit("mom", 3, 300, n_splits=16)
    real, world = _grid(t=need - 1)
    with pytest.raises(ConfigError, match="'mom'.*at least 84 real periods"):
        grid_overfit("mom", real, world, lambda i: pytest.fail("computed before refusing"))


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_non_positive_trials_are_refused_naming_the_strategy(bad):
    with pytest.raises(ConfigError, match="strategy 'ma'.*n_trials must be a positive integer"):
        check_grid_overfit("ma", 3, 1000, n_trials=bad)
    real, world = _grid()
    with pytest.raises(ConfigError, match="'ma'.*n_trials"):
        grid_overfit("ma", real, world, lambda i: pytest.fail("computed before refusing"), n_trials=bad)


def test_effective_trials_change_only_the_dsr_benchmark():
    real, world = _grid(seed=8)
    a = grid_overfit("x", real, world, lambda i: np.zeros(3))
    b = grid_overfit("x", real, world, lambda i: np.zeros(3), n_trials=2)
    assert b.n_trials == 2 and b.dsr.benchmark_sr < a.dsr.benchmark_sr and b.dsr.dsr > a.dsr.dsr
    assert b.pbo.pbo == a.pbo.pbo and b.chance == a.chance


def test_a_winner_that_sinks_in_every_world_is_not_robust():
    real, world = _grid(seed=9)
    winner = int(np.argmax([ref_sharpe(c) for c in real.T]))
    world[winner] -= 10.0  # worst of the grid in every world
    res = grid_overfit("x", real, world, lambda i: np.zeros(3))
    assert res.rank.p_below_median == 1.0 and res.rank_shares[-1] == 1.0 and not res.robust
    assert res.warnings[0].startswith("the real-history winner falls below the grid median in 100.0% of the worlds")

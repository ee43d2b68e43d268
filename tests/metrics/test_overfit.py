"""Overfitting statistics (PSR, DSR, MinTRL, PBO by CSCV, winner rank, chance share) against references
written here from the papers' formulas with scipy, closed forms and simulated known cases.

The references are written here in float64, straight from the formulas and independent of the module's code
paths; PSR, DSR, MinTRL and PBO are also compared with purgedcv, a maintained package (the end of the file).
"""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

from stressgen.errors import ConfigError
from stressgen.metrics.overfit import (
    ChanceShare,
    DSRResult,
    PBOResult,
    PSRResult,
    WinnerRank,
    chance_share,
    deflated_sharpe,
    expected_max_sharpe,
    min_track_record_length,
    pbo_cscv,
    per_period_sharpe,
    probabilistic_sharpe,
    winner_rank_across_worlds,
)

# --- references from the papers ------------------------------------------------------------------------------


def ref_moments(r):
    """Per-period SR with ddof-0 std, biased skewness, biased non-excess kurtosis (scipy's bias=True)."""
    r = np.asarray(r, dtype=np.float64)
    return r.mean() / r.std(ddof=0), stats.skew(r, bias=True), stats.kurtosis(r, fisher=False, bias=True)


def ref_psr(r, sr_star):
    """Bailey & Lopez de Prado (2012): Phi((SR - SR*) sqrt(T-1) / sqrt(1 - g3 SR + (g4-1)/4 SR^2))."""
    sr, g3, g4 = ref_moments(r)
    return stats.norm.cdf((sr - sr_star) * np.sqrt(len(r) - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))


def ref_sr_star(trial_srs):
    """Bailey & Lopez de Prado (2014): sqrt(V) ((1-gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e)))."""
    n, v = len(trial_srs), np.var(trial_srs, ddof=1)
    g = np.euler_gamma
    return np.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * np.e)))


def ref_min_trl(r, sr_star, conf):
    sr, g3, g4 = ref_moments(r)
    return 1 + (1 - g3 * sr + (g4 - 1) / 4 * sr**2) * (stats.norm.ppf(conf) / (sr - sr_star)) ** 2


def ref_pbo(m, s):
    """CSCV as in Bailey, Borwein, Lopez de Prado & Zhu (2014), one split at a time, with scipy ranks.

    Blocks: S contiguous blocks whose sizes differ by at most one, the longer ones first.
    """
    t, n = m.shape
    q, rem = divmod(t, s)
    sizes = [q + 1 if b < rem else q for b in range(s)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    blocks = [m[starts[b]:starts[b + 1]] for b in range(s)]
    logits, is_perf, oos_perf = [], [], []
    for ins in itertools.combinations(range(s), s // 2):
        j = np.vstack([blocks[b] for b in ins])
        jbar = np.vstack([blocks[b] for b in range(s) if b not in ins])
        r_is = j.mean(0) / j.std(0)
        r_oos = jbar.mean(0) / jbar.std(0)
        best = int(np.argmax(r_is))
        omega = stats.rankdata(r_oos, method="average")[best] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
        is_perf.append(r_is[best])
        oos_perf.append(r_oos[best])
    logits = np.array(logits)
    return float(np.mean(logits <= 0)), logits, np.array(is_perf), np.array(oos_perf)


def skewed_returns(seed, t=500):
    """Fat-tailed, skewed daily-like returns, so that g3 and g4 matter in the formulas."""
    g = np.random.default_rng(seed)
    return 0.0005 + 0.01 * g.standard_t(5, t) + 0.004 * (g.exponential(1.0, t) - 1.0)


# --- PSR / DSR / MinTRL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sr_star", [0.0, 0.02, -0.03])
def test_psr_matches_the_paper_formula(seed, sr_star):
    r = skewed_returns(seed)
    got = probabilistic_sharpe(r, sr_star)
    assert isinstance(got, PSRResult)
    sr, g3, g4 = ref_moments(r)
    assert abs(got.psr - ref_psr(r, sr_star)) < 1e-8
    assert got.sharpe == pytest.approx(sr, abs=1e-12) and got.n_periods == len(r)
    assert got.skewness == pytest.approx(g3, abs=1e-10) and got.kurtosis == pytest.approx(g4, abs=1e-10)


def test_psr_is_one_half_at_the_benchmark():
    r = np.random.default_rng(3).normal(0.001, 0.01, 400)
    sr = r.mean() / r.std()
    assert probabilistic_sharpe(r, sr).psr == pytest.approx(0.5, abs=1e-12)


def test_psr_is_calibrated_under_the_null():
    # true SR = 0, normal returns: PSR(0) is approximately uniform, so its mean over many series is ~1/2
    # (sd of a uniform / sqrt(400) = 0.014; 0.05 is > 3 sd plus the small-sample approximation error)
    g = np.random.default_rng(4)
    psr = [probabilistic_sharpe(g.normal(0, 0.01, 250)).psr for _ in range(400)]
    assert abs(np.mean(psr) - 0.5) < 0.05


@pytest.mark.parametrize("seed", [0, 5])
def test_dsr_matches_the_paper_formula_and_deflates(seed):
    r = skewed_returns(seed, 750)
    trials = np.random.default_rng(seed + 100).normal(0.0, 0.03, 50)
    got = deflated_sharpe(r, trials)
    assert isinstance(got, DSRResult)
    sr_star = ref_sr_star(trials)
    assert abs(got.benchmark_sr - sr_star) < 1e-10
    assert abs(got.dsr - ref_psr(r, sr_star)) < 1e-8
    assert got.n_trials == 50 and got.trial_variance == pytest.approx(np.var(trials, ddof=1), rel=1e-12)
    assert got.dsr < probabilistic_sharpe(r, 0.0).psr  # N > 1: the selection raises the bar above 0


def test_dsr_of_one_trial_is_psr_of_zero_and_n_trials_overrides():
    r = skewed_returns(7)
    assert deflated_sharpe(r, [0.05]).dsr == pytest.approx(probabilistic_sharpe(r, 0.0).psr, abs=1e-15)
    trials = np.linspace(-0.05, 0.05, 40)
    few = deflated_sharpe(r, trials, n_trials=5)
    v = np.var(trials, ddof=1)
    g = np.euler_gamma
    ref = np.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / 5) + g * stats.norm.ppf(1 - 1 / (5 * np.e)))
    assert few.n_trials == 5 and abs(few.benchmark_sr - ref) < 1e-10
    assert few.dsr > deflated_sharpe(r, trials).dsr  # fewer independent trials: a lower bar


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_expected_max_approximates_the_exact_expected_maximum(n):
    # E[max of n iid N(0,1)] = int x n phi(x) Phi(x)^(n-1) dx; the paper's approximation is within ~2.5%
    exact = integrate.quad(lambda x: x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1), -12, 12,
                           limit=200)[0]
    assert expected_max_sharpe(n, 1.0) == pytest.approx(exact, rel=0.03)
    assert expected_max_sharpe(n, 4.0) == pytest.approx(2 * expected_max_sharpe(n, 1.0), rel=1e-12)


@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_min_trl_matches_the_formula_and_inverts_psr(conf):
    r = skewed_returns(8, 1000) + 0.001
    sr_star = 0.02
    got = min_track_record_length(r, sr_star, conf)
    assert abs(got - ref_min_trl(r, sr_star, conf)) < 1e-8 * got
    # at T = MinTRL (same moments), the PSR z-score is exactly Phi^-1(conf)
    sr, g3, g4 = ref_moments(r)
    z = (sr - sr_star) * np.sqrt(got - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert stats.norm.cdf(z) == pytest.approx(conf, abs=1e-10)


def test_min_trl_decreases_in_sr_and_is_infinite_below_the_benchmark():
    base = skewed_returns(9, 600)
    base = base - base.mean()
    # a constant shift leaves the central moments (sd, g3, g4) unchanged and raises SR only
    lengths = [min_track_record_length(base + mu, 0.0) for mu in (0.0005, 0.001, 0.002, 0.004)]
    assert all(a > b for a, b in zip(lengths, lengths[1:]))
    assert min_track_record_length(base - 0.001, 0.0) == math.inf
    assert min_track_record_length(base + 0.001, 1.0) == math.inf


# --- PBO by CSCV ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t,n,s,edge", [(400, 8, 8, 0.0), (333, 5, 10, 0.0), (500, 12, 8, 0.001), (97, 3, 4, 0.0)])
def test_pbo_matches_a_split_by_split_reference(t, n, s, edge):
    m = np.random.default_rng(t + n).normal(0.0, 0.01, (t, n))
    m[:, 0] += edge
    got = pbo_cscv(m, s)
    assert isinstance(got, PBOResult)
    pbo, logits, is_perf, oos_perf = ref_pbo(m, s)
    assert got.pbo == pbo and len(got.logits) == math.comb(s, s // 2)
    np.testing.assert_allclose(got.logits, logits, atol=1e-8)
    np.testing.assert_allclose(got.is_performance, is_perf, atol=1e-8)
    np.testing.assert_allclose(got.oos_performance, oos_perf, atol=1e-8)
    assert got.prob_oos_loss == np.mean(oos_perf < 0)


def test_pbo_custom_metric_path_agrees_with_the_reference():
    m = np.random.default_rng(11).normal(0.0, 0.01, (240, 6))
    got = pbo_cscv(m, 8, metric=lambda x: x.mean(0) / x.std(0))  # not the fast path: called per split
    pbo, logits, _, _ = ref_pbo(m, 8)
    assert got.pbo == pbo
    np.testing.assert_allclose(got.logits, logits, atol=1e-8)
    # a metric with ties: every strategy scores the same OOS -> rank (N+1)/2, logit 0, counted as overfit
    flat = pbo_cscv(m, 4, metric=lambda x: np.zeros(x.shape[1]))
    assert flat.pbo == 1.0 and np.all(flat.logits == 0.0)


def test_pbo_is_near_zero_for_a_persistent_edge():
    # one strategy with a daily SR of 0.2 among 9 noise ones: it wins IS and stays top OOS in nearly all
    # of the 12,870 splits
    m = np.random.default_rng(0).normal(0.0, 0.01, (1000, 10))
    m[:, 3] += 0.002
    got = pbo_cscv(m, 16)
    assert got.pbo < 0.05 and np.mean(got.chosen == 3) > 0.95
    assert np.all(got.logits[got.chosen == 3] > 0)


def test_pbo_is_about_one_half_for_pure_noise():
    # With no edge the IS winner's OOS rank is uniform on 1..N, so E[PBO] = P(rank <= (N+1)/2) = 1/2 for N = 10.
    # The 12,870 splits of one history are strongly dependent (a single seed's PBO has sd ~0.18, measured
    # over 20 seeds), so average over 10 seeds: sd of the mean ~0.06, and [0.3, 0.8] is > 3 sd either side.
    pbos = [pbo_cscv(np.random.default_rng(seed).normal(0, 0.01, (400, 10)), 16).pbo for seed in range(10)]
    assert 0.3 < np.mean(pbos) < 0.8


# --- across worlds -------------------------------------------------------------------------------------------


def test_winner_rank_matches_scipy_ranks():
    g = np.random.default_rng(12)
    real = g.normal(size=7)
    worlds = np.round(g.normal(size=(7, 300)), 1)  # rounding creates ties
    got = winner_rank_across_worlds(real, worlds)
    assert isinstance(got, WinnerRank)
    win = int(np.argmax(real))
    ref = np.array([stats.rankdata(-worlds[:, w], method="average")[win] for w in range(300)])
    assert got.winner == win and got.n_params == 7 and got.n_worlds == 300
    np.testing.assert_array_equal(got.ranks, ref)
    assert got.p_below_median == np.mean(ref > 4) and got.p_best == np.mean(ref == 1)
    assert got.median_rank == np.median(ref)


def test_winner_rank_concentrates_at_one_for_an_edge_and_spreads_for_noise():
    g = np.random.default_rng(13)
    n, w = 9, 500
    true = np.zeros(n)
    true[2] = 1.0  # parameter set 2 has an edge of 1 metric unit over noise sd 0.25
    real = true + 0.25 * g.normal(size=n)
    edge = winner_rank_across_worlds(real, true[:, None] + 0.25 * g.normal(size=(n, w)))
    assert edge.winner == 2 and edge.p_best > 0.95 and edge.median_rank == 1.0 and edge.p_below_median == 0.0
    noise = winner_rank_across_worlds(g.normal(size=n), g.normal(size=(n, w)))
    # no edge: rank uniform on 1..9, P(rank > 5) = 4/9; 4 binomial standard errors
    assert abs(noise.p_below_median - 4 / 9) < 4 * math.sqrt((4 / 9) * (5 / 9) / w)
    assert noise.p_below_median_se == pytest.approx(
        math.sqrt(noise.p_below_median * (1 - noise.p_below_median) / w))


def test_chance_share_counts_worlds_reaching_the_real_sharpe():
    null = np.array([0.1, 0.5, 0.5, 0.9, -0.2, 0.3, 0.7, 0.5])
    got = chance_share(0.5, null)
    assert isinstance(got, ChanceShare)
    assert (got.n_reached, got.n_worlds) == (5, 8)  # ties at 0.5 count as reached
    assert got.share == 5 / 8 and got.se == pytest.approx(math.sqrt(5 / 8 * 3 / 8 / 8), abs=1e-15)
    assert got.p_value == 6 / 9
    none = chance_share(2.0, null)
    assert none.share == 0.0 and none.se == 0.0 and none.p_value == 1 / 9


def test_chance_share_of_a_null_generator_is_calibrated():
    # the real series drawn from the same no-edge law as the worlds: the share is uniform, mean 1/2
    g = np.random.default_rng(14)
    shares = [chance_share(per_period_sharpe(g.normal(0, 0.01, 250)),
                           per_period_sharpe(g.normal(0, 0.01, (250, 100)))).share for _ in range(200)]
    assert abs(np.mean(shares) - 0.5) < 0.07  # sd of a uniform / sqrt(200) = 0.02, plus the 1/100 grain


# --- typed errors --------------------------------------------------------------------------------------------


def test_errors_name_the_argument():
    r = skewed_returns(0, 100)
    m = np.random.default_rng(0).normal(size=(64, 4))
    with pytest.raises(ConfigError, match="at least 2"):
        pbo_cscv(m[:, :1], 4)  # a grid of one point
    with pytest.raises(ConfigError, match="at least 32"):
        pbo_cscv(m[:31], 16)  # too few periods for 16 blocks of 2
    pbo_cscv(m[:32], 16)  # exactly enough
    for bad in (3, 0, 1, -2, 2.5, True):
        with pytest.raises(ConfigError, match="n_splits"):
            pbo_cscv(m, bad)
    with pytest.raises(ConfigError, match="max_combinations"):
        pbo_cscv(np.random.default_rng(0).normal(size=(100, 3)), 18)
    for bad in (0, -3):
        with pytest.raises(ConfigError, match="n_trials"):
            deflated_sharpe(r, [0.1, 0.2], n_trials=bad)
        with pytest.raises(ConfigError, match="n_trials"):
            expected_max_sharpe(bad, 1.0)
    with pytest.raises(ConfigError, match="trial_sharpes"):
        deflated_sharpe(r, [])
    nan_r = r.copy()
    nan_r[10] = np.nan
    nan_m = m.copy()
    nan_m[5, 2] = np.nan
    for call, name in [(lambda: probabilistic_sharpe(nan_r), "returns"),
                       (lambda: probabilistic_sharpe(r, np.nan), "benchmark_sr"),
                       (lambda: deflated_sharpe(r, [0.1, np.nan]), "trial_sharpes"),
                       (lambda: min_track_record_length(nan_r), "returns"),
                       (lambda: pbo_cscv(nan_m, 4), "performance"),
                       (lambda: winner_rank_across_worlds([1.0, np.nan], np.zeros((2, 3))), "real_metric"),
                       (lambda: winner_rank_across_worlds([1.0, 2.0], [[0.0], [np.nan]]), "world_metric"),
                       (lambda: chance_share(np.nan, [0.1]), "real_sharpe"),
                       (lambda: chance_share(0.1, [np.nan]), "null_world_sharpes")]:
        with pytest.raises(ConfigError, match=name):
            call()
    with pytest.raises(ConfigError, match="constant"):
        probabilistic_sharpe(np.full(50, 0.001))
    with pytest.raises(ConfigError, match="confidence"):
        min_track_record_length(r, 0.0, 1.0)
    with pytest.raises(ConfigError, match="n_params >= 2"):
        winner_rank_across_worlds([1.0], [[0.0, 1.0]])
    with pytest.raises(ConfigError, match="world_metric"):
        winner_rank_across_worlds([1.0, 2.0], np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="metric"):
        pbo_cscv(m, 4, metric=lambda x: np.full(x.shape[1], np.nan))


def test_expected_max_sharpe_reproduces_the_published_worked_example():
    # Bailey & Lopez de Prado (2014), "The deflated Sharpe ratio", worked example: N = 100 trials whose
    # annualised Sharpe ratios have variance 1/2, daily data (250 a year): SR0 = 0.1132 per day (published)
    from stressgen.metrics.overfit import expected_max_sharpe

    assert round(expected_max_sharpe(100, 0.5 / 250), 4) == 0.1132


# --- against purgedcv (a maintained package with the same statistics) ---------------------------------------
# purgedcv estimates skewness and kurtosis with the bias-corrected estimators (scipy bias=False); we use the
# biased ones, as the papers' own code does. Where the two estimators agree (a symmetric sample whose kurtosis
# sits where both give the same number) the statistics must agree to float rounding; MinTRL takes the moments
# as inputs there, so it is compared on any sample. purgedcv counts a PBO split as overfit when its logit is < 0,
# we when it is <= 0 (the paper's integral up to and including 0): the same on grids of an even size N without
# ties, whose OOS rank can never be the exact median (N + 1) / 2.

import purgedcv  # noqa: E402  (a dev dependency: a missing install fails here rather than skipping)


def _symmetric_matched_sample(n_half: int, mean: float) -> np.ndarray:
    """``2 n_half + 1`` returns symmetric about `mean` (skewness exactly 0 for both estimators) whose biased
    and bias-corrected kurtoses are equal: a 0-skew mixture of +-a and +-b around the mean, b solved by bisection."""
    from scipy.optimize import brentq

    k = n_half // 2

    def sample(b):
        dev = np.concatenate([np.full(k, 0.01), np.full(n_half - k, b)])
        return mean + np.concatenate([dev, -dev, [0.0]])

    gap = lambda b: stats.kurtosis(sample(b), fisher=False, bias=True) - \
        stats.kurtosis(sample(b), fisher=False, bias=False)  # noqa: E731
    return sample(brentq(gap, 0.0101, 0.2, xtol=1e-15))


def test_psr_dsr_min_trl_agree_with_purgedcv():
    r = _symmetric_matched_sample(400, 0.0007)
    assert abs(stats.kurtosis(r, fisher=False, bias=True) - stats.kurtosis(r, fisher=False, bias=False)) < 1e-12
    for sr_star in (0.0, 0.02, 0.05):
        ours = probabilistic_sharpe(r, sr_star).psr
        assert abs(ours - purgedcv.probabilistic_sharpe_ratio(r, sr_star)) < 1e-8, sr_star
    trials = np.random.default_rng(3).normal(0.02, 0.015, 25)  # test data only
    ours = deflated_sharpe(r, trials)
    theirs = purgedcv.deflated_sharpe_ratio(r, n_trials=25, var_sharpe=float(np.var(trials, ddof=1)))
    assert abs(ours.dsr - theirs) < 1e-8
    # MinTRL on an ordinary (skewed, fat-tailed) sample: purgedcv takes the moments and rounds up to a whole
    # number of periods, n* = 1 + ceil(n - 1)
    g = np.random.default_rng(4)
    for seed_sr in (0.03, 0.06):
        x = g.standard_t(5, 3000) * 0.01 + seed_sr * 0.01 + 0.002 * (g.random(3000) < 0.02)
        psr = probabilistic_sharpe(x)
        for conf in (0.9, 0.95):
            ours = min_track_record_length(x, 0.0, conf)
            theirs = purgedcv.min_track_record_length(psr.sharpe, 0.0, 1 - conf, psr.skewness, psr.kurtosis)
            assert theirs == math.ceil(ours - 1.0) + 1.0, (seed_sr, conf, ours, theirs)


@pytest.mark.parametrize("n, s", [(6, 8), (10, 16)])
def test_pbo_agrees_with_purgedcv(n, s):
    g = np.random.default_rng(n)  # test data only
    perf = g.normal(0.0, 0.01, (1009, n)) + np.linspace(0.0, 0.0008, n)  # a weak edge rising across the grid
    ours = pbo_cscv(perf, n_splits=s)
    # purgedcv's default metric is the Sharpe ratio with ddof = 1: within one split every set shares the
    # length, so it ranks as ours does; for the performance pairs pass ours (ddof = 0)
    theirs = purgedcv.probability_of_backtest_overfitting(perf.T, n_splits=s, metric=lambda x: x.mean() / x.std())
    assert ours.pbo == theirs.pbo
    np.testing.assert_allclose(np.sort(ours.logits), np.sort(theirs.logits), rtol=0, atol=1e-12)
    pairs = np.sort(np.column_stack([ours.is_performance, ours.oos_performance]), axis=0)
    np.testing.assert_allclose(pairs, np.sort(theirs.is_oos_performance, axis=0), rtol=1e-9, atol=1e-12)

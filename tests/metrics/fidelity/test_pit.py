"""PIT, KS, band shares, CRPS and histograms (`stressgen.metrics.fidelity.pit`) against independent references."""

import math

import numpy as np
import pytest
from scipy import stats

from stressgen.metrics import fidelity as F


def _crps_brute(x: np.ndarray, y: float) -> float:
    """properscoring-style O(M^2) reference: mean |x - y| - 0.5 mean over all pairs |x_i - x_j|."""
    return float(np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :])))


def test_mid_rank_pit_counts_ties_as_half():
    x = np.array([1.0, 2.0, 2.0, 2.0, 3.0, 4.0, np.nan])  # the NaN member is left out: M = 6
    assert F.pit_values(x, 2.0) == pytest.approx((1 + 0.5 * 3) / 6)
    assert F.pit_values(x, 0.0) == 0.0 and F.pit_values(x, 9.0) == 1.0
    assert F.pit_values(x, 2.5) == pytest.approx(4 / 6)
    assert np.isnan(F.pit_values(x, np.nan)) and np.isnan(F.pit_values(np.full(3, np.nan), 1.0))
    # randomised PIT: u weights the tied block; its mean over u is the mid-rank PIT
    assert F.pit_values(x, 2.0, u=0.0) == pytest.approx(1 / 6)
    assert F.pit_values(x, 2.0, u=1.0) == pytest.approx(4 / 6)
    # batched: [origins, M] against [origins]
    xs = np.stack([np.arange(10.0), np.arange(10.0) + 100])
    np.testing.assert_allclose(F.pit_values(xs, np.array([4.5, 0.0])), [0.5, 0.0])


def test_pits_of_exchangeable_values_are_uniform_on_the_grid():
    rng = np.random.default_rng(1)
    m, n = 19, 20_000
    x = rng.standard_normal((n, m))
    y = rng.standard_normal(n)
    p = F.pit_values(x, y)
    counts = np.bincount(np.rint(p * m).astype(int), minlength=m + 1)
    assert counts.size == m + 1
    # each of the M + 1 grid points is equally likely: chi-square goodness of fit
    assert stats.chisquare(counts).pvalue > 1e-3
    assert abs(p.mean() - 0.5) < 0.01


@pytest.mark.parametrize("n", [1, 5, 37, 400])
def test_ks_matches_scipy_kstest(n):
    rng = np.random.default_rng(n)
    u = rng.uniform(size=n) ** 1.3  # not quite uniform, so the p-values vary
    ref = stats.kstest(u, "uniform")
    got = F.ks_uniform(np.concatenate([u, [np.nan]]))  # a NaN PIT is left out
    assert got.n == n
    assert got.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert got.pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_ks_of_nothing_is_nan():
    r = F.ks_uniform([np.nan])
    assert r.n == 0 and math.isnan(r.statistic) and math.isnan(r.pvalue)


def test_band_shares_are_strictly_outside():
    u = np.array([0.0, 0.005, 0.01, 0.03, 0.05, 0.5, 0.95, 0.97, 0.99, 1.0])
    b = F.band_shares(u)
    assert b.n == 10
    assert b.outside_1_99 == pytest.approx(3 / 10)  # 0, 0.005, 1.0 (0.01 and 0.99 are inside)
    assert b.outside_5_95 == pytest.approx(7 / 10)  # 0, 0.005, 0.01, 0.03 and 0.97, 0.99, 1.0


def test_band_shares_of_a_calibrated_grid():
    m = 1000
    u = np.arange(m + 1) / m  # the mid-rank PITs of a calibrated ensemble, each equally likely
    b = F.band_shares(u)
    assert b.outside_5_95 == pytest.approx(0.10, abs=0.002) and b.outside_1_99 == pytest.approx(0.02, abs=0.002)


@pytest.mark.parametrize("m", [1, 2, 7, 100, 501])
def test_crps_matches_brute_force(m):
    rng = np.random.default_rng(m)
    x = rng.standard_t(3, size=m)
    for y in (-2.0, 0.1, float(x[0]), 5.0):
        assert F.crps_ensemble(x, y) == pytest.approx(_crps_brute(x, y), rel=1e-10, abs=1e-12)


def test_crps_batched_ties_and_nans():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(4, 50)), 1)  # many ties
    y = rng.normal(size=4)
    ref = [_crps_brute(x[i], y[i]) for i in range(4)]
    np.testing.assert_allclose(F.crps_ensemble(x, y), ref, rtol=1e-10)
    with_nan = np.concatenate([x, np.full((4, 3), np.nan)], axis=1)  # NaN members are left out
    np.testing.assert_allclose(F.crps_ensemble(with_nan, y), ref, rtol=1e-10)
    assert np.isnan(F.crps_ensemble(np.full(3, np.nan), 0.0)) and np.isnan(F.crps_ensemble(x[0], np.nan))
    # a one-member ensemble is the absolute error; a point mass at y scores 0
    assert F.crps_ensemble([2.0], 5.0) == pytest.approx(3.0)
    assert F.crps_ensemble(np.full(9, 1.5), 1.5) == 0.0


@pytest.mark.parametrize("y", [-3.0, -0.4, 0.0, 1.7])
def test_crps_of_a_large_gaussian_ensemble_tends_to_the_closed_form(y):
    m = 20_000
    mu, sigma = 0.3, 1.7
    x = mu + sigma * stats.norm.ppf((np.arange(m) + 0.5) / m)  # a quasi-random N(mu, sigma^2) ensemble
    assert F.crps_ensemble(x, y) == pytest.approx(float(F.crps_gaussian(y, mu, sigma)), abs=2e-4)


def test_crps_gaussian_at_the_mean():
    assert float(F.crps_gaussian(0.0)) == pytest.approx((math.sqrt(2) - 1) / math.sqrt(math.pi))


def test_histogram_and_summary():
    u = np.array([0.0, 0.05, 0.1, 0.55, 0.99, 1.0, np.nan])
    h = F.pit_histogram(u, bins=10)
    assert len(h.edges) == 11 and h.edges[0] == 0.0 and h.edges[-1] == 1.0
    assert h.counts == (2, 1, 0, 0, 0, 1, 0, 0, 0, 2)  # 1.0 in the last bin
    assert sum(h.density) * 0.1 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        F.pit_histogram(u, bins=0)
    s = F.summarise_pits(u, [1.0, 3.0, np.nan], bins=10)
    assert s.n == 6 and s.crps == pytest.approx(2.0) and s.histogram == h
    ref = stats.kstest(u[:-1], "uniform")
    assert s.ks == pytest.approx(ref.statistic) and s.ks_pvalue == pytest.approx(ref.pvalue)
    assert s.outside_5_95 == pytest.approx(3 / 6) and s.outside_1_99 == pytest.approx(2 / 6)

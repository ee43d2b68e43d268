"""Stylized-fact estimators against closed forms and slow loops."""

import numpy as np
import pytest
from scipy import stats

from stressgen.metrics import acf, annualised_volatility, excess_kurtosis, mean_pairwise_correlation


def test_acf_of_ar1_matches_phi_to_the_k():
    rng = np.random.default_rng(0)
    phi, n, paths = 0.6, 2000, 200
    x = np.zeros((paths, n))
    e = rng.standard_normal((paths, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    lags = [1, 2, 5]
    got = acf(x, lags)
    # Bartlett: var(rho_hat_k) ~ (1/n) * sum_j (rho_{j+k} + rho_{j-k} - 2 rho_j rho_k)^2 ~ O(1/n); use the
    # cross-path standard error, which needs no formula, plus the O(1/n) small-sample bias of the estimator
    for j, k in enumerate(lags):
        se = got[:, j].std(ddof=1) / np.sqrt(paths)
        assert abs(got[:, j].mean() - phi**k) < 4 * se + 2 * (1 + phi) / (n * (1 - phi)), k


def test_acf_equals_a_slow_loop():
    x = np.random.default_rng(1).standard_normal(50)
    m = x.mean()
    slow = [sum((x[t] - m) * (x[t - k] - m) for t in range(k, 50)) / sum((v - m) ** 2 for v in x) for k in (1, 3)]
    np.testing.assert_allclose(acf(x, [1, 3]), slow, rtol=1e-12)


def test_kurtosis_and_volatility_match_scipy_and_numpy():
    r = np.random.default_rng(2).standard_t(5, size=(3, 4000))
    np.testing.assert_allclose(excess_kurtosis(r), stats.kurtosis(r, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(annualised_volatility(r, 252), r.std(axis=-1, ddof=1) * np.sqrt(252), rtol=1e-12)


def test_mean_pairwise_correlation():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((20000, 3))
    r = z @ np.linalg.cholesky(np.array([[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]])).T
    # SE of a correlation estimate is (1 - rho^2) / sqrt(n)
    assert mean_pairwise_correlation(r) == pytest.approx(0.5, abs=4 * 0.75 / np.sqrt(20000))
    assert np.isnan(mean_pairwise_correlation(r[:, :1]))

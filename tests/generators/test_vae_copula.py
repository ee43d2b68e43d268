"""The VAE's correlated innovations (`_vae_copula`): Mehler's series against Monte Carlo with scipy's t, and
its inversion. That a fit's worlds have the history's correlation is an acceptance run
(bench/acceptance/test_vae_learns.py)."""

import dataclasses

import numpy as np
import pytest
from scipy import special, stats

from stressgen.errors import ConfigError
from stressgen.generators import _tables as tb
from stressgen.generators import _vae_copula as vc
from stressgen.generators._vae_after import DayMoments
from stressgen.generators.vae import TemporalVae, VaeConfig, VaeFitWarning

GEN = TemporalVae()
NU = np.array([5.0, 8.0, 40.0])


def _unit_t(z: np.ndarray, nu: float) -> np.ndarray:
    """scipy's normal score -> unit-variance t, the independent reference for the tables."""
    return stats.t.ppf(special.ndtr(z), nu) * np.sqrt((nu - 2.0) / nu)


def test_hermite_coefficients_hold_the_unit_variance():
    a = vc.hermite_coefficients(*tb.gaussian_margin_table(NU))
    np.testing.assert_allclose(np.sum(a * a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a[:, ::2], 0.0, atol=1e-6)  # odd maps: no even terms
    assert 0.97 < a[0, 1] < a[1, 1] < a[2, 1] < 1.0  # heavier tails, less of the variance linear in n


@pytest.mark.parametrize("r", [-0.4, 0.3, 0.7, 0.95])
def test_mehler_series_is_the_pearson_correlation_of_the_margins(r):
    """Against 400,000 draws pushed through scipy's t quantile; tolerance 4 standard errors of a sample
    correlation, (1 - rho^2) / sqrt(n) (a normal-theory figure; t(5) tails make it larger, hence the margin)."""
    a = vc.hermite_coefficients(*tb.gaussian_margin_table(NU))
    n = 400_000
    g = np.random.default_rng(7)
    z1 = g.standard_normal(n)
    z2 = r * z1 + np.sqrt(1.0 - r * r) * g.standard_normal(n)
    sample = np.corrcoef(_unit_t(z1, NU[0]), _unit_t(z2, NU[1]))[0, 1]
    series = vc.pearson_of_copula(np.array(r), a[0], a[1])
    assert abs(series - sample) < 4 * 2 * (1 - r * r + 0.02) / np.sqrt(n)
    assert abs(series) < abs(r)  # t margins shrink a correlation


def test_copula_of_pearson_inverts_the_series_and_flags_what_it_cannot_reach():
    a = vc.hermite_coefficients(*tb.gaussian_margin_table(NU))
    r = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.8], [-0.3, 0.8, 1.0]])
    target = np.eye(3)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        target[i, j] = target[j, i] = vc.pearson_of_copula(np.array(r[i, j]), a[i], a[j])
    back, clipped = vc.copula_of_pearson(target, a)
    np.testing.assert_allclose(back, r, atol=1e-9)
    assert not clipped.any()
    # t(5) against t(40) margins cannot reach a Pearson correlation of 0.999
    target[0, 2] = target[2, 0] = 0.999
    back, clipped = vc.copula_of_pearson(target, a)
    assert back[0, 2] == 1.0 and clipped[0, 2] and clipped.sum() == 2


def test_none_and_one_asset_have_no_copula():
    """The factor is the identity, before any network is read, with ``correlation="none"`` and with one asset
    (nothing to target: one-asset fits sample as they did before the copula, and the scorecard's sp500-index
    and wti columns are bit for bit the same). The Gaussian likelihood's copula is checked on test_vae.py's
    Gaussian fit."""
    tiny = VaeConfig.preset("tiny")
    for config, a in ((tiny, 1), (dataclasses.replace(tiny, correlation="none"), 3)):
        x = np.random.default_rng(0).standard_normal((400, a))
        moments = DayMoments(400, x.sum(0), x.sum(0), x.T @ x, x.T @ x, x.T @ x)
        chol = vc.copula(moments, None, None, config, tuple("ABC"[:a]))
        np.testing.assert_array_equal(np.asarray(chol), np.eye(a, dtype=np.float32))


def test_correlation_must_be_targeted_or_none():
    with pytest.raises(ConfigError, match="vae.correlation must be one of targeted, none"):
        VaeConfig(correlation="pearson")


def _moments(rho: np.ndarray, cov_m: np.ndarray, days: int = 100) -> DayMoments:
    """Moments whose real days have correlation `rho`, whose location deviations have covariance `cov_m` and
    whose scales are 1 (zero means): the target is then ``rho * sqrt(V V^T) - cov_m`` with V = 1 + diag(cov_m)."""
    a, zero = rho.shape[0], np.zeros(rho.shape[0])
    return DayMoments(days, zero, zero, days * cov_m, days * np.ones((a, a)), days * rho)


def test_both_repairs_are_reported_with_the_pairs_they_move():
    gauss = dataclasses.replace(VaeConfig.preset("tiny"), likelihood="gaussian")
    # the decoder alone co-moves A and B (0.5) where history has them opposed (-0.8): the target is -1.3
    cov_m = np.zeros((3, 3))
    cov_m[0, 1] = cov_m[1, 0] = 0.5
    rho = np.eye(3)
    rho[0, 1] = rho[1, 0] = -0.8
    np.testing.assert_allclose(vc.innovation_target(_moments(rho, cov_m))[0, 1], -1.3)
    with pytest.warns(VaeFitWarning, match="cannot reach the training days' correlation for A-B:"):
        chol = vc.copula(_moments(rho, cov_m), None, None, gauss, ("A", "B", "C"))
    assert np.asarray(chol, np.float64)[1] @ np.asarray(chol, np.float64)[0] < -0.99
    # targets that are no correlation matrix: the nearest one moves every pair by more than MOVED
    rho = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    with pytest.warns(VaeFitWarning, match="not a correlation matrix; the nearest one moves A-B, A-C, B-C"):
        chol = vc.copula(_moments(rho, np.zeros((3, 3))), None, None, gauss, ("A", "B", "C"))
    c = np.asarray(chol, np.float64) @ np.asarray(chol, np.float64).T
    assert np.linalg.eigvalsh(c).min() > 0 and np.allclose(np.diag(c), 1.0, atol=1e-5)

"""Kupiec test, copy rate and discriminative score."""

import numpy as np
import pytest
from scipy import spatial, stats

from stressgen.metrics.fidelity import calibration, discriminative, memorisation


def test_kupiec_lr_is_the_binomial_likelihood_ratio():
    for x, n, a in [(3, 250, 0.01), (0, 500, 0.01), (40, 700, 0.05), (700, 700, 0.05)]:
        p = x / n
        ref = 2 * (stats.binom.logpmf(x, n, p) - stats.binom.logpmf(x, n, a))
        assert calibration.kupiec_lr(x, n, a) == pytest.approx(ref, abs=1e-9)


def test_kupiec_rejects_badly_scaled_models():
    g = np.random.default_rng(0)
    real = g.normal(size=(750, 1))
    for scale in (2.0, 0.5):  # VaR twice too large (too few violations) or too small (too many)
        (k,) = calibration.kupiec_test(real, scale * g.normal(size=(1, 100_000, 1)), 0.01)
        assert k.rejects(0.05), k


def test_kupiec_size_of_a_correct_model():
    g = np.random.default_rng(1)
    syn = g.normal(size=(1, 200_000, 1))
    reps, n = 400, 500
    rejected = np.mean([calibration.kupiec_test(g.normal(size=(n, 1)), syn, 0.05)[0].rejects(0.05)
                        for _ in range(reps)])
    assert rejected <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)


def test_nearest_distances_match_cdist():
    g = np.random.default_rng(2)
    q, r = g.normal(size=(300, 8)), g.normal(size=(500, 8))
    ref = spatial.distance.cdist(q, r).min(axis=1)
    np.testing.assert_allclose(memorisation.nearest_distances(q, r, block=64), ref, rtol=1e-9)


def test_copy_rate_of_fresh_data_is_near_one_percent(key):
    g = np.random.default_rng(3)
    train, real, syn = g.normal(size=(3000, 2)), g.normal(size=(1000, 2)), g.normal(size=(20, 500, 2))
    rate = memorisation.copy_rate(train, real, syn, key=key, length=10)
    # the threshold is the 1% quantile of ~2,990 training leave-out ratios: the rate is ~1% (SE ~0.01)
    assert rate < 0.05


def test_discriminative_score_separates_only_different_laws(key):
    g = np.random.default_rng(4)
    train, real = g.normal(size=(2000, 1)), g.normal(size=(1500, 1))
    same = discriminative.discriminative_score(train, real, g.normal(size=(50, 300, 1)), key=key)
    other = discriminative.discriminative_score(train, real, 3.0 * g.normal(size=(50, 300, 1)), key=key)
    # ~600 samples: the SE of an accuracy is ~0.02
    assert same < 0.08 and other > 0.4


def test_discriminative_score_is_reproducible(key):
    g = np.random.default_rng(5)
    train, real, syn = g.normal(size=(500, 2)), g.normal(size=(400, 2)), g.standard_t(3, size=(20, 200, 2))
    a = discriminative.discriminative_score(train, real, syn, key=key)
    b = discriminative.discriminative_score(train, real, syn, key=key)
    assert a == b

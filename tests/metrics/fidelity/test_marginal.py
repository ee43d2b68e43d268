"""Marginal metrics against closed forms and slow NumPy references."""

import numpy as np
import pytest
from scipy import integrate, stats

from stressgen.metrics.fidelity import marginal


def test_wasserstein1_matches_scipy():
    g = np.random.default_rng(0)
    a, b = g.standard_t(4, 700), g.normal(0.3, 2.0, 1300)
    assert marginal.wasserstein1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


def _w1_bound(n: int, m: int) -> float:
    """E W1(F_n, G_m) for two samples of one law is at most int sqrt(F(1-F) (1/n + 1/m)) dx (Jensen)."""
    c, _ = integrate.quad(lambda x: np.sqrt(stats.norm.cdf(x) * stats.norm.sf(x)), -np.inf, np.inf)
    return c * np.sqrt(1 / n + 1 / m)


def test_w1_of_one_law_is_zero_within_its_standard_error():
    g = np.random.default_rng(1)
    n, m = 2000, 20000
    bound = _w1_bound(n, m)  # scale of W1's sampling error at these sizes
    same = [marginal.wasserstein1(g.normal(size=n), g.normal(size=m)) for _ in range(20)]
    assert np.mean(same) < bound
    # and it is not blind: a shift of 0.5 shows as W1 = 0.5 within that error
    shifted = marginal.wasserstein1(g.normal(size=n), g.normal(0.5, 1.0, m))
    assert abs(shifted - 0.5) < 3 * bound


def test_w1_normalised_matches_a_slow_loop():
    g = np.random.default_rng(2)
    real, syn = g.normal(size=(300, 2)), g.standard_t(5, size=(7, 120, 2)) * 0.8
    for h in (1, 5, 20):
        got = marginal.w1_normalised(real, syn, h)
        for j in range(2):
            r = np.array([real[t:t + h, j].sum() for t in range(300 - h + 1)])
            s = np.array([syn[p, t:t + h, j].sum() for p in range(7) for t in range(120 - h + 1)])
            assert got[j] == pytest.approx(stats.wasserstein_distance(r, s) / r.std(ddof=1), rel=1e-9)


def test_var_es_match_sorted_reference():
    g = np.random.default_rng(3)
    x = g.standard_t(3, size=(1000, 3))
    for a in (0.01, 0.05):
        var, es = marginal.var_es(x, a)
        k = int(np.ceil(a * 1000))
        s = np.sort(x, axis=0)
        np.testing.assert_allclose(var, -s[k - 1])
        np.testing.assert_allclose(es, -s[:k].mean(axis=0))


def test_tail_errors_small_for_one_law_large_for_double_scale():
    g = np.random.default_rng(4)
    real = g.normal(size=(20000, 1))
    v, e = marginal.tail_errors(real, g.normal(size=(10, 20000, 1)), 0.05, 1)
    # relative SE of a 5% quantile of N(0,1) with n = 20000 is about 0.9%
    assert v[0] < 0.04 and e[0] < 0.04
    v, e = marginal.tail_errors(real, 2.0 * g.normal(size=(10, 20000, 1)), 0.05, 1)
    assert v[0] == pytest.approx(1.0, abs=0.04) and e[0] == pytest.approx(1.0, abs=0.04)


def test_hill_of_pareto3_is_3():
    g = np.random.default_rng(5)
    n, a = 200_000, 3.0
    losses = (1.0 - g.random((n, 2))) ** (-1.0 / a)  # Pareto(3) on [1, inf)
    k = int(0.05 * n)
    est = marginal.hill(-losses, 0.05)
    np.testing.assert_array_less(np.abs(est - a), 4 * a / np.sqrt(k))  # SE of Hill: alpha / sqrt(k)


def test_hill_matches_slow_reference_and_gap():
    g = np.random.default_rng(6)
    x = g.standard_t(4, size=(3000, 1))
    losses = sorted((-x[:, 0]).tolist(), reverse=True)
    k = int(0.05 * 3000)
    ref = 1.0 / np.mean([np.log(losses[i] / losses[k]) for i in range(k)])
    assert marginal.hill(x, 0.05)[0] == pytest.approx(ref, rel=1e-12)
    assert marginal.hill_gap(x, x[None], 0.05)[0] == 0.0

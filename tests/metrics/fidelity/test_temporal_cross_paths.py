"""ACF, leverage, correlation, co-exceedance and drawdown metrics: known processes and slow references."""

import numpy as np
import pytest
from scipy import stats

from stressgen.metrics import acf as slow_acf
from stressgen.metrics.fidelity import cross, paths, temporal


def test_acf_fft_matches_the_direct_estimator():
    g = np.random.default_rng(0)
    x = g.standard_t(4, size=(3, 2, 257))
    np.testing.assert_allclose(temporal.acf_fft(x, 40), slow_acf(x, np.arange(1, 41)), atol=1e-12)


def test_ar1_has_its_known_acf():
    g = np.random.default_rng(1)
    phi, m, t = 0.6, 200, 2000
    e = g.normal(size=(m, t + 200))
    x = np.zeros_like(e)
    for i in range(1, e.shape[1]):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    x = x[:, 200:]
    rho = temporal.acf_fft(x, 10)  # [paths, lags]
    se = rho.std(axis=0, ddof=1) / np.sqrt(m)
    bias = 5.0 / t  # the estimator's O(1/T) bias (Bartlett), small next to the tolerance
    np.testing.assert_array_less(np.abs(rho.mean(axis=0) - phi ** np.arange(1, 11)), 4 * se + bias)


def test_acf_score_is_the_l2_norm_of_curve_differences():
    g = np.random.default_rng(2)
    real, syn = g.normal(size=(400, 2)), g.normal(size=(5, 400, 2))
    for f in ("r", "abs", "sq"):
        got = temporal.acf_score(real, syn, f, 30)
        tf = temporal.TRANSFORMS[f]
        for j in range(2):
            a = slow_acf(tf(real[:, j]), np.arange(1, 31))
            b = np.mean([slow_acf(tf(syn[p, :, j]), np.arange(1, 31)) for p in range(5)], axis=0)
            assert got[j] == pytest.approx(np.linalg.norm(b - a), rel=1e-9)
    assert temporal.acf_score(real, real[None], "abs", 30) == pytest.approx(0.0, abs=1e-12)


def test_leverage_curve_matches_corrcoef_and_sees_leverage():
    g = np.random.default_rng(3)
    x = g.normal(size=500)
    ref = [np.corrcoef(x[:-k], x[k:] ** 2)[0, 1] for k in range(1, 11)]
    np.testing.assert_allclose(temporal.leverage_curve(x, 10), ref, atol=1e-12)
    # a GJR-type recursion (variance rises after falls only) has corr(r_t, r^2_{t+1}) < 0
    n = 20000
    z, r, s2 = g.normal(size=n), np.zeros(n), np.ones(n)
    for t in range(1, n):
        s2[t] = 0.1 + 0.85 * s2[t - 1] + 0.25 * r[t - 1] ** 2 * (r[t - 1] < 0)
        r[t] = np.sqrt(s2[t]) * z[t]
    assert temporal.leverage_curve(r, 1)[0] < -3 / np.sqrt(n)


def _t_copula(g, n, nu, rho):
    z = g.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    return z / np.sqrt(g.chisquare(nu, size=(n, 1)) / nu)


def test_t_copula_tail_dependence_closed_form():
    # nu = 1: the finite-level co-exceedance at q = 5% is within 0.002 of the limit lambda_L (scipy's
    # bivariate t CDF gives 0.5014 against lambda = 0.5), so the closed form is the reference.
    g = np.random.default_rng(4)
    n, q, nu, rho = 200_000, 0.05, 1, 0.5
    lam = 2 * stats.t.cdf(-np.sqrt((nu + 1) * (1 - rho) / (1 + rho)), nu + 1)
    est = cross.coexceedance(_t_copula(g, n, nu, rho), q)[0, 1]
    se = np.sqrt(lam * q * (1 - lam * q) / n) / q
    assert abs(est - lam) < 4 * se + 0.002


def test_t_copula_coexceedance_at_5pct_matches_bivariate_t_cdf():
    g = np.random.default_rng(5)
    n, q, nu, rho = 200_000, 0.05, 3, 0.5
    x = stats.t.ppf(q, nu)
    exact = stats.multivariate_t(loc=[0, 0], shape=[[1, rho], [rho, 1]], df=nu).cdf([x, x]) / q
    est = cross.coexceedance(_t_copula(g, n, nu, rho), q)[0, 1]
    assert abs(est - exact) < 4 * np.sqrt(exact * q * (1 - exact * q) / n) / q + 0.003


def test_coexceedance_and_corr_error_match_loops():
    g = np.random.default_rng(6)
    real, syn = g.normal(size=(500, 3)), g.normal(size=(4, 300, 3))
    c = cross.coexceedance(real, 0.05)
    thr = [np.sort(real[:, j])[int(np.ceil(0.05 * 500)) - 1] for j in range(3)]
    assert c[0, 2] == pytest.approx(np.mean((real[:, 0] <= thr[0]) & (real[:, 2] <= thr[2])) / 0.05)
    pooled = (syn - syn.mean(axis=1, keepdims=True)).reshape(-1, 3)
    d = np.corrcoef(pooled, rowvar=False) - np.corrcoef(real, rowvar=False)
    assert cross.corr_error(real, syn) == pytest.approx(np.sqrt(np.mean([d[0, 1] ** 2, d[0, 2] ** 2, d[1, 2] ** 2])))
    assert np.isnan(cross.corr_error(real[:, :1], syn[..., :1]))


def test_drawdowns_match_a_loop():
    g = np.random.default_rng(7)
    x = 0.01 * g.normal(size=(300, 2))

    def mdd(r):
        p, peak, worst = 1.0, 1.0, 0.0
        for v in r:
            p *= np.exp(v)
            peak = max(peak, p)
            worst = max(worst, 1 - p / peak)
        return worst

    got = paths.window_drawdowns(x, 100, 21)
    starts = range(0, 201, 21)
    np.testing.assert_allclose(got, [[mdd(x[s:s + 100, j]) for j in range(2)] for s in starts], rtol=1e-12)
    same = paths.drawdown_w1n(x, 0.01 * g.normal(size=(200, 300, 2)), 100, 21)
    wide = paths.drawdown_w1n(x, 0.03 * g.normal(size=(200, 300, 2)), 100, 21)
    assert (same < wide).all()


def test_blocks_of_paths_give_the_same_curves_and_drawdowns(monkeypatch):
    """The synthetic side goes through in blocks of paths (bounded memory): the results equal one pass."""
    import numpy as np

    from stressgen.metrics.fidelity import paths, temporal

    g = np.random.default_rng(5)
    syn = g.standard_t(4, size=(23, 300, 3)) * 0.01
    syn[3, :, 1] = 0.0  # a constant path: its ACF is NaN and must be left out of the mean, as nanmean does
    whole_dd = paths._window_drawdowns(syn, 60, 7)
    whole_acf = np.nanmean(temporal.acf_fft(np.abs(temporal._time_last(syn)), 10), axis=0)
    whole_lev = np.nanmean(temporal.leverage_curve(temporal._time_last(syn), 10), axis=0)
    monkeypatch.setattr(paths, "_BLOCK_ELEMENTS", 3000)     # a few worlds a block
    monkeypatch.setattr(temporal, "_BLOCK_ELEMENTS", 2000)
    np.testing.assert_array_equal(paths.window_drawdowns(syn, 60, 7), whole_dd)
    np.testing.assert_allclose(temporal.acf_curves(syn[0], syn, "abs", 10)[1], whole_acf, rtol=1e-12)
    np.testing.assert_allclose(temporal.leverage_curves(syn[0], syn, 10)[1], whole_lev, rtol=1e-12)

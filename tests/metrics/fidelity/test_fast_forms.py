"""The scorecard's fast forms against the slow definitions they replace (small random inputs)."""

import jax
import numpy as np
import pytest
from scipy import stats

from stressgen.metrics import acf as slow_acf
from stressgen.metrics.fidelity import (
    ScoreConfig,
    calibration,
    discriminative,
    marginal,
    metric_names,
    score,
    temporal,
)


def _fat(g, shape, dtype=np.float64):
    return (g.standard_t(3, size=shape) * 0.01).astype(dtype)


def _slow_aggregate(x, h, axis):
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    out = np.stack([x[t:t + h].sum(axis=0) for t in range(x.shape[0] - h + 1)])
    return np.moveaxis(out, 0, axis)


def test_leverage_curve_matches_the_lag_by_lag_definition():
    g = np.random.default_rng(10)
    for shape, lags in (((3, 2, 60), 19), ((4, 250), 20), ((31,), 30), ((2, 5), 8)):
        x = _fat(g, shape) + 0.003  # a mean away from 0: the centring must not matter
        got, ref = temporal.leverage_curve(x, lags), temporal._leverage_curve_loop(x, min(lags, shape[-1]))
        np.testing.assert_allclose(got[..., :ref.shape[-1]], ref, rtol=1e-9, atol=1e-13)
        assert np.isnan(got[..., shape[-1] - 1:]).all()  # lags with one pair or none
    x = g.normal(size=400)
    ref = [np.corrcoef(x[:-k], x[k:] ** 2)[0, 1] for k in range(1, 21)]
    np.testing.assert_allclose(temporal.leverage_curve(x, 20), ref, atol=1e-12)


def test_leverage_curve_of_a_flat_series_is_nan_as_before():
    x = np.zeros((2, 50))
    assert np.isnan(temporal.leverage_curve(x, 5)).all()
    assert np.isnan(temporal._leverage_curve_loop(x, 5)).all()


def test_curve_cache_gives_the_same_curves_and_is_filled_once():
    g = np.random.default_rng(11)
    real, syn = _fat(g, (300, 3)), _fat(g, (6, 90, 3), np.float32)
    cache: dict = {}
    for f in ("r", "abs", "sq"):
        a0, b0 = temporal.acf_curves(real, syn, f, 25)
        a1, b1 = temporal.acf_curves(real, syn, f, 25, cache=cache)
        np.testing.assert_array_equal(a0, a1)
        np.testing.assert_array_equal(b0, b1)
        # the direct estimator, path by path
        ref = np.mean([[slow_acf(temporal.TRANSFORMS[f](syn[p, :, j].astype(np.float64)), np.arange(1, 26))
                        for j in range(3)] for p in range(6)], axis=0)
        np.testing.assert_allclose(b1, ref, atol=1e-12)
    a0, b0 = temporal.leverage_curves(real, syn, 10)
    a1, b1 = temporal.leverage_curves(real, syn, 10, cache=cache)
    np.testing.assert_array_equal(b0, b1)
    assert set(cache) == {("acf", "r", 25), ("acf", "abs", 25), ("acf", "sq", 25), ("leverage", 10)}
    cache[("leverage", 10)] = np.full_like(b1, 7.0)  # a hit reads the cache instead of recomputing
    assert (temporal.leverage_curves(real, syn, 10, cache=cache)[1] == 7.0).all()


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_aggregate_matches_a_slow_loop(axis):
    g = np.random.default_rng(12)
    x = _fat(g, (5, 40, 3), np.float32)
    for h in (h for h in (1, 2, 5, 7, 40) if h <= x.shape[axis]):
        np.testing.assert_allclose(marginal.aggregate(x, h, axis=axis), _slow_aggregate(x, h, axis % 3),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sorted_pooled_is_the_sorted_pooled_aggregate_and_leaves_its_input_alone(dtype):
    g = np.random.default_rng(13)
    for n_assets in (1, 3):
        syn = _fat(g, (4, 30, n_assets), dtype)
        before = syn.copy()
        for h in (1, 5):
            got = marginal.sorted_pooled(syn, h)
            ref = np.sort(marginal.pooled(marginal.aggregate(syn, h, axis=1)), axis=0).T
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(syn, before)  # the in-place sort works on a copy


def test_w1_of_sorted_samples_is_wasserstein1_exactly_with_ties():
    g = np.random.default_rng(14)
    for a, b in ((g.normal(size=300), g.standard_t(4, 1700)),
                 (g.integers(-5, 6, 200).astype(float), g.integers(-7, 4, 900).astype(float)),  # many ties
                 (np.array([0.5]), g.normal(size=10))):
        got = marginal._w1_sorted(np.sort(a), np.sort(b))
        assert got == marginal.wasserstein1(a, b)
        assert got == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


def test_sorted_forms_of_tails_hill_and_kupiec_match_the_direct_ones():
    g = np.random.default_rng(15)
    real, syn = _fat(g, (500, 3)), _fat(g, (8, 200, 3), np.float32)
    for h in (1, 20):
        ss = marginal.sorted_pooled(syn, h)
        for a in (0.01, 0.05):
            v0, e0 = marginal.tail_errors(real, syn, a, h)
            v1, e1 = marginal.tail_errors(real, syn, a, h, syn_sorted=ss)
            np.testing.assert_array_equal(v0, v1)  # the same order statistic
            np.testing.assert_allclose(e0, e1, rtol=1e-12)
            k0 = calibration.kupiec_test(real, syn, a, h)
            k1 = calibration.kupiec_test(real, syn, a, h, syn_sorted=ss)
            assert k0 == k1
    np.testing.assert_allclose(marginal.hill_gap(real, syn, 0.05),
                               marginal.hill_gap(real, syn, 0.05, syn_sorted=marginal.sorted_pooled(syn, 1)),
                               rtol=1e-10)


def _slow_hill(x, frac):
    out = []
    for j in range(x.shape[1]):
        losses = np.sort(-x[:, j])[::-1]
        k = int(np.floor(frac * x.shape[0]))
        out.append(1.0 / np.mean(np.log(losses[:k] / losses[k])))
    return np.array(out)


def test_score_marginal_and_temporal_values_match_the_slow_definitions():
    g = np.random.default_rng(16)
    real, syn = _fat(g, (400, 2)), _fat(g, (5, 120, 2), np.float32)
    cfg = ScoreConfig(strategies=(), horizons=(1, 5, 20), tail_horizons=(1, 20))
    cache: dict = {}
    out, _ = score(real, syn, train=real, history=real[:0], assets=("a", "b"), config=cfg,
                   key=jax.random.key(0), memorisation_check=False, cache=cache)
    assert list(out) == list(metric_names(cfg))  # table order kept
    s64 = syn.astype(np.float64)
    for h in cfg.horizons:
        r, s = _slow_aggregate(real, h, 0), _slow_aggregate(s64, h, 1).reshape(-1, 2)
        ref = np.mean([stats.wasserstein_distance(r[:, j], s[:, j]) / r[:, j].std(ddof=1) for j in range(2)])
        assert out[f"w1n_{h}d"] == pytest.approx(ref, rel=1e-9)
    for h in cfg.tail_horizons:
        r, s = _slow_aggregate(real, h, 0), _slow_aggregate(s64, h, 1).reshape(-1, 2)
        for a in cfg.tail_levels:
            vr, er = marginal.var_es(r, a)
            vs, es = marginal.var_es(s, a)
            assert out[f"rel_var_{a * 100:g}pct_{h}d"] == pytest.approx(np.mean(np.abs(vs - vr) / np.abs(vr)),
                                                                       rel=1e-9)
            assert out[f"rel_es_{a * 100:g}pct_{h}d"] == pytest.approx(np.mean(np.abs(es - er) / np.abs(er)),
                                                                      rel=1e-9)
    ref = np.mean(np.abs(_slow_hill(s64.reshape(-1, 2), 0.05) - _slow_hill(real, 0.05)))
    assert out["hill_gap"] == pytest.approx(ref, rel=1e-9)
    lag = 20
    for f in ("r", "abs", "sq"):
        tf = temporal.TRANSFORMS[f]
        ref = np.mean([np.linalg.norm(
            np.mean([slow_acf(tf(s64[p, :, j]), np.arange(1, 41)) for p in range(5)], axis=0)
            - slow_acf(tf(real[:, j]), np.arange(1, 41))) for j in range(2)])
        assert out[f"acf_{f}"] == pytest.approx(ref, rel=1e-9)
    ref = np.mean([np.linalg.norm(
        np.mean([[np.corrcoef(s64[p, :-k, j], s64[p, k:, j] ** 2)[0, 1] for k in range(1, lag + 1)]
                 for p in range(5)], axis=0)
        - [np.corrcoef(real[:-k, j], real[k:, j] ** 2)[0, 1] for k in range(1, lag + 1)]) for j in range(2)])
    assert out["leverage"] == pytest.approx(ref, rel=1e-9)
    assert ("leverage", lag) in cache and ("acf", "sq", 40) in cache


def test_discriminative_score_is_the_unthrottled_classifier():
    """One BLAS thread in the fit: the same cross-validated accuracy as scikit-learn left to its default."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = np.random.default_rng(17)
    train, syn = _fat(g, (700, 2)), _fat(g, (30, 60, 2), np.float32) * 1.3
    key = jax.random.key(3)
    got = discriminative.discriminative_score(train, train[200:], syn, key=key, length=20, step=5, folds=5)
    # the same computation, written out without the thread limit
    real = (train[200:] - train.mean(0)) / train.std(0, ddof=1)
    mean, sd = train.mean(0), train.std(0, ddof=1)
    starts = np.arange(0, real.shape[0] - 20 + 1, 5)
    idx = starts[:, None] + np.arange(20)
    real_w = np.concatenate([real[idx, j] for j in range(2)])
    real_fold = np.tile(np.arange(starts.size) * 5 // starts.size, 2)
    n = real_w.shape[0]
    k_path, k_start, k_asset, k_fold, k_clf = jax.random.split(key, 5)
    path = np.asarray(jax.random.randint(k_path, (n,), 0, syn.shape[0]))
    start = np.asarray(jax.random.randint(k_start, (n,), 0, syn.shape[1] - 20 + 1))
    asset = np.asarray(jax.random.randint(k_asset, (n,), 0, 2))
    syn_w = (syn[path[:, None], start[:, None] + np.arange(20), asset[:, None]] - mean[asset, None]) / sd[asset, None]
    fold = np.concatenate([real_fold, np.asarray(jax.random.permutation(k_fold, np.arange(n) % 5))])
    x = np.concatenate([discriminative.window_features(real_w), discriminative.window_features(syn_w)])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    seed = int(jax.random.randint(k_clf, (), 0, 2**31 - 1))
    correct = 0
    for f in range(5):
        test = fold == f
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
        clf.fit(x[~test], y[~test])
        correct += int(np.sum(clf.predict(x[test]) == y[test]))
    assert got == abs(correct / y.size - 0.5)


def test_draws_in_one_program_are_the_separate_random_calls():
    for n, n_paths, n_starts, n_assets, folds in ((1000, 37, 233, 20, 5), (17, 2, 1, 1, 3)):
        key = jax.random.key(n)
        got = discriminative._draws(key, n_paths, n_starts, n_assets, n=n, folds=folds)
        k_path, k_start, k_asset, k_fold, k_clf = jax.random.split(key, 5)
        ref = (jax.random.randint(k_path, (n,), 0, n_paths), jax.random.randint(k_start, (n,), 0, n_starts),
               jax.random.randint(k_asset, (n,), 0, n_assets),
               jax.random.permutation(k_fold, np.arange(n) % folds), jax.random.randint(k_clf, (), 0, 2**31 - 1))
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

"""Each running-state indicator against a slow NumPy loop, and the array tier against the step tier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen.errors import StrategyError
from stressgen.engine import indicators as ind

RNG = np.random.default_rng(1)
X = (100 * np.exp(np.cumsum(RNG.normal(0, 0.01, (80, 3)), axis=0))).astype(np.float32)  # price-like levels
R = RNG.normal(0, 0.01, (80, 3)).astype(np.float32)


def _windows(x, w):
    return [x[max(0, t - w + 1):t + 1].astype(np.float64) for t in range(len(x))]


@pytest.mark.parametrize("window", [1, 7, 20])
def test_rolling_mean_std_zscore_match_numpy(window):
    ref_mean = np.array([v.mean(0) for v in _windows(X, window)])
    ref_std = np.array([v.std(0, ddof=1) if len(v) > 1 else np.zeros(3) for v in _windows(X, window)])
    np.testing.assert_allclose(ind.rolling_mean_array(jnp.asarray(X), window), ref_mean, rtol=2e-6)
    got_std = np.asarray(ind.rolling_std_array(jnp.asarray(X), window))
    np.testing.assert_allclose(got_std, ref_std, rtol=2e-3, atol=2e-4)
    if window > 2:
        z = np.asarray(ind.rolling_zscore_array(jnp.asarray(X), window))[window:]
        ref_z = ((X[window:] - ref_mean[window:]) / ref_std[window:])
        np.testing.assert_allclose(z, ref_z, rtol=5e-3, atol=5e-3)


def test_traced_window_matches_static_window():
    # leaving values are read from the input, so a traced (gridded) window needs no static buffer size
    f = jax.jit(lambda w: ind.rolling_mean_array(jnp.asarray(X), w))
    for w in (3, 11, 20):
        np.testing.assert_allclose(f(w), ind.rolling_mean_array(jnp.asarray(X), w), rtol=1e-6)


def test_ring_feeds_rolling_update_for_derived_series():
    # a series the strategy derives itself (here x**2) keeps its own window in a Ring
    window, y = 7, (R ** 2).astype(np.float32)

    def body(c, v):
        ring, st = c
        ring = ind.ring_push(ring, v)
        st = ind.rolling_update(st, v, ind.ring_get(ring, window), window)
        return (ring, st), ind.rolling_mean(st, window)

    init = (ind.ring_init((3,), window + 1), ind.rolling_init((3,)))
    got = np.asarray(jax.lax.scan(body, init, jnp.asarray(y))[1])
    ref = np.array([v.mean(0) for v in _windows(y, window)])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-9)


def test_obs_lagged_reads_cross_history_and_never_reach_the_future():
    from stressgen.strategy import Obs, Tape
    from stressgen.engine._core import history_tape

    hist_r, hist_lp = history_tape(jnp.asarray(R[:30]))
    syn = jnp.asarray(R[30:])
    tape = Tape(hist_r, hist_lp, syn, hist_lp[-1] + jnp.cumsum(syn, axis=0))
    full_lp = np.cumsum(R.astype(np.float64), axis=0)
    z, one = jnp.zeros(3), jnp.float32(1.0)
    for t in (-5, 0, 1, 7):
        obs = Obs(z, z, z, z, jnp.int32(t), jnp.int32(30 + t), one, one, one, tape)
        row = 29 + t  # close t is row 29 + t of the concatenated series
        for k in (0, 1, 6, 20):
            np.testing.assert_allclose(obs.log_return_ago(k), R[row - k], rtol=1e-6)
            np.testing.assert_allclose(obs.log_price_ago(k), full_lp[row - k], rtol=1e-4, atol=1e-6)
        # a traced negative lag is clamped at today; a concrete one is refused where it is written
        np.testing.assert_array_equal(obs.log_return_ago(jnp.int32(-3)), obs.log_return_ago(0))
        with pytest.raises(StrategyError, match="negative lag"):
            obs.log_return_ago(-3)
    assert not hasattr(obs, "tape")  # the raw tape, which holds later closes, is not a public field


def test_ewma_matches_numpy_recursion():
    alpha = ind.span_to_alpha(10.0)
    mean, var = R[0].astype(np.float64), np.zeros(3)
    means, stds = [mean.copy()], [np.zeros(3)]
    for x in R[1:].astype(np.float64):
        d = x - mean
        mean = mean + alpha * d
        var = (1 - alpha) * (var + alpha * d * d)
        means.append(mean.copy()), stds.append(np.sqrt(var))
    np.testing.assert_allclose(ind.ewma_mean_array(jnp.asarray(R), alpha), np.array(means), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ind.ewma_std_array(jnp.asarray(R), alpha), np.array(stds), rtol=1e-4, atol=1e-8)


def test_momentum_matches_numpy():
    lp = np.cumsum(R, axis=0)
    got = np.asarray(ind.momentum_array(jnp.asarray(lp), 30, 5))
    ref = np.zeros_like(lp)
    for t in range(30, len(lp)):
        ref[t] = lp[t - 5] - lp[t - 30]
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_rolling_cov_matches_numpy():
    got = np.asarray(ind.rolling_cov_array(jnp.asarray(R), 15))
    for t in (1, 10, 14, 40, 79):
        v = R[max(0, t - 14):t + 1].astype(np.float64)
        np.testing.assert_allclose(got[t], np.cov(v, rowvar=False), rtol=1e-4, atol=1e-9)


def test_cs_rank_and_top_k():
    x = jnp.asarray([0.3, -1.0, 2.0, 0.5])
    np.testing.assert_array_equal(ind.cs_rank(x), [1, 0, 3, 2])
    np.testing.assert_array_equal(ind.top_k_mask(x, 2), [False, False, True, True])
    rows = RNG.normal(size=(20, 6)).astype(np.float32)
    ranks = np.asarray(jax.vmap(ind.cs_rank)(jnp.asarray(rows)))
    np.testing.assert_array_equal(ranks, np.argsort(np.argsort(rows, axis=1), axis=1))
    masks = np.asarray(jax.vmap(lambda r: ind.top_k_mask(r, 3))(jnp.asarray(rows)))
    np.testing.assert_array_equal(masks, ranks >= 3)


def test_array_helpers_are_causal():
    base = np.asarray(ind.rolling_std_array(jnp.asarray(X), 10))
    changed = X.copy()
    changed[50:] *= 3.0
    np.testing.assert_array_equal(np.asarray(ind.rolling_std_array(jnp.asarray(changed), 10))[:50], base[:50])


def _lag_ref(x, k):
    """Row t is row max(t - max(k, 0), 0): a slow loop."""
    return np.stack([x[max(t - max(k, 0), 0)] for t in range(len(x))])


def test_lag_array_matches_a_loop_for_every_batching():
    worlds = np.stack([X, 2 * X, X[::-1]], axis=1)                 # [time, worlds, assets]
    lags = [-2, 0, 1, 7, 79, 80, 500]
    for k in lags:
        want = _lag_ref(X, k)
        np.testing.assert_array_equal(ind.lag_array(jnp.asarray(X), k), want)
        np.testing.assert_array_equal(jax.jit(ind.lag_array)(jnp.asarray(X), k), want)
        # one lag for every world (the engine's vmap over worlds: the batching rule's slice)
        got = jax.vmap(ind.lag_array, in_axes=(1, None), out_axes=1)(jnp.asarray(worlds), k)
        np.testing.assert_array_equal(got, np.stack([_lag_ref(worlds[:, w], k) for w in range(3)], axis=1))
    # one lag per parameter set (a grid over windows), alone and around the vmap over worlds
    ks = jnp.asarray(lags)
    np.testing.assert_array_equal(jax.vmap(ind.lag_array, in_axes=(None, 0))(jnp.asarray(X), ks),
                                  np.stack([_lag_ref(X, k) for k in lags]))
    per_world = jax.vmap(ind.lag_array, in_axes=(1, None), out_axes=1)
    got = jax.jit(jax.vmap(per_world, in_axes=(None, 0)))(jnp.asarray(worlds), ks)
    want = np.stack([np.stack([_lag_ref(worlds[:, w], k) for w in range(3)], axis=1) for k in lags])
    np.testing.assert_array_equal(got, want)

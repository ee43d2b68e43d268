"""Stationary bootstrap: checked against its definition and against arch's StationaryBootstrap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap as ArchStationaryBootstrap
from arch.bootstrap import optimal_block_length

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import BootstrapConfig, StationaryBootstrap
from stressgen.generators.bootstrap import block_indices, default_block_length

N_OBS, HORIZON = 997, 400


def _draw(p, n_worlds=4000, seed=0):
    keys = rng.world_keys(rng.root(seed), 0, n_worlds)
    idx, new = jax.vmap(block_indices, in_axes=(0, None, None, None))(keys, N_OBS, HORIZON, jnp.float32(p))
    return np.asarray(idx), np.asarray(new)


def _first_block_lengths(new):
    """Length of each world's first block (day 0 always starts one), censored at the horizon.

    Only the first block is used: blocks that must end inside a finite window are biased towards short
    ones, while the first block of a world is a clean geometric draw (censored with prob. (1-p)^(H-1)).
    """
    later = new[:, 1:]
    return np.where(later.any(axis=1), later.argmax(axis=1) + 1, HORIZON)


@pytest.mark.parametrize("mean_block", [1.0, 5.0, 40.0])
def test_block_lengths_are_geometric_with_the_configured_mean(mean_block):
    p = 1.0 / mean_block
    _, new = _draw(p, n_worlds=20000)
    lengths = _first_block_lengths(new)
    n = lengths.size
    assert np.mean(lengths == HORIZON) < 1e-3  # censoring is negligible at these block lengths
    # Geometric(p) on {1, 2, ...}: mean 1/p, variance (1-p)/p^2; worlds are independent, so SE = sd/sqrt(n)
    se_mean = np.sqrt((1 - p) / p**2 / n)
    assert abs(lengths.mean() - mean_block) < 4 * se_mean + 1e-9
    for k in range(1, 6):
        pk = p * (1 - p) ** (k - 1)
        emp = np.mean(lengths == k)
        assert abs(emp - pk) < 4 * np.sqrt(pk * (1 - pk) / n) + 1e-12, (k, emp, pk)
    # equivalently: after day 0 the block-start flags are i.i.d. Bernoulli(p) (mean p, no serial correlation)
    flags = new[:, 1:].astype(np.float64)
    assert abs(flags.mean() - p) < 4 * np.sqrt(p * (1 - p) / flags.size) + 1e-12
    if 0 < p < 1:
        lag1 = np.corrcoef(flags[:, 1:].ravel(), flags[:, :-1].ravel())[0, 1]
        assert abs(lag1) < 4 / np.sqrt(flags[:, 1:].size)


def test_block_starts_are_uniform_and_blocks_walk_forward_circularly():
    idx, new = _draw(1 / 8.0)
    starts = idx[new]
    # chi-square goodness of fit of the start days to Uniform{0..N-1}, in 20 bins (19 dof)
    counts = np.bincount(starts * 20 // N_OBS, minlength=20)
    expected = np.bincount(np.arange(N_OBS) * 20 // N_OBS, minlength=20) / N_OBS * starts.size
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # 99.9% quantile of chi-square(19)
    # inside a block the index advances by one day, wrapping from the last observation to the first
    cont = ~new[:, 1:]
    np.testing.assert_array_equal(idx[:, 1:][cont], (idx[:, :-1][cont] + 1) % N_OBS)
    assert np.any((idx[:, :-1][cont] == N_OBS - 1))  # the wrap really happens in this sample


def test_run_lengths_match_arch_stationary_bootstrap():
    """Same law as arch's implementation: compare mean runs of consecutive indices, within standard errors."""
    mean_block = 12.0
    idx, _ = _draw(1 / mean_block, n_worlds=1500)
    arch_idx = []
    bs = ArchStationaryBootstrap(mean_block, np.arange(N_OBS), seed=np.random.default_rng(7))
    for _ in range(1500):
        arch_idx.append(np.asarray(bs.update_indices())[:HORIZON])

    def run_stats(rows):
        per_world = []
        for row in rows:
            breaks = np.flatnonzero(np.diff(row) != 1)  # a start that lands on prev+1 continues the run
            per_world.append(HORIZON / (breaks.size + 1))
        per_world = np.asarray(per_world)
        return per_world.mean(), per_world.std(ddof=1) / np.sqrt(per_world.size)

    ours, se_ours = run_stats(idx % N_OBS)
    theirs, se_theirs = run_stats(np.stack(arch_idx) % N_OBS)
    assert abs(ours - theirs) < 4 * np.hypot(se_ours, se_theirs)


def test_worlds_copy_whole_cross_sectional_rows(small_market):
    gen = StationaryBootstrap()
    fit = gen.fit(small_market, key=rng.root(0), config=BootstrapConfig(mean_block=10.0))
    s = gen.sample(fit, key=rng.root(1), n_worlds=20, horizon=50)
    rows = {tuple(r) for r in np.asarray(fit.returns)}
    assert all(tuple(r) in rows for r in np.asarray(s.log_returns).reshape(-1, small_market.n_assets))


def test_default_block_length_comes_from_absolute_returns(sp500_20):
    r = sp500_20.log_returns
    from_abs = default_block_length(r)
    assert from_abs == pytest.approx(np.median(optimal_block_length(np.abs(r))["stationary"]))
    from_r = np.median(optimal_block_length(r)["stationary"])
    assert from_abs > 5 * from_r  # |r| carries the volatility clustering that r hides


def test_default_block_keeps_volatility_clustering_that_short_blocks_destroy(sp500_20):
    """ACF of |r| at lags 1..20 of the bootstrapped worlds: the default (state-matched blocks of 16.7 days)
    and the unmatched default (Politis-White blocks of |r|) stay near the real one; short unmatched blocks
    destroy it, and so do the default's block lengths without the state."""
    market = sp500_20
    r = market.log_returns[:, :5]
    lags = np.arange(1, 21)

    def acf_abs(x):  # x [..., time]; per-series ACF of |x|, averaged over series
        a = np.abs(x) - np.abs(x).mean(axis=-1, keepdims=True)
        var = (a * a).mean(axis=-1)
        return np.stack([((a[..., k:] * a[..., :-k]).mean(axis=-1) / var) for k in lags], axis=-1)

    real = acf_abs(r.T).mean(axis=0)
    gen = StationaryBootstrap()
    errors = {}
    for label, config in [("default", BootstrapConfig()), ("unmatched", BootstrapConfig(matching="none")),
                          ("short", BootstrapConfig(mean_block=3.0, matching="none")),
                          ("default blocks, no state", BootstrapConfig(mean_block=16.7, matching="none"))]:
        fit = gen.fit(market, key=rng.root(0), config=config)
        s = np.asarray(gen.sample(fit, key=rng.root(2), n_worlds=200, horizon=2000).log_returns)[:, :, :5]
        errors[label] = np.abs(acf_abs(np.moveaxis(s, 1, -1)).mean(axis=(0, 1)) - real).mean()
    assert errors["default"] < 0.5 * errors["short"], errors
    assert errors["unmatched"] < 0.5 * errors["short"], errors
    assert errors["default"] < 0.75 * errors["default blocks, no state"], errors


def test_config_is_validated():
    for bad in [0.5, -3, float("nan"), "20"]:
        with pytest.raises(ConfigError, match="mean_block"):
            BootstrapConfig(mean_block=bad)
    with pytest.raises(ConfigError, match="history_days"):
        BootstrapConfig(history_days=-1)

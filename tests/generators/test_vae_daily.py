"""The VAE's daily scale (`VaeConfig.daily_scale`, the default): each day's log-scale from the variance states its
own window's earlier days left, in training (teacher forcing) and in sampling, against slow NumPy loops; and
causal. The volatility clustering it gives a fitted model is an acceptance run
(bench/acceptance/test_vae_learns.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen import generators, rng
from stressgen.errors import ModelFileError
from stressgen.generators import _tables as tb
from stressgen.generators import _vae_nn as nn
from stressgen.generators._vae_sample import simulate
from stressgen.generators.vae import VaeConfig, _sim_params, gather_windows, prepare

GEN = generators.get("vae")


@pytest.fixture(scope="module")
def daily_fit(small_fits):
    """The tiny preset, whose scale is daily (the default)."""
    gen, fitted = small_fits("vae")
    assert fitted.config.daily_scale
    return fitted


@pytest.fixture(scope="module")
def window_fit(small_market):
    """The tiny preset with one scale per window (`daily_scale = false`)."""
    return GEN.fit(small_market, key=rng.stream(rng.root(0), rng.FIT),
                   config=dataclasses.replace(VaeConfig.preset("tiny"), daily_scale=False))


def _soft_clamp(x, lo, hi, s):
    sp = lambda u: np.logaddexp(0.0, u)  # noqa: E731
    return hi - sp(s * (hi - (lo + sp(s * (x - lo)) / s))) / s


class _SlowDays:
    """Each day of a window from the module doc, in float64: states of all days and of down days, the variance
    prior over them, the soft clamp; the decoder's location and correction are the network's (inputs here)."""

    def __init__(self, fitted, factor=1.0):
        net = fitted.net()
        self.decays = 0.5 ** (1.0 / np.asarray(fitted.config.half_lives, np.float64))
        self.decays = np.asarray(self.decays, np.float32).astype(np.float64)  # the float32 decays sampling uses
        prior = np.asarray(fitted.prior, np.float64)
        self.long_run, self.weights = factor * prior[0], prior[1:]  # a world's w [A]; the states' weights [2H, A]
        self.level = np.asarray(fitted.level, np.float64)
        # a world's drawn level gives back its volatility drag (`_vae_sample`): its simple return's mean is kept
        self.drift = np.asarray(net.drift[...], np.float64) - 0.5 * np.asarray(fitted.scale, np.float64) * (factor - 1)

    def base(self, v):
        """Half the log of the prior variance w + sum_s c_s v_s, plus the targeting shift."""
        log_v = np.clip(np.log(v + 1e-4), -9.0, 6.0)
        s2 = self.long_run + (self.weights * np.exp(log_v)).sum(axis=0)
        return 0.5 * np.log(s2) + self.level

    def log_scale(self, raw, v):
        return _soft_clamp(self.base(v) + raw, *nn.LOG_SCALE_BAND, nn.CLAMP_SHARPNESS)

    def day(self, loc, raw, v, e):
        """The day: the drift, the location's shock in the prior's units (loc e^base) and the scaled
        innovation."""
        return self.drift + loc * np.exp(self.base(v)) + np.exp(self.log_scale(raw, v)) * e

    def update(self, v, x):
        h = len(self.decays)
        lam = np.concatenate([self.decays, self.decays])[:, None]
        sq = np.concatenate([np.repeat(x[None] ** 2, h, 0), np.repeat((2.0 * x ** 2 * (x < 0))[None], h, 0)])
        return lam * v + (1.0 - lam) * sq


def _copula(normals, fitted, window):
    """The innovations' correlated normal scores ``[block, W, A]``: a window's independent draws times the
    copula's Cholesky factor (`_vae_copula`), in float64."""
    n = np.asarray(normals, np.float64).reshape(normals.shape[0], window, -1)
    return jnp.asarray(n @ np.asarray(fitted.innov_chol, np.float64).T, jnp.float32)


def _at_level(fitted, factor):
    """`fitted` whose every world draws the long-run level `factor` (`_vae_level`), and that world's prior."""
    return (fitted.replace(level_factors=jnp.asarray([factor], jnp.float32)),
            jnp.asarray(fitted.prior).at[0].multiply(jnp.float32(factor)))


def test_the_sampled_days_follow_the_daily_recursion(daily_fit):
    """At a drawn level of 2.5 (`_vae_level`): the prior's constant is 2.5 w in the conditioner and the scale."""
    fitted, prior = _at_level(daily_fit, 2.5)
    net, slow, key, block = fitted.net(), _SlowDays(fitted, 2.5), rng.root(9), fitted.config.sample_block
    w, c, a = fitted.config.window, fitted.config.context, fitted.scale.shape[0]
    y = np.asarray(simulate(fitted.graphdef, fitted.state, _sim_params(fitted), key, 0, n_worlds=block,
                            horizon=w, block=block, student_t=True), np.float64)
    # the first window's latent and innovations, drawn as the sampler draws them
    keys = rng.world_keys(key, 0, block)
    latent = net.dec1.in_features - net.cond2.out_features
    draw = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, jnp.uint32(0)), (latent + w * a,)))(keys)
    ctx = jnp.broadcast_to(fitted.ctx0, (block, c, a))
    v0 = jnp.broadcast_to(fitted.v0, (block, *fitted.v0.shape))
    h = net.condition(ctx, nn.log_vol_features(v0), prior)
    loc, raw = (np.asarray(t, np.float64) for t in net.decode_raw(net.sample_latent(h, draw[:, :latent]), h))
    p = _sim_params(fitted)
    e = np.asarray(tb.interp(p["t_table"], p["t_grid"], _copula(draw[:, latent:], fitted, w), p["fence"]),
                   np.float64)
    scale = np.asarray(fitted.scale, np.float64)
    for world in (0, 5, block - 1):
        v = np.asarray(fitted.v0, np.float64)
        for t in range(w):
            x = slow.day(loc[world, t], raw[world, t], v, e[world, t])
            np.testing.assert_allclose(y[world, t], x * scale, rtol=2e-4, atol=2e-6 * scale.max())
            v = slow.update(v, x)


def test_teacher_forced_scale_is_the_recursion_over_real_days_and_is_causal(daily_fit, small_market):
    fitted = daily_fit
    net, slow, config = fitted.net(), _SlowDays(fitted), fitted.config
    x = small_market.log_returns / np.asarray(fitted.scale, np.float64)
    data = prepare(small_market.log_returns, np.asarray(fitted.scale, np.float64), config, fitted.prior, fitted.level)
    starts = jnp.asarray([config.context + 30, config.context + 300])
    _, _, log_v = gather_windows(data, starts, config)
    raw = jnp.asarray(np.random.default_rng(0).normal(size=(2, config.window, x.shape[1])) * 0.3, jnp.float32)
    got = np.asarray(net.place(jnp.zeros_like(raw), raw, log_v, fitted.prior, fitted.level)[1], np.float64)
    for b, s in enumerate(np.asarray(starts)):
        v = np.ones((2 * len(config.half_lives), x.shape[1]))
        for t in range(s):
            v = slow.update(v, x[t])
        for t in range(config.window):
            np.testing.assert_allclose(got[b, t], slow.log_scale(np.asarray(raw[b, t], np.float64), v),
                                       rtol=1e-4, atol=1e-4)
            v = slow.update(v, x[s + t])
    # a change on day s + 1 leaves the scales of days s and s + 1 as they were and moves day s + 2's
    bumped = small_market.log_returns.copy()
    s = int(starts[0])
    bumped[s + 1] -= 0.05
    moved = prepare(bumped, np.asarray(fitted.scale, np.float64), config, fitted.prior, fitted.level)
    moved_v = gather_windows(moved, starts, config)[2]
    got2 = np.asarray(net.place(jnp.zeros_like(raw), raw, moved_v, fitted.prior, fitted.level)[1])
    np.testing.assert_array_equal(got2[0, :2], np.asarray(got, np.float32)[0, :2])
    assert (np.abs(got2[0, 2] - got[0, 2]) > 1e-4).all()


def test_a_model_file_from_before_the_daily_scale_is_refused_with_a_clear_error(small_fits, window_fit):
    gen, fitted = small_fits("vae")
    meta, arrays = gen.export_fitted(fitted)
    old = {**meta, "config": {k: v for k, v in meta["config"].items() if k != "daily_scale"}}
    with pytest.raises(ModelFileError, match="before vae.daily_scale"):
        gen.restore_fitted(old, arrays)
    for f in (fitted, window_fit):  # current files load, with the option either way
        back = gen.restore_fitted(*gen.export_fitted(f))
        assert back.digest == f.digest and back.config.daily_scale == f.config.daily_scale


def test_the_window_scale_reads_the_state_at_each_windows_start_and_updates_it_day_by_day(window_fit):
    """`daily_scale = false`: every day of a window reads the state at the window's start; the state then
    takes the window's days one by one (all days and down days), as the slow loop does, and the next window
    reads it."""
    fitted, prior = _at_level(window_fit, 2.5)
    net, slow, key, block = fitted.net(), _SlowDays(fitted, 2.5), rng.root(9), fitted.config.sample_block
    w, c, a = fitted.config.window, fitted.config.context, fitted.scale.shape[0]
    scale = np.asarray(fitted.scale, np.float64)
    y = np.asarray(simulate(fitted.graphdef, fitted.state, _sim_params(fitted), key, 0, n_worlds=block,
                            horizon=2 * w, block=block, student_t=True), np.float64)
    x_sampled = y / scale  # the sampler's standardized days (to float32 rounding)
    keys = rng.world_keys(key, 0, block)
    latent = net.dec1.in_features - net.cond2.out_features
    p = _sim_params(fitted)
    ctx = np.broadcast_to(np.asarray(fitted.ctx0, np.float64), (block, c, a))
    v = np.broadcast_to(np.asarray(fitted.v0, np.float64), (block, *fitted.v0.shape)).copy()
    for j in range(2):
        draw = jax.vmap(lambda k, j=j: jax.random.normal(jax.random.fold_in(k, jnp.uint32(j)), (latent + w * a,)))(keys)
        h = net.condition(jnp.asarray(ctx, jnp.float32), nn.log_vol_features(jnp.asarray(v, jnp.float32)),
                          prior)
        loc, raw = (np.asarray(t, np.float64) for t in net.decode_raw(net.sample_latent(h, draw[:, :latent]), h))
        e = np.asarray(tb.interp(p["t_table"], p["t_grid"], _copula(draw[:, latent:], fitted, w), p["fence"]),
                       np.float64)
        for world in (0, block - 1):
            for t in range(w):  # every day reads the state at the window's start
                x = slow.day(loc[world, t], raw[world, t], v[world], e[world, t])
                np.testing.assert_allclose(y[world, j * w + t], x * scale, rtol=5e-4, atol=5e-6 * scale.max())
        days = x_sampled[:, j * w:(j + 1) * w]
        for t in range(w):
            v = np.stack([slow.update(v[b], days[b, t]) for b in range(block)])
        ctx = np.concatenate([ctx, days], axis=1)[:, -c:]

"""The GAN generator: causal networks, deterministic training, bit-identical save/load, the divergence guard,
and the noise filter that continues the history (exact, state-dependent, re-anchorable). What a longer
training learns (stylized facts against an i.i.d. Gaussian) is an acceptance run:
bench/acceptance/test_gan_learns.py.

Statistical tolerances are 4 standard errors computed across independent worlds; every seed is fixed, so
the suite is deterministic. Sizes are small: the whole file trains tiny models only.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from stressgen import data, persist, rng
from stressgen.errors import ConfigError, InsufficientHistoryError, ModelFileError
from stressgen.generators import _gan_nn as nn
from stressgen.generators import _gan_tails, _tails
from stressgen.generators import gan as gan_mod
from stressgen.generators._training import TrainingDivergedWarning
from stressgen.generators.gan import Gan, GanConfig
from stressgen.studies import reanchor

TINY = GanConfig.preset("tiny")


@pytest.fixture(scope="module")
def tiny_fit(small_fits):
    gen, fitted = small_fits("gan")  # the tiny preset on small_market, fitted once for the session
    assert isinstance(gen, Gan) and fitted.config == TINY
    return fitted


# ------------------------------------------------------------------------------------------------ networks

def test_causal_conv_matches_lax_dilated_convolution():
    conv = nn.CausalConv(3, 5, dilation=4, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 30, 3))
    ref = jax.lax.conv_general_dilated(x, conv.kernel[...], window_strides=(1,), padding="VALID",
                                       rhs_dilation=(4,), dimension_numbers=("NWC", "WIO", "NWC"))
    np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(ref + conv.bias[...]), rtol=1e-5, atol=1e-5)


def test_generator_is_causal_with_the_stated_receptive_field():
    levels = 5  # the rule at any depth; the default's 7 levels only make the Jacobian slower
    r = nn.receptive_field(levels)
    assert r == 2**levels
    gen = nn.Generator(noise_dim=2, n_assets=3, width=4, levels=levels, rngs=nnx.Rngs(0))
    # give the heads non-zero weights so that every path through the network is live
    gen.mu.kernel[...] = jax.random.normal(jax.random.key(1), gen.mu.kernel.shape)
    gen.log_sigma.kernel[...] = jax.random.normal(jax.random.key(2), gen.log_sigma.kernel.shape)
    days = 3
    z = jax.random.normal(jax.random.key(3), (1, days + r, 2))
    jac = jax.jacobian(lambda z: gen(z)[0])(z)  # [days, assets, 1, noise days, noise_dim]
    assert jac.shape[:2] == (days, 3)
    seen = np.abs(np.asarray(jac)).sum(axis=(1, 2, 4)) > 0  # [output day, noise day]
    for j in range(days):
        # output day j sees noise days j .. j + r: the r previous days and its own innovation, nothing later
        np.testing.assert_array_equal(np.flatnonzero(seen[j]), np.arange(j, j + r + 1))


def test_critic_scores_depend_on_their_window_only():
    critic = nn.Critic(n_assets=2, width=4, levels=3, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (3, 12, 2))
    grads = jax.grad(lambda x: critic(x)[1])(x)
    assert np.abs(np.asarray(grads[0])).sum() == 0 and np.abs(np.asarray(grads[2])).sum() == 0
    assert np.abs(np.asarray(grads[1])).sum() > 0


# --------------------------------------------------------------------------------------------- config

def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="gan.window"):
        GanConfig(window=100, levels=7)
    with pytest.raises(ConfigError, match="gan.validation_fraction"):
        GanConfig(validation_fraction=0.7)
    with pytest.raises(ConfigError, match="gan.width"):
        GanConfig(width=0)
    with pytest.raises(ConfigError, match="valid presets"):
        GanConfig.preset("huge")
    with pytest.raises(ConfigError, match="gan.start"):
        GanConfig(start="calm")
    with pytest.raises(ConfigError, match="gan.filter_days"):
        GanConfig(levels=4, window=32, filter_days=15)  # shorter than the 16-day receptive field
    assert GanConfig().filter_length == 2048 and GanConfig(levels=4, window=32, filter_days=40).filter_length == 40
    assert GanConfig().receptive_field == 128 and GanConfig.preset("gpu").width > GanConfig().width


def test_too_short_history_is_a_typed_error(small_market):
    from stressgen import data

    short = data.select(small_market, end=small_market.dates[80])
    with pytest.raises(InsufficientHistoryError, match="gan.window"):
        Gan().fit(short, key=rng.root(0), config=TINY)


# ---------------------------------------------------------------------------------------------- training

def test_training_is_deterministic_given_the_key(tiny_fit, small_market):
    again = Gan().fit(small_market, key=rng.stream(rng.root(0), rng.FIT), config=TINY)
    other = Gan().fit(small_market, key=rng.stream(rng.root(1), rng.FIT), config=TINY)
    a, b, c = (jax.tree_util.tree_leaves(f.generator) for f in (tiny_fit, again, other))
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, c, strict=True))
    assert tiny_fit.digest == again.digest != other.digest
    np.testing.assert_array_equal(tiny_fit.history.loss, again.history.loss)
    assert tiny_fit.history.stop_reason in ("max_steps", "early_stop") and len(tiny_fit.history.val_score) >= 2


def test_save_load_round_trip_is_bit_identical(tiny_fit, tmp_path):
    gen = Gan()
    path = persist.save_model(tmp_path / "gan", gen, tiny_fit)
    loaded_gen, loaded = persist.load_model(path)
    assert isinstance(loaded_gen, Gan) and loaded.config == tiny_fit.config and loaded.digest == tiny_fit.digest
    key = rng.stream(rng.root(9), rng.SAMPLE)
    a = gen.sample(tiny_fit, key=key, n_worlds=5, horizon=300)
    b = loaded_gen.sample(loaded, key=key, n_worlds=5, horizon=300)
    np.testing.assert_array_equal(np.asarray(a.log_returns), np.asarray(b.log_returns))
    np.testing.assert_array_equal(np.asarray(loaded.noise_context), np.asarray(tiny_fit.noise_context))
    # a tampered array is refused by the digest, not silently sampled; the noise context is in the digest
    meta, arrays = gen.export_fitted(tiny_fit)
    for name in (next(k for k in arrays if k.startswith("generator.")), "noise_context"):
        tampered = dict(arrays)
        tampered[name] = tampered[name] + np.float32(1.0)
        with pytest.raises(ModelFileError, match="digest"):
            gen.restore_fitted(meta, tampered)
    # a model saved before the noise filter (no noise context) is refused with a reason, not sampled from noise
    old = {k: v for k, v in arrays.items() if k != "noise_context"}
    with pytest.raises(ModelFileError, match="no noise_context"):
        gen.restore_fitted(meta, old)


def test_sampling_in_blocks_is_chunk_invariant(tiny_fit):
    # sample_block = 64 in the tiny preset: 150 worlds are computed in 3 padded blocks
    gen, key = Gan(), rng.root(4)
    many = np.asarray(gen.sample(tiny_fit, key=key, n_worlds=150, horizon=20).log_returns)
    few = np.asarray(gen.sample(tiny_fit, key=key, n_worlds=7, horizon=20, first_world=130).log_returns)
    np.testing.assert_array_equal(many[130:137], few)


# ------------------------------------------------------------------------------ continuing the history

def _random_heads(fitted, config, key):
    """`fitted` with a fresh generator for `config` whose mu and sigma heads are random, so that the state
    moves with the past noise (the tiny fit may keep its initial heads, mu = 0 and sigma = 1, under which the
    filter would be a plain matrix inverse). The mixing is the fit's (the Cholesky factor of the assets'
    correlation) plus, for extra noise channels, small random columns: a well-conditioned M, as training
    starts from."""
    g_def, g_state = gan_mod._build_generator(config, fitted.tails.n_assets, key)
    gen = nnx.merge(g_def, g_state)
    k_mu, k_sigma, k_mix = jax.random.split(jax.random.fold_in(key, 1), 3)
    gen.mu.kernel[...] = 0.05 * jax.random.normal(k_mu, gen.mu.kernel.shape)
    gen.log_sigma.kernel[...] = 0.05 * jax.random.normal(k_sigma, gen.log_sigma.kernel.shape)
    chol = nnx.merge(fitted.graphdef, fitted.generator).mixing[...]
    extra = gen.mixing.shape[1] - chol.shape[1]
    gen.mixing[...] = jnp.concatenate([chol, 0.3 * jax.random.normal(k_mix, (chol.shape[0], extra))], axis=1)
    return fitted.replace(generator=nnx.state(gen), config=config, graphdef=g_def)


@pytest.mark.parametrize("noise_dim", [None, 6])
def test_noise_filter_reproduces_the_history(tiny_fit, small_market, noise_dim):
    # start = "filter", filter_days = R: the filter starts from R zero noise days and every filtered day is
    # kept, so the generator fed (zeros, noise context) must give back the Gaussianised last R days
    config = dataclasses.replace(TINY, noise_dim=noise_dim, start="filter", filter_days=TINY.receptive_field)
    r, n = config.receptive_field, small_market.n_assets
    nd = n if noise_dim is None else noise_dim
    base = _random_heads(tiny_fit, config, jax.random.key(3))
    fitted = Gan().reanchor(base, small_market, key=rng.root(2))
    z = np.asarray(fitted.noise_context)
    assert z.shape == (r, nd) and z.dtype == np.float32
    assert np.abs(z).max() < 6.0  # the filter's bound was not needed: exactness is what is tested
    real = small_market.log_returns[-r:]
    # in the generator's units: the history Gaussianised by the data's map, then given the generator's own law
    g = np.clip(np.asarray(_tails.forward(fitted.tails, jnp.asarray(real, jnp.float32))), -TINY.max_gaussian,
                TINY.max_gaussian)
    u = np.asarray(_tails.inverse(fitted.output_tails, jnp.asarray(g)))
    gen = nnx.merge(fitted.graphdef, fitted.generator)
    out = np.asarray(gen(jnp.concatenate([jnp.zeros((r, nd)), jnp.asarray(z)])[None])[0])
    np.testing.assert_allclose(out, u, rtol=1e-5, atol=1e-5)
    # and the worlds' map sends that output back to the real returns
    back = np.asarray(_gan_tails.to_returns(fitted.tails, fitted.output_tails, jnp.asarray(out), TINY.max_gaussian))
    np.testing.assert_allclose(back, real, rtol=1e-3, atol=1e-5)
    # the mixing M's null space (noise_dim > assets) is not seen by the history: there the noise is a standard
    # normal draw from the fit key, so another key changes the context but still reproduces the history
    other = Gan().reanchor(base, small_market, key=rng.root(3))
    m = np.asarray(gen.mixing[...], np.float64)
    null = z - z @ (np.linalg.pinv(m) @ m).T  # the part of each z_t in the null space of M
    if nd > n:
        assert np.abs(null).max() > 0.1 and not np.array_equal(np.asarray(other.noise_context), z)
        out2 = gen(jnp.concatenate([jnp.zeros((r, nd)), other.noise_context])[None])[0]
        np.testing.assert_allclose(np.asarray(out2), u, rtol=1e-5, atol=1e-5)
    else:
        assert np.abs(null).max() < 1e-5 and np.array_equal(np.asarray(other.noise_context), z)


def _arch(fitted, strength):
    """`fitted` with hand-set weights that make its generator an ARCH: every asset's sigma_t rises with a
    weighted mean of the past |z| over the receptive field (``softplus(strength (m_t - E|z|) + c)``, 1 at
    m_t = E|z|), mu_t = 0. Short training does not reliably learn volatility dynamics (a tiny fit on these data
    keeps the static copula of step 0, and with a few hundred steps the learnt response to a crisis had either
    sign), so the state's effect on the worlds is tested on a generator whose dynamics are known."""
    gen = nnx.merge(fitted.graphdef, fitted.generator, copy=True)  # without a copy, `fitted` would change too
    nd = gen.mixing.shape[1]

    def only(param, index, value):
        param[...] = jnp.zeros_like(param[...]).at[index].set(value)

    only(gen.tcn.inp.kernel, (slice(nd, None), 0), 1.0 / nd)  # channel 0: mean |z| of the day
    only(gen.tcn.inp.bias, 0, 0.0)
    for block in gen.tcn.blocks:  # each block: 1.5 x_t + 0.5 x_{t-d}, positive weights on every lag
        only(block.conv.kernel, (slice(None), 0, 0), 0.5)
        only(block.conv.bias, 0, 0.0)
        only(block.mix.kernel, (0, 0), 1.0)
        only(block.mix.bias, 0, 0.0)
    only(gen.mu.kernel, 0, 0.0)
    only(gen.mu.bias, 0, 0.0)
    only(gen.log_sigma.kernel, 0, strength / 2**gen.levels)  # the weights above sum to 2**levels
    gen.log_sigma.bias[...] = jnp.full_like(gen.log_sigma.bias[...], -strength * np.sqrt(2.0 / np.pi))
    return fitted.replace(generator=nnx.state(gen))


def _vol_20(fitted, key, n_worlds=200):
    """Per world: the root mean square log return over the first 20 days and the assets."""
    x = np.asarray(Gan().sample(fitted, key=key, n_worlds=n_worlds, horizon=20).log_returns, np.float64)
    return np.sqrt(np.mean(x * x, axis=(1, 2)))


@pytest.mark.parametrize("start", ["match", "filter"])
def test_calm_and_crisis_starts_give_different_spreads(tiny_fit, small_market, start):
    arch = _arch(tiny_fit, strength=3.0)
    arch = arch.replace(config=dataclasses.replace(arch.config, start=start))
    calm = Gan().reanchor(arch, data.select(small_market, end="2019-12-31"), key=rng.root(1))
    crisis = Gan().reanchor(arch, data.select(small_market, end="2020-03-20"), key=rng.root(1))
    assert (calm.context.history_end, crisis.context.history_end) == ("2019-12-31", "2020-03-20")
    key = rng.stream(rng.root(5), rng.SAMPLE)
    v_calm, v_crisis = _vol_20(calm, key), _vol_20(crisis, key)
    # the same keys, hence the same fresh noise, in both: the paired difference is the state's effect alone
    d = v_crisis - v_calm
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() > 4 * se, (v_calm.mean(), v_crisis.mean(), se)
    # measured: 1.49 with "match" (bounded by the states the generator reaches from its own noise), 1.90
    # with "filter"
    assert v_crisis.mean() > 1.3 * v_calm.mean(), (v_calm.mean(), v_crisis.mean())
    # and the worlds do not ignore the history any more: the plain fit's end (Dec 2022) is a third state
    assert not np.array_equal(_vol_20(arch, key), v_calm)


def test_reanchor_keeps_the_networks_and_moves_the_state(tiny_fit, small_market):
    gen = Gan()
    # where it was fitted, with the fit key: the fit itself
    same = gen.reanchor(tiny_fit, small_market, key=rng.stream(rng.root(0), rng.FIT))
    assert same.digest == tiny_fit.digest
    np.testing.assert_array_equal(np.asarray(same.noise_context), np.asarray(tiny_fit.noise_context))
    early = data.select(small_market, end="2020-03-20")
    moved = reanchor(gen, tiny_fit, early, key=rng.root(7))  # through the calibration study's entry point
    assert moved.context.history_end == "2020-03-20" and moved.digest != tiny_fit.digest
    np.testing.assert_array_equal(np.asarray(moved.context.history[-1]), early.log_returns[-1].astype(np.float32))
    for a, b in zip(jax.tree_util.tree_leaves((tiny_fit.generator, tiny_fit.tails)),
                    jax.tree_util.tree_leaves((moved.generator, moved.tails)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the trained parts are kept
    s = gen.sample(moved, key=rng.root(8), n_worlds=3, horizon=10)
    assert s.history_end == "2020-03-20" and bool(jnp.isfinite(s.log_returns).all())
    with pytest.raises(ConfigError, match="re-anchor"):
        gen.reanchor(tiny_fit, data.select(small_market, assets=["AAPL", "JPM"]), key=rng.root(7))
    filtering = tiny_fit.replace(config=dataclasses.replace(tiny_fit.config, start="filter"))
    with pytest.raises(InsufficientHistoryError, match="noise filter"):
        gen.reanchor(filtering, data.select(small_market, end=small_market.dates[10]), key=rng.root(7))


def test_matched_state_is_the_generators_own_noise(tiny_fit, small_market):
    # "match" keeps a candidate drawn from N(0, 1): the context is noise like the training noise ...
    z = np.asarray(tiny_fit.noise_context)
    assert tiny_fit.config.start == "match" and z.shape == (TINY.receptive_field, small_market.n_assets)
    assert 0.7 < z.std() < 1.3 and np.abs(z).max() < 5.0
    # ... and each candidate comes from its own key, so the choice does not depend on the block size
    other = tiny_fit.replace(config=dataclasses.replace(tiny_fit.config, sample_block=100))
    moved = Gan().reanchor(other, small_market, key=rng.stream(rng.root(0), rng.FIT))
    np.testing.assert_array_equal(np.asarray(moved.noise_context), z)


def test_divergence_guard_fires_and_restores(small_market):
    # Adam moves every parameter by about the learning rate per step: 1e12 overflows float32 within a step
    config = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, learning_rate=1e12,
                                                                  max_grad_norm=1e30))
    with pytest.warns(TrainingDivergedWarning, match="restored"):
        fit = Gan().fit(small_market, key=rng.root(0), config=config)
    assert fit.history.stop_reason == "diverged" and fit.history.restored and fit.history.best_step == 0
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree_util.tree_leaves(fit.generator))
    s = Gan().sample(fit, key=rng.root(1), n_worlds=4, horizon=50)
    assert bool(jnp.isfinite(s.log_returns).all())



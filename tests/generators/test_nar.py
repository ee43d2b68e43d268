"""The neural autoregressive generator ("nar") against independent references.

* its multivariate-t log-density against scipy.stats.multivariate_t (shape matrix scaled to unit variance);
* the sampler's GRU day step against a slow NumPy loop of the same network (one asset at a time), fed the
  same normals (the chi-square mixing through scipy's quantile, not the table), and "now" (the GRU states
  after a history, each reading its standardized surprise) against the same loop;
* the law of the sampled innovations at a fixed state: mean 0, unit variance per asset and the learned
  correlation, within standard errors;
* save/load and re-anchoring give the fit back bit for bit, world i is the same in any chunk, a bad config
  is a ConfigError naming the field;
* a single asset fits and samples; a blown-up learning rate trips the divergence guard, which restores the
  last finite parameters.

That the leverage effect comes from the fitted model is an acceptance run (bench/acceptance/test_nar_learns.py).

Shared fit: conftest's `small_fits("nar")` (the "tiny" preset on four stocks; the conformance suite uses it).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from stressgen import data, generators, persist, rng
from stressgen.errors import ConfigError, DataError, InsufficientHistoryError, ModelFileError
from stressgen.generators import _nar_nn as nn
from stressgen.generators._autoreg import block_noise, prepare, sim_params, simulate_block
from stressgen.generators.nar import NarConfig, NeuralAutoregressive
from stressgen.generators._training import TrainConfig, TrainingDivergedWarning
from stressgen.types import MarketData

CUT = "2020-03-13"


def _key():
    return rng.stream(rng.root(0), rng.FIT)


# ------------------------------------------------------------------------------ slow NumPy references

def _softplus(x):
    return np.logaddexp(0.0, x)


def _gelu(x):  # jax.nn.gelu's default: the tanh approximation
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class _SlowNet:
    """The network's formulas written out in float64 NumPy, one world at a time."""

    def __init__(self, fitted):
        net = fitted.net()
        g = lambda p: np.asarray(p[...], np.float64)  # noqa: E731
        self.wi, self.bi, self.wh = g(net.gru.dense_i.kernel), g(net.gru.dense_i.bias), g(net.gru.dense_h.kernel)
        self.k1, self.b1 = g(net.head1.kernel), g(net.head1.bias)
        self.k2, self.b2 = g(net.head_out.kernel), g(net.head_out.bias)
        self.mu = g(net.mu)
        logits = nn.BLEND_SPEED * g(net.blend)
        self.blend = np.exp(logits) / np.exp(logits).sum(axis=0)  # softmax weights over the half-lives
        raw = g(net.chol_raw)
        lower = np.tril(raw, -1) + np.eye(raw.shape[0])
        self.chol = lower / np.sqrt((lower ** 2).sum(axis=1, keepdims=True))
        self.nu = 5.0 + _softplus(20.0 * float(net.nu_raw[0]))  # the house floor of 5 on nu
        self.a = raw.shape[0]
        self.vol_features = fitted.config.vol_features
        self.decays = np.array([np.float32(0.5 ** (1.0 / h)) for h in fitted.config.half_lives], np.float64)

    @staticmethod
    def log_v(v):
        return np.clip(np.log(v + 1e-4), -9.0, 6.0)

    def _own(self, lv, i):
        """Asset i's log variance features, when the network reads them."""
        return lv[:, i] if self.vol_features else np.zeros(0)

    def gru(self, h, z, v_after):
        """Each asset's GRU state ``h [A, hidden]`` after reading its surprise, the mean one (both through
        asinh) and, with `vol_features`, its log variance states after the day."""
        u, lv = np.arcsinh(z), self.log_v(v_after)
        h_new = np.empty_like(h)
        for i in range(self.a):
            inp = np.concatenate([[u[i], u.mean()], self._own(lv, i)])
            xi_r, xi_z, xi_n = np.split(inp @ self.wi + self.bi, 3)
            hh_r, hh_z, hh_n = np.split(h[i] @ self.wh, 3)
            r, zg = _sigmoid(xi_r + hh_r), _sigmoid(xi_z + hh_z)
            n = np.tanh(xi_n + r * hh_n)
            h_new[i] = (1.0 - zg) * n + zg * h[i]
        return h_new

    def update(self, v, x):
        """Variance states of all days (first half) and of down days (second half, weighted 2)."""
        d = np.concatenate([self.decays, self.decays])[:, None]
        hl = len(self.decays)
        sq = np.concatenate([np.tile(x * x, (hl, 1)), np.tile(2.0 * np.minimum(x, 0.0) ** 2, (hl, 1))])
        return d * v + (1.0 - d) * sq

    def law(self, h, v):
        """Location and log-scale ``[A]`` of the next day."""
        lv = self.log_v(v)
        loc, log_scale = np.empty(self.a), np.empty(self.a)
        for i in range(self.a):
            out = _gelu(np.concatenate([h[i], self._own(lv, i)]) @ self.k1 + self.b1) @ self.k2 + self.b2
            base = 0.5 * np.log((self.blend[:, i] * np.exp(lv[:, i])).sum())  # the blended variance state
            lo, hi = -4.0, 3.0
            loc[i] = self.mu[i] + out[0]
            log_scale[i] = hi - _softplus(hi - (lo + _softplus(base + out[1] - lo)))
        return loc, log_scale

    def day(self, h, v, noise):
        loc, log_scale = self.law(h, v)
        w = stats.chi2.ppf(special.ndtr(noise[self.a]), self.nu)
        e = self.chol @ noise[:self.a] * np.sqrt(self.nu / w) * np.sqrt((self.nu - 2.0) / self.nu)
        x = loc + np.exp(log_scale) * e
        v = self.update(v, x)
        return self.gru(h, e, v), v, x


# ----------------------------------------------------------------------------------------------- tests

def test_log_density_matches_scipy_multivariate_t():
    r = np.random.default_rng(0)
    a, nu = 4, 5.3
    m = r.normal(size=(a, a))
    cov = m @ m.T + a * np.eye(a)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    chol = np.linalg.cholesky(corr)
    loc, log_scale = r.normal(size=a) * 0.3, r.normal(size=a) * 0.5
    x = loc + np.exp(log_scale) * r.standard_t(3, size=(50, a))
    s = np.exp(log_scale)
    ref = stats.multivariate_t(loc=loc, shape=np.outer(s, s) * corr * (nu - 2.0) / nu, df=nu).logpdf(x)
    got = nn.mvt_log_density(jnp.asarray(x, jnp.float32), jnp.asarray(loc, jnp.float32),
                             jnp.asarray(log_scale, jnp.float32), jnp.asarray(chol, jnp.float32), jnp.float32(nu))
    np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-5, atol=2e-4)
    # the parametrisation gives that correlation: unit_chol of init_chol_raw(corr) is corr's factor
    np.testing.assert_allclose(np.asarray(nn.unit_chol(jnp.asarray(nn.init_chol_raw(corr)))), chol, atol=1e-6)


@pytest.fixture(scope="module")
def vol_feature_fit(small_market):
    """The tiny preset with the log variance states as GRU and head inputs too (`vol_features`)."""
    config = dataclasses.replace(NarConfig.preset("tiny"), vol_features=True)
    return generators.get("nar").fit(small_market, key=_key(), config=config)


@pytest.mark.parametrize("features", [False, True])
def test_sampler_day_step_matches_a_slow_numpy_loop(small_fits, vol_feature_fit, features):
    fitted = vol_feature_fit if features else small_fits("nar")[1]
    slow, key, block, days = _SlowNet(fitted), rng.root(9), fitted.config.sample_block, 5
    y = np.asarray(simulate_block(fitted.graphdef, fitted.state, sim_params(fitted), key, jnp.uint32(1),
                                   horizon=days, block=block), np.float64)
    keys = rng.world_keys(key, block, block)  # block 1's worlds
    noise = np.stack([np.asarray(block_noise(keys, jnp.uint32(d), slow.a), np.float64)
                      for d in range(days)], axis=1)  # [block, days, A + 1]
    scale = np.asarray(fitted.scale, np.float64)
    for world in (0, 7, block - 1):
        h, v = np.asarray(fitted.h0, np.float64), np.asarray(fitted.v0, np.float64)
        for d in range(days):
            h, v, x = slow.day(h, v, noise[world, d])
            np.testing.assert_allclose(y[world, d], x * scale, rtol=2e-4, atol=2e-6 * scale.max())


@pytest.mark.parametrize("features", [False, True])
def test_now_is_the_gru_state_after_the_history(small_fits, small_market, vol_feature_fit, features):
    gen, fitted = small_fits("nar")
    fitted = vol_feature_fit if features else fitted
    slow = _SlowNet(fitted)
    cut = data.select(small_market, end=CUT)
    moved = gen.reanchor(fitted, cut, key=_key())
    x = cut.log_returns / np.asarray(fitted.scale, np.float64)
    h, v = np.zeros((slow.a, fitted.config.hidden)), np.ones((2 * len(fitted.config.half_lives), slow.a))
    for row in x:
        loc, log_scale = slow.law(h, v)
        v = slow.update(v, row)
        h = slow.gru(h, (row - loc) * np.exp(-log_scale), v)
    np.testing.assert_allclose(np.asarray(moved.h0), h, atol=2e-4)
    np.testing.assert_allclose(np.asarray(moved.v0), v, rtol=1e-5)


def test_innovations_at_a_fixed_state_have_unit_variance_and_the_learned_correlation(small_fits):
    gen, fitted = small_fits("nar")
    net, n = fitted.net(), 100_000
    # nu >= 5 (the floor, `_neural.NU_FLOOR`): fourth moments are finite, so the standard errors below exist
    y = np.asarray(simulate_block(fitted.graphdef, fitted.state, sim_params(fitted), rng.root(3), jnp.uint32(0),
                                   horizon=1, block=n), np.float64)[:, 0]
    loc, log_scale = net.head(fitted.h0, jax.numpy.log(fitted.v0 + 1e-4).clip(-9.0, 6.0))
    e = (y / np.asarray(fitted.scale, np.float64) - np.asarray(loc)) / np.exp(np.asarray(log_scale, np.float64))
    z = 4.5  # family-wise over a few dozen checks
    assert (np.abs(e.mean(axis=0)) < z * e.std(axis=0) / np.sqrt(n)).all(), e.mean(axis=0)
    var, se_var = (e ** 2).mean(axis=0), (e ** 2).std(axis=0) / np.sqrt(n)
    assert (np.abs(var - 1.0) < z * se_var).all(), (var, se_var)
    want, got = fitted.correlation, np.corrcoef(e, rowvar=False)
    kappa = 2.0 / (fitted.nu - 4.0)  # the t's kurtosis parameter: excess kurtosis / 3
    off = ~np.eye(len(want), dtype=bool)
    se = (1.0 - want[off] ** 2) * np.sqrt((1.0 + kappa) / n)  # an elliptical law's correlation
    assert (np.abs(got[off] - want[off]) < z * se).all(), (got, want)
    assert np.abs(want[off]).max() > 0.1  # the check above has power: a real correlation, not independence


def test_save_and_load_give_bit_identical_worlds(small_fits, tmp_path):
    gen, fitted = small_fits("nar")
    persist.save_model(tmp_path / "nar", gen, fitted)
    gen2, back = persist.load_model(tmp_path / "nar")
    assert back.digest == fitted.digest and back.config == fitted.config
    key = rng.stream(rng.root(4), rng.SAMPLE)
    np.testing.assert_array_equal(np.asarray(gen2.sample(back, key=key, n_worlds=5, horizon=30).log_returns),
                                  np.asarray(gen.sample(fitted, key=key, n_worlds=5, horizon=30).log_returns))
    # a file written before the floor on nu (it records none; its nu parameters meant 2 + softplus) is refused
    meta, arrays = gen.export_fitted(fitted)
    with pytest.raises(ModelFileError, match="another floor on its Student-t nu .*refit"):
        gen.restore_fitted({k: v for k, v in meta.items() if k != "nu_floor"}, arrays)


def test_reanchor_to_its_own_history_is_the_fit_and_a_cut_moves_now(small_fits, small_market):
    gen, fitted = small_fits("nar")
    same = gen.reanchor(fitted, small_market, key=_key())
    assert same.digest == fitted.digest
    for name in ("h0", "v0", "scale", "mix_table", "mix_grid"):
        np.testing.assert_array_equal(np.asarray(getattr(same, name)), np.asarray(getattr(fitted, name)))
    key = rng.stream(rng.root(4), rng.SAMPLE)
    worlds = [np.asarray(gen.sample(f, key=key, n_worlds=4, horizon=10).log_returns) for f in (same, fitted)]
    np.testing.assert_array_equal(*worlds)
    moved = gen.reanchor(fitted, data.select(small_market, end=CUT), key=_key())
    assert moved.digest != fitted.digest and moved.history is fitted.history
    assert not np.allclose(np.asarray(moved.h0), np.asarray(fitted.h0), atol=1e-3)
    for a, b in zip(jax.tree_util.tree_leaves(moved.state), jax.tree_util.tree_leaves(fitted.state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ConfigError, match="'nar'.*assets"):
        gen.reanchor(fitted, data.select(small_market, assets=["JPM", "AAPL", "XOM", "WMT"]), key=_key())


def test_world_i_is_the_same_in_any_chunk_and_block(small_fits):
    gen, fitted = small_fits("nar")  # sample_block 16: these chunks straddle block boundaries
    key = rng.root(5)
    whole = np.asarray(gen.sample(fitted, key=key, n_worlds=40, horizon=12).log_returns)
    chunks = generators.iter_chunks(gen, fitted, key=key, n_worlds=35, horizon=12, chunk_size=9, first_world=5)
    np.testing.assert_array_equal(np.concatenate([np.asarray(c.log_returns) for c in chunks]), whole[5:])


@pytest.mark.parametrize("kwargs,field", [
    ({"hidden": 0}, "nar.hidden"), ({"window": 2.5}, "nar.window"), ({"warmup": -1}, "nar.warmup"),
    ({"half_lives": ()}, "nar.half_lives"), ({"half_lives": (5, 0)}, "nar.half_lives"),
    ({"vol_features": 1}, "nar.vol_features"), ({"nu_init": 2.0}, "nar.nu_init"), ({"nu_init": 4.5}, "nar.nu_init"),
    ({"val_fraction": 0.6}, "nar.val_fraction"), ({"sample_block": 0}, "nar.sample_block"),
    ({"history_days": -3}, "nar.history_days"), ({"train": {"steps": 3}}, "nar.train"),
])
def test_bad_config_is_a_config_error_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        NarConfig(**kwargs)


def test_unknown_preset_and_short_history_are_refused(small_market):
    with pytest.raises(ConfigError, match="tiny, default, gpu"):
        NarConfig.preset("huge")
    short = data.select(small_market, start="2022-06-01")
    config = NarConfig(window=63, warmup=63, train=TrainConfig(steps=20, progress=False))
    with pytest.raises(InsufficientHistoryError, match="more history.*at least 837 returns"):
        generators.get("nar").fit(short, key=_key(), config=config)


@pytest.mark.parametrize("preset", ["tiny", "default", "gpu"])
def test_every_preset_builds_a_network_whose_first_day_is_sane(preset):
    """Each preset's network, untrained, gives a finite day: loc = mu = 0 and the variance prior's scale."""
    config = NarConfig.preset(preset)
    net = NeuralAutoregressive.build_net(config, 3, jax.random.key(0))
    h = jnp.zeros((2, 3, config.hidden))
    log_v = jnp.zeros((2, 2 * len(config.half_lives), 3))  # every variance state at its unconditional 1
    loc, log_scale = net.head(h, log_v)
    np.testing.assert_allclose(np.asarray(loc), 0.0, atol=1e-7)
    # the blend of unit variances is 1 (log 0), through the soft clamp to (-4, 3): 3 - sp(3 - (-4 + sp(0 + 4)))
    want = 3.0 - _softplus(3.0 - (-4.0 + _softplus(4.0)))
    np.testing.assert_allclose(np.asarray(log_scale), want, atol=1e-5)
    assert np.isfinite(np.asarray(net.step(h, jnp.ones((2, 3)), log_v))).all()


def test_a_single_asset_fits_and_samples(small_market):
    one = data.select(small_market, assets=["JPM"])
    gen = generators.get("nar")
    fitted = gen.fit(one, key=_key(), config=NarConfig.preset("tiny"))
    y = np.asarray(gen.sample(fitted, key=rng.root(7), n_worlds=20, horizon=30).log_returns)
    assert y.shape == (20, 30, 1) and np.isfinite(y).all() and fitted.correlation.shape == (1, 1)


def test_divergence_guard_fires_and_restores(small_market):
    # Adam moves every parameter by about the learning rate per step: 1e12 overflows float32 within a step
    tiny = NarConfig.preset("tiny")
    config = dataclasses.replace(tiny, train=dataclasses.replace(tiny.train, learning_rate=1e12, max_grad_norm=1e30))
    with pytest.warns(TrainingDivergedWarning, match="restored"):
        fitted = generators.get("nar").fit(small_market, key=_key(), config=config)
    assert fitted.history.stop_reason == "diverged" and fitted.history.restored and fitted.history.best_step == 0
    assert all(bool(np.isfinite(np.asarray(x)).all()) for x in jax.tree_util.tree_leaves(fitted.state))
    y = generators.get("nar").sample(fitted, key=rng.root(1), n_worlds=4, horizon=50).log_returns
    assert np.isfinite(np.asarray(y)).all()


def test_the_law_of_a_day_never_reads_that_day_or_a_later_one(vol_feature_fit):
    """Changing day 20 leaves the location and log-scale of days 0..20 bit for bit and moves day 21's (the
    network with every input on: surprises, the mean surprise and the variance states)."""
    net, config = vol_feature_fit.net(), vol_feature_fit.config
    x = np.random.default_rng(2).standard_normal((40, net.n_assets))

    def laws(returns):
        d = prepare(returns, np.ones(net.n_assets), config)
        h, out = jnp.zeros((net.n_assets, net.hidden)), []
        for t in range(returns.shape[0]):
            loc, log_scale, h = net.day(h, d.x[t], d.log_v[t], d.log_v[t + 1])
            out.append(np.concatenate([np.asarray(loc), np.asarray(log_scale)]))
        return np.stack(out)

    moved = x.copy()
    moved[20] += 3.0
    a, b = laws(x), laws(moved)
    np.testing.assert_array_equal(a[:21], b[:21])
    assert np.abs(a[21] - b[21]).max() > 1e-4


def test_a_copied_asset_is_a_data_error_naming_it(small_market):
    prices = np.column_stack([small_market.prices, small_market.prices[:, 1]])  # JPM twice
    copied = MarketData(prices=prices, dates=small_market.dates, assets=(*small_market.assets, "JPM2"))
    with pytest.raises(DataError, match=r"singular.*'JPM' and 'JPM2'"):
        generators.get("nar").fit(copied, key=_key(), config=NarConfig.preset("tiny"))

"""The normalizing flow: exact density (against scipy and a slow NumPy flow, a finite-difference Jacobian and a
numerical integral), sampler against density, tails kept, causality, and its config, storage and
re-anchoring. What a fit learns that nar cannot is an acceptance run: bench/acceptance/test_flow_learns.py."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from stressgen import data, generators, persist, rng
from stressgen.errors import ConfigError, InsufficientHistoryError, ModelFileError
from stressgen.generators import _autoreg as ar
from stressgen.generators import _nar_nn as nn
from stressgen.generators._flow_nn import coupling_split, split_arrays
from stressgen.generators._training import TrainingDivergedWarning
from stressgen.generators._vae_nn import log_vol_features
from stressgen.generators.flow import FlowConfig, NormalizingFlow
from stressgen.generators.nar import NarConfig

CUT = "2021-06-30"


def _random_flow(n_assets: int, *, couplings: int = 3, bound: float = 1.0, weight: float = 0.5, seed: int = 0,
                 config: FlowConfig | None = None):
    """An untrained flow whose couplings are not the identity: every output layer gets random weights."""
    config = config or FlowConfig(hidden=4, half_lives=(5, 21), couplings=couplings, coupling_width=6,
                                  coupling_bound=bound)
    net = NormalizingFlow.build_net(config, n_assets, jax.random.key(seed))
    r = np.random.default_rng(seed)
    for layer in net.layers:
        layer.out.kernel[...] = jnp.asarray(r.normal(size=layer.out.kernel.shape) * weight, jnp.float32)
        layer.out.bias[...] = jnp.asarray(r.normal(size=layer.out.bias.shape) * weight, jnp.float32)
    corr = np.full((n_assets, n_assets), 0.4) + 0.6 * np.eye(n_assets)
    net.ar.chol_raw[...] = jnp.asarray(nn.init_chol_raw(corr))
    return net


def _gelu(x):  # jax.nn.gelu's default: the tanh approximation
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def _slow_couplings(net):
    """The couplings as NumPy float64 closures ``(forward(w, c), inverse(e, c) -> (w, log_det))``, one asset
    at a time, written from the module doc (not from the code)."""
    layers = []
    for layer in net.layers:
        hid = (np.asarray(layer.hidden.kernel[...], np.float64), np.asarray(layer.hidden.bias[...], np.float64))
        out = (np.asarray(layer.out.kernel[...], np.float64), np.asarray(layer.out.bias[...], np.float64))
        layers.append((layer.conditioning, layer.transformed, layer.bound, hid, out))

    def scale_shift(spec, y, c):
        a_idx, b_idx, bound, (k1, b1), (k2, b2) = spec
        inp = np.concatenate([np.arcsinh(y[list(a_idx)]), c])
        o = _gelu(inp @ k1 + b1) @ k2 + b2
        nb = len(b_idx)
        return bound * np.tanh(o[:nb] / bound), o[nb:]

    def forward(w, c):
        y = w.copy()
        for spec in layers:
            g, t = scale_shift(spec, y, c)
            for j, i in enumerate(spec[1]):
                y[i] = y[i] * np.exp(g[j]) + t[j]
        return y

    def inverse(e, c):
        y, log_det = e.copy(), 0.0
        for spec in reversed(layers):
            g, t = scale_shift(spec, y, c)
            for j, i in enumerate(spec[1]):
                y[i] = (y[i] - t[j]) * np.exp(-g[j])
            log_det += g.sum()
        return y, log_det

    return forward, inverse


# ----------------------------------------------------------------------------------------- the density

def test_log_density_is_the_change_of_variables_of_scipys_multivariate_t():
    a, r = 5, np.random.default_rng(1)
    net = _random_flow(a)
    forward, inverse = _slow_couplings(net)
    h = r.normal(size=(a, net.hidden))
    c = h.mean(axis=0)
    loc, log_scale = r.normal(size=a) * 0.2, r.normal(size=a) * 0.3
    x = loc + np.exp(log_scale) * r.standard_t(4, size=(40, a)) * 1.5
    chol = np.asarray(net.chol(), np.float64)
    nu = float(net.nu())
    base = stats.multivariate_t(loc=np.zeros(a), shape=chol @ chol.T * (nu - 2.0) / nu, df=nu)
    want = []
    for row in x:
        w, log_det = inverse((row - loc) * np.exp(-log_scale), c)
        want.append(base.logpdf(w) - log_det - log_scale.sum())
        # the Jacobian formula against finite differences of the slow forward map at w
        eps = 1e-6
        jac = np.stack([(forward(w + eps * np.eye(a)[k], c) - forward(w - eps * np.eye(a)[k], c)) / (2 * eps)
                        for k in range(a)], axis=1)
        np.testing.assert_allclose(np.linalg.slogdet(jac)[1], log_det, atol=1e-5)
        np.testing.assert_allclose(forward(w, c), (row - loc) * np.exp(-log_scale), atol=1e-9)
    got = net.log_density(jnp.asarray(x, jnp.float32), jnp.asarray(loc, jnp.float32),
                          jnp.asarray(log_scale, jnp.float32), jnp.asarray(h, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=5e-4)
    assert np.ptp(np.asarray(want) - base.logpdf((x - loc) * np.exp(-log_scale))) > 0.5  # the couplings matter


def test_density_integrates_to_one():
    net = _random_flow(2, couplings=2, bound=0.3, weight=0.8, seed=3)
    h = jnp.asarray(np.random.default_rng(0).normal(size=(1, 2, net.hidden)), jnp.float32)
    step = 0.04
    g = np.arange(-40.0, 40.0, step) + step / 2
    xx, yy = np.meshgrid(g, g, indexing="ij")
    x = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], axis=-1), jnp.float32)
    zero = jnp.zeros(2, jnp.float32)
    dens = np.exp(np.asarray(net.log_density(x, zero, zero, h), np.float64))
    # mass beyond +-40 (after at most e^0.6 of scaling, beyond ~20 unit sd of a t with nu 6) is far below 1e-4
    assert abs(dens.sum() * step * step - 1.0) < 2e-3


def test_untrained_couplings_are_the_identity_so_an_untrained_flow_is_nars_model():
    flow = NormalizingFlow.build_net(FlowConfig(), 3, jax.random.key(0))
    nar = generators.get("nar").build_net(NarConfig(), 3, jax.random.key(0))
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(flow.ar)), jax.tree_util.tree_leaves(nnx.state(nar)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    r = np.random.default_rng(2)
    x, h = jnp.asarray(r.normal(size=(7, 3)), jnp.float32), jnp.asarray(r.normal(size=(7, 3, 16)), jnp.float32)
    loc, log_scale = jnp.asarray(r.normal(size=3) * 0.1, jnp.float32), jnp.asarray(r.normal(size=3), jnp.float32)
    np.testing.assert_array_equal(np.asarray(flow.shape_noise(x, h)), np.asarray(x))
    np.testing.assert_allclose(np.asarray(flow.log_density(x, loc, log_scale, h)),
                               np.asarray(nar.log_density(x, loc, log_scale, h)), rtol=1e-6, atol=1e-5)


def test_the_map_grows_linearly_so_the_tails_are_the_bases():
    """Each of K couplings scales an asset by at most e^bound and shifts it by O(log |w|): far out, |e| / |w|
    stays within [e^-(K bound), e^(K bound)] (linear growth), so the tail index is the base t's nu (not
    squeezed or blown up)."""
    k, bound = 3, 1.0
    net = _random_flow(6, couplings=k, bound=bound, weight=3.0, seed=5)
    r = np.random.default_rng(6)
    h = jnp.asarray(r.normal(size=(6, net.hidden)), jnp.float32)
    d = r.normal(size=(50, 6))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    for s in (1e3, 1e5, 1e7):
        e = np.asarray(net.shape_noise(jnp.asarray(s * d, jnp.float32), h), np.float64)
        ratio = np.abs(e) / np.abs(s * d).max(axis=1, keepdims=True)
        assert ratio.max() <= np.exp(k * bound) * 1.01, ratio.max()
        assert (np.linalg.norm(e, axis=1) / s >= np.exp(-k * bound) * 0.99).all()


def test_coupling_splits_are_pinned_and_in_the_digest(small_fits, monkeypatch):
    """The splits are pinned here, so a change of their formula fails this test rather than silently rewiring
    flows; and a fitted flow's digest covers them, so a model file restored under other splits is refused."""
    assert coupling_split(20, 2) == ((0, 1, 4, 5, 9, 10, 14, 15, 18, 19), (2, 3, 6, 7, 8, 11, 12, 13, 16, 17))
    assert coupling_split(20, 5) == ((0, 2, 4, 7, 9, 11, 14, 16, 18, 19), (1, 3, 5, 6, 8, 10, 12, 13, 15, 17))
    assert coupling_split(7, 2) == ((0, 4, 5), (1, 2, 3, 6))
    gen, fitted = small_fits("flow")
    meta, arrays = gen.export_fitted(fitted)
    assert gen.restore_fitted(meta, arrays).digest == fitted.digest
    monkeypatch.setattr(NormalizingFlow, "structure_arrays",
                        staticmethod(lambda config, n: tuple(a[::-1] for a in split_arrays(n, config.couplings))))
    with pytest.raises(ModelFileError, match="digest"):
        gen.restore_fitted(meta, arrays)


def test_coupling_splits_cover_every_asset_and_one_asset_has_no_conditioning():
    for a in (1, 2, 5, 20):
        for layer in range(6):
            cond, moved = coupling_split(a, layer)
            assert sorted(cond + moved) == list(range(a)) and len(cond) == a // 2
    assert coupling_split(1, 0) == ((), (0,))
    assert set(coupling_split(7, 0)[1]) | set(coupling_split(7, 1)[1]) == set(range(7))


# ---------------------------------------------------------------------------------------------- sampling

def test_sampled_days_have_the_flows_law(small_fits):
    """Days drawn at a fixed state, mapped back through the density's inverse, are the base t: their
    squared norm is nu (nu - 2)^-1 A F(A, nu) distributed (a KS test against scipy's F)."""
    gen, fitted = small_fits("flow")
    net = _random_flow(4, weight=0.5, seed=7, config=fitted.config)
    # the fit's GRU and head, random couplings (so the check covers non-trivial ones)
    state = nnx.state(net)
    state["ar"] = nnx.state(fitted.net().ar)
    fitted = dataclasses.replace(fitted, state=state, graphdef=nnx.graphdef(net))
    n = 20_000
    y = np.asarray(ar.simulate_block(fitted.graphdef, fitted.state, ar.sim_params(fitted), rng.root(3),
                                     jnp.uint32(0), horizon=1, block=n), np.float64)[:, 0]
    net = fitted.net()
    loc, log_scale = net.head(fitted.h0, log_vol_features(fitted.v0))
    e = (y / np.asarray(fitted.scale, np.float64) - np.asarray(loc)) / np.exp(np.asarray(log_scale, np.float64))
    w, _ = net.unshape(jnp.asarray(e, jnp.float32), jnp.broadcast_to(fitted.h0, (n, *fitted.h0.shape)))
    chol = np.asarray(net.chol(), np.float64)
    u = np.linalg.solve(chol, np.asarray(w, np.float64).T).T
    nu, a = fitted.nu, 4
    f = (u ** 2).sum(axis=1) * nu / ((nu - 2.0) * a)
    assert stats.kstest(f, stats.f(a, nu).cdf).pvalue > 1e-3
    assert np.abs(e - np.asarray(w)).max() > 0.05  # the couplings moved the draws


def test_the_law_of_a_day_never_reads_that_day_or_a_later_one(small_fits, small_market):
    _, fitted = small_fits("flow")
    net = _random_flow(4, seed=8, config=fitted.config)
    x = small_market.log_returns[:60] / np.asarray(fitted.scale, np.float64)
    bumped = x.copy()
    bumped[20] += 3.0
    nll = []
    for series in (x, bumped):
        d = ar.prepare(series, np.ones(4), fitted.config)
        nll.append(np.asarray(nn.sequence_nll(net, d.x[None], d.log_v[None], 0))[:, 0])
    np.testing.assert_array_equal(nll[0][:20], nll[1][:20])
    assert nll[0][20] != nll[1][20] and nll[0][21] != nll[1][21]
    # day 20's law (location, scale, and the couplings' context: the GRU states before it) is built from days
    # 0..19 alone: the bumped day's likelihood is its density under the law the unbumped past gives
    d = ar.prepare(x, np.ones(4), fitted.config)
    h = nn.run_history(net, d.x[:20], d.log_v[:21])
    loc, log_scale = net.head(h, d.log_v[20])
    want = -net.log_density(jnp.asarray(bumped[20], jnp.float32), loc, log_scale, h)
    np.testing.assert_allclose(nll[1][20], float(want), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------- storage and config

def test_save_and_load_give_bit_identical_worlds(small_fits, tmp_path):
    gen, fitted = small_fits("flow")
    persist.save_model(tmp_path / "flow", gen, fitted)
    gen2, back = persist.load_model(tmp_path / "flow")
    assert isinstance(gen2, NormalizingFlow) and back.digest == fitted.digest and back.config == fitted.config
    key = rng.stream(rng.root(4), rng.SAMPLE)
    np.testing.assert_array_equal(np.asarray(gen2.sample(back, key=key, n_worlds=5, horizon=30).log_returns),
                                  np.asarray(gen.sample(fitted, key=key, n_worlds=5, horizon=30).log_returns))


def test_reanchor_to_its_own_history_is_the_fit_and_a_cut_moves_now(small_fits, small_market):
    gen, fitted = small_fits("flow")
    assert gen.reanchor(fitted, small_market, key=rng.root(0)).digest == fitted.digest
    moved = gen.reanchor(fitted, data.select(small_market, end=CUT), key=rng.root(0))
    assert moved.digest != fitted.digest and not np.allclose(np.asarray(moved.h0), np.asarray(fitted.h0), atol=1e-3)
    with pytest.raises(ConfigError, match="'flow'.*assets"):
        gen.reanchor(fitted, data.select(small_market, assets=["JPM", "AAPL", "XOM", "WMT"]), key=rng.root(0))


@pytest.mark.parametrize("kwargs,field", [
    ({"hidden": 0}, "flow.hidden"), ({"half_lives": ()}, "flow.half_lives"), ({"nu_init": 1.5}, "flow.nu_init"),
    ({"couplings": -1}, "flow.couplings"), ({"couplings": 2.0}, "flow.couplings"),
    ({"coupling_width": 0}, "flow.coupling_width"), ({"coupling_bound": 0.0}, "flow.coupling_bound"),
    ({"coupling_bound": float("inf")}, "flow.coupling_bound"), ({"coupling_bound": True}, "flow.coupling_bound"),
])
def test_bad_config_is_a_config_error_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        FlowConfig(**kwargs)


def test_presets_and_short_history(small_market):
    with pytest.raises(ConfigError, match="tiny, default, gpu"):
        FlowConfig.preset("huge")
    for name in ("tiny", "default", "gpu"):
        config = FlowConfig.preset(name)
        net = NormalizingFlow.build_net(config, 3, jax.random.key(0))
        assert len(net.layers) == config.couplings
    with pytest.raises(InsufficientHistoryError, match="normalizing flow"):
        NormalizingFlow().fit(data.select(small_market, start="2022-06-01"), key=rng.root(0))


def test_a_single_asset_fits_and_samples(small_market):
    one = data.select(small_market, assets=["JPM"])
    gen = NormalizingFlow()
    fitted = gen.fit(one, key=rng.root(0), config=FlowConfig.preset("tiny"))
    y = np.asarray(gen.sample(fitted, key=rng.root(1), n_worlds=20, horizon=40).log_returns)
    assert y.shape == (20, 40, 1) and np.isfinite(y).all() and y.std() > 0


def test_divergence_guard_fires_and_restores(small_market):
    # Adam moves every parameter by about the learning rate per step: 1e12 overflows float32 within a step
    tiny = FlowConfig.preset("tiny")
    config = dataclasses.replace(tiny, train=dataclasses.replace(tiny.train, learning_rate=1e12, max_grad_norm=1e30))
    with pytest.warns(TrainingDivergedWarning, match="restored"):
        fitted = NormalizingFlow().fit(small_market, key=rng.root(0), config=config)
    assert fitted.history.stop_reason == "diverged" and fitted.history.restored and fitted.history.best_step == 0
    assert all(bool(np.isfinite(np.asarray(x)).all()) for x in jax.tree_util.tree_leaves(fitted.state))
    y = NormalizingFlow().sample(fitted, key=rng.root(1), n_worlds=4, horizon=50).log_returns
    assert np.isfinite(np.asarray(y)).all()

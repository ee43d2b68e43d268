"""The VAE's variance prior (`_vae_prior`) against arch's GARCH and GJR-GARCH quasi-maximum likelihood; the two
steps after training (`_vae_after`) against a least-squares reference and the KL they minimise; and the
worlds' return to the long-run variance from stressed and calm starts."""

import dataclasses
import warnings

import numpy as np
import pytest
from arch import arch_model

from stressgen import rng
from stressgen.errors import ConfigError, ModelFileError
from stressgen.generators import _vae_nn as nn
from stressgen.generators._vae_after import _posterior
from stressgen.generators._vae_prior import W_STEPS, VaeFitWarning, fit_variance_prior, prior_persistence
from stressgen.generators.vae import TemporalVae, VaeConfig, gather_windows, prepare

HALF_LIVES = (5, 21)
DECAYS = nn.ewma_decays(HALF_LIVES)  # float32, as the fit uses them
LAM = float(DECAYS[0])  # the simulated beta: a half-life on the grid, so the grid holds the truth


def _gjr_path(alpha: float, gamma: float, n: int, seed: int) -> np.ndarray:
    """``[n, 1]`` a GJR-GARCH(1, 1) path with beta = LAM, unit unconditional variance and unit-variance t(8)
    innovations."""
    e = np.random.default_rng(seed).standard_t(8, size=n) / np.sqrt(8 / 6)
    omega = 1.0 - alpha - gamma / 2 - LAM
    x, s2 = np.empty(n), 1.0
    for t in range(n):
        x[t] = np.sqrt(s2) * e[t]
        s2 = omega + (alpha + gamma * (x[t] < 0)) * x[t] ** 2 + LAM * s2
    return x[:, None]


def _ours(weights: np.ndarray) -> dict[str, float]:
    """alpha, gamma and the persistence the prior's weights mean (the module doc of `_vae_prior`)."""
    w, s = weights[0, 0], int(np.argmax(weights[1:3, 0] + weights[3:5, 0]))
    lam = float(DECAYS[s])
    a_all, a_down = weights[1 + s, 0] * (1 - lam), weights[3 + s, 0] * (1 - lam)
    return {"alpha": a_all, "gamma": 2 * a_down, "persistence": 1 - w * (1 - lam), "half_life": HALF_LIVES[s]}


def _arch(x: np.ndarray, o: int):
    res = arch_model(x[:, 0], mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="normal", rescale=False).fit(disp="off")
    return res.params, res.param_cov


@pytest.mark.parametrize("alpha, gamma", [(0.08, 0.0), (0.03, 0.10)], ids=["garch", "gjr"])
def test_the_prior_agrees_with_arch_within_its_standard_errors(alpha, gamma):
    x = _gjr_path(alpha, gamma, 20_000, seed=3)
    ours = _ours(fit_variance_prior(x, DECAYS, max_persistence=0.999, assets=("A",)))
    params, cov = _arch(x, o=1)
    names = list(params.index)
    i_a, i_g, i_b = names.index("alpha[1]"), names.index("gamma[1]"), names.index("beta[1]")
    assert ours["half_life"] == 5
    # the grid's resolution in each quantity: a step of w moves the state's weight by (1 - w_min) / W_STEPS, a
    # step of g moves the down days' share by 0.1
    total = ours["alpha"] + ours["gamma"] / 2
    step_w, step_g = (1 - LAM) / W_STEPS, 0.1 * 2 * total
    se_a, se_g = np.sqrt(cov.iloc[i_a, i_a]), np.sqrt(cov.iloc[i_g, i_g])
    assert abs(ours["gamma"] - params.iloc[i_g]) < 3 * se_g + step_g
    assert abs(ours["alpha"] - params.iloc[i_a]) < 3 * se_a + step_g / 2 + step_w
    # persistence alpha + gamma / 2 + beta: its standard error from the covariance of the three
    grad = np.zeros(len(names))
    grad[[i_a, i_b]], grad[i_g] = 1.0, 0.5
    se_p = float(np.sqrt(grad @ cov.to_numpy() @ grad))
    arch_p = params.iloc[i_a] + params.iloc[i_g] / 2 + params.iloc[i_b]
    assert abs(ours["persistence"] - arch_p) < 3 * se_p + step_w
    # and the truth, which arch estimates: the simulated persistence is 1 - omega
    assert abs(ours["persistence"] - (alpha + gamma / 2 + LAM)) < 3 * se_p + step_w


def test_the_persistence_cap_binds_on_a_path_more_persistent_than_the_cap_and_says_so():
    x = _gjr_path(1.0 - LAM - 0.0005, 0.0, 20_000, seed=5)  # persistence 0.9995, above the cap of 0.995
    with pytest.warns(VaeFitWarning, match="A wants a persistence above max_persistence = 0.995"):
        weights = fit_variance_prior(x, DECAYS, max_persistence=0.995, assets=("A",))
    assert prior_persistence(weights, DECAYS)[0] == pytest.approx(0.995, abs=1e-12)


def test_weights_are_a_convex_combination_of_the_constant_and_one_half_life():
    x = np.random.default_rng(0).standard_normal((3000, 3))
    x[:, 1] = _gjr_path(0.1, 0.0, 3000, seed=1)[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cap binds here
        weights = fit_variance_prior(x, DECAYS, max_persistence=0.999, assets=("A", "B", "C"))
    assert weights.shape == (5, 3) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-12)
    for a in range(3):  # the all-day and down-day rows of one half-life only
        used = np.flatnonzero((weights[1:3, a] + weights[3:5, a]) > 0)
        assert used.size <= 1


# ------------------------------------------------------------------------------------ after training

@pytest.fixture(scope="module")
def tiny(small_market):
    gen = TemporalVae()
    fitted = gen.fit(small_market, key=rng.stream(rng.root(0), rng.FIT), config=VaeConfig.preset("tiny"))
    return gen, fitted


def test_the_refitted_latent_prior_is_the_least_squares_kl_optimum(tiny, small_market):
    _, fitted = tiny
    config = fitted.config
    data = prepare(small_market.log_returns, np.asarray(fitted.scale, np.float64), config, fitted.prior,
                   fitted.level)
    cut = int(round(small_market.log_returns.shape[0] * (1 - config.val_fraction)))
    starts = np.arange(config.context, cut - config.window + 1)
    h, mu, log_var = (np.asarray(a, np.float64) for a in _posterior(fitted.state, data, starts,
                                                                     graphdef=fitted.graphdef, config=config))
    features = np.concatenate([h, np.ones((h.shape[0], 1))], axis=1)
    coef = np.linalg.lstsq(features, mu, rcond=None)[0]  # the reference: numpy's least squares, no ridge
    net = fitted.net()
    latent = mu.shape[1]
    kernel, bias = np.asarray(net.prior.kernel[...], np.float64), np.asarray(net.prior.bias[...], np.float64)
    np.testing.assert_allclose(features @ np.concatenate([kernel[:, :latent], bias[None, :latent]]),
                               features @ coef, atol=2e-3)
    assert np.abs(kernel[:, latent:]).max() == 0.0  # a constant variance

    def mean_kl(mu_p, log_var_p):
        return np.mean(0.5 * np.sum(log_var_p - log_var + (np.exp(log_var) + (mu - mu_p) ** 2)
                                    * np.exp(-log_var_p) - 1.0, axis=1))

    mu_p = features @ np.concatenate([kernel[:, :latent], bias[None, :latent]])
    best = mean_kl(mu_p, bias[latent:])
    for d in range(latent):  # a move of the mean or the log-variance of any dimension raises it
        for delta in (-0.05, 0.05):
            moved = mu_p.copy()
            moved[:, d] += delta
            assert mean_kl(moved, bias[latent:]) > best
            lv = bias[latent:].copy()
            lv[d] += delta
            assert mean_kl(mu_p, lv) > best


def _mean_squares(gen, fitted, v0, *, worlds=600, horizon=504, blocks=4):
    """Mean square of the worlds' standardized days in `blocks` equal spans of the horizon, from state `v0`."""
    y = np.asarray(gen.sample(fitted.replace(v0=v0), key=rng.root(7), n_worlds=worlds, horizon=horizon).log_returns)
    x2 = (y / np.asarray(fitted.scale)) ** 2
    return np.array([x2[:, i * horizon // blocks:(i + 1) * horizon // blocks].mean() for i in range(blocks)])


@pytest.mark.parametrize("daily_scale", [True, False], ids=["daily", "window"])
def test_the_worlds_return_to_the_long_run_variance_from_stressed_and_calm_starts(tiny, small_market, daily_scale):
    gen, fitted = tiny
    if not daily_scale:
        config = dataclasses.replace(VaeConfig.preset("tiny"), daily_scale=False)
        fitted = gen.fit(small_market, key=rng.stream(rng.root(0), rng.FIT), config=config)
    v0 = np.asarray(fitted.v0)
    stressed, calm = _mean_squares(gen, fitted, 9.0 * v0), _mean_squares(gen, fitted, v0 / 9.0)
    # a unit root keeps the starts 81x apart for good, and an explosive model climbs from both. Here the
    # stressed start falls, the calm one rises, the gap narrows half-year by half-year, and they meet in the
    # second year near the fit's long-run variance (1 in standardized units, which the prior targets; the
    # network's corrections move it: 0.68 for this 40-step fit)
    assert stressed[0] > 1.5 * stressed[-1] and calm[0] < calm[-1]
    assert (np.diff(np.abs(np.log(stressed / calm))) < 0).all(), (stressed, calm)
    assert stressed[-1] / calm[-1] == pytest.approx(1.0, abs=0.05)
    assert 0.5 < stressed[-1] < 1.5


def test_a_file_from_before_the_variance_prior_is_refused(tiny):
    gen, fitted = tiny
    meta, arrays = gen.export_fitted(fitted)
    del arrays["prior"]
    with pytest.raises(ModelFileError, match="before its variance prior"):
        gen.restore_fitted(meta, arrays)


@pytest.mark.parametrize("value", [1.0, 0.0, 1.5, True, "0.99", 0.8])
def test_max_persistence_must_lie_between_the_shortest_decay_and_1(value):
    with pytest.raises(ConfigError, match="vae.max_persistence"):
        VaeConfig(max_persistence=value)  # 0.8: below 0.87, the daily decay of a 5-day half-life


def test_the_past_moves_neither_the_mean_nor_the_scale_at_the_latent_priors_mean(tiny, small_market):
    """At z = the conditional prior's mean, the decoder's shock and correction are 0 for any past, so a day's
    mean is the constant drift and its scale the variance prior's; z alone moves them."""
    _, fitted = tiny
    net, config = fitted.net(), fitted.config
    data = prepare(small_market.log_returns, np.asarray(fitted.scale, np.float64), config, fitted.prior,
                   fitted.level)
    starts = np.arange(config.context, small_market.log_returns.shape[0] - config.window, 97)
    _, ctx, log_v = gather_windows(data, starts, config)
    h = net.condition(ctx, log_v[:, 0], data.prior)
    loc, raw = net.decode_raw(net.prior_params(h)[0], h)
    assert np.abs(np.asarray(loc)).max() == 0.0 and np.abs(np.asarray(raw)).max() == 0.0
    noise = np.random.default_rng(0).standard_normal((starts.size, config.latent))
    loc, raw = net.decode_raw(net.sample_latent(h, noise), h)
    assert np.asarray(loc).std() > 1e-3 and np.asarray(raw).std() > 1e-4

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
from stressgen.generators._vae_prior import VaeFitWarning, _feasible, fit_variance_prior, prior_persistence
from stressgen.generators.vae import VaeConfig, gather_windows, prepare

HALF_LIVES = (5, 21)
DECAYS = nn.ewma_decays(HALF_LIVES)  # float32, as the fit uses them
LAM = float(DECAYS[0])  # the simulated beta: a half-life the prior holds, so the prior can hold the truth


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


def prior_arch(weights: np.ndarray, decays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, gamma) [A]``: the weights of yesterday's square and of its down-day excess in the prior's variance
    (GJR's alpha and gamma with one half-life; their sums over the components with several)."""
    one_minus = 1.0 - np.asarray(decays, np.float64)[:, None]
    n_h = one_minus.shape[0]
    return np.sum(weights[1:1 + n_h] * one_minus, axis=0), 2.0 * np.sum(weights[1 + n_h:] * one_minus, axis=0)


def _arch(x: np.ndarray, o: int):
    res = arch_model(x[:, 0], mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="normal", rescale=False).fit(disp="off")
    return res.params, res.param_cov


def _states(x: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``[T, 1 + 2H, A]``: 1 (the constant's column), then the all-day and down-day states before each day, by a
    plain loop over days."""
    lam = np.asarray(decays, np.float64)
    states = np.empty((x.shape[0], 1 + 2 * lam.size, x.shape[1]))
    v, u = np.ones((lam.size, x.shape[1])), np.ones((lam.size, x.shape[1]))
    for t in range(x.shape[0]):
        states[t] = np.concatenate([np.ones((1, x.shape[1])), v, u])
        v = lam[:, None] * v + (1 - lam[:, None]) * x[t] ** 2
        u = lam[:, None] * u + (1 - lam[:, None]) * 2 * np.minimum(x[t], 0.0) ** 2
    return states


def _quasi_nll(weights: np.ndarray, x: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``[..., A]`` the mean Gaussian quasi-negative-log-likelihood of the prior's variance for weights
    ``[..., 1 + 2H, A]``."""
    s2 = np.einsum("tsa,...sa->...ta", _states(x, decays), weights)
    return np.mean(np.log(s2) + x ** 2 / s2, axis=-2)


@pytest.mark.parametrize("alpha, gamma", [(0.08, 0.0), (0.03, 0.10)], ids=["garch", "gjr"])
def test_the_prior_agrees_with_arch_within_its_standard_errors(alpha, gamma):
    """On a GARCH and a GJR-GARCH path whose beta is the prior's one decay (so the prior is GJR-GARCH(1, 1) with
    beta known), the prior's alpha, gamma (its weights of yesterday's square and down-day excess) and persistence
    agree with arch's quasi-maximum likelihood within 3 of arch's standard errors, and its persistence with the
    truth. With more half-lives the prior is a larger model (a component GARCH, which arch lacks): the next test
    checks that fit against a grid of the quasi-likelihood."""
    x = _gjr_path(alpha, gamma, 20_000, seed=3)
    weights = fit_variance_prior(x, DECAYS[:1], max_persistence=0.999, assets=("A",))
    ours_a, ours_g = (float(v[0]) for v in prior_arch(weights, DECAYS[:1]))
    ours_p = float(prior_persistence(weights, DECAYS[:1])[0])
    params, cov = _arch(x, o=1)
    names = list(params.index)
    i_a, i_g, i_b = names.index("alpha[1]"), names.index("gamma[1]"), names.index("beta[1]")
    se_a, se_g = np.sqrt(cov.iloc[i_a, i_a]), np.sqrt(cov.iloc[i_g, i_g])
    assert abs(ours_g - params.iloc[i_g]) < 3 * se_g
    assert abs(ours_a - params.iloc[i_a]) < 3 * se_a
    # persistence alpha + gamma / 2 + beta: its standard error from the covariance of the three
    grad = np.zeros(len(names))
    grad[[i_a, i_b]], grad[i_g] = 1.0, 0.5
    se_p = float(np.sqrt(grad @ cov.to_numpy() @ grad))
    arch_p = params.iloc[i_a] + params.iloc[i_g] / 2 + params.iloc[i_b]
    assert abs(ours_p - arch_p) < 3 * se_p
    # and the truth, which arch estimates: the simulated persistence is 1 - omega
    assert abs(ours_p - (alpha + gamma / 2 + LAM)) < 3 * se_p


def test_the_fit_beats_every_single_half_life_garch_on_a_grid_and_is_the_optimum_it_reports():
    """The quasi-likelihood, by a plain loop, of the fitted weights is at least that of every GJR-GARCH(1, 1) of
    one half-life on a grid (w: 51 values, the down days' share: 11), and no random feasible move improves it."""
    x = np.concatenate([_gjr_path(0.05, 0.06, 3000, seed=1), np.random.default_rng(2).standard_t(6, (3000, 1))], 1)
    weights = fit_variance_prior(x, DECAYS, max_persistence=0.999, assets=("A", "B"))
    ours = _quasi_nll(weights, x, DECAYS)
    lam = DECAYS.astype(np.float64)
    grid = []
    for s in range(2):
        w_min = (1 - 0.999) / (1 - lam[s])
        for w in np.linspace(w_min, 1.0, 51):
            for g in np.linspace(0.0, 1.0, 11):
                one = np.zeros((5, 2))
                one[0], one[1 + s], one[3 + s] = w, (1 - w) * (1 - g), (1 - w) * g
                grid.append(one)
    best = _quasi_nll(np.stack(grid), x, DECAYS).min(axis=0)
    assert (ours <= best + 1e-9).all(), (ours, best)
    # the optimality conditions on the simplex (the cap does not bind here): every weight in use has the same
    # derivative of the loss, and moving weight to one not in use would not lower it
    states = _states(x, DECAYS)
    s2 = np.einsum("tsa,sa->ta", states, weights)
    grad = np.einsum("ta,tsa->sa", (1 / s2 - x ** 2 / s2 ** 2) / x.shape[0], states)
    for a in range(2):
        used = weights[:, a] > 0
        common = grad[used, a].mean()
        assert np.abs(grad[used, a] - common).max() < 1e-4, grad[:, a]
        assert (grad[~used, a] > common - 1e-4).all(), grad[:, a]
    moved = np.clip(weights + 0.01 * np.random.default_rng(0).standard_normal((50, *weights.shape)), 0.0, None)
    moved /= moved.sum(axis=1, keepdims=True)
    feasible = np.stack([prior_persistence(m, DECAYS) for m in moved]) <= 0.999
    assert feasible.sum() > 20
    assert (_quasi_nll(moved, x, DECAYS)[feasible] >= np.broadcast_to(ours, feasible.shape)[feasible] - 1e-9).all()


def test_the_persistence_is_the_spectral_radius_of_the_states_expected_recursion():
    """E[v_{t+1}] = lam v_t + (1 - lam) E[s2_t] for every state (a down day's doubled square has the mean of a
    square under symmetric innovations), so deviations from the level follow ``M = diag(lam) + (1 - lam) c^T``;
    the persistence is M's largest eigenvalue (numpy's), and ``1 - w (1 - lam)`` with one half-life."""
    decays = nn.ewma_decays((1, 5, 21, 250)).astype(np.float64)
    lam = np.tile(decays, 2)
    rng_ = np.random.default_rng(4)
    weights = rng_.dirichlet(np.ones(9), size=6).T
    weights[1:, 0] = 0.0
    weights[0, 0] = 1.0  # a constant variance
    weights[:, 1] = 0.0
    weights[0, 1], weights[3, 1] = 0.3, 0.7  # one half-life
    ours = prior_persistence(weights, decays)
    assert ours[0] == 0.0
    assert ours[1] == pytest.approx(1 - 0.3 * (1 - decays[2]), abs=1e-12)
    for a in range(2, 6):
        m = np.diag(lam) + (1 - lam)[:, None] * weights[1:, a][None, :]
        assert ours[a] == pytest.approx(np.max(np.abs(np.linalg.eigvals(m))), abs=1e-10)


def test_a_broken_iterate_is_moved_onto_the_constraints():
    """SLSQP meets its constraints to a tolerance and can stop at a non-finite point: `_feasible` returns
    non-negative weights summing to 1 that meet the cap, with specks and ruled-out states at 0."""
    decays = nn.ewma_decays((1, 5, 250)).astype(np.float64)
    lam = np.tile(decays, 2)
    cap = 0.995  # rules out the 250-day states (decay 0.99723)
    usable = lam < cap
    coef = np.where(usable, (1 - lam) / np.where(usable, cap - lam, 1.0), 0.0)
    for p in (np.array([-0.1, 0.5, 0.5, 0.3, 1e-12, 0.2, 0.1]), np.full(7, np.nan),
              np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]), np.array([0.2, 0.3, 0.0, 0.0, 0.0, 0.5, 0.0])):
        out = _feasible(p, coef)
        assert (out >= 0).all() and out.sum() == pytest.approx(1.0, abs=1e-12)
        assert coef @ out[1:] <= 1.0 and out[3] == 0.0 and out[6] == 0.0
        assert prior_persistence(out[:, None], decays)[0] <= cap + 1e-12
    assert (_feasible(np.full(7, np.nan), coef) == np.eye(7)[0]).all()  # no finite weight: a constant variance
    assert _feasible(np.array([0.5, 1e-12, 0.1, 0, 0, 0, 0]), coef)[1] == 0.0  # a speck is dropped


def test_the_persistence_cap_binds_on_a_path_more_persistent_than_the_cap_and_says_so():
    x = _gjr_path(1.0 - LAM - 0.0005, 0.0, 20_000, seed=5)  # persistence 0.9995, above the cap of 0.995
    with pytest.warns(VaeFitWarning, match="A wants a persistence above max_persistence = 0.995"):
        weights = fit_variance_prior(x, DECAYS, max_persistence=0.995, assets=("A",))
    assert prior_persistence(weights, DECAYS)[0] == pytest.approx(0.995, abs=1e-6)


def test_a_state_whose_decay_reaches_the_cap_carries_no_weight():
    decays = nn.ewma_decays((5, 250))  # 250 days: a decay of 0.99723, above a cap of 0.99
    x = _gjr_path(0.05, 0.0, 4000, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VaeFitWarning)
        weights = fit_variance_prior(x, decays, max_persistence=0.99, assets=("A",))
    assert weights[2, 0] == 0.0 and weights[4, 0] == 0.0
    assert prior_persistence(weights, decays)[0] <= 0.99 + 1e-9


def test_weights_are_a_convex_combination_and_iid_data_keep_almost_no_clustering():
    x = np.random.default_rng(0).standard_normal((3000, 3))
    x[:, 1] = _gjr_path(0.1, 0.0, 3000, seed=1)[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cap binds here, and the fit converges
        weights = fit_variance_prior(x, DECAYS, max_persistence=0.999, assets=("A", "B", "C"))
    assert weights.shape == (5, 3) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-12)
    alpha, gamma = prior_arch(weights, DECAYS)
    # iid: the weight of yesterday's square is noise, about 1 / sqrt(T) = 0.018 in arch's standard error;
    # the GARCH column (alpha 0.1) keeps its clustering
    assert (alpha + gamma / 2)[[0, 2]].max() < 0.03 and alpha[1] + gamma[1] / 2 > 0.06


# ------------------------------------------------------------------------------------ after training

@pytest.fixture(scope="module")
def tiny(small_fits):
    """The tiny preset fitted on `small_market` with the FIT stream of root 0: the session's shared fit."""
    return small_fits("vae")


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


def _mean_squares(gen, fitted, v0, *, worlds=300, horizon=1260, blocks=5):
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
    # stressed start falls, the calm one rises, the gap narrows year by year (this fit's prior is persistent:
    # measured, 4.1x, 1.5x, 1.18x, 1.03x, 1.01x), and they meet in the fifth year near the fit's long-run
    # variance (1 in standardized units times the drawn levels' mean, which the prior targets; the network's
    # corrections move it: 0.78 for this 40-step fit)
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


@pytest.mark.parametrize("value", [1.0, 0.0, 1.5, True, "0.99", 0.4, 0.997])
def test_max_persistence_must_lie_between_the_longest_decay_and_1(value):
    with pytest.raises(ConfigError, match="vae.max_persistence"):
        VaeConfig(max_persistence=value)  # 0.997: below 0.99723, the daily decay of a 250-day half-life


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

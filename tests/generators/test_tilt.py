"""Tail tilting by importance sampling (`stressgen.generators.Tilt` on the GARCH generator).

Statistical checks use 4 standard errors derived from the samples themselves (the weights' sample variance,
or the delta-method SE of a self-normalised estimate); every key is fixed, so the file is deterministic.
Sizes are small (four stocks, a quarter's horizon) so the file runs in seconds.
"""

import dataclasses
import warnings

import jax
import numpy as np
import pytest

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import GarchConfig, GjrGarch, StationaryBootstrap, Tilt, iter_chunks
from stressgen.generators import _garch_tilt
from stressgen.generators import _tilt as tl
from stressgen.generators._base import config_from_dict
from stressgen.generators import garch
from stressgen.types import Scenarios

H = 63  # a quarter: long enough for the weights to compound, short enough to be quick
GEN = GjrGarch()
KINDS = ("fhs", "gaussian-copula", "t-copula", "fhs-year")


def _config(kind: str) -> GarchConfig:
    """"fhs": i.i.d. rows (one pool of rows); "fhs-year": the default, year-matched rows."""
    if kind == "fhs":
        return GarchConfig(fhs_matching="none")
    return GarchConfig(fhs_matching="year") if kind == "fhs-year" else GarchConfig(innovations=kind)


@pytest.fixture(scope="module")
def fits(small_market):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", garch.GarchFitWarning)
        return {kind: GEN.fit(small_market, key=rng.root(0), config=_config(kind)) for kind in KINDS}


def _ew(s: Scenarios) -> np.ndarray:
    """``[worlds]`` log return of the daily rebalanced equal-weight portfolio over the horizon."""
    r = np.expm1(np.asarray(s.log_returns, np.float64)).mean(axis=2)
    return np.log1p(r).sum(axis=1)


def _sn_estimate(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Self-normalised weighted mean and its delta-method standard error ``sqrt(sum w~_i^2 (x_i - m)^2)``."""
    wn = w / w.sum()
    m = float((wn * x).sum())
    return m, float(np.sqrt((wn * wn * (x - m) ** 2).sum()))


# the Gaussian copula is the t copula's code less the mixing
@pytest.mark.parametrize("kind", ["fhs", "t-copula", "fhs-year"])
def test_theta_zero_is_the_plain_sample(fits, kind):
    key = rng.root(3)
    plain = GEN.sample(fits[kind], key=key, n_worlds=32, horizon=20)
    zero = GEN.sample(fits[kind], key=key, n_worlds=32, horizon=20, condition=Tilt(theta=0.0))
    assert plain.weights is None
    np.testing.assert_array_equal(np.asarray(zero.log_returns), np.asarray(plain.log_returns))
    np.testing.assert_array_equal(np.asarray(zero.weights), np.ones(32, np.float32))
    assert zero.provenance.condition == "tilt(theta=0.0, direction=equal-weight)"


@pytest.mark.parametrize("kind", KINDS)
def test_weights_average_to_one_and_worlds_shift_toward_losses(fits, kind):
    n, theta = 4000, 0.1  # theta^2 H = 0.63: E[w^2] = exp(0.63) = 1.9 for the Gaussian copula
    key = rng.root(11)
    tilted = GEN.sample(fits[kind], key=key, n_worlds=n, horizon=H, condition=Tilt(theta=theta))
    w = np.asarray(tilted.weights, np.float64)
    se = w.std(ddof=1) / np.sqrt(n)
    assert abs(w.mean() - 1.0) < 4 * se, (w.mean(), se)
    assert 0.3 < w.std() < 5.0  # the weights do vary, and not degenerately
    if "fhs" not in kind:  # copulas: an exactly lognormal ratio (mixing normal untilted), E[w^2] = exp(theta^2 H)
        w2 = w * w
        assert abs(w2.mean() - np.exp(theta**2 * H)) < 4 * w2.std(ddof=1) / np.sqrt(n), w2.mean()
    plain = _ew(GEN.sample(fits[kind], key=rng.root(12), n_worlds=n, horizon=H))
    r = _ew(tilted)
    shift = plain.mean() - r.mean()
    assert shift > 4 * np.sqrt(plain.var() / n + r.var() / n), shift
    # the reweighted tilted worlds estimate the plain mean (delta-method SE of the self-normalised mean)
    m, m_se = _sn_estimate(r, w)
    assert abs(m - plain.mean()) < 4 * np.hypot(m_se, plain.std() / np.sqrt(n)), (m, plain.mean())


def test_world_depends_only_on_its_index(fits, count_compiles):
    # sizes shared with test_theta_zero_is_the_plain_sample (32 worlds x 20 days): no new program to compile
    f, key, tilt = fits["fhs"], rng.root(21), Tilt(theta=0.12, direction=(1.0, 0.0, 2.0, 0.5))
    jax.block_until_ready(GEN.sample(f, key=key, n_worlds=32, horizon=20, condition=Tilt(theta=0.3)).weights)
    with count_compiles() as compiles:  # theta and the direction are data, not program structure
        whole = GEN.sample(f, key=key, n_worlds=32, horizon=20, condition=tilt)
        jax.block_until_ready(whole.weights)
    assert compiles.count == 0
    part = GEN.sample(f, key=key, n_worlds=8, horizon=20, condition=tilt, first_world=5)
    np.testing.assert_array_equal(np.asarray(part.log_returns), np.asarray(whole.log_returns[5:13]))
    np.testing.assert_array_equal(np.asarray(part.weights), np.asarray(whole.weights[5:13]))
    chunks = Scenarios.concat(list(iter_chunks(GEN, f, key=key, n_worlds=32, horizon=20, chunk_size=8,
                                               condition=tilt)))
    np.testing.assert_array_equal(np.asarray(chunks.log_returns), np.asarray(whole.log_returns))
    np.testing.assert_array_equal(np.asarray(chunks.weights), np.asarray(whole.weights))
    # normalised over all worlds, not per chunk
    w = np.asarray(whole.weights, np.float64)
    np.testing.assert_allclose(np.asarray(chunks.world_weights()), w / w.sum(), rtol=1e-5)
    assert not np.allclose(w, 1.0)
    plain = whole.replace(provenance=dataclasses.replace(whole.provenance, condition=None, first_world=32))
    with pytest.raises(ValueError, match="different conditions"):
        Scenarios.concat([whole, plain])


def _plain_ew(f, key, n_worlds: int) -> np.ndarray:
    # chunks of 4,000 worlds: the shape the other tests compile
    return np.concatenate([_ew(s) for s in iter_chunks(GEN, f, key=key, n_worlds=n_worlds, horizon=H,
                                                       chunk_size=4000)])


def test_tail_probability_agrees_with_more_plain_worlds_and_is_tighter(fits):
    """P(EW quarter log return < q), q the 1% quantile of an independent plain pilot. Tilted: 4,000 worlds,
    self-normalised estimate, delta-method SE; plain: 16,000 worlds, binomial SE."""
    f = fits["fhs"]
    q = np.quantile(_plain_ew(f, rng.root(31), 8000), 0.01)
    plain = _plain_ew(f, rng.root(32), 16000) < q
    p_plain = plain.mean()
    se_plain = np.sqrt(p_plain * (1 - p_plain) / plain.size)
    tilted = GEN.sample(f, key=rng.root(33), n_worlds=4000, horizon=H, condition=Tilt.for_tail(1.2, H))
    p_is, se_is = _sn_estimate((_ew(tilted) < q).astype(float), np.asarray(tilted.weights, np.float64))
    assert abs(p_is - p_plain) < 4 * np.hypot(se_is, se_plain), (p_is, se_is, p_plain, se_plain)
    assert se_is < se_plain, (se_is, se_plain)


def test_alias_table_realises_its_ratios_exactly():
    logits = 0.3 * np.random.default_rng(0).standard_normal(1001)
    thresholds, aliases, log_lr = tl.alias_table(logits)
    one = 2.0**tl.ALIAS_BITS
    realised = thresholds / one
    np.add.at(realised, aliases, 1.0 - thresholds / one)
    pi = realised / logits.size
    target = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(pi, target, rtol=0, atol=2.0 / one)  # within the table's resolution
    np.testing.assert_allclose((pi * np.exp(log_lr)).sum(), 1.0, rtol=1e-12)  # E_Q[LR] = 1 exactly
    t0, a0, l0 = tl.alias_table(np.zeros(7))
    assert (t0 == 2**tl.ALIAS_BITS).all() and (a0 == np.arange(7)).all() and (l0 == 0).all()


def test_year_matched_tables_tilt_each_window_by_the_pooled_score(fits):
    """Slow loop: each window's rows as the sampler replays them, the portfolio move of each, its score
    standardized over all windows' rows, and per window the probabilities the integer alias table realises:
    they are exp(theta s) normalised within the window (to the table's 2^-24 resolution) and the ratios are
    exact for them (sum pi' LR = 1)."""
    f, theta = fits["fhs-year"], 0.3
    out = _garch_tilt.year_tilt_params(f.resid, f.level_starts, int(f.state_neighbours), f.state_shrink,
                                       Tilt(theta=theta))
    resid, starts = np.asarray(f.resid, np.float64), np.asarray(f.level_starts)
    shrink = np.asarray(f.state_shrink, np.float64)
    length, n_assets = int(f.state_neighbours), resid.shape[1]
    moves = np.zeros((starts.size, length))
    for j in range(starts.size):
        for i in range(length):
            row = resid[starts[j] + i] * shrink[j]
            moves[j, i] = sum(row[a] / n_assets for a in range(n_assets))
    scores = -(moves - moves.mean()) / moves.std()
    threshold, alias = np.asarray(out["tilt_threshold"]), np.asarray(out["tilt_alias"])
    log_lr = np.asarray(out["tilt_log_lr"], np.float64)
    assert threshold.shape == alias.shape == log_lr.shape == (starts.size, length)
    one = 2.0 ** tl.ALIAS_BITS
    for j in range(starts.size):
        realised = threshold[j] / one / length
        np.add.at(realised, alias[j], (1.0 - threshold[j] / one) / length)
        target = np.exp(theta * scores[j]) / np.exp(theta * scores[j]).sum()
        np.testing.assert_allclose(realised, target, atol=2.0 / one)
        np.testing.assert_allclose((realised * np.exp(log_lr[j])).sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("kwargs, field", [
    (dict(theta=-0.1), "tilt.theta"), (dict(theta=float("nan")), "tilt.theta"), (dict(theta=True), "tilt.theta"),
    (dict(theta="1"), "tilt.theta"), (dict(theta=0.1, direction=()), "tilt.direction"),
    (dict(theta=0.1, direction=(0.0, 0.0)), "tilt.direction"),
    (dict(theta=0.1, direction=(1.0, "x")), "tilt.direction"),
    (dict(theta=0.1, direction=[1.0, 2.0]), "tilt.direction"),
    (dict(theta=0.1, direction=(1.0, float("inf"))), "tilt.direction"),
])
def test_bad_tilts_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        Tilt(**kwargs)


def test_a_tilt_from_a_table_names_the_key():
    # how a run spec will build it: lists become tuples, errors name the spec key
    assert config_from_dict(Tilt, {"theta": 0.1, "direction": [1, 2]}) == Tilt(theta=0.1, direction=(1, 2))
    with pytest.raises(ConfigError, match=r"stress\.tilt\.theta: must be a finite number >= 0"):
        config_from_dict(Tilt, {"theta": -1.0}, where="stress.tilt")
    with pytest.raises(ConfigError, match=r"stress\.tilt\.strength: unknown key"):
        config_from_dict(Tilt, {"strength": 1.0}, where="stress.tilt")


def test_tilts_the_sampler_cannot_honour_are_refused(fits, small_market):
    f = fits["fhs"]
    with pytest.raises(ConfigError, match="tilt.direction has 2 weights"):
        GEN.sample(f, key=rng.root(0), n_worlds=4, horizon=5, condition=Tilt(theta=0.1, direction=(1.0, 1.0)))
    with pytest.raises(ConfigError, match="tilt.theta is too strong"):
        GEN.sample(f, key=rng.root(0), n_worlds=4, horizon=5, condition=Tilt(theta=50.0))
    with pytest.raises(ConfigError, match="tilt.theta"):
        _garch_tilt.tilt_weights(np.array([0.0, 100.0], np.float32), Tilt(theta=1.0))
    with pytest.raises(ConfigError, match="tilt horizon must be an integer"):
        Tilt.for_tail(2.0, 0)
    state = dataclasses.replace(f, config=dataclasses.replace(f.config, fhs_matching="state"))
    with pytest.raises(ConfigError, match="Tilt needs i.i.d. or year-matched rows"):
        GEN.sample(state, key=rng.root(0), n_worlds=4, horizon=5, condition=Tilt(theta=0.1))
    with pytest.raises(ConfigError, match="'garch' does not support"):
        GEN.sample(f, key=rng.root(0), n_worlds=4, horizon=5, condition="crash")


def test_other_generators_refuse_the_tilt(small_market):
    boot = StationaryBootstrap()
    fitted = boot.fit(small_market, key=rng.root(0))
    with pytest.raises(ConfigError, match=r"generator 'bootstrap' does not support .*Tilt\(theta=0.1"):
        boot.sample(fitted, key=rng.root(1), n_worlds=4, horizon=5, condition=Tilt(theta=0.1))

"""`InRegime` in the stationary bootstrap (stressgen.generators._bootstrap_regime): held days replay only
history days of the regime, turbulent worlds are wider than calm ones, chunk invariance, typed errors, and
the plain path untouched. Fit: the session's bootstrap on four stocks 2017-2022 (`small_fits`)."""

import numpy as np
import pytest

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import InRegime, bootstrap
from stressgen.generators import _bootstrap_regime as br


@pytest.fixture(scope="module")
def fit(small_fits):
    return small_fits("bootstrap")


def _ew_total(log_returns):
    """``[worlds]`` float64 equal-weight log return over the horizon."""
    r = np.asarray(log_returns, np.float64)
    return np.log(np.expm1(r).mean(axis=2) + 1).sum(axis=1)


def test_labels_are_causal_terciles_of_the_trailing_equal_weight_volatility(fit):
    _, fitted = fit
    r = np.asarray(fitted.returns)
    labels = br.day_labels(r)
    assert (labels[:br.WINDOW - 1] == -1).all() and (labels[br.WINDOW - 1:] >= 0).all()
    shares = np.bincount(labels[labels >= 0], minlength=3) / (labels >= 0).sum()
    np.testing.assert_allclose(shares, 1 / 3, atol=0.01)
    # trailing window: a day's volatility uses no later day (changing the later days changes nothing before)
    vol = br.trailing_volatility(r)
    bent = r.copy()
    bent[600:] *= 10
    np.testing.assert_array_equal(br.trailing_volatility(bent)[:600], vol[:600])
    ew = r.astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(vol[599], np.sqrt(np.mean(ew[579:600] ** 2)), rtol=1e-12)
    assert br.day_labels(r[:10]).tolist() == [-1] * 10


def test_held_days_replay_only_history_days_of_the_regime(fit):
    gen, fitted = fit
    r = np.asarray(fitted.returns)
    labels = br.day_labels(r)
    held, horizon = 15, 40
    for k, name in enumerate(br.LABELS):
        s = gen.sample(fitted, key=rng.root(1), n_worlds=200, horizon=horizon,
                       condition=InRegime(regime=name, stay_days=held))
        rows = {row.tobytes(): i for i, row in enumerate(r)}
        pool = {row.tobytes() for row in r[labels == k]}
        w = np.asarray(s.log_returns)
        assert w.shape == (200, horizon, r.shape[1]) and s.weights is None
        assert all(w[i, t].tobytes() in pool for i in range(200) for t in range(held))
        # after the held period the plain bootstrap goes on: other regimes' days come back
        later = [labels[rows[w[i, t].tobytes()]] for i in range(200) for t in range(held, horizon)]
        assert np.mean(np.asarray(later) != k) > 0.1
        text = s.provenance.condition
        assert f"regime={name!r}" in text and f"days=1..{held}" in text and "history share=0.33" in text
    # stay_days 0 holds day 1 only
    s = gen.sample(fitted, key=rng.root(1), n_worlds=100, horizon=5, condition=InRegime(regime="turbulent"))
    pool = {row.tobytes() for row in r[labels == 2]}
    assert all(row.tobytes() in pool for row in np.asarray(s.log_returns)[:, 0])


def test_turbulent_worlds_are_wider_than_calm_ones(fit):
    """Equal-weight 10-day returns of worlds held 10 days turbulent vs calm: the standard deviations differ
    by more than 4 standard errors (SE of a sd ~ sd * sqrt((kurtosis - 1) / (4 n)), kurtosis from the
    sample)."""
    gen, fitted = fit
    n = 2000
    sd, se = {}, {}
    for name in ("calm", "turbulent"):
        s = gen.sample(fitted, key=rng.root(2), n_worlds=n, horizon=10, condition=InRegime(regime=name, stay_days=10))
        x = _ew_total(s.log_returns)
        sd[name] = x.std(ddof=1)
        kurt = np.mean((x - x.mean()) ** 4) / x.var() ** 2
        se[name] = sd[name] * np.sqrt((kurt - 1) / (4 * n))
    assert sd["turbulent"] - sd["calm"] > 4 * np.hypot(se["turbulent"], se["calm"])
    assert sd["turbulent"] > 1.5 * sd["calm"]


def test_world_i_does_not_depend_on_the_chunk(fit):
    gen, fitted = fit
    cond = InRegime(regime="turbulent", stay_days=8)
    whole = gen.sample(fitted, key=rng.root(3), n_worlds=7, horizon=30, condition=cond)
    part = gen.sample(fitted, key=rng.root(3), n_worlds=3, horizon=30, condition=cond, first_world=4)
    np.testing.assert_array_equal(np.asarray(whole.log_returns)[4:], np.asarray(part.log_returns))
    assert part.provenance.first_world == 4


def test_typed_errors_name_the_field(fit):
    gen, fitted = fit
    with pytest.raises(ConfigError, match=r"in_regime\.regime.*'crash'.*calm, normal, turbulent"):
        gen.sample(fitted, key=rng.root(0), n_worlds=2, horizon=3, condition=InRegime(regime="crash"))
    with pytest.raises(ConfigError, match=r"in_regime\.stay_days"):
        InRegime(regime="calm", stay_days=-1)
    # 40 days leave 20 labelled, about 7 a regime: too few to resample from
    short = np.random.default_rng(0).normal(0, 0.01, (40, 3))
    with pytest.raises(ConfigError, match=r"in_regime\.regime.*'calm'.*fewer than 21"):
        br.regime_pool(short, InRegime(regime="calm"))


def test_plain_sampling_is_the_unconditioned_program(fit):
    """condition=None goes through `bootstrap._sample` as before: the same call gives the same worlds."""
    gen, fitted = fit
    s = gen.sample(fitted, key=rng.root(4), n_worlds=5, horizon=20, first_world=2)
    direct = bootstrap._sample(fitted, rng.root(4), np.uint32(2), np.uint32(0), n_worlds=5, horizon=20)
    np.testing.assert_array_equal(np.asarray(s.log_returns), np.asarray(direct))
    assert s.provenance.condition is None


def test_uniform_starts_and_a_horizon_shorter_than_the_hold(small_market):
    """With matching="none" the held days still replay only the label's days; a horizon shorter than the
    hold is all held."""
    gen = bootstrap.StationaryBootstrap()
    fitted = gen.fit(small_market, key=rng.root(0), config=bootstrap.BootstrapConfig(matching="none", mean_block=20))
    r = np.asarray(fitted.returns)
    pool = {row.tobytes() for row in r[br.day_labels(r) == 0]}
    w = np.asarray(gen.sample(fitted, key=rng.root(5), n_worlds=50, horizon=6,
                              condition=InRegime(regime="calm", stay_days=30)).log_returns)
    assert all(w[i, t].tobytes() in pool for i in range(50) for t in range(6))
    s = gen.sample(fitted, key=rng.root(5), n_worlds=50, horizon=40, condition=InRegime(regime="calm", stay_days=5))
    assert np.isfinite(np.asarray(s.log_returns)).all()

"""Rolling-origin calibration (`stressgen.studies.calibrate`) on synthetic data from a known model: the true
model gives uniform PITs, a mis-scaled one does not; the cache resumes; an origin is reproducible alone;
refits never look ahead; and the spec's [evaluate.calibration] table is parsed strictly."""

from __future__ import annotations

import dataclasses
import importlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from flax import struct

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators import AbstractGenerator, BootstrapConfig, GarchConfig, HistoryContext, get
from stressgen.generators._base import digest, history_context
from stressgen.spec import parse_spec
from stressgen.studies import CalibrationConfig, calibrate, equal_weight_outcomes, reanchor, schedule
from stressgen.types import MarketData

calibration_module = importlib.import_module("stressgen.studies.calibration")

MU, SIGMA = 2e-4, 0.01  # per day: the true model of the synthetic market


def _market(n_days: int = 1100, n_assets: int = 2, seed: int = 7) -> MarketData:
    """i.i.d. Gaussian log returns (independent assets), as prices from 100."""
    r = np.random.default_rng(seed).normal(MU, SIGMA, size=(n_days - 1, n_assets))
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, n_assets)), np.cumsum(r, axis=0)]))
    return MarketData(prices=prices, dates=pd.bdate_range("2001-01-01", periods=n_days),
                      assets=tuple(f"A{i}" for i in range(n_assets)), source="<iid gaussian>")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GaussConfig:
    scale: float = 1.0  # multiplies the fitted volatility: 1 is the true model's family, < 1 too narrow
    history_days: int = 20


@struct.dataclass
class GaussFitted:
    mean: jax.Array
    chol: jax.Array
    context: HistoryContext
    config: GaussConfig = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)


@partial(jax.jit, static_argnames=("n_worlds", "horizon"))
def _draw(mean, chol, key, first_world, *, n_worlds, horizon):
    keys = rng.world_keys(key, first_world, n_worlds)
    z = jax.vmap(lambda k: jax.random.normal(k, (horizon, mean.shape[0])))(keys)
    return mean + z @ chol.T


class GaussIid(AbstractGenerator):
    """Test-only: i.i.d. multivariate normal log returns with the fitted mean and (scaled) covariance.
    It counts its fits and records the last date of each fit's data (no look-ahead check)."""

    name = "gauss-iid"
    config_type = GaussConfig

    def __init__(self) -> None:
        self.fit_ends: list[str] = []

    def fit(self, market, *, key, config=None):
        del key
        config = self._config(config)
        self.fit_ends.append(str(market.dates[-1].date()))
        r = market.log_returns
        chol = np.linalg.cholesky(np.atleast_2d(np.cov(r, rowvar=False))) * config.scale
        mean, chol = jnp.asarray(r.mean(axis=0), jnp.float32), jnp.asarray(chol, jnp.float32)
        return GaussFitted(mean=mean, chol=chol, context=history_context(market, config.history_days),
                           config=config, digest=digest(config, mean, chol))

    def sample(self, fitted, *, key, n_worlds, horizon, condition=None, first_world=0):
        self._check_condition(condition)
        r = _draw(fitted.mean, fitted.chol, key, jnp.uint32(first_world), n_worlds=n_worlds, horizon=horizon)
        return self._scenarios(fitted.context, r, fitted.digest, first_world)


class Reanchorable(GaussIid):
    """The same, with the re-anchor hook: keep the estimates, take the history up to the new origin."""

    def reanchor(self, fitted, market, *, key):
        del key
        return fitted.replace(context=history_context(market, fitted.config.history_days))


# monthly origins, one-month horizon: forecasts that do not overlap, so the PITs are independent
MONTHLY = CalibrationConfig(every_months=1, horizon=20, n_worlds=200, chunk_size=100, min_history=250)


@pytest.fixture(scope="module")
def market():
    return _market()


@pytest.fixture(scope="module")
def true_and_narrow(market):
    gens = {"true": (GaussIid(), GaussConfig()), "narrow": (GaussIid(), GaussConfig(scale=0.4))}
    return calibrate(market, gens, MONTHLY, key=rng.root(0))


def test_schedule_steps_months_from_start_and_skips_short_origins(market):
    plan = schedule(market, MONTHLY)
    assert len(plan.origins) >= 35 and plan.origins == plan.fit_origins
    rows = np.array(plan.rows)
    assert rows.min() >= 250 and rows.max() + 20 <= market.n_obs - 1
    assert all(d <= plan.origins[0] for d in plan.skipped[:3])  # the early ones lack history
    # an origin is the last date at or before its grid date (month starts from the first date)
    grid = [market.dates[0] + pd.DateOffset(months=k) for k in range(60)]
    for origin in plan.origins:
        t = pd.Timestamp(origin)
        assert any(t <= g and not ((market.dates > t) & (market.dates <= g)).any() for g in grid)
    every3 = schedule(market, dataclasses.replace(MONTHLY, refit_every=3))
    assert every3.fit_origins[:4] == (every3.origins[0],) * 3 + (every3.origins[3],)


def test_the_true_model_is_calibrated_and_a_narrow_one_is_not(true_and_narrow):
    res = true_and_narrow
    assert res.outcomes == ("ew:total_return", "ew:max_drawdown")
    for outcome in res.outcomes:
        good, bad = res.summary("true", outcome), res.summary("narrow", outcome)
        assert good.n >= 35
        assert good.ks_pvalue > 0.01 and good.outside_5_95 <= 0.25, (outcome, good)  # uniform at the 1 % level
        assert bad.ks_pvalue < 1e-4 and bad.outside_5_95 >= 0.25, (outcome, bad)  # 10 % when calibrated
        assert bad.crps > good.crps  # the proper score prefers the true model too
        assert sum(bad.histogram.counts) == bad.n
    # too narrow: real returns land in both tails (a U), real drawdowns above the worlds' (PIT near 1)
    pits = res.pits("narrow", "ew:total_return")
    assert np.mean(pits < 0.05) > 0.15 and np.mean(pits > 0.95) > 0.15
    assert np.mean(res.pits("narrow", "ew:max_drawdown")) > 0.7  # 0.5 when calibrated
    table = res.table()
    assert list(table["generator"].unique()) == ["true", "narrow"] and len(table) == 4
    doc = res.to_json()
    assert doc["meta"]["origins"] == list(res.schedule.origins) and len(doc["origins"]) == 4 * len(res.schedule.origins)


def test_real_outcome_is_the_next_h_days_after_the_origin(market, true_and_narrow):
    o = next(x for x in true_and_narrow.per_origin if x.generator == "true")
    row = list(market.dates).index(pd.Timestamp(o.origin))
    total, dd = equal_weight_outcomes(market.log_returns[row:row + 20])
    np.testing.assert_allclose(o.real, [total, dd])
    assert o.samples.shape == (2, 200) and np.isfinite(o.samples).all()


def test_an_origin_is_reproducible_alone(market, true_and_narrow):
    origin = true_and_narrow.schedule.origins[7]
    alone = calibrate(market, {"true": (GaussIid(), GaussConfig())},
                      dataclasses.replace(MONTHLY, start=origin, end=origin), key=rng.root(0))
    assert alone.schedule.origins == (origin,)
    full = next(o for o in true_and_narrow.per_origin if o.generator == "true" and o.origin == origin)
    np.testing.assert_array_equal(alone.per_origin[0].samples, full.samples)
    np.testing.assert_array_equal(alone.per_origin[0].pit, full.pit)


def test_a_rerun_with_the_cache_computes_nothing_and_gives_the_same_result(market, tmp_path):
    config = dataclasses.replace(MONTHLY, start="2003-01-01", end="2003-06-30", n_worlds=64, chunk_size=32,
                                 strategies=("buy_and_hold",))
    stages = []

    def run(gen):
        return calibrate(market, {"g": (gen, GaussConfig())}, config, key=rng.root(1), cache_dir=tmp_path,
                         progress=lambda s, d, t: stages.append((s, d, t)))

    first_gen, second_gen = GaussIid(), GaussIid()
    first = run(first_gen)
    n = len(first.schedule.origins)
    assert len(first_gen.fit_ends) == n >= 5 and len(list(tmp_path.glob("*.npz"))) == n
    assert ("calibration: g", n, n) in stages and ("calibration: worlds", 64, 64) in stages
    assert first.outcomes == ("ew:total_return", "ew:max_drawdown", "buy_and_hold:total_return",
                              "buy_and_hold:max_drawdown")
    assert np.isfinite(first.per_origin[0].real).all() and np.isfinite(first.per_origin[0].samples).all()
    second = run(second_gen)
    assert second_gen.fit_ends == [] and all(o.cached for o in second.per_origin)
    for a, b in zip(first.per_origin, second.per_origin, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
        np.testing.assert_array_equal(a.real, b.real)
        np.testing.assert_array_equal(a.pit, b.pit)
    pd.testing.assert_frame_equal(first.table(), second.table())
    # an interrupted run: drop two origins' files; only those are recomputed
    for path in sorted(tmp_path.glob("*.npz"))[-2:]:
        path.unlink()
    third_gen = GaussIid()
    third = run(third_gen)
    assert len(third_gen.fit_ends) == 2 and [o.cached for o in third.per_origin] == [True] * (n - 2) + [False] * 2
    pd.testing.assert_frame_equal(first.table(), third.table())
    # another M is another forecast: nothing is reused
    other = calibrate(market, {"g": (GaussIid(), GaussConfig())}, dataclasses.replace(config, n_worlds=32),
                      key=rng.root(1), cache_dir=tmp_path)
    assert not any(o.cached for o in other.per_origin)
    # ... and so is another generator config
    wider = calibrate(market, {"g": (GaussIid(), GaussConfig(scale=2.0))}, config, key=rng.root(1), cache_dir=tmp_path)
    assert not any(o.cached for o in wider.per_origin)


def test_the_cache_misses_after_any_change_to_the_package_code(market, tmp_path, monkeypatch):
    # a generator whose sampler changed under an unchanged config must not be served its old worlds
    config = dataclasses.replace(MONTHLY, start="2003-01-01", end="2003-03-31", n_worlds=32, chunk_size=32,
                                 strategies=())
    first = calibrate(market, {"g": (GaussIid(), GaussConfig())}, config, key=rng.root(1), cache_dir=tmp_path)
    again = calibrate(market, {"g": (GaussIid(), GaussConfig())}, config, key=rng.root(1), cache_dir=tmp_path)
    assert all(o.cached for o in again.per_origin) and len(first.per_origin) >= 2
    monkeypatch.setattr(calibration_module, "source_digest", lambda: "0" * 64)
    changed = calibrate(market, {"g": (GaussIid(), GaussConfig())}, config, key=rng.root(1), cache_dir=tmp_path)
    assert not any(o.cached for o in changed.per_origin)


def test_the_source_digest_moves_with_any_source_file(tmp_path, monkeypatch):
    import stressgen._version as version

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "_version.py").write_text("x")
    (pkg / "sub" / "a.py").write_text("a = 1\n")
    monkeypatch.setattr(version, "__file__", str(pkg / "_version.py"))
    before = version.source_digest()
    assert version.source_digest() == before
    (pkg / "sub" / "a.py").write_text("a = 2\n")
    assert version.source_digest() != before


def test_refit_every_reuses_earlier_fits_without_look_ahead(market):
    config = dataclasses.replace(MONTHLY, end="2003-12-31", refit_every=3, n_worlds=32, chunk_size=32)
    gen = Reanchorable()
    res = calibrate(market, {"g": (gen, GaussConfig())}, config, key=rng.root(0))
    plan = res.schedule
    assert gen.fit_ends == list(dict.fromkeys(plan.fit_origins))  # one fit per scheduled fit origin, none later
    assert all(f <= o for f, o in zip(plan.fit_origins, plan.origins, strict=True))
    assert [o.fit_origin for o in res.per_origin] == list(plan.fit_origins)
    # a family without a re-anchor hook is refitted at every origin (the worlds must continue from it)
    plain = GaussIid()
    res2 = calibrate(market, {"g": (plain, GaussConfig())}, config, key=rng.root(0))
    assert plain.fit_ends == list(plan.origins) and [o.fit_origin for o in res2.per_origin] == list(plan.origins)


def test_reanchor_of_the_built_in_families(market):
    early = market.__class__(prices=market.prices[:600], dates=market.dates[:600], assets=market.assets)
    boot = get("bootstrap")
    key = rng.root(0)
    fitted = boot.fit(early, key=key, config=BootstrapConfig(history_days=30))  # the data-driven block length
    moved = reanchor(boot, fitted, market, key=key)
    assert moved.context.history_end == str(market.dates[-1].date())
    assert float(moved.mean_block) == float(fitted.mean_block)  # the estimate is kept ...
    refit = boot.fit(market, key=key, config=BootstrapConfig(history_days=30, mean_block=float(fitted.mean_block)))
    assert moved.digest == refit.digest  # ... and everything else is rebuilt from the data up to the origin
    garch = get("garch")
    g = garch.fit(early, key=key, config=GarchConfig())
    same = reanchor(garch, g, early, key=key)  # re-anchored where it was fitted: the same state
    np.testing.assert_allclose(same.sigma2_next, g.sigma2_next, rtol=1e-4)
    later = reanchor(garch, g, market, key=key)
    assert later.context.history_end == str(market.dates[-1].date())
    np.testing.assert_allclose(later.alpha, g.alpha, rtol=1e-6)  # the fitted parameters are kept
    assert reanchor(GaussIid(), object(), market, key=key) is None  # a family without the hook: refit


def test_config_and_origins_are_checked(market):
    with pytest.raises(ConfigError, match="calibration.horizon"):
        CalibrationConfig(horizon=0)
    with pytest.raises(ConfigError, match="calibration.end"):
        CalibrationConfig(start="2010-01-01", end="2009-01-01")
    with pytest.raises(ConfigError, match="no calibration origin"):
        calibrate(market, {"g": (GaussIid(), None)}, dataclasses.replace(MONTHLY, horizon=5000), key=rng.root(0))
    with pytest.raises(ConfigError, match="nor a strategy plugin"):
        calibrate(market, {"g": (GaussIid(), None)}, dataclasses.replace(MONTHLY, strategies=("nope",)),
                  key=rng.root(0))


def _spec(calibration: dict) -> dict:
    return {"data": {"dataset": "sp500-20"}, "generator": {"family": "bootstrap"},
            "strategies": [{"plugin": "equal_weight"}, {"plugin": "ma_crossover", "name": "ma"}],
            "evaluate": {"generators": ["bootstrap"], "calibration": calibration}}


def test_spec_calibration_table_is_parsed_strictly(tmp_path):
    spec = parse_spec(_spec({"every_months": 12, "horizon": 63, "n_worlds": 100, "cache_dir": "cache"}),
                      base=tmp_path)
    cal = spec.evaluate.calibration
    assert cal.every_months == 12 and cal.horizon == 63 and cal.strategies == ("equal_weight", "ma")
    assert spec.evaluate.calibration_cache == str(tmp_path / "cache")
    import datetime

    only = parse_spec(_spec({"strategies": ["ma"], "start": datetime.date(1995, 1, 1)}))
    assert only.evaluate.calibration.strategies == ("ma",) and only.evaluate.calibration.start == "1995-01-01"
    assert parse_spec(_spec({})).evaluate.calibration is not None
    assert parse_spec({**_spec({}), "evaluate": {}}).evaluate.calibration is None
    with pytest.raises(ConfigError, match=r"evaluate\.calibration\.horizon: expected an integer"):
        parse_spec(_spec({"horizon": "long"}))
    with pytest.raises(ConfigError, match=r"evaluate\.calibration\.every_monhts: unknown key.*every_months"):
        parse_spec(_spec({"every_monhts": 3}))
    with pytest.raises(ConfigError, match=r"evaluate\.calibration\.strategies: 'mab'.*did you mean 'ma'"):
        parse_spec(_spec({"strategies": ["mab"]}))
    with pytest.raises(ConfigError, match=r"evaluate\.calibration\.refit_every: must be a positive integer"):
        parse_spec(_spec({"refit_every": 0}))

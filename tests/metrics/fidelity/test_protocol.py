"""The protocol end to end on a small window: table shape, floors, ranks, determinism, writers, quick card."""

import json

import numpy as np
import pandas as pd
import pytest

from stressgen import data, generators, rng
from stressgen.errors import ConfigError
from stressgen.metrics import fidelity as F
from stressgen.metrics.fidelity import strategy_tails
from stressgen.report import write_scorecard
from stressgen.studies import evaluate


@pytest.fixture(scope="module")
def market():
    return data.load("sp500-index", start="2013-01-01", end="2016-12-31")


@pytest.fixture(scope="module")
def config():
    return F.EvaluateConfig(split_at="2015-12-31", n_paths=16, n_seeds=2, allow_few_paths=True, warmup=260,
                            score=F.ScoreConfig(strategies=("buy_and_hold",), copy_max_windows=500))


@pytest.fixture(scope="module")
def card(market, config):
    gens = {name: (generators.get(name), None) for name in ("bootstrap", "garch")}
    return evaluate(market, gens, config, key=rng.root(0))


def test_table_has_every_generator_metric_and_floor(card, config):
    t = card.table
    names = F.metric_names(config.score)
    assert set(t["generator"]) == {"bootstrap", "garch", F.REAL_VS_REAL, F.KNOWN_DGP}
    assert len(t) == 4 * len(names)
    assert set(t["metric"]) == set(names)
    gens = t[t["kind"] == "generator"]
    ok = gens[np.isfinite(gens["mean"])]
    assert set(ok.groupby("metric")["rank"].apply(lambda r: tuple(sorted(r)))) <= {(1.0, 2.0), (1.0, 1.0)}
    assert t[t["kind"] == "floor"]["rank"].isna().all()
    both = t[t["n"] == 2]
    assert ((both["lo"] <= both["mean"]) & (both["mean"] <= both["hi"])).all()
    # single asset: the cross-asset metrics are not defined
    assert t[t["metric"].isin(["corr_err", "coexceed_err"])]["mean"].isna().all()
    # the real-vs-real floor is history itself: no copy rate
    assert np.isnan(t[(t["generator"] == F.REAL_VS_REAL) & (t["metric"] == "copy_rate")]["mean"].iloc[0])


def test_held_out_period_and_sizes(card, market):
    m = card.meta
    assert m["train"][1] == "2015-12-31" and m["test"][0] > "2015-12-31"
    assert m["n_train"] + m["n_test"] == market.n_obs - 1


def test_bootstrap_memorises_garch_does_not(card):
    w = card.wide()
    assert w.loc["bootstrap", "copy_rate"] > 0.3, w["copy_rate"]  # whole blocks of history: mostly copies
    assert w.loc["garch", "copy_rate"] < 0.05, w["copy_rate"]  # fresh innovations: about new data's 1%
    assert w.loc[F.KNOWN_DGP, "copy_rate"] < 0.05


def test_same_key_same_numbers(market, config, card):
    again = evaluate(market, {"garch": (generators.get("garch"), None)}, config, key=rng.root(0))
    a = card.raw[card.raw["generator"] == "garch"].reset_index(drop=True)
    b = again.raw[again.raw["generator"] == "garch"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_check_and_writers(card, tmp_path):
    failures = F.check(card.table)
    assert any(f.startswith("bootstrap: copy_rate") for f in failures)
    paths = write_scorecard(card, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert doc["failures"] == failures and len(doc["table"]) == len(card.table)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["parquet"]), card.table)
    html = paths["html"].read_text()
    assert html.count('class="plotly-graph-div"') >= 6 and "copy_rate" in html
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_check_flags_only_generators_over_their_limits():
    t = pd.DataFrame([dict(generator="g", kind="generator", metric="w1n_1d", mean=0.9),
                      dict(generator="g", kind="generator", metric="acf_abs", mean=0.1),
                      dict(generator=F.KNOWN_DGP, kind="floor", metric="w1n_1d", mean=9.0),
                      dict(generator="g", kind="generator", metric="corr_err", mean=np.nan)])
    assert F.check(t) == [f"g: w1n_1d = 0.9 exceeds {F.THRESHOLDS['w1n_1d'].limit:g} "
                          f"({F.THRESHOLDS['w1n_1d'].meaning})"]


def test_too_few_paths_is_a_config_error():
    with pytest.raises(ConfigError, match="n_paths"):
        F.EvaluateConfig(n_paths=100)
    with pytest.raises(ConfigError, match="not both"):
        F.EvaluateConfig(split_at="2015-01-01", split_fraction=0.5)


def test_strategy_error_is_zero_on_the_real_period_itself(market):
    r = market.log_returns
    real, history = r[-300:], r[-600:-300]
    errs = strategy_tails.strategy_errors(real, np.repeat(real[None], 3, axis=0), history, market.assets,
                                          strategies=("buy_and_hold",))
    assert max(errs.values()) < 1e-6


def test_quick_scorecard_is_in_sample(market, key):
    gen = generators.get("garch")
    fitted = gen.fit(market, key=rng.stream(key, rng.FIT))
    scen = gen.sample(fitted, key=rng.stream(key, rng.SAMPLE), n_worlds=16, horizon=120)
    card = F.quick_scorecard(market, scen, key=key, config=F.ScoreConfig(strategies=("buy_and_hold",)))
    assert card.meta["in_sample"] and card.meta["failures"] == F.check(card.table)
    assert set(card.table["generator"]) == {"garch"}
    w = card.wide()
    assert np.isnan(w.loc["garch", "copy_rate"]) and np.isfinite(w.loc["garch", "strategy_re"])

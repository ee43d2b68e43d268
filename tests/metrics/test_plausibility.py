"""The plausibility gate (issue 14 point 1) against independent references: a slow Hill loop and a Pareto
sample's known index, exact binomial sums for the quantile rank, pandas rolling windows for the real
references, and block-bootstrapped real histories (plausible by construction) with planted explosions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stressgen.errors import ConfigError
from stressgen.metrics import plausibility as pl
from stressgen.metrics.stylized import equal_weight_equity


@pytest.fixture(scope="module")
def hist(sp500_20):
    return sp500_20.log_returns


@pytest.fixture(scope="module")
def assets(sp500_20):
    return sp500_20.assets


def block_bootstrap(hist: np.ndarray, n: int, horizon: int, seed: int, block: int = 21) -> np.ndarray:
    """Worlds of consecutive real blocks: the real history reshuffled, so plausible by construction."""
    g = np.random.default_rng(seed)
    starts = g.integers(0, len(hist) - block, size=(n, -(-horizon // block)))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n, -1)[:, :horizon]
    return hist[idx].astype(np.float32)


def by_name(report: pl.PlausibilityReport, check: str, asset: str | None = None) -> pl.PlausibilityCheck:
    return next(c for c in report.checks if c.check == check and (asset is None or c.asset == asset))


# --------------------------------------------------------------------------------------------- estimators

def slow_hill(values, k):
    x = sorted((float(v) for v in values), reverse=True)
    return 1.0 / (sum(math.log(x[i] / x[k]) for i in range(k)) / k)


def test_hill_matches_a_slow_loop():
    x = np.abs(np.random.default_rng(0).standard_t(3, size=5_000))
    for k in (1, 10, 50, 499):
        assert pl.hill_index(x, k) == pytest.approx(slow_hill(x, k), rel=1e-12)
    assert math.isnan(pl.hill_index(x, 0)) and math.isnan(pl.hill_index(x, x.size))


@pytest.mark.parametrize("alpha", [1.5, 3.0, 5.0])
def test_hill_recovers_a_pareto_index(alpha):
    u = np.random.default_rng(1).random(200_000)
    x = (1.0 - u) ** (-1.0 / alpha)  # Pareto(alpha) from 1: P(X > x) = x^-alpha
    k = 2_000
    assert abs(pl.hill_index(x, k) - alpha) < 3 * alpha / math.sqrt(k)  # within 3 standard errors


def test_quantile_rank_against_exact_binomial_sums():
    def cdf(m, n, q):  # P(Binomial(n, q) <= m), summed exactly
        return sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(m + 1))

    for n, q in [(5, 0.999), (10, 0.999), (11, 0.999), (100, 0.999), (100, 0.9), (400, 0.95), (1000, 0.999)]:
        r = pl.quantile_lower_rank(n, q, 0.99)
        assert r == 0 or cdf(r - 1, n, q) <= 0.01, (n, q)   # X_(r) > the quantile with probability <= 1%
        assert r == n or cdf(r, n, q) > 0.01, (n, q)        # and r is the largest such rank
    # the 1,000 worlds of a run: at least 5 worlds beyond the 99.9% quantile before a failure is claimed
    assert pl.quantile_lower_rank(1000, 0.999, 0.99) == 996
    # large n: the normal approximation n q - z sqrt(n q (1 - q))
    n, q = 10_000, 0.999
    approx = n * q - stats.norm.ppf(0.99) * math.sqrt(n * q * (1 - q))
    assert abs(pl.quantile_lower_rank(n, q, 0.99) - approx) < 2
    assert pl.quantile_lower_rank(3, 0.5, 0.99) == 0  # 3 draws cannot place a median beyond doubt


def test_quantile_rank_covers_by_simulation():
    """X_(r) exceeds the true 99% quantile of a uniform in at most ~1% of 20,000 samples of 300."""
    g = np.random.default_rng(2)
    n, q = 300, 0.99
    r = pl.quantile_lower_rank(n, q, 0.99)
    order = np.sort(g.random((20_000, n)), axis=1)[:, r - 1]
    assert np.mean(order > q) <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / 20_000)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="quantile"):
        pl.PlausibilityConfig(quantile=1.5)
    with pytest.raises(ConfigError, match="vol_ratio"):
        pl.PlausibilityConfig(vol_ratio=0)


# ------------------------------------------------------------------------------------------ references

def test_real_references_against_pandas(hist):
    x = hist[:, :4]
    h = 63
    ref = pl.init(x, list("abcd"), h, 252, n_worlds=10).ref
    frame = pd.DataFrame(x)
    want_vol = frame.rolling(h).std(ddof=1).max().to_numpy() * math.sqrt(252)
    np.testing.assert_allclose(ref.max_vol, want_vol, rtol=1e-9)
    big = (np.abs(x) > 0.5).any(axis=1)
    windows = [big[s:s + h].any() for s in range(len(x) - h + 1)]
    assert ref.big_share == pytest.approx(np.mean(windows), abs=1e-12)
    eq = equal_weight_equity(x)                                    # [time + 1]
    best = max(eq[s + h] / eq[s] - 1 for s in range(len(x) - h + 1))
    assert ref.best_ew == pytest.approx(best, rel=1e-9)
    k = math.ceil(0.01 * len(x))
    np.testing.assert_allclose(ref.hill, [slow_hill(np.abs(x[:, j]), k) for j in range(4)], rtol=1e-12)
    assert (ref.window, ref.n_independent, ref.note) == (h, len(x) // h, "")


def test_statistics_against_numpy(hist, assets):
    """The reported 99.9% quantiles are order statistics of per-world values computed here with NumPy."""
    w = block_bootstrap(hist, 500, 252, seed=3)
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    n, rank = 500, math.ceil(0.999 * 500)
    vol = np.std(w.astype(np.float64), axis=1, ddof=1) * math.sqrt(252)
    for j, a in enumerate(assets):
        assert by_name(rep, "volatility", a).value == pytest.approx(np.sort(vol[:, j])[rank - 1], rel=1e-5)
        assert by_name(rep, "volatility", a).worst_world == int(np.argmax(vol[:, j]))
        k = math.ceil(0.01 * n * 252)
        assert by_name(rep, "hill_index", a).value == pytest.approx(slow_hill(np.abs(w[:, :, j]).ravel(), k),
                                                                    rel=1e-9)
    ew = equal_weight_equity(w)[:, -1] - 1.0
    assert by_name(rep, "ew_return").value == pytest.approx(np.sort(ew)[rank - 1], rel=1e-5)
    share = np.mean((np.abs(w) > 0.5).any(axis=(1, 2)))
    assert by_name(rep, "big_moves").value == pytest.approx(share)


# ------------------------------------------------------------------------------------------- streaming

def test_streaming_equals_one_shot(hist, assets, monkeypatch):
    w = block_bootstrap(hist, 300, 40, seed=4)
    one = pl.check_worlds(w, hist, assets, periods_per_year=252)
    for blocks in (None, 2 * 40 * 20):  # default scan blocks, and blocks of 2 worlds
        if blocks:
            monkeypatch.setattr(pl, "_BLOCK_VALUES", blocks)
        state = pl.init(hist, assets, 40, 252, n_worlds=300)
        for start, stop in [(100, 137), (0, 100), (137, 200), (200, 300)]:  # uneven and out of order
            state = pl.update(state, w[start:stop], start)
        streamed = pl.finalize(state)
        assert [(c.check, c.asset, c.passed, c.worst_world) for c in streamed.checks] == \
               [(c.check, c.asset, c.passed, c.worst_world) for c in one.checks]
        np.testing.assert_allclose([c.value for c in streamed.checks], [c.value for c in one.checks], rtol=1e-6)
        for c in streamed.checks:
            if c.check == "hill_index":  # the running top-k is exact
                assert c.value == by_name(one, "hill_index", c.asset).value


def test_top_k_survives_an_unrepresentative_first_block(hist, assets, monkeypatch):
    """The first chunk's cut is guessed from its first scan block; a wild first world makes the guess too
    high, which the count check catches (and the rescan fixes)."""
    monkeypatch.setattr(pl, "_BLOCK_VALUES", 20 * 20)  # one world per block
    w = block_bootstrap(hist, 200, 20, seed=5)
    w[0] *= 30
    state = pl.finalize(pl.update(pl.init(hist, assets, 20, 252, n_worlds=200), w, 0))
    k = math.ceil(0.01 * 200 * 20)
    for j, a in enumerate(assets):
        assert by_name(state, "hill_index", a).value == pytest.approx(slow_hill(np.abs(w[:, :, j]).ravel(), k),
                                                                      rel=1e-12)


def test_non_finite_values_in_the_first_block_keep_the_top_k_exact(hist, assets):
    w = block_bootstrap(hist, 200, 20, seed=24)
    w[:20, 3, :] = np.nan  # 10% of the first block's values per asset: the cut's guess is NaN
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    k = math.ceil(0.01 * 180 * 20)
    for j, a in enumerate(assets):
        assert by_name(rep, "hill_index", a).value == pytest.approx(slow_hill(np.abs(w[20:, :, j]).ravel(), k),
                                                                      rel=1e-12)


def test_update_refuses_worlds_beyond_init(hist, assets):
    state = pl.init(hist, assets, 10, 252, n_worlds=5)
    with pytest.raises(ValueError, match="exceed"):
        pl.update(state, np.zeros((3, 10, len(assets)), np.float32), 4)
    with pytest.raises(ValueError, match="expected worlds"):
        pl.update(state, np.zeros((3, 11, len(assets)), np.float32), 0)


# ------------------------------------------------------------------------------------ the verdicts

def test_block_bootstrap_of_history_passes(hist, assets):
    rep = pl.check_worlds(block_bootstrap(hist, 2_000, 252, seed=6), hist, assets, periods_per_year=252)
    assert rep.failures == (), rep.summary_line()
    assert len(rep.checks) == 3 + 2 * len(assets)
    assert rep.summary_line() == f"plausibility: all {3 + 2 * len(assets)} checks passed"


@pytest.mark.parametrize("n, seed", [(1, 7), (5, 8), (20, 9), (100, 10), (100, 11)])
def test_small_samples_give_no_false_alarm(hist, assets, n, seed):
    rep = pl.check_worlds(block_bootstrap(hist, n, 252, seed=seed), hist, assets, periods_per_year=252)
    assert rep.failures == (), rep.summary_line()


def test_student_t_worlds_at_the_real_volatility_pass(hist, assets):
    """A heavy-tailed model (t with 4 degrees of freedom, index 4) that is not history also passes."""
    g = np.random.default_rng(12)
    t = g.standard_t(4, size=(1_000, 252, len(assets))) / math.sqrt(2.0)   # unit variance
    w = (t * hist.std(axis=0) + hist.mean(axis=0)).astype(np.float32)
    assert pl.check_worlds(w, hist, assets, periods_per_year=252).failures == ()


def test_a_single_extreme_world_is_not_a_failure(hist, assets):
    """The maximum of a heavy-tailed model may exceed history's: one world with |r| = 3 fails nothing."""
    w = block_bootstrap(hist, 1_000, 252, seed=13)
    w[17, 5, 4] = 3.0
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    assert rep.failures == ()
    assert by_name(rep, "big_moves").worst_world == 17 and by_name(rep, "hill_index", assets[4]).worst_world == 17


def test_planted_big_moves_fail_with_asset_and_world(hist, assets):
    w = block_bootstrap(hist, 1_000, 252, seed=14)
    w[::3, 100, 3] = 3.0    # a third of the worlds: a 3.0 log move in asset 3
    w[501, 100, 3] = -4.0   # the largest
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    failed = {(c.check, c.asset) for c in rep.failures}
    assert ("big_moves", assets[3]) in failed and ("volatility", assets[3]) in failed
    assert all(a in (None, assets[3]) for _, a in failed)
    big = by_name(rep, "big_moves")
    assert big.worst_world == 501 and big.value > 0.33 and big.bound < big.value
    vol = by_name(rep, "volatility", assets[3])
    assert vol.worst_world == 501 and vol.value > vol.bound
    for c in rep.failures:  # one sentence naming the check, asset, value, bound and worst world
        assert c.message.startswith(c.check) and f"worst world {c.worst_world}" in c.message
        assert "\n" not in c.message and c.message.count(". ") == 0
    assert vol.message.startswith(f"volatility: {assets[3]}: ") and "beyond sampling error" in vol.message


def test_planted_huge_volatility_fails_with_asset_and_world(hist, assets):
    w = block_bootstrap(hist, 1_000, 252, seed=15)
    w[::25, :, 5] *= 6      # 4% of the worlds: asset 5 six times as volatile
    w[650, :, 5] *= 3       # world 650 (one of them) the most
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    vols = [c for c in rep.failures if c.check == "volatility"]
    assert [c.asset for c in vols] == [assets[5]] and vols[0].worst_world == 650
    assert "hill_index" not in {c.check for c in rep.failures}  # scaling keeps the tail index


def test_non_finite_values_fail_and_leave_the_other_checks(hist, assets):
    w = block_bootstrap(hist, 500, 252, seed=16)
    w[42, 7, 2], w[43, 8, 1], w[43, 9, 1] = np.nan, np.inf, -np.inf
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    assert [c.check for c in rep.failures] == ["non_finite"]
    bad = rep.failures[0]
    assert (bad.value, bad.worst_world) == (3.0, 42) and "in 2 worlds" in bad.message
    assert rep.summary_line().startswith("plausibility: 1 of ")


def test_compounding_volatility_fails(hist, assets):
    """Volatility that grows 55-fold within the year fails the volatility and big-move checks."""
    g = np.random.default_rng(17)
    sd = hist.std(axis=0) * np.exp(np.linspace(0, 4, 252))[None, :, None]
    w = (g.standard_normal((500, 252, len(assets))) * sd).astype(np.float32)
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    assert {"big_moves", "volatility"} <= {c.check for c in rep.failures}
    assert {c.asset for c in rep.failures if c.check == "volatility"} == set(assets)


def garch_worlds(hist, n, horizon, alpha, beta, seed):
    """GARCH(1, 1) worlds with Gaussian shocks, started at and targeting each asset's real variance."""
    g = np.random.default_rng(seed)
    var = hist.var(axis=0)
    s2 = np.broadcast_to(var, (n, hist.shape[1])).copy()
    out = np.empty((n, horizon, hist.shape[1]))
    for t in range(horizon):
        out[:, t] = np.sqrt(s2) * g.standard_normal(s2.shape)
        s2 = var * (1 - alpha - beta) + alpha * out[:, t] ** 2 + beta * s2
    return out.astype(np.float32)


def test_garch_with_a_huge_alpha_fails_the_tail_index(hist, assets):
    """Persistence 0.999 with alpha 0.8: the variance recursion breeds a power tail of index < 2."""
    rep = pl.check_worlds(garch_worlds(hist, 500, 252, 0.8, 0.199, 21), hist, assets, periods_per_year=252)
    hill = [c for c in rep.failures if c.check == "hill_index"]
    assert len(hill) >= len(assets) // 2 and all(c.value < c.bound for c in hill)
    # a calm GARCH passes
    calm = pl.check_worlds(garch_worlds(hist, 500, 252, 0.05, 0.94, 22), hist, assets, periods_per_year=252)
    assert calm.failures == ()


def test_history_shorter_than_the_horizon_is_said(hist, assets):
    short = hist[-100:]
    rep = pl.check_worlds(block_bootstrap(short, 200, 252, seed=18, block=10), short, assets, periods_per_year=252)
    assert by_name(rep, "volatility", assets[0]).message.count("shorter than the 252-day horizon") == 1
    assert "100-day window" in by_name(rep, "big_moves").message


@pytest.mark.parametrize("ppy, day, daily", [(252, "day", "daily"), (365, "day", "daily"), (52, "week", "weekly"),
                                              (12, "month", "monthly"), (4, "period", "per-period")])
def test_messages_name_the_historys_period(hist, assets, ppy, day, daily):
    """A monthly history's worlds are months: the messages must not call them days."""
    short = hist[-100:]
    rep = pl.check_worlds(block_bootstrap(short, 50, 120, seed=20, block=10), short, assets, periods_per_year=ppy)
    big = by_name(rep, "big_moves").message
    assert f"have a {daily} |log r|" in big and f"of 100-{day} windows" in big
    vol = by_name(rep, "volatility", assets[0]).message
    assert f"shorter than the 120-{day} horizon" in vol and f"highest real 100-{day} volatility" in vol
    assert f"the equal-weight 120-{day} return" in by_name(rep, "ew_return").message
    if day != "day":
        assert not any("-day" in c.message or "daily" in c.message for c in rep.checks)


def test_ew_bound_when_history_only_lost():
    """A short falling history: 1.5 x its best (negative) window would reject its own model; the bound is
    the normal-model quantile instead, computed here from the daily equal-weight log growth."""
    g = np.random.default_rng(19)
    hist = -0.004 + 0.01 * g.standard_normal((300, 3))
    ref = pl.init(hist, ["a", "b", "c"], 126, 252, n_worlds=10).ref
    assert ref.best_ew < 0
    growth = np.log(1 + np.expm1(hist).mean(axis=1))
    sd = growth.std(ddof=1) * math.sqrt(126 + 126**2 / 300)  # the drift's estimation error included
    gauss = math.expm1(126 * growth.mean() + stats.norm.ppf(0.999) * sd)
    assert ref.ew_gauss == pytest.approx(gauss, rel=1e-9)
    worlds = (-0.004 + 0.01 * g.standard_normal((400, 126, 3))).astype(np.float32)
    ew = by_name(pl.check_worlds(worlds, hist, ["a", "b", "c"], periods_per_year=252), "ew_return")
    assert ew.bound == pytest.approx(gauss) and ew.passed


def test_ew_bound_is_the_stated_bar_for_sp500(hist, assets):
    ref = pl.init(hist, assets, 252, 252, n_worlds=10).ref
    rep = pl.check_worlds(block_bootstrap(hist, 50, 252, seed=23), hist, assets, periods_per_year=252)
    assert ref.ew_gauss < 1.5 * ref.best_ew
    assert by_name(rep, "ew_return").bound == pytest.approx(1.5 * ref.best_ew)


def test_report_round_trips_through_json(hist, assets):
    w = block_bootstrap(hist, 100, 20, seed=20)
    w[3, 2, 1] = np.nan
    rep = pl.check_worlds(w, hist, assets, periods_per_year=252)
    back = pl.PlausibilityReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back == rep and back.failures == rep.failures

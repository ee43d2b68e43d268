"""Cross-world aggregation: weighted quantile against numpy and row replication, closed forms, bootstrap."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.metrics import aggregate as agg
from stressgen.metrics.quantile import percentile_rank, tail_risk, weighted_mean, weighted_quantile

QS = np.array([0.0, 0.01, 0.05, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.95, 0.99, 1.0])
wq = jax.jit(weighted_quantile)


@pytest.mark.parametrize("n", [1, 7, 20, 100, 1000])
def test_uniform_weighted_quantile_is_numpy_inverted_cdf(n):
    # n = 20 and 100 make q * n whole for several q: the case float32 rounding would get wrong
    x = np.random.default_rng(n).normal(size=n).astype(np.float32)
    want = np.quantile(x, QS, method="inverted_cdf")
    np.testing.assert_array_equal(wq(x, QS, None), want)
    np.testing.assert_array_equal(wq(x, QS, np.full(n, 3.0, np.float32)), want)  # scale-free


@jax.jit
def _weighted_all(x, w, value):
    return (weighted_quantile(x, QS, w), weighted_mean(x, w), tail_risk(x[:, 0], (0.9, 0.95), w),
            percentile_rank(x[:, 1], value, w))


def test_integer_weights_equal_replicated_rows():
    g = np.random.default_rng(1)
    x = g.normal(size=(40, 3)).astype(np.float32)
    k = g.integers(0, 5, size=40)
    rep = np.repeat(x, k, axis=0)
    q, mean, (var, es), rank = _weighted_all(x, k.astype(np.float32), x[3, 1])
    np.testing.assert_array_equal(q, np.quantile(rep, QS, axis=0, method="inverted_cdf"))
    np.testing.assert_allclose(mean, rep.mean(axis=0), rtol=1e-5)
    for i, level in enumerate((0.9, 0.95)):
        qa = np.quantile(rep[:, 0], 1 - level, method="inverted_cdf")
        assert float(var[i]) == -qa
        assert float(es[i]) == pytest.approx(-rep[rep[:, 0] <= qa, 0].mean(), rel=1e-5)
    v = x[3, 1]
    want = 100 * ((rep[:, 1] < v).mean() + 0.5 * (rep[:, 1] == v).mean())
    assert float(rank) == pytest.approx(want, rel=1e-5)


def test_quantiles_of_a_normal_sample_within_their_standard_error():
    n = 20_000
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    q = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    z = stats.norm.ppf(q)
    se = np.sqrt(q * (1 - q) / n) / stats.norm.pdf(z)  # asymptotic SE of a sample quantile
    got = np.asarray(wq(x, q, None))
    assert np.all(np.abs(got - z) < 4 * se), (got - z) / se


def test_importance_weights_recover_the_target_distribution():
    # worlds drawn from N(0, 1), weighted by the density ratio N(1, 1) / N(0, 1) = exp(x - 1/2): the weighted
    # mean and median estimate those of N(1, 1). SE from the effective sample size (sum w)^2 / sum w^2.
    x = np.random.default_rng(3).standard_normal(50_000).astype(np.float32)
    w = np.exp(x - 0.5)
    n_eff = w.sum() ** 2 / (w**2).sum()
    assert abs(float(weighted_mean(x, w)) - 1.0) < 4 / np.sqrt(n_eff)
    assert abs(float(wq(x, 0.5, w)) - 1.0) < 4 * np.sqrt(0.25 / n_eff) / stats.norm.pdf(0)


def test_nan_worlds_are_dropped_and_counted():
    x = np.array([[1.0, np.nan], [2.0, 3.0], [3.0, np.nan], [4.0, 5.0]], np.float32)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    np.testing.assert_allclose(weighted_mean(x, w), [3.0, (0.2 * 3 + 0.4 * 5) / 0.6], rtol=1e-6)
    np.testing.assert_array_equal(wq(x, np.array([0.0, 0.5, 1.0]), w), [[1, 3], [3, 5], [4, 5]])
    assert np.isnan(wq(np.full(3, np.nan, np.float32), 0.5, None))
    metrics = _worlds()
    metrics["sharpe"][:30] = np.nan  # e.g. worlds that stayed in cash
    w = np.linspace(1.0, 2.0, N_WORLDS)
    res = agg.aggregate_metrics(metrics, w, key=rng.root(2), config=CFG).summary
    assert res.loc[("sharpe", "undefined"), "value"] == pytest.approx(w[:30].sum() / w.sum(), rel=1e-5)
    assert res.loc[("total_return", "undefined"), "value"] == 0.0
    assert res.loc[("sharpe", "mean"), "value"] == pytest.approx(
        (w[30:] * metrics["sharpe"][30:]).sum() / w[30:].sum(), rel=1e-5)


def test_percentile_rank_extremes_and_ties():
    x = jnp.arange(10.0)
    assert float(percentile_rank(x, 100.0)) == 100.0
    assert float(percentile_rank(x, -1.0)) == 0.0
    assert float(percentile_rank(x, 4.0)) == pytest.approx(45.0)  # 4 below, one tie counted half
    assert float(percentile_rank(jnp.ones(5), 1.0)) == pytest.approx(50.0)
    s = agg.rank_real_history({"total_return": x, "sharpe": -x, "cagr": x},
                              {"total_return": 11.0, "sharpe": 0.0})
    assert s.to_dict() == {"total_return": 100.0, "sharpe": pytest.approx(95.0)}


def test_beat_matrix_is_antisymmetric_and_counts_ties_half():
    g = np.random.default_rng(4)
    m = g.normal(size=(4, 300)).astype(np.float32)
    w = g.uniform(0.1, 1.0, 300).astype(np.float32)
    p = np.asarray(agg.beat_matrix(m, w))
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose((p + p.T)[off], 1.0, rtol=1e-6)  # continuous draws: no ties
    np.testing.assert_allclose(np.diag(p), 0.5)
    slow = sum(w[i] * (m[0, i] > m[1, i]) for i in range(300)) / w.sum()
    assert p[0, 1] == pytest.approx(slow, rel=1e-5)
    tied = np.asarray(agg.beat_matrix(np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 3.0, 5.0]], np.float32)))
    assert tied[0, 1] == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)
    table = agg.head_to_head({"a": m[0], "b": m[1]}, w)
    assert table.loc["a", "b"] == pytest.approx(slow, rel=1e-5) and list(table.columns) == ["a", "b"]
    # from per-world metric dicts, on a named metric; drawdown is better when lower
    per = {k: {"max_drawdown": np.abs(m[i]), "sharpe": m[i]} for i, k in enumerate("ab")}
    dd = agg.head_to_head(per, w, metric="max_drawdown")
    slow_dd = sum(w[i] * (abs(m[0, i]) < abs(m[1, i])) for i in range(300)) / w.sum()
    assert dd.loc["a", "b"] == pytest.approx(slow_dd, rel=1e-5)
    assert agg.head_to_head(per, w, metric="sharpe").loc["a", "b"] == pytest.approx(slow, rel=1e-5)
    with pytest.raises(ConfigError, match="no metric 'calmar'"):
        agg.head_to_head(per, metric="calmar")


# one shape and one config for every aggregate() call below, so that the suite compiles it once
N_WORLDS = 100
CFG = agg.AggregateConfig(drawdown_thresholds=(0.1, 0.2), goal=0.15)


def _worlds(seed=5):
    g = np.random.default_rng(seed)
    tr = g.normal(0.05, 0.15, N_WORLDS).astype(np.float32)
    mdd = np.abs(g.normal(0.15, 0.08, N_WORLDS)).astype(np.float32)
    sharpe = g.normal(0.4, 0.8, N_WORLDS).astype(np.float32)
    return {"total_return": tr, "max_drawdown": mdd, "sharpe": sharpe}


def test_probabilities_and_tails_match_direct_formulas():
    metrics = _worlds()
    w = np.random.default_rng(6).uniform(0.5, 2.0, N_WORLDS).astype(np.float32)
    res = agg.aggregate_metrics(metrics, w, key=rng.root(1), config=CFG)
    tr, mdd, wn = metrics["total_return"], metrics["max_drawdown"], w / w.sum()
    probs = res.probabilities["value"]
    assert list(probs.index) == ["P(total_return < 0)", "P(max_drawdown > 0.1)", "P(max_drawdown > 0.2)",
                                 "P(total_return > 0.15)"]
    want = [wn[tr < 0].sum(), wn[mdd > 0.1].sum(), wn[mdd > 0.2].sum(), wn[tr > 0.15].sum()]
    np.testing.assert_allclose(probs.values, want, rtol=1e-5)
    order = np.argsort(tr)
    q05 = tr[order][np.searchsorted(np.cumsum(wn[order]), 0.05)]
    assert res.tails.loc[("total_return", "var_95"), "value"] == pytest.approx(-q05)
    assert res.tails.loc[("total_return", "es_95"), "value"] == pytest.approx(
        -(wn * tr)[tr <= q05].sum() / wn[tr <= q05].sum(), rel=1e-5)
    mdd_var = res.tails.loc[("max_drawdown", "var_99"), "value"]
    assert wn[mdd >= mdd_var].sum() >= 0.01 and wn[mdd > mdd_var].sum() <= 0.01  # the 99% quantile of depth
    summary = res.summary
    assert summary.loc[("sharpe", "q50"), "value"] == pytest.approx(float(wq(metrics["sharpe"], 0.5, w)))
    want_mean = float((wn * metrics["sharpe"]).sum())
    assert summary.loc[("sharpe", "mean"), "value"] == pytest.approx(want_mean, rel=1e-5)
    # every interval brackets its point estimate here (smooth statistics of 100 worlds)
    rows = summary.drop(index="undefined", level="statistic")
    for frame in (rows, res.tails, res.probabilities):
        assert np.all(frame["ci_low"] <= frame["value"] + 1e-6)
        assert np.all(frame["value"] <= frame["ci_high"] + 1e-6)


def test_bootstrap_interval_of_a_normal_mean_covers_zero():
    # 20 repetitions with fixed data seeds and keys: deterministic. A 95% interval should miss about once;
    # requiring 16 of 20 leaves room for the percentile interval's slight undercoverage at n = 100.
    hits, widths = 0, []
    for rep in range(20):
        x = np.random.default_rng(100 + rep).standard_normal(N_WORLDS).astype(np.float32)
        worlds = {"total_return": x, "max_drawdown": np.abs(x), "sharpe": x}
        res = agg.aggregate_metrics(worlds, key=rng.root(rep), config=CFG)
        lo, hi = res.summary.loc[("total_return", "mean"), ["ci_low", "ci_high"]]
        hits += lo <= 0.0 <= hi
        widths.append(hi - lo)
    assert hits >= 16, hits
    # and the interval has the width of the normal-theory one, 2 * 1.96 / sqrt(n), to within 25%
    assert abs(np.mean(widths) / (2 * 1.96 / np.sqrt(N_WORLDS)) - 1) < 0.25, np.mean(widths)


def test_bootstrap_is_deterministic_chunk_free_and_carries_weights():
    x = jnp.arange(50.0)
    w = jnp.zeros(50).at[7].set(1.0)  # all the weight on world 7
    boot = jax.jit(agg.bootstrap, static_argnames=("stat_fn", "n_boot", "batch_size"))
    key = rng.root(3)
    a = boot(weighted_mean, (x,), w, key=key, n_boot=40, batch_size=8)
    b = boot(weighted_mean, (x,), w, key=key, n_boot=40, batch_size=40)
    np.testing.assert_allclose(a, b, rtol=1e-6)  # replicate b is the same whatever the batching
    # a replicate either drew world 7 (its weight comes along: the mean is 7) or holds no weight at all (NaN)
    got = np.asarray(a)
    np.testing.assert_allclose(got[~np.isnan(got)], 7.0, rtol=1e-6)
    assert np.isnan(got).any() and (~np.isnan(got)).sum() > 10
    c = boot(weighted_mean, (x,), w, key=rng.root(4), n_boot=40, batch_size=40)
    assert not np.array_equal(np.isnan(c), np.isnan(b))


def test_aggregate_table_layout_and_single_compile(count_compiles):
    metrics = _worlds(seed=9)
    res = agg.aggregate_metrics(metrics, key=rng.root(0), config=CFG)
    stats_ = ["mean", "q01", "q05", "q25", "q50", "q75", "q95", "q99", "undefined"]
    assert res.summary.index.tolist() == [(m, s) for m in metrics for s in stats_]
    assert res.tails.index.tolist() == [(k, f"{s}_{lv}") for lv in ("95", "99")
                                           for k in ("total_return", "max_drawdown") for s in ("var", "es")]
    with count_compiles() as counter:
        shifted = {k: v + 0.01 for k, v in metrics.items()}
        again = agg.aggregate_metrics(shifted, np.ones(N_WORLDS), key=rng.root(1), config=CFG)
    assert counter.count == 0
    assert not again.summary.equals(res.summary)
    # no bootstrap: point estimates unchanged, intervals NaN
    bare = agg.aggregate_metrics(metrics, key=rng.root(0), config=dataclasses.replace(CFG, n_boot=0))
    np.testing.assert_allclose(bare.summary["value"], res.summary["value"], rtol=1e-6)
    assert bare.summary["ci_low"].isna().all()


def test_config_and_input_validation():
    with pytest.raises(ConfigError, match="quantiles"):
        agg.AggregateConfig(quantiles=(5.0,))
    with pytest.raises(ConfigError, match="tail_levels"):
        agg.AggregateConfig(tail_levels=(0.05,))
    with pytest.raises(ConfigError, match="n_boot"):
        agg.AggregateConfig(n_boot=-1)
    with pytest.raises(ConfigError, match="max_drawdown"):
        agg.aggregate_metrics({"total_return": np.zeros(3)}, key=rng.root(0))
    with pytest.raises(ConfigError, match="weights"):
        agg.aggregate_metrics(_worlds(), np.ones(5), key=rng.root(0))


def test_intervals_equal_a_slow_resampling_loop():
    """Every statistic and interval of `cross_world_stats` (counts over presorted columns) against a float64
    NumPy loop that resamples the worlds of each replicate (the same draws) and sorts them again."""
    n, n_boot = 300, 40
    g = np.random.default_rng(11)
    x = g.standard_normal((n, 3)).astype(np.float32)
    x[g.choice(n, 9, replace=False), 2] = np.nan  # an undefined ratio in some worlds
    w = g.uniform(0.5, 1.5, n).astype(np.float32)  # uneven weights: no CDF lands exactly on a level
    tr, dd = x[:, 0], np.abs(x[:, 1])
    cfg = agg.AggregateConfig(n_boot=n_boot, boot_batch=7)
    key = rng.root(5)
    got = jax.device_get(agg.cross_world_stats(x, tr, dd, w, key=key, config=cfg))

    def quantile(v, wt, q):
        ok = ~np.isnan(v)
        v, wt = v[ok], wt[ok]
        o = np.argsort(v, kind="stable")
        cdf = np.cumsum(wt[o])
        return v[o][np.searchsorted(cdf, q * cdf[-1], side="left")]

    def stats(idx):
        xs, ws, t, d = x[idx].astype(np.float64), w[idx].astype(np.float64), tr[idx], dd[idx]
        ok = ~np.isnan(xs)
        mean = np.array([np.sum(ws[ok[:, j]] * xs[ok[:, j], j]) / ws[ok[:, j]].sum() for j in range(3)])
        qs = np.array([[quantile(xs[:, j], ws, q) for j in range(3)] for q in cfg.quantiles])
        tails = []
        for level in cfg.tail_levels:
            for v in (t.astype(np.float64), -d.astype(np.float64)):
                qa = quantile(v, ws, 1.0 - level)
                tails.append([-qa, -np.sum(ws[v <= qa] * v[v <= qa]) / ws[v <= qa].sum()])
        events = [t < 0, *[d > th for th in cfg.drawdown_thresholds], t > cfg.goal]
        probs = np.array([np.sum(ws * e) / ws.sum() for e in events])
        return {"mean": mean, "quantiles": qs, "tails": np.array(tails), "probabilities": probs}

    point = stats(np.arange(n))
    keys = rng.world_keys(rng.stream(key, rng.BOOTSTRAP), 0, n_boot)
    reps = [stats(np.asarray(jax.random.randint(keys[b], (n,), 0, n))) for b in range(n_boot)]
    alpha = (1.0 - cfg.ci_level) / 2.0
    for name, value in point.items():
        np.testing.assert_allclose(got[name], value, rtol=2e-5, atol=1e-6, err_msg=name)
        r = np.sort(np.stack([rep[name] for rep in reps]), axis=0)
        lo, hi = (r[int(np.ceil(p * n_boot - 1e-9)) - 1] for p in (alpha, 1.0 - alpha))  # k-th smallest
        np.testing.assert_allclose(got[f"{name}_lo"], lo, rtol=2e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got[f"{name}_hi"], hi, rtol=2e-5, atol=1e-6, err_msg=name)

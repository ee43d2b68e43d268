"""Weighted statistics: effective sizes by hand, equality with the unweighted report, slow loops, intervals."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.metrics import (AggregateConfig, MeanView, ProbabilityView, cross_world_stats, drawdown_event,
                               effective_size, entropy_ess, entropy_pool, kish_ess, loss_event,
                               weighted_mean_estimate, weighted_probability, weighted_quantile_estimate,
                               weighted_tail_risk)
from stressgen.metrics.risk import expected_shortfall, value_at_risk

N = 300


def _worlds(seed=0):
    g = np.random.default_rng(seed)
    total = (0.05 + 0.2 * g.standard_t(4, N)).astype(np.float32)
    mdd = np.clip(np.abs(g.normal(0.15, 0.1, N)), 0, 1).astype(np.float32)
    return total, mdd


def test_effective_sizes_by_hand():
    w = [1.0, 1.0, 2.0]  # normalised 1/4, 1/4, 1/2
    assert kish_ess(w) == pytest.approx(1.0 / (1 / 16 + 1 / 16 + 1 / 4))
    assert entropy_ess(w) == pytest.approx(math.exp(-(0.5 * math.log(0.25) + 0.5 * math.log(0.5))))
    assert kish_ess(np.ones(50)) == pytest.approx(50) and entropy_ess(np.ones(50)) == pytest.approx(50)
    one = np.zeros(20)
    one[4] = 3.0
    size = effective_size(one)
    assert (size.kish, size.entropy, size.n, size.support) == (1.0, 1.0, 20, 1)
    w = np.random.default_rng(1).exponential(size=1000)
    size = effective_size(w)
    assert 1 <= size.kish <= size.entropy <= 1000  # Renyi entropies fall with the order
    with pytest.raises(ConfigError, match=">= 0"):
        kish_ess([1.0, -1.0])
    with pytest.raises(ConfigError, match="sum to 0"):
        kish_ess([0.0, 0.0])


def test_uniform_weights_give_the_unweighted_report_numbers():
    total, mdd = _worlds()
    cfg = AggregateConfig(n_boot=0, tail_levels=(0.95, 0.99), drawdown_thresholds=(0.1, 0.2), quantiles=(0.05, 0.5))
    ref = cross_world_stats(jnp.asarray(total)[:, None], jnp.asarray(total), jnp.asarray(mdd), None,
                            key=rng.root(0), config=cfg)
    ones = np.full(N, 2.5)  # uniform, not normalised
    key = rng.root(3)
    for i, level in enumerate(cfg.tail_levels):
        tail = weighted_tail_risk(total, level, ones, key=key, n_boot=20)
        var_ref, es_ref = np.asarray(ref["tails"])[2 * i]  # rows: total return, then drawdown, per level
        assert tail.var.value == pytest.approx(float(var_ref), rel=1e-6)
        assert tail.es.value == pytest.approx(float(es_ref), rel=1e-6)
    probs = np.asarray(ref["probabilities"])
    assert weighted_probability(loss_event(total), ones).value == pytest.approx(float(probs[0]), rel=1e-6)
    for j, t in enumerate(cfg.drawdown_thresholds):
        assert weighted_probability(drawdown_event(mdd, t), ones).value == pytest.approx(float(probs[1 + j]),
                                                                                         rel=1e-6)
    assert weighted_mean_estimate(total, ones).value == pytest.approx(float(ref["mean"][0]), rel=1e-6)
    median = weighted_quantile_estimate(total, 0.5, ones, key=key, n_boot=20)
    assert median.value == float(np.asarray(ref["quantiles"])[1, 0])


def test_uniform_weights_give_the_per_world_daily_var_and_es():
    # risk.value_at_risk / expected_shortfall sort the T returns of one world (tail count ceil((1-c)T)):
    # another code path with the same definition. T = 300 at 95% makes (1 - c) T whole (15).
    r = np.random.default_rng(2).normal(0, 0.01, N).astype(np.float32)
    tail = weighted_tail_risk(r, 0.95, None, key=rng.root(0), n_boot=20)
    assert tail.var.value == float(value_at_risk(jnp.asarray(r)[None], 0.95)[0])
    assert tail.es.value == pytest.approx(float(expected_shortfall(jnp.asarray(r)[None], 0.95)[0]), rel=1e-6)


def _slow_var_es(x, w, confidence):
    """The definition, one world at a time in float64: Q = min{x : F(x) >= a}, ES = -E[x | x <= Q]."""
    w = np.asarray(w, np.float64) / np.sum(w)
    a = 1.0 - confidence
    q = None
    for v in np.unique(x):  # ascending
        if w[x <= v].sum() >= a - 1e-12:
            q = v
            break
    return -q, -np.sum(w[x <= q] * x[x <= q]) / np.sum(w[x <= q])


@pytest.mark.parametrize("seed", [4, 5])
def test_weighted_var_es_and_quantile_equal_a_slow_loop(seed):
    g = np.random.default_rng(seed)
    x = g.normal(0, 0.2, N).astype(np.float32)
    w = g.exponential(size=N)
    for confidence in (0.9, 0.97):
        tail = weighted_tail_risk(x, confidence, w, key=rng.root(1), n_boot=20)
        var, es = _slow_var_es(x.astype(np.float64), w, confidence)
        assert tail.var.value == pytest.approx(var, rel=1e-6)
        assert tail.es.value == pytest.approx(es, rel=1e-5)
        assert tail.es.value >= tail.var.value
        assert tail.var.lo <= tail.var.value <= tail.var.hi
        assert tail.var.ess == pytest.approx(kish_ess(w))
    q = weighted_quantile_estimate(x, 0.25, w, key=rng.root(1), n_boot=20)
    assert -q.value == pytest.approx(_slow_var_es(x.astype(np.float64), w, 0.75)[0], rel=1e-6)


def test_probability_interval_is_the_binomial_wilson_for_equal_weights():
    g = np.random.default_rng(6)
    event = g.uniform(size=200) < 0.07
    est = weighted_probability(event, None, ci_level=0.9)
    ci = stats.binomtest(int(event.sum()), 200).proportion_ci(confidence_level=0.9, method="wilson")
    assert (est.lo, est.hi) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    assert est.se == pytest.approx(math.sqrt(est.value * (1 - est.value) / 200))
    # weights halve the effective size: the interval is as wide as for 100 equally weighted worlds
    w = np.where(np.arange(200) % 2 == 0, 1.0, 1e-300)
    est_w = weighted_probability(event, w)
    assert est_w.ess == pytest.approx(100.0)
    k = int(event[::2].sum())
    ci = stats.binomtest(k, 100).proportion_ci(confidence_level=0.95, method="wilson")
    assert (est_w.lo, est_w.hi) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))


def test_mean_standard_error_uses_the_kish_size_and_nan_worlds_are_counted():
    g = np.random.default_rng(7)
    x = g.normal(1.0, 2.0, 400)
    est = weighted_mean_estimate(x)
    assert est.se == pytest.approx(np.std(x) / math.sqrt(400))
    assert est.lo == pytest.approx(est.value - stats.norm.ppf(0.975) * est.se)
    x[:40] = np.nan
    w = np.ones(400)
    w[:80] = 3.0  # the NaN worlds carry 120 of 560
    est = weighted_mean_estimate(x, w)
    assert est.undefined == pytest.approx(120 / 560)
    assert est.value == pytest.approx(np.average(x[40:], weights=w[40:]))
    assert est.ess == pytest.approx(kish_ess(w[40:]))


def test_entropy_pooling_weights_through_the_weighted_statistics():
    # P(total <= -0.3) set to 10%: the weighted probability reads back exactly 10%, its size is the
    # delta-method one, p (1 - p) / sum w^2 (x - p)^2, and the 90% VaR sits at the view's threshold or beyond
    total, mdd = _worlds(8)
    post = entropy_pool(None, [ProbabilityView("total", -0.3, 0.1), MeanView("mdd", 0.2)],
                        {"total": total, "mdd": mdd})
    est = weighted_probability(total.astype(np.float64) <= -0.3, post.probabilities)
    assert est.value == pytest.approx(0.1, abs=1e-9)
    w, x = post.probabilities, (total <= -0.3).astype(np.float64)
    assert est.ess == pytest.approx(0.1 * 0.9 / float(np.sum(w * w * (x - 0.1) ** 2)), rel=1e-6)
    assert est.se == pytest.approx(math.sqrt(float(np.sum(w * w * (x - 0.1) ** 2))), rel=1e-6)
    assert weighted_mean_estimate(mdd, post.probabilities).value == pytest.approx(0.2, abs=1e-9)
    tail = weighted_tail_risk(total, 0.9, post.probabilities, key=rng.root(2), n_boot=20)
    assert tail.var.value == pytest.approx(-float(total[total <= -0.3].max()), rel=1e-6)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="ci_level"):
        weighted_probability([True, False], ci_level=1.0)
    with pytest.raises(ConfigError, match="n_boot"):
        weighted_tail_risk(np.zeros(5), 0.95, key=rng.root(0), n_boot=1)
    with pytest.raises(ConfigError, match=r"\[worlds\] = \[3\]"):
        weighted_mean_estimate(np.zeros(3), np.ones(4))

"""Per-world metrics against a slow NumPy loop and against vectorbt where conventions coincide (the
engine's running form is checked against these in tests/engine/test_engine.py).

The loop below is written from the definitions in docs/conventions.md, one world and one period at a time,
in float64, and shares no code with stressgen.metrics.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from stressgen.errors import ConfigError
from stressgen.metrics import quantile, risk
from stressgen.metrics.risk import RiskConfig, per_world_metrics

PPY = 252


def slow_metrics(r, to, c, ppy=PPY, rf=0.0, levels=(0.95, 0.99)):
    r = [float(v) for v in r]
    n = len(r)
    rfp = (1.0 + rf) ** (1.0 / ppy) - 1.0
    eq, peak, mdd, run, longest = 1.0, 1.0, 0.0, 0, 0
    for v in r:
        eq *= 1.0 + v
        peak = max(peak, eq)
        mdd = max(mdd, 1.0 - eq / peak)
        run = run + 1 if eq < peak else 0
        longest = max(longest, run)
    mean = sum(r) / n
    var = sum((v - mean) ** 2 for v in r) / (n - 1)
    ex = [v - rfp for v in r]
    ex_mean = sum(ex) / n
    down = math.sqrt(sum(min(e, 0.0) ** 2 for e in ex) / n)
    cagr = eq ** (ppy / n) - 1.0
    out = {
        "total_return": eq - 1.0, "cagr": cagr, "volatility": math.sqrt(var * ppy),
        "sharpe": ex_mean / math.sqrt(var) * math.sqrt(ppy), "sortino": ex_mean / down * math.sqrt(ppy),
        "calmar": cagr / mdd, "max_drawdown": mdd, "max_drawdown_duration": longest,
        "worst_day": min(r), "hit_rate": sum(v > 0 for v in r) / sum(v != 0 for v in r),
        "turnover": sum(to) / n, "turnover_annual": sum(to) / n * ppy, "cost_drag": sum(c) * ppy / n,
    }
    srt = sorted(r)
    for level in levels:
        k = math.ceil(round((1 - level) * n, 9))  # ceil(a n) in exact arithmetic
        q = srt[k - 1]
        tail = [v for v in r if v <= q]
        name = f"{100 * level:.10g}"
        out[f"var_{name}"], out[f"es_{name}"] = -q, -sum(tail) / len(tail)
    return out


def sample(worlds=16, t=252, seed=0):
    g = np.random.default_rng(seed)
    r = (g.standard_t(4, (worlds, t)) * 0.008 + 0.0004).astype(np.float32)
    to = np.abs(g.normal(0, 0.1, (worlds, t))).astype(np.float32)
    return r, to, (to * 5e-4).astype(np.float32)


def test_every_metric_equals_the_slow_loop():
    rf = 0.04  # rf != 0 exercises the per-period conversion; rf = 0 is the same code path
    r, to, c = sample()
    got = jax.device_get(per_world_metrics(r, to, c, config=RiskConfig(rf=rf)))
    slow = [slow_metrics(r[i].astype(np.float64), to[i].astype(np.float64), c[i].astype(np.float64), rf=rf)
            for i in range(r.shape[0])]
    assert set(got) == set(slow[0])
    for k in got:
        want = np.array([s[k] for s in slow])
        np.testing.assert_allclose(got[k], want, rtol=2e-5, atol=1e-6, err_msg=k)


def test_hand_computed_drawdowns():
    # equity 1.1, 0.99, 1.0395, 1.10187 (new peak, recovered), 1.0908...: runs of 2 (recovered) then 1 (open)
    r = jnp.array([[0.1, -0.1, 0.05, 0.06, -0.01],
                   [-0.5, 0.1, 0.1, 0.1, 0.1],     # a first-day loss is a drawdown from the starting 1.0
                   [0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(risk.max_drawdown(r), [0.1, 0.5, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(risk.max_drawdown_duration(r), [2, 5, 0])
    equity, dd = risk.drawdown_path(r)
    np.testing.assert_allclose(equity[1, :2], [0.5, 0.55], rtol=1e-6)
    np.testing.assert_allclose(dd[0], [0.0, 0.1, 1 - 1.0395 / 1.1, 0.0, 0.01], rtol=1e-5, atol=1e-7)


def test_undefined_ratios_follow_ieee_and_are_not_patched():
    flat = jnp.zeros((1, 10))
    m = per_world_metrics(flat)
    for k in ("sharpe", "sortino", "calmar", "hit_rate"):
        assert np.isnan(m[k][0]), k  # 0 / 0
    # cash earning less than the risk-free rate: constant negative excess return, zero deviation
    assert np.isneginf(per_world_metrics(flat, config=RiskConfig(rf=0.05))["sharpe"][0])


def test_var_es_at_integral_tail_count_and_consistency_with_weighted_quantile():
    r = np.random.default_rng(4).normal(size=(16, 100)).astype(np.float32)
    m = per_world_metrics(r)
    srt = np.sort(r, axis=1)
    # a = 5% of 100 is exactly 5 observations: the 5th lowest, not the 6th
    np.testing.assert_array_equal(m["var_95"], -srt[:, 4])
    np.testing.assert_allclose(m["es_95"], -srt[:, :5].mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(m["var_99"], -srt[:, 0])
    tail = jax.jit(jax.vmap(quantile.tail_risk, in_axes=(0, None)), static_argnums=1)
    for i, (var, es) in enumerate(zip(*tail(r, 0.95))):  # same definition as the cross-world one (uniform)
        assert float(var) == float(m["var_95"][i]) and abs(float(es) - float(m["es_95"][i])) < 1e-6
    assert np.all(m["es_95"] >= m["var_95"]) and np.all(m["es_99"] >= m["var_99"])


def test_es_includes_ties_at_the_quantile():
    r = jnp.array([[-0.03, -0.01, -0.01, -0.01, 0.0, 0.01, 0.02, 0.0, 0.01, 0.02]])
    # a n = 0.2 * 10 = 2: Q is the 2nd lowest, -0.01, tied three times; ES averages all four returns <= Q
    cfg = RiskConfig(var_levels=(0.8,))
    m = per_world_metrics(r, config=cfg)
    assert float(m["var_80"][0]) == pytest.approx(0.01)
    assert float(m["es_80"][0]) == pytest.approx(0.015, rel=1e-6)


def test_single_series_and_compiles_once(count_compiles):
    r, to, c = sample(worlds=3, seed=7)
    one = per_world_metrics(r[0])
    assert one["sharpe"].shape == (1,)
    per_world_metrics(r, to, c)
    with count_compiles() as counter:
        per_world_metrics(r + 0.001, to, c)
    assert counter.count == 0


def test_config_is_validated():
    with pytest.raises(ConfigError, match="periods_per_year"):
        RiskConfig(periods_per_year=0)
    with pytest.raises(ConfigError, match="rf"):
        RiskConfig(rf=5.0)
    with pytest.raises(ConfigError, match="var_levels"):
        RiskConfig(var_levels=(95,))
    assert risk.rf_per_period(0.05, 252) == pytest.approx(1.05 ** (1 / 252) - 1, rel=1e-15)


# --- vectorbt --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vbt():
    return pytest.importorskip("vectorbt")


def _frame(r):
    index = pd.date_range("2021-01-01", periods=r.shape[1], freq="D")
    return pd.DataFrame(np.asarray(r, np.float64).T, index=index)


def test_agrees_with_vectorbt_where_conventions_coincide(vbt):
    r, _, _ = sample(seed=1)
    r[::2, 0] = np.abs(r[::2, 0])  # half the worlds start with a gain (see the drawdown relation below)
    rf = 0.04
    rfp = risk.rf_per_period(rf, PPY)
    m = jax.device_get(per_world_metrics(r, config=RiskConfig(rf=rf)))
    acc = _frame(r).vbt.returns(freq="D", year_freq="252 days")  # vectorbt annualises by 365 unless told
    assert acc.ann_factor == 252
    close = dict(rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(m["total_return"], acc.total().values, **close)
    np.testing.assert_allclose(m["cagr"], acc.annualized().values, **close)
    np.testing.assert_allclose(m["volatility"], acc.annualized_volatility().values, **close)
    # vectorbt takes a per-period risk-free rate; ours is annual and compounded down to a period
    np.testing.assert_allclose(m["sharpe"], acc.sharpe_ratio(risk_free=rfp).values, **close)
    np.testing.assert_allclose(m["sortino"], acc.sortino_ratio(required_return=rfp).values, **close)
    # CVaR: vectorbt averages the int((T-1) a) + 1 lowest returns; for T = 252 that is ceil(a T), as ours
    np.testing.assert_allclose(m["es_95"], -acc.cond_value_at_risk(0.05).values, **close)
    np.testing.assert_allclose(m["es_99"], -acc.cond_value_at_risk(0.01).values, **close)


def test_documented_differences_from_vectorbt(vbt):
    r, _, _ = sample(seed=2)
    r[::2, 0] = np.abs(r[::2, 0])
    r[1::2, 0] = -0.3  # the other half start with a loss deep enough to dominate (never recovered)
    m = jax.device_get(per_world_metrics(r))
    acc = _frame(r).vbt.returns(freq="D", year_freq="252 days")
    close = dict(rtol=2e-5, atol=1e-6)
    # 1. Drawdown peak: vectorbt's returns accessor starts the peak at the first period's equity, ours at 1.0.
    vbt_mdd = -acc.max_drawdown().values
    assert np.all(m["max_drawdown"] >= vbt_mdd - 1e-6)
    assert np.all(m["max_drawdown"][1::2] > vbt_mdd[1::2])  # a first-day loss is missed by vectorbt
    np.testing.assert_allclose(m["max_drawdown"][::2], vbt_mdd[::2], **close)
    np.testing.assert_allclose(m["calmar"][::2], acc.calmar_ratio().values[::2], **close)
    # ... and equals vectorbt on the equity curve that includes the starting 1.0, durations included
    eq = np.vstack([np.ones((1, r.shape[0])), np.cumprod(1.0 + r.astype(np.float64).T, axis=0)])
    dd = vbt.Drawdowns.from_ts(pd.DataFrame(eq), wrapper_kwargs=dict(freq="D"))
    np.testing.assert_allclose(m["max_drawdown"], -dd.max_drawdown().values, **close)
    np.testing.assert_array_equal(m["max_drawdown_duration"],
                                  dd.duration.max(wrap_kwargs=dict(to_timedelta=False)).values.astype(int))
    # 2. VaR: vectorbt interpolates linearly (np.percentile); ours is the inverted CDF: at T = 252 and
    # a = 5%, ours is the 13th lowest and vectorbt's lies between the 13th and the 14th lowest.
    srt = np.sort(r, axis=1)
    vbt_q = acc.value_at_risk(0.05).values
    np.testing.assert_array_equal(-m["var_95"], srt[:, 12])
    assert np.all((srt[:, 12] <= vbt_q + 1e-9) & (vbt_q <= srt[:, 13] + 1e-9))
    # at T = 101, (T - 1) a = 5 is whole: no interpolation, both are the 6th lowest
    r101 = r[:, :101]
    np.testing.assert_allclose(per_world_metrics(r101)["var_95"],
                               -_frame(r101).vbt.returns(freq="D", year_freq="252 days")
                               .value_at_risk(0.05).values,
                               rtol=1e-6)
    # 3. Annualisation: vectorbt's default year is 365 days: its default Sharpe is sqrt(365/252) times ours.
    default = _frame(r).vbt.returns(freq="D")
    np.testing.assert_allclose(default.sharpe_ratio().values, m["sharpe"] * np.sqrt(365 / 252), **close)

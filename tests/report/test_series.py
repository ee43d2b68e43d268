"""The tear sheet's derived series (stressgen.report.series) against slow loops and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stressgen.report import series


@pytest.fixture(scope="module")
def curve():
    """Two and a half years of business days of a noisy equity curve that starts at 1.0."""
    dates = pd.bdate_range("2019-11-13", periods=640)
    r = np.random.default_rng(3).normal(0.0004, 0.012, len(dates) - 1)
    return np.concatenate([[1.0], np.cumprod(1.0 + r)]), dates


def test_period_returns_and_drawdown_match_loops(curve):
    eq, _ = curve
    r = series.period_returns(eq)
    dd = series.drawdown(eq)
    peak = -math.inf
    for t in range(len(eq)):
        if t:
            assert r[t - 1] == pytest.approx(eq[t] / eq[t - 1] - 1.0, rel=1e-12)
        peak = max(peak, eq[t])
        assert dd[t] == pytest.approx(1.0 - eq[t] / peak, abs=1e-14)
    assert dd[0] == 0.0 and dd.min() >= 0.0


def test_drawdown_closed_form():
    # up to 2, down to 1.5 (25% below the peak), up to 3 (a new high), down to 0.6 (80% below it)
    eq = np.array([1.0, 2.0, 1.5, 3.0, 0.6])
    np.testing.assert_allclose(series.drawdown(eq), [0, 0, 0.25, 0, 0.8], atol=1e-15)


def test_monthly_returns_compound_the_days_of_each_month(curve):
    eq, dates = curve
    got = series.monthly_returns(eq, dates)
    # slow: walk the days, multiply (1 + r) within each calendar month; the first month starts at eq[0]
    want: dict[tuple[int, int], float] = {}
    for t in range(1, len(eq)):
        key = (dates[t].year, dates[t].month)
        want[key] = want.get(key, 1.0) * (eq[t] / eq[t - 1])
    if (dates[0].year, dates[0].month) not in want:  # the start date alone in its month: a 0% month
        want[(dates[0].year, dates[0].month)] = 1.0
    assert len(got) == len(want)
    for p, v in got.items():
        assert v == pytest.approx(want[(p.year, p.month)] - 1.0, rel=1e-10, abs=1e-13)


def test_monthly_table_years_by_months_with_yearly_total(curve):
    eq, dates = curve
    table = series.monthly_table(eq, dates)
    assert list(table.columns) == [*range(1, 13), "year"]
    assert list(table.index) == [2019, 2020, 2021, 2022]
    assert np.isnan(table.loc[2019, 1]) and np.isfinite(table.loc[2019, 12])  # the history starts in November
    for year, row in table.iterrows():
        months = row[list(range(1, 13))].dropna().to_numpy()
        assert row["year"] == pytest.approx(np.prod(1.0 + months) - 1.0, rel=1e-10)  # compounded, not summed
        in_year = [t for t in range(len(eq)) if dates[t].year == year]
        start = eq[in_year[0] - 1] if in_year[0] > 0 else eq[0]
        assert row["year"] == pytest.approx(eq[in_year[-1]] / start - 1.0, rel=1e-10)


@pytest.mark.parametrize("window", [5, 63])
def test_rolling_volatility_and_sharpe_match_a_loop(curve, window):
    eq, _ = curve
    rf = 0.02
    vol = series.rolling_volatility(eq, window=window, periods_per_year=252)
    sharpe = series.rolling_sharpe(eq, window=window, periods_per_year=252, rf=rf)
    r = eq[1:] / eq[:-1] - 1.0
    rf_p = (1.0 + rf) ** (1.0 / 252) - 1.0
    assert len(vol) == len(sharpe) == len(eq)
    for t in range(len(eq)):
        if t < window:  # equity index t has t returns before it: a full window from t = window on
            assert np.isnan(vol[t]) and np.isnan(sharpe[t])
            continue
        w = r[t - window:t]
        assert vol[t] == pytest.approx(np.std(w, ddof=1) * math.sqrt(252), rel=1e-9)
        assert sharpe[t] == pytest.approx((np.mean(w) - rf_p) / np.std(w, ddof=1) * math.sqrt(252), rel=1e-8)


def test_rolling_sharpe_of_a_flat_stretch_is_undefined():
    noisy = np.cumprod(1.0 + np.random.default_rng(4).normal(0.001, 0.01, 70))
    eq = np.concatenate([np.ones(70), noisy])
    s = series.rolling_sharpe(eq, window=10)
    assert np.isnan(s[20])  # ten returns of exactly 0: no volatility, no ratio
    assert np.all(np.isfinite(s[81:]))


def test_rolling_statistics_keep_their_digits_over_decades():
    """Cumulative sums over 30 years of returns must not cost the rolling std its precision."""
    r = np.random.default_rng(5).normal(0.05, 1e-4, 7_600)  # a large mean, a tiny spread
    eq = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    vol = series.rolling_volatility(eq, window=63, periods_per_year=252)
    rr = eq[1:] / eq[:-1] - 1.0
    assert vol[-1] == pytest.approx(np.std(rr[-63:], ddof=1) * math.sqrt(252), rel=1e-6)


def test_headline_stats_closed_forms():
    # constant growth g per day over 504 days: CAGR (1+g)^252 - 1, zero volatility (so no Sharpe), no drawdown
    g = 0.0004
    dates = pd.bdate_range("2020-01-01", periods=505)
    eq = (1.0 + g) ** np.arange(505)
    h = series.headline_stats(eq, dates)
    assert h.total_return == pytest.approx((1 + g) ** 504 - 1, rel=1e-12)
    assert h.cagr == pytest.approx((1 + g) ** 252 - 1, rel=1e-10)
    assert h.volatility == pytest.approx(0.0, abs=1e-12)
    assert h.max_drawdown == pytest.approx(0.0, abs=1e-12)
    assert h.best_month >= h.worst_month > 0


def test_headline_stats_match_their_definitions(curve):
    eq, dates = curve
    h = series.headline_stats(eq, dates, periods_per_year=252, rf=0.01)
    r = eq[1:] / eq[:-1] - 1.0
    assert h.total_return == pytest.approx(eq[-1] - 1.0)
    assert h.cagr == pytest.approx(eq[-1] ** (252 / len(r)) - 1.0, rel=1e-12)
    assert h.volatility == pytest.approx(np.std(r, ddof=1) * math.sqrt(252), rel=1e-12)
    rf_p = 1.01 ** (1 / 252) - 1
    assert h.sharpe == pytest.approx((r.mean() - rf_p) / np.std(r, ddof=1) * math.sqrt(252), rel=1e-10)
    assert h.max_drawdown == pytest.approx(max(1 - eq[t] / eq[:t + 1].max() for t in range(len(eq))))
    months = series.monthly_returns(eq, dates)
    assert (h.best_month, h.worst_month) == (months.max(), months.min())


def test_headline_stats_agree_with_the_per_world_metrics(curve):
    """The tear sheet's CAGR, volatility, Sharpe and max drawdown use the definitions of stressgen.metrics.risk."""
    from stressgen.metrics import per_world_metrics

    eq, dates = curve
    pnl = (eq[1:] / eq[:-1] - 1.0)[None].astype(np.float32)
    m = {k: float(np.asarray(v)[0]) for k, v in per_world_metrics(pnl).items()}
    h = series.headline_stats(eq, dates)
    for name in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown"):
        assert getattr(h, name) == pytest.approx(m[name], rel=2e-4, abs=1e-6), name

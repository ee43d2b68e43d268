"""Issue 21 point 4, a report a quant reads at a glance: tables that fit, dated axes, histogram ranges that
resist outliers, legends clear of titles, the real-history tear sheet, and a collapsed scorecard."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from stressgen.report import figures, render_html, series, tables
from stressgen.report.scorecard_table import FAIL, scorecard_html, scorecard_rows
from stressgen.report.tearsheet import (BENCHMARK, monthly_figure, real_curves, tearsheet_html,
                                        underwater_figure)


@pytest.fixture(scope="module")
def html_text(failing_result):
    return render_html(failing_result)


def _figure_json(html_text: str, div_id: str) -> str:
    """The text of the script that draws figure `div_id` (its data and layout as JSON)."""
    start = html_text.index(f'id="{div_id}"')
    return html_text[start:html_text.index("</script>", start)]


# --- 1. tables fit the page ---------------------------------------------------------------------------------

def test_every_table_sits_in_a_scroll_container(html_text):
    opened = [m.start() for m in re.finditer(r"<table\b", html_text)]
    assert len(opened) > 10
    for at in opened:
        assert html_text[:at].endswith('<div class="table-wrap">'), html_text[at - 80:at + 40]
    assert re.search(r"\.table-wrap \{ overflow-x:auto; max-width:100%; \}", html_text)


def test_wide_tables_may_wrap_headers_and_intervals(html_text):
    """The risk table has ten columns: headers and [low, high] intervals wrap instead of widening it."""
    css = html_text[html_text.index("<style>"):html_text.index("</style>")]
    assert re.search(r"table\.data th \{[^}]*white-space:normal", css)
    assert re.search(r"table\.data \.ci \{[^}]*white-space:normal", css)
    assert 'style="display:flex' not in html_text  # the tails/probabilities row wraps as .cols
    assert '<div class="cols">' in html_text


# --- 2. time axes show dates --------------------------------------------------------------------------------

def test_world_figures_are_dated(run_result):
    dates = run_result.world_dates()
    iso = list(dates.strftime("%Y-%m-%d"))
    assert iso[0] == run_result.data.end and len(iso) == run_result.horizon + 1
    fan = figures.fan_figure(run_result.fan, world_dates=dates, real_dates=run_result.real_window_dates())
    median = next(t for t in fan.data if t.name == "median world")
    assert list(median.x) == iso  # the horizon is short: no point thinned away
    real = next(t for t in fan.data if t.name == "real (latest window)")
    assert list(real.x) == iso
    assert list(real.customdata) == list(run_result.real_window_dates().strftime("%Y-%m-%d"))
    assert real.customdata[-1] == run_result.real_history.dates[-1]  # the most recent window ends at the end
    assert fan.layout.xaxis.title.text == "date"
    paths = figures.paths_figure(run_result.real_paths, run_result.sample_paths, world_dates=dates)
    syn = [t for t in paths.data if t.xaxis == "x2"]
    assert syn and all(list(t.x) == iso for t in syn)
    s = run_result.strategies[0]
    worst = figures.worst_worlds_figure(s.worst_equity, s.worst_worlds, run_result.worst_paths,
                                        run_result.assets, colour="#000", world_dates=dates)
    assert all(list(t.x) == iso for t in worst.data)


def test_the_report_uses_the_dates(html_text, failing_result):
    last = failing_result.world_dates()[-1].strftime("%Y-%m-%d")
    for div in ("fig-paths", "fig-fan", "fig-s0-worst"):
        assert last in _figure_json(html_text, div), div
    assert '"title":{"text":"period"}' not in html_text


def test_date_x_falls_back_to_numbers_without_a_calendar():
    idx = np.array([0, 2, 4])
    np.testing.assert_array_equal(figures.date_x(None, 5, idx), idx)
    np.testing.assert_array_equal(figures.date_x(pd.bdate_range("2024-01-01", periods=4), 5, idx), idx)
    got = figures.date_x(pd.bdate_range("2024-01-05", periods=5), 5, idx)
    assert list(got) == ["2024-01-05", "2024-01-09", "2024-01-11"]


# --- 3. histogram ranges resist outliers --------------------------------------------------------------------

def test_robust_range_is_the_quantile_range_widened_to_the_markers():
    v = np.concatenate([np.random.default_rng(0).normal(0, 0.1, 1000), [50.0, -40.0, np.nan]])
    lo, hi, below, above = figures.robust_range(v)
    finite = v[np.isfinite(v)]
    assert (lo, hi) == tuple(np.quantile(finite, [0.005, 0.995]))
    assert below == int(np.sum(finite < lo)) and above == int(np.sum(finite > hi))
    assert below >= 1 and above >= 1 and hi < 1.0  # the outliers are outside, the bulk inside
    lo2, hi2, _, above2 = figures.robust_range(v, include=[2.0, None, np.nan])
    assert (lo2, hi2) == (lo, 2.0) and above2 == 1  # widened to take the real history in
    assert figures.robust_range(np.full(10, 0.3))[:2] != (0.3, 0.3)  # never a range of width zero


def test_clipped_histogram_counts_what_it_leaves_out():
    v = np.concatenate([np.random.default_rng(1).normal(0, 0.1, 998), [9.0, 12.0]])
    lo, hi, _, above = figures.robust_range(v, include=[0.05])
    fig = figures.histogram_figure(v, colour="#000", x_title="x", real=0.05, x_range=(lo, hi), bins=20)
    bars = fig.data[0]
    inside = v[(v >= lo) & (v <= hi)]
    counts, _ = np.histogram(inside, bins=20, range=(lo, hi))
    np.testing.assert_allclose(bars.y, counts / v.size)  # shares of all worlds
    notes = [a.text for a in fig.layout.annotations]
    assert f"{above:,} worlds above \u2192" in notes and above >= 2
    assert fig.layout.xaxis.range[1] < 1.0  # 12.0 does not stretch the axis


def test_histogram_captions_say_how_many_worlds_lie_beyond(html_text, failing_result):
    s = failing_result.strategies[0]
    q05 = s.aggregate.summary.loc[("total_return", "q05"), "value"]
    _, _, below, above = figures.robust_range(s.metrics["total_return"].to_numpy(),
                                              include=[s.real["total_return"], q05])
    verb = "world lies" if below == 1 else "worlds lie"
    assert f"{below:,} {verb} below it and {above:,} above" in html_text


# --- 4. legends clear of titles; assets labelled ------------------------------------------------------------

def test_worst_world_legend_is_below_and_assets_are_named(run_result):
    s = run_result.strategies[0]
    fig = figures.worst_worlds_figure(s.worst_equity, s.worst_worlds, run_result.worst_paths,
                                      run_result.assets, colour="#000", world_dates=run_result.world_dates())
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"  # under the plot, not on the titles
    assert fig.layout.margin.b >= 100
    by_name = {t.name: t for t in fig.data}
    for asset in run_result.assets:
        t = by_name[asset]
        assert t.showlegend is not False and asset in t.hovertemplate
    colours = {by_name[a].line.color for a in run_result.assets}
    assert len(colours) == len(run_result.assets)


# --- 5. the real-history tear sheet -------------------------------------------------------------------------

def test_tear_sheet_figures_and_table(html_text, failing_result):
    for div in ("fig-tear-equity", "fig-tear-underwater", "fig-tear-rolling", "fig-tear-monthly"):
        assert f'id="{div}"' in html_text
    rh = failing_result.real_history
    dates = rh.index()
    section = html_text[html_text.index('id="real-history-tear-sheet"'):]
    section = section[:section.index("</section>")]
    for s in failing_result.strategies:
        h = series.headline_stats(s.real_equity, dates)
        row = section[section.index(f"{tables.esc(s.name)}</td>"):]
        row = row[:row.index("</tr>")]
        for value in (h.cagr, h.volatility, h.max_drawdown, h.best_month, h.worst_month):
            assert tables.fmt_pct(value) in row
        assert tables.fmt_num(h.sharpe) in row
    assert BENCHMARK in section and "252" in section and f"{series.ROLLING_WINDOW} periods" in section


def test_tear_sheet_series_come_from_real_equity(html_text, failing_result):
    """The underwater figure draws the drawdown of real_equity, the deepest point kept."""
    s = failing_result.strategies[1]
    dd = series.drawdown(s.real_equity)
    fig = underwater_figure(real_curves(failing_result), failing_result.real_history.index())
    trace = next(t for t in fig.data if t.name == s.name)
    assert min(trace.y) == pytest.approx(-dd.max())
    assert trace.x[0] == failing_result.real_history.dates[0]


def test_tear_sheet_monthly_selector_switches_strategies(failing_result):
    curves = real_curves(failing_result)
    fig = monthly_figure(curves, failing_result.real_history.index())
    assert len(fig.data) == len(curves) and [t.visible for t in fig.data].count(True) == 1
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == [c[0] for c in curves]
    table = series.monthly_table(curves[0][2], failing_result.real_history.index())
    np.testing.assert_allclose(np.asarray(fig.data[0].z, np.float64), table.to_numpy(), equal_nan=True)
    assert list(fig.data[0].x)[-1] == "Year"


def test_tear_sheet_is_skipped_without_real_history(run_result):
    bare = dataclasses.replace(run_result, real_history=None)
    body = tearsheet_html(bare)
    assert body.count("<p>") == 1 and "no tear sheet" in body
    text = render_html(bare)
    assert ">Real history: tear sheet</h2>" in text and 'id="fig-tear-equity"' not in text


# --- 6. the scorecard: collapsed, failures first, labelled --------------------------------------------------

def test_scorecard_is_collapsed_with_failures_first(html_text, failing_result):
    card = failing_result.fidelity.scorecard
    block = html_text[html_text.index('<details class="scorecard">'):]
    block = block[:block.index("</details>")]
    assert "<details open" not in html_text
    assert "2 of 11 thresholds failed" in block
    row = r'<tr(?: class="(\w+)")?><td class="label">(.*?)</td><td class="label">(.*?)</td>'
    rows = re.findall(row, block)
    assert len(rows) == len(card)
    assert [r[0] for r in rows] == ["failed", "failed"] + [""] * (len(card) - 2)
    assert "acf_abs" in rows[0][2] and "corr_err" in rows[1][2] and FAIL in rows[0][1]
    assert "L2 over lags of ACF(|r|)" in rows[0][2]  # the metric's definition, not a bare row number
    assert not re.search(r"<td class=\"label\">\d+</td>", block)


def test_scorecard_rows_agree_with_the_failures(failing_result, run_result):
    rows = scorecard_rows(failing_result.fidelity.scorecard)
    failed = rows[rows["status"] == FAIL]
    assert list(failed["metric"]) == ["acf_abs", "corr_err"] and list(failed.index) == [0, 1]
    for m in failed["metric"]:
        assert any(f": {m} = " in f for f in failing_result.fidelity.failures)
    assert rows.set_index("metric").loc["copy_rate", "status"] == "not computed"
    assert (scorecard_rows(run_result.fidelity.scorecard)["status"] != FAIL).all()
    assert "all 11 thresholds passed" in scorecard_html(run_result.fidelity.scorecard)


def test_tear_sheet_leaves_out_strategies_without_real_equity(run_result):
    first = dataclasses.replace(run_result.strategies[0], real_equity=np.zeros(0))
    result = dataclasses.replace(run_result, strategies=(first, *run_result.strategies[1:]))
    names = [c[0] for c in real_curves(result)]
    assert names == [s.name for s in run_result.strategies[1:]] + [BENCHMARK]
    body = tearsheet_html(result)
    assert f"Left out (no real-history equity): {first.name}." in body
    assert body.count('class="plotly-graph-div"') == 4

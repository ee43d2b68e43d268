"""report.html: self-contained, offline, with every section, formatted numbers and the warning box."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from stressgen.report import figures, page, render_html, tables


@pytest.fixture(scope="module")
def html_text(run_result):
    return render_html(run_result)


def test_no_network_sources(html_text):
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html_text, flags=re.I)
    for tag in tags:
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag, flags=re.I), tag
    assert not re.search(r"<link\b", html_text, flags=re.I)
    assert html_text.count(plotly.offline.get_plotlyjs()) == 1  # inlined exactly once


def test_every_section_and_figure(html_text, run_result):
    for heading in ("Run", "Overview", "Real and synthetic paths", "Scenario fidelity", "Head-to-head",
                    "Where the real history ranks", "Worst worlds"):
        assert f">{heading}</h2>" in html_text
        assert f'href="#{tables.esc(heading).lower().replace(" ", "-")}"' in html_text  # table of contents
    for s in run_result.strategies:
        assert f"Strategy: {tables.esc(s.name)}</h2>" in html_text
    assert ">Real history: tear sheet</h2>" in html_text and 'href="#real-history-tear-sheet"' in html_text
    n_figures = html_text.count('class="plotly-graph-div"')
    # paths, fan, acf, correlation, head-to-head, the tear sheet's equity, underwater, rolling and monthly
    # + per strategy: return, drawdown, worst worlds
    assert n_figures == 9 + 3 * len(run_result.strategies)
    assert html_text.count("<figcaption>") == n_figures
    for word in ("sp500-20", "iid_bootstrap", "0123abcd", "numpy " + np.__version__, "periods per year"):
        assert word in html_text


def test_formatted_numbers_appear(html_text, run_result):
    s = run_result.strategies[0]
    median = s.aggregate.summary.loc[("total_return", "q50"), "value"]
    assert tables.fmt_pct(median) in html_text
    p_loss = s.aggregate.probabilities.loc["P(total_return < 0)", "value"]
    assert tables.fmt_pct(p_loss) in html_text


def test_warning_box_only_when_fidelity_fails(html_text, failing_result):
    assert 'class="box warnings"' not in html_text
    text = render_html(failing_result)
    box = re.search(r'<div class="box warnings" role="alert">(.*?)</div>', text, flags=re.S)
    assert box and "acf_abs = 1.35 exceeds 0.9" in box.group(1)
    assert text.index('class="box warnings"') < text.index("<section")  # at the top


def test_user_text_is_escaped(run_result):
    s = dataclasses.replace(run_result.strategies[0], name="<b>x</b>")
    text = render_html(dataclasses.replace(run_result, strategies=[s]))
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_size_does_not_grow_with_worlds(run_result):
    """Histograms are binned and paths thinned: 100x the worlds must not add 100x the data."""
    big_metrics = pd.concat([run_result.strategies[0].metrics] * 100, ignore_index=True)
    s = dataclasses.replace(run_result.strategies[0], metrics=big_metrics)
    small = render_html(dataclasses.replace(run_result, strategies=[run_result.strategies[0]]))
    big = render_html(dataclasses.replace(run_result, strategies=[s]))
    assert len(big) - len(small) < 20_000


def test_page_shell():
    text = page("T <1>", [("Alpha", "<p>a</p>"), ("Alpha", "<p>b</p>")], warnings=["w <2>"])
    assert "<title>T &lt;1&gt;</title>" in text
    assert 'id="alpha"' in text and 'id="alpha-2"' in text  # duplicate headings get distinct anchors
    assert "w &lt;2&gt;" in text and 'id="page-errors"' in text


@pytest.mark.parametrize("x, want", [(0.1234, "12.3%"), (-0.05, "\u22125.00%"), (0.0, "0%"), (1.5, "150%"),
                                     (12.345, "1,234%"), (float("nan"), "\u2013"), (None, "\u2013"),
                                     (float("inf"), "\u221e"), (0.000123, "0.0123%")])
def test_fmt_pct(x, want):
    assert tables.fmt_pct(x) == want


def test_fmt_by_metric():
    assert tables.fmt("sharpe", 1.23456) == "1.23"
    assert tables.fmt("max_drawdown_duration", 17.0) == "17"
    assert tables.fmt("var_95", 0.0213) == "2.13%"
    assert tables.metric_label("es_97.5") == "ES 97.5% (1 period)"


def test_equal_weight_equity_matches_a_loop():
    r = np.random.default_rng(1).normal(0, 0.02, (3, 25, 4))
    got = figures.equal_weight_equity(r)
    for w in range(3):
        eq = [1.0]
        for t in range(25):
            eq.append(eq[-1] * (1 + np.mean([np.exp(r[w, t, a]) - 1 for a in range(4)])))
        np.testing.assert_allclose(got[w], eq, rtol=1e-12)


def test_thin_and_bands():
    idx = figures.thin(10_000, 400)
    assert idx[0] == 0 and idx[-1] == 9_999 and len(idx) <= 400
    np.testing.assert_array_equal(figures.thin(50), np.arange(50))
    pairs, median = figures.quantile_bands(["q50", "q95", "q05", "q25", "q75", "real"])
    assert pairs == [("q05", "q95"), ("q25", "q75")] and median == "q50"


def test_histogram_is_binned_shares():
    x = np.random.default_rng(2).normal(size=1000)
    x[:10] = np.nan
    fig = figures.histogram_figure(x, colour="#000", x_title="x", real=0.1, bins=30)
    bars = fig.data[0]
    assert len(bars.y) == 30
    counts, _ = np.histogram(x[np.isfinite(x)], bins=30)
    np.testing.assert_allclose(bars.y, counts / 990)


def test_metric_order():
    got = tables.metric_order(["var_99", "sharpe", "es_95", "foo", "total_return", "var_95", "es_99"])
    assert got == ["total_return", "sharpe", "var_95", "es_95", "var_99", "es_99", "foo"]

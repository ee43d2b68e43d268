"""The report's Overfitting section and the `overfitting` key of summary.json (issue 18, point 4): present for
every grid, absent without one, a warning when the real-history winner is not robust, the same numbers in the
page, the summary and a reloaded results directory."""

from __future__ import annotations

import dataclasses
import json
import re
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest
from cdp_pipe import check_page, chromium_path

from stressgen.metrics import grid_overfit
from stressgen.report import SUMMARY_SCHEMA, build_summary, load_results, render_html, write_outputs
from stressgen.stage_overfit import overfit_record

NAMES = ("ma[fast=5]", "ma[fast=10]", "ma[fast=20]")


def _overfit(edge: float, seed: int):
    """A grid of three on 600 real days: `edge` per day on set 0 in the real history and in every world."""
    g = np.random.default_rng(seed)
    real = g.normal(0.0, 0.01, size=(600, 3))
    real[:, 0] += edge
    world = g.normal(size=(3, 400))
    world[0] += 2000 * edge
    res = grid_overfit("ma", real, world, lambda i: g.normal(0.0, 0.03, size=250))
    plan = SimpleNamespace(spec=SimpleNamespace(name="ma", plugin="ma_crossover"),
                           sets=tuple((n, {}) for n in NAMES))
    return overfit_record(plan, res, 252)


@pytest.fixture(scope="module")
def overfit_results(run_result):
    robust, fragile = _overfit(0.003, 1), _overfit(0.0, 2)
    assert robust.robust and not fragile.robust  # the cases the tests below need
    return dataclasses.replace(run_result, overfit=(robust, fragile))


def test_section_only_with_a_grid(run_result, overfit_results):
    assert "Overfitting" not in render_html(run_result)  # no grid: no section, no warning
    html = render_html(overfit_results)
    assert '<h2 id="overfitting">' in html or ">Overfitting<" in html
    section = html[html.index("Every strategy with a parameter grid"):]
    assert section.count("<h3>ma (3 parameter sets)</h3>") == 2
    robust, fragile = overfit_results.overfit
    # the fragile grid gets the red box with its robustness flags; the robust one says it is robust
    assert "Not robust across worlds: the real-history winner" in section
    assert f"Robust: the real-history winner <code>{robust.winner_name}</code>" in section
    for w in fragile.warnings:
        assert w.replace("'", "&#x27;") in section or w in section
    assert "Overfitting: ma: " in html[:html.index("Every strategy with a parameter grid")]  # top warning box
    assert 'id="fig-overfit-0"' in html and 'id="fig-overfit-1"' in html
    assert f"{100 * robust.pbo:.3g}" in section or f"{robust.pbo:.2g}" in section


def test_summary_validates_and_carries_the_numbers(overfit_results):
    summary = json.loads(json.dumps(build_summary(overfit_results), allow_nan=False))
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    assert len(summary["overfitting"]) == 2
    for got, o in zip(summary["overfitting"], overfit_results.overfit):
        assert got["winner"] == o.sets[o.winner] and got["sets"] == list(NAMES)
        assert got["dsr"] == o.dsr and got["psr"] == o.psr and got["pbo"] == o.pbo
        assert got["rank"]["p_below_median"] == o.p_below_median
        assert got["rank"]["shares"] == [float(v) for v in o.rank_shares]
        assert got["chance"]["share"] == o.chance_share and "de-meaned" in got["chance"]["edge_removed"]
        assert got["real_sharpe"] == dict(zip(NAMES, map(float, o.real_sharpe)))
        assert got["robust"] == o.robust and got["warnings"] == list(o.warnings)
    bad = json.loads(json.dumps(summary))
    del bad["overfitting"][0]["pbo"]
    assert not jsonschema.Draft202012Validator(SUMMARY_SCHEMA).is_valid(bad)
    plain = build_summary(dataclasses.replace(overfit_results, overfit=()))
    assert plain["overfitting"] == []


def test_results_directory_round_trips(overfit_results, tmp_path):
    write_outputs(overfit_results, tmp_path)
    back = load_results(tmp_path)
    assert len(back.overfit) == 2
    for got, want in zip(back.overfit, overfit_results.overfit):
        for f in dataclasses.fields(want):
            a, b = getattr(got, f.name), getattr(want, f.name)
            if isinstance(b, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b, f.name
    page = (tmp_path / "report.html").read_text()
    assert re.search(r"Not robust across worlds", page)


@pytest.mark.skipif(chromium_path() is None, reason="headless Chromium (/usr/bin/chromium) is not installed")
def test_overfitting_figures_draw_in_a_browser(overfit_results, tmp_path):
    report = write_outputs(overfit_results, tmp_path)
    js = """JSON.stringify(Array.from(document.querySelectorAll('[id^="fig-overfit-"]')).map(function (d) {
      return {id: d.id, svg: d.querySelectorAll('svg.main-svg').length, bars: d.querySelectorAll('g.point').length};
    }))"""
    seen = check_page(report.resolve().as_uri(), state_js=js)
    assert seen.problems == [], seen.problems
    assert [f["id"] for f in seen.state] == ["fig-overfit-0", "fig-overfit-1"]
    for fig in seen.state:
        assert fig["svg"] >= 1 and fig["bars"] == len(NAMES), fig  # one bar per rank of the grid

"""The "Stress scenarios" section, the `stress` key of summary.json and the results directory's round trip, on
hand-made `StressCase` values (the pipeline is not run): every number checked here is written in this file."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import jsonschema
import numpy as np
import pytest
from cdp_pipe import check_page, chromium_path

from stressgen.metrics.pooling import ViewFit
from stressgen.metrics.weighted import Estimate
from stressgen.report import SUMMARY_SCHEMA, build_summary, load_results, render_html, write_outputs
from stressgen.report import _store
from stressgen.report.stress import HIST_BINS, return_histograms, shift_rows, stress_html, stress_histogram_figure
from stressgen.results import StressCase, StressStrategy

NAN = float("nan")
THRESHOLDS = (0.1, 0.2)
# (VaR, ES, P(loss), P(dd > 0.1), P(dd > 0.2)) per case, the same for every parameter set except an offset
VALUES = {"base": (0.10, 0.15, 0.30, 0.40, 0.20),
          "crash": (0.25, 0.35, 0.55, 0.70, 0.45),
          "thin tail": (0.05, 0.08, 0.20, 0.30, 0.10)}


def _est(value: float, *, interval: bool = True) -> Estimate:
    lo, hi = (value - 0.02, value + 0.03) if interval else (NAN, NAN)
    return Estimate(value=value, se=0.01 if interval else NAN, lo=lo, hi=hi, ci_level=0.95, ess=50.0,
                    undefined=0.0, method="by hand")


def _strategy(name: str, p: int, case: str) -> StressStrategy:
    var, es, p_loss, d1, d2 = (v + 0.01 * p for v in VALUES[case])
    return StressStrategy(name=name, var=_est(var), es=_est(es), p_loss=_est(p_loss),
                          p_drawdown=((THRESHOLDS[0], _est(d1)), (THRESHOLDS[1], _est(d2, interval=False))),
                          median_return=0.02 - 0.01 * p)


def _cases(run_result) -> tuple[StressCase, ...]:
    g = np.random.default_rng(3)  # test data only
    n, sets = run_result.n_worlds, [s.name for s in run_result.strategies]
    fan_base = 1.0 + np.linspace(0, 1, run_result.horizon + 1)[:, None] * np.array([-0.2, -0.05, 0.0, 0.05, 0.2])

    def case(name, weights, *, low=False, views=(), notes=(), condition=None, start=None, shift=0.0):
        total = g.normal(0.02 - shift, 0.1, size=(len(sets), n)).astype(np.float32)
        if name == "crash":  # an undefined world and an infinite one: no bin for the first, the edge for the second
            total[0, 0], total[1, 1] = np.nan, np.inf
        w = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        kish = n if w is None else 1.0 / np.sum(w * w)
        return StressCase(
            name=name, description=f"{name} in words", condition=condition, start=start, views=views, n_worlds=n,
            ess_kish=float(kish), ess_entropy=float(kish) * 1.2 if w is not None else float(n), low_ess=low,
            level=0.95, strategies=tuple(_strategy(s, p, name) for p, s in enumerate(sets)),
            fan={f"q{q:02d}": fan_base[:, k] - shift for k, q in enumerate((5, 25, 50, 75, 95))},
            weights=w, total_return=total, ew_return=g.normal(0.01 - shift, 0.08, size=n).astype(np.float32),
            notes=notes)

    view = ViewFit(label="P(ew_return <= -0.3) == 0.05", prior=0.01, posterior=0.05, residual=0.0, binding=True,
                   multipliers=(1.25,))
    crash_w = g.uniform(0.5, 2.0, size=n)
    thin_w = np.full(n, 1e-4)
    thin_w[:3] = 1.0  # three worlds carry almost everything: a low effective size
    return (case("base", None),
            case("crash", crash_w, views=(view,), notes=("12 worlds excluded by exact views",),
                 condition="tilt(ew_return, -0.3)", start="2008-09-12 (equal-weight volatility 41%)", shift=0.1),
            case("thin tail", thin_w, low=True,
                 notes=("effective number of worlds 3 (Kish) is below min_ess = 500: tail numbers rest on few "
                        "worlds; draw more worlds or soften the case",), shift=-0.05))


@pytest.fixture(scope="module")
def stress_result(run_result):
    return dataclasses.replace(run_result, stress=_cases(run_result))


def _section(html: str) -> str:
    m = re.search(r'<section id="stress-scenarios">(.*?)</section>', html, flags=re.S)
    assert m, "no Stress scenarios section"
    return m.group(1)


def test_no_section_and_an_empty_list_without_cases(run_result):
    html = render_html(run_result)
    assert 'id="stress-scenarios"' not in html and "fig-stress" not in html
    assert build_summary(run_result)["stress"] == []


def test_section_names_every_scenario_and_warns_only_for_low_ess(stress_result):
    html = render_html(stress_result)
    body = _section(html)
    for c in stress_result.stress:
        assert f"<b>{c.name}</b>" in body and f"{c.name} in words" in body
    assert 'id="fig-stress-fan"' in body and 'id="fig-stress-returns"' in body
    assert "tilt(ew_return, -0.3)" in body and "start: 2008-09-12" in body
    assert re.findall(r'<div class="box alerts" role="alert"><h2>Low effective size: (.*?)</h2>', body) == \
        ["thin tail"]
    assert body.count("\u26a0 low ESS") == 1 and "Kish effective number of worlds 3 of 64" in body
    assert "Stress: thin tail: effective number of worlds" in html and "Stress: crash" not in html  # top box
    views = body[body.index("<h3>Views: crash</h3>"):]
    assert "P(ew_return &lt;= -0.3) == 0.05" in views and "yes" in views
    assert "<h3>Views: base</h3>" not in body and "<h3>Views: thin tail</h3>" not in body


def test_shifts_are_case_minus_base(stress_result):
    cases = stress_result.stress
    crash, base = cases[1].strategies[1], cases[0].strategies[1]
    rows = shift_rows(crash, base, 0.95)
    assert [r.key for r in rows] == ["var", "es", "p_loss", "p_drawdown", "p_drawdown"]
    # by hand: the set p = 1 adds 0.01 to both, so the shift is crash minus base of VALUES
    want = [0.25 - 0.10, 0.35 - 0.15, 0.55 - 0.30, 0.70 - 0.40, 0.45 - 0.20]
    np.testing.assert_allclose([r.shift for r in rows], want, rtol=0, atol=1e-15)
    body = _section(render_html(stress_result))
    for text in ("+15.0 pp", "+20.0 pp", "+25.0 pp", "+30.0 pp"):  # crash's shifts, as printed
        assert text in body
    for text in ("\u22125.00 pp", "\u22127.00 pp", "\u221210.0 pp"):  # thin tail: less loss than the base case
        assert text in body
    assert "P(max drawdown &gt; 20.0%)" in body and "[23.0%, 28.0%]" in body  # crash VaR 0.25 of set 0, CI


def test_histograms_hold_each_case_probability(stress_result):
    cases = stress_result.stress
    hists = return_histograms(cases)
    assert [h.name for h in hists] == [s.name for s in stress_result.strategies]
    for p, h in enumerate(hists):
        assert h.shares.shape == (len(cases), HIST_BINS) and h.edges.shape == (HIST_BINS + 1,)
        for i, c in enumerate(cases):
            w = np.full(c.n_worlds, 1 / c.n_worlds) if c.weights is None else c.weights
            defined = ~np.isnan(c.total_return[p])
            np.testing.assert_allclose(h.shares[i].sum(), w[defined].sum(), rtol=1e-12)
            np.testing.assert_allclose(h.shares[i].sum() + h.undefined[i], w.sum(), rtol=1e-12)
    assert hists[0].undefined[1] == pytest.approx(cases[1].weights[0])  # crash's NaN world is in no bin
    assert hists[1].above[1] >= cases[1].weights[1]  # its infinite world is counted in the last bin
    fig = stress_histogram_figure(hists, cases)
    assert len(fig.data) == len(hists) * len(cases)
    assert all(len(t.y) == HIST_BINS for t in fig.data)  # bin heights only, never the worlds' values
    assert len(fig.layout.updatemenus[0].buttons) == len(hists)


def test_summary_validates_and_holds_the_shifts(stress_result):
    summary = json.loads(json.dumps(build_summary(stress_result), allow_nan=False))
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    got = summary["stress"]
    assert [c["name"] for c in got] == ["base", "crash", "thin tail"]
    assert [c["low_ess"] for c in got] == [False, False, True]
    base, crash = got[0], got[1]
    assert base["condition"] is None and crash["condition"] == "tilt(ew_return, -0.3)"
    assert all(s["shift"] is None for s in base["strategies"].values())
    assert crash["views"] == [{"label": "P(ew_return <= -0.3) == 0.05", "prior": 0.01, "posterior": 0.05,
                               "residual": 0.0, "binding": True}]
    s0 = crash["strategies"]["equal_weight"]
    assert s0["var"] == {"value": 0.25, "lo": 0.25 - 0.02, "hi": 0.25 + 0.03, "se": 0.01}
    assert s0["p_drawdown"]["0.2"] == {"value": 0.45, "lo": None, "hi": None, "se": None}
    assert s0["shift"] == {"var": 0.25 - 0.10, "es": 0.35 - 0.15, "p_loss": 0.55 - 0.30,
                           "p_drawdown": {"0.1": 0.70 - 0.40, "0.2": 0.45 - 0.20}}
    assert got[2]["ess"]["kish"] == pytest.approx(stress_result.stress[2].ess_kish)


def _assert_same_case(a: StressCase, b: StressCase) -> None:
    for f in dataclasses.fields(StressCase):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "fan":
            assert list(x) == list(y)
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])
                assert x[k].dtype == y[k].dtype
        elif f.name in ("weights", "total_return", "ew_return"):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
                assert x.dtype == y.dtype
        elif f.name == "strategies":  # Estimates with NaN fields: compare their JSON, where NaN equals NaN
            assert json.dumps([dataclasses.asdict(s) for s in x]) == json.dumps([dataclasses.asdict(s) for s in y])
        else:
            assert x == y, f.name


def test_results_directory_round_trips(stress_result, tmp_path):
    write_outputs(stress_result, tmp_path)
    back = load_results(tmp_path)
    assert len(back.stress) == len(stress_result.stress)
    for a, b in zip(stress_result.stress, back.stress):
        _assert_same_case(a, b)
    assert math.isnan(back.stress[0].strategies[0].p_drawdown[1][1].lo)
    assert stress_html(back) == stress_html(stress_result)  # `stressgen report` re-renders the same section


def test_a_manifest_without_stress_loads_no_cases(stress_result):
    tensors, manifest = _store.encode(stress_result)
    assert len(manifest["stress"]) == 3
    del manifest["stress"]  # as written before stress cases were kept
    back = _store.decode(json.loads(_store.manifest_json(manifest)), tensors.__getitem__,
                         _store.metrics_frame(stress_result))
    assert back.stress == ()


@pytest.mark.skipif(chromium_path() is None, reason="headless Chromium (/usr/bin/chromium) is not installed")
def test_stress_figures_draw_and_tables_fit_in_a_browser(stress_result, tmp_path):
    report = write_outputs(stress_result, tmp_path)
    js = """JSON.stringify({
      figs: ['fig-stress-fan', 'fig-stress-returns'].map(function (id) {
        var d = document.getElementById(id);
        return {svg: d.querySelectorAll('svg.main-svg').length, bars: d.querySelectorAll('g.trace.bars').length};
      }),
      tables: Array.from(document.querySelectorAll('#stress-scenarios table')).map(function (t) {
        return {table: t.scrollWidth, box: t.parentElement.clientWidth};
      })
    })"""
    seen = check_page(report.resolve().as_uri(), state_js=js)
    assert seen.problems == [], seen.problems
    fan, returns = seen.state["figs"]
    assert fan["svg"] >= 1 and returns["svg"] >= 1 and returns["bars"] >= 1
    for t in seen.state["tables"]:  # at the default 1400 px window every column of the section is visible
        assert t["table"] <= t["box"], t

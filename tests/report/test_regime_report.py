"""The history's decoded regime path in the report (issue 15, point 1): a "Regimes" section and a `regimes` key of
summary.json when the generator is the regime mixture, nothing for other families, the same numbers after a
results directory is read back; and the pipeline stage that decodes it."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import numpy as np
import pytest
from cdp_pipe import check_page, chromium_path

from stressgen.report import SUMMARY_SCHEMA, build_summary, load_results, render_html, write_outputs
from stressgen.results import GeneratorInfo, RegimeHistory
from stressgen.stages import FittedGenerator, regime_history

# calm 5 days, turbulent 2, calm 1, normal 3, turbulent 1: stays by hand below
PATH = np.array([0, 0, 0, 0, 0, 2, 2, 0, 1, 1, 1, 2])


def _history() -> RegimeHistory:
    g = np.random.default_rng(0)  # test data only
    smoothed = g.dirichlet(np.ones(3), size=PATH.size)
    dates = tuple(f"2020-01-{d:02d}" for d in range(1, PATH.size + 1))
    return RegimeHistory(dates=dates, labels=("calm", "normal", "turbulent"), viterbi=PATH.copy(), smoothed=smoothed)


@pytest.fixture(scope="module")
def regime_result(run_result):
    return dataclasses.replace(run_result, regimes=_history())


def test_shares_and_stays_by_hand():
    r = _history()
    np.testing.assert_allclose(r.share_of_days(), [6 / 12, 3 / 12, 3 / 12])
    np.testing.assert_allclose(r.mean_spell_days(), [(5 + 1) / 2, 3.0, (2 + 1) / 2])
    never = dataclasses.replace(r, viterbi=np.zeros(4, np.int64), smoothed=r.smoothed[:4], dates=r.dates[:4])
    assert np.isnan(never.mean_spell_days()[1:]).all() and never.mean_spell_days()[0] == 4


def test_section_and_summary_only_for_a_regime_run(run_result, regime_result):
    assert "fig-regimes" not in render_html(run_result)
    assert build_summary(run_result)["regimes"] is None
    html = render_html(regime_result)
    assert 'id="fig-regimes"' in html and "most likely <b>turbulent</b>" in html
    summary = json.loads(json.dumps(build_summary(regime_result), allow_nan=False))
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    got = summary["regimes"]
    assert got["labels"] == ["calm", "normal", "turbulent"] and got["last_regime"] == "turbulent"
    assert got["share_of_days"] == [0.5, 0.25, 0.25] and got["mean_spell_days"] == [3.0, 3.0, 1.5]
    assert got["last_day"] == [float(v) for v in regime_result.regimes.smoothed[-1]]


def test_results_directory_round_trips(regime_result, tmp_path):
    write_outputs(regime_result, tmp_path)
    back = load_results(tmp_path).regimes
    want = regime_result.regimes
    assert back.dates == want.dates and back.labels == want.labels
    np.testing.assert_array_equal(back.viterbi, want.viterbi)
    np.testing.assert_array_equal(back.smoothed, want.smoothed)


def test_the_stage_decodes_a_regime_fit_and_skips_other_families(small_fits, small_market):
    info = GeneratorInfo(name="x", config={}, params_digest="", fit_seconds=0.0, warnings=())
    gen, params = small_fits("regime")
    r = regime_history(FittedGenerator(gen, params, info), small_market)
    assert len(r.dates) == r.viterbi.size == r.smoothed.shape[0] == small_market.log_returns.shape[0]
    assert r.dates[-1] == small_market.dates[-1].date().isoformat()
    np.testing.assert_allclose(r.smoothed.sum(axis=1), 1.0, atol=1e-9)
    assert r.labels == tuple(params.labels)
    gen, params = small_fits("bootstrap")
    assert regime_history(FittedGenerator(gen, params, info), small_market) is None


@pytest.mark.skipif(chromium_path() is None, reason="headless Chromium (/usr/bin/chromium) is not installed")
def test_regime_figure_draws_in_a_browser(regime_result, tmp_path):
    report = write_outputs(regime_result, tmp_path)
    js = """JSON.stringify(Array.from(document.querySelectorAll('#fig-regimes')).map(function (d) {
      return {svg: d.querySelectorAll('svg.main-svg').length, areas: d.querySelectorAll('g.trace.scatter').length};
    }))"""
    seen = check_page(report.resolve().as_uri(), state_js=js)
    assert seen.problems == [], seen.problems
    assert seen.state == [{"svg": seen.state[0]["svg"], "areas": 3}] and seen.state[0]["svg"] >= 1

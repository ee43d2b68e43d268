"""The plausibility gate and the data-quality suspects in the report layer: the red box at the top, the
header lines, summary.json (valid against the schema, strict JSON) and the round trip through a results
directory. The checks come from `check_worlds` on the hand-built result's own worlds, with planted NaNs and
a planted volatility explosion."""

from __future__ import annotations

import dataclasses
import json
import re

import jsonschema
import numpy as np
import pytest

from stressgen import data
from stressgen.metrics import plausibility
from stressgen.report import SUMMARY_SCHEMA, load_results, render_html, write_outputs
from stressgen.types import Suspect


@pytest.fixture(scope="module")
def gated(run_result):
    market = data.load("sp500-20", start="2019-01-01", assets=run_result.assets)
    g = np.random.default_rng(0)
    worlds = market.log_returns[g.integers(0, market.n_obs - 1, size=(400, run_result.horizon))]
    worlds[::10, :, 1] *= 12    # JPM: a tenth of the worlds explode
    worlds[3, 5, 2] = np.nan    # and one world is broken
    report = plausibility.check_worlds(worlds.astype(np.float32), market.log_returns, market.assets,
                                       periods_per_year=252)
    suspects = (Suspect("bad_print", "AAPL", "2020-03-16", -0.42, "12 robust sd, reversed within 2 days <b>"),
                Suspect("split", "XOM", "2021-06-01", -0.69, "close to a 2:1 split"))
    return dataclasses.replace(run_result, plausibility=report, suspects=suspects)


def test_red_box_at_the_top_names_each_failure(gated):
    text = render_html(gated)
    box = re.search(r'<div class="box alerts" role="alert">(.*?)</div>', text, flags=re.S)
    assert box and "Implausible worlds" in box.group(1)
    assert text.index('class="box alerts"') < text.index("<section")
    items = re.findall(r"<li>(.*?)</li>", box.group(1))
    assert len(items) == len(gated.plausibility.failures) >= 2
    assert any(i.startswith("volatility: JPM: ") and "worst world" in i for i in items)
    assert any(i.startswith("non_finite: ") and "first such world 3" in i for i in items)
    assert "Plausibility checks</h3>" in text and "volatility \u00b7 JPM" in text


def test_header_lists_suspects_escaped(gated, run_result):
    text = render_html(gated)
    assert "Data quality suspects" in text and "AAPL 2020-03-16: bad_print" in text
    assert "&lt;b&gt;" in text and "reversed within 2 days <b>" not in text
    plain = render_html(run_result)  # no gate (an older result), no suspects
    assert 'class="box alerts"' not in plain and "none flagged" in plain and "not computed" in plain


def test_summary_and_round_trip(gated, tmp_path):
    write_outputs(gated, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    gate = summary["plausibility"]
    assert gate["passed"] is False and len(gate["checks"]) == len(gated.plausibility.checks)
    assert [c["passed"] for c in gate["checks"]] == [c.passed for c in gated.plausibility.checks]
    assert summary["data"]["suspects"][1] == dataclasses.asdict(gated.suspects[1])
    back = load_results(tmp_path)
    assert back.plausibility == gated.plausibility and back.suspects == gated.suspects
    again = tmp_path / "again"
    write_outputs(back, again)
    assert (again / "summary.json").read_text() == (tmp_path / "summary.json").read_text()

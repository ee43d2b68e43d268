"""The generated report in a real browser: headless Chromium loads it offline, with no console error, and
every plotly figure draws its SVG. Skips only where Chromium is not installed (.ci/run installs it)."""

from __future__ import annotations

import json
import os

import pytest
from cdp_pipe import check_page, chromium_path

from stressgen.report import write_outputs

# CI sets STRESSGEN_REQUIRE_BROWSER=1 after installing Chromium, so a failed install fails the suite there
# instead of skipping the check silently.
pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("STRESSGEN_REQUIRE_BROWSER"),
                                reason="headless Chromium (/usr/bin/chromium) is not installed; "
                                       ".ci/run installs Debian's chromium package")

_STATE_JS = """JSON.stringify({
  page: document.documentElement.dataset,
  figures: Array.from(document.querySelectorAll('.plotly-graph-div')).map(function (d) {
    return {id: d.id, svg: d.querySelectorAll('svg.main-svg').length,
            traces: d.querySelectorAll('g.trace, g.hm image, g.heatmaplayer image').length};
  })
})"""


def test_report_loads_without_errors_and_draws_every_figure(failing_result, tmp_path):
    report = write_outputs(failing_result, tmp_path)
    seen = check_page(report.resolve().as_uri(), state_js=_STATE_JS)
    assert seen.problems == [], seen.problems
    page_state, figures = seen.state["page"], seen.state["figures"]
    assert json.loads(page_state["pageErrors"]) == []
    total = report.read_text().count('class="plotly-graph-div"')
    assert len(figures) == total > 0
    assert int(page_state["figuresTotal"]) == int(page_state["figuresRendered"]) == total
    for fig in figures:
        assert fig["svg"] >= 1, fig      # plotly drew the figure's SVG
        assert fig["traces"] >= 1, fig   # and at least one trace in it


def test_the_check_sees_errors(tmp_path):
    """The harness is not blind: a page with a console error, an exception and a missing script fails it."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>document.documentElement.dataset.pageReady = 'true';"
                    "console.error('bad thing'); undefinedFunction();</script>"
                    '<script src="missing.js"></script></body></html>')
    seen = check_page(page.as_uri(), timeout=60)
    assert any("bad thing" in m for m in seen.console_errors)
    assert any("undefinedFunction" in m for m in seen.exceptions)
    assert any("missing.js" in m for m in seen.log_errors)


def test_page_reports_its_own_errors(tmp_path):
    """The report's error hook shows a script error in the page itself (the box a reader would see)."""
    from stressgen.report import page as make_page

    text = make_page("t", [("A", "<script>nope();</script>")])
    path = tmp_path / "p.html"
    path.write_text(text)
    seen = check_page(path.as_uri(), timeout=60)
    errors = json.loads(seen.state["pageErrors"])
    assert any("nope" in e for e in errors), errors

"""Screenshots of the stress report for docs/report.md: ``python docs/img/make_screenshots.py [OUT_DIR]``.

Renders the `RunResult` that the report tests build by hand (tests/report/conftest.py: four real stocks,
day-level bootstrap worlds, three simple strategies; its scorecard failing two thresholds) to HTML, opens it
in headless Chromium through the
DevTools pipe of tests/report/cdp_pipe.py, and captures PNGs of four parts of the page with
``Page.captureScreenshot``: the overview, the first strategy's risk section, the tear sheet and the fidelity
section (with the scorecard opened). PNGs are written to OUT_DIR (default: this folder), each at most
`MAX_BYTES`; a larger one is captured again at a lower scale.

Needs /usr/bin/chromium (Debian's ``chromium`` package); no network.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "report")]

from cdp_pipe import check_page  # tests/report, put on the path above
from conftest import build_result, with_failures

from stressgen.report import render_html

MAX_BYTES = 300_000
WIDTH = 1400
# file name -> (CSS selector of the first element shown, of the last one or None for the first alone); the
# fidelity shot opens every <details> first, so the collapsed scorecard shows with its failures on top

SHOTS = {
    "report_overview.png": ("#overview", None),
    "report_strategy.png": ("#strategy-equal-weight h3", "#fig-s0-return"),
    "report_tearsheet.png": ("#real-history-tear-sheet", "#fig-tear-underwater"),
    "report_monthly.png": ("#fig-tear-rolling", "#fig-tear-monthly"),
    "report_fidelity.png": ("#scenario-fidelity", "#scenario-fidelity details.scorecard"),
}

_RECT_JS = """(function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var a = document.querySelector(%s), b = document.querySelector(%s) || a;
  if (!a) { return JSON.stringify(null); }
  b = b.closest('figure') || b;  // a figure's shot ends under its caption
  var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
  var top = ra.top + window.scrollY - 8, bottom = Math.max(ra.bottom, rb.bottom) + window.scrollY + 8;
  var main = document.querySelector('main').getBoundingClientRect();
  return JSON.stringify({x: main.left, y: top, width: main.width, height: bottom - top});
})()"""


def capture(html_path: Path, out_dir: Path) -> dict[str, int]:
    """Write every PNG of `SHOTS` into `out_dir`; returns file name -> bytes."""
    sizes: dict[str, int] = {}

    def shoot(send):
        send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": 1000, "deviceScaleFactor": 1,
                                                    "mobile": False})
        send("Runtime.evaluate", {"expression": "window.dispatchEvent(new Event('resize'))"})
        for name, (top, last) in SHOTS.items():
            js = _RECT_JS % (json.dumps(top), json.dumps(last or top))
            rect = json.loads(send("Runtime.evaluate", {"expression": js, "returnByValue": True})
                              ["result"]["value"])
            if rect is None:
                raise SystemExit(f"{name}: no element {top!r} in the page")
            for scale in (1.0, 0.8, 0.65, 0.5):
                shot = send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                       "clip": {**rect, "scale": scale}})
                data = base64.b64decode(shot["data"])
                if len(data) <= MAX_BYTES:
                    break
            (out_dir / name).write_bytes(data)
            sizes[name] = len(data)

    seen = check_page(html_path.resolve().as_uri(), timeout=180, after=shoot)
    if seen.problems:
        raise SystemExit(f"the page has errors: {seen.problems}")
    return sizes


def main(argv: list[str]) -> None:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(render_html(with_failures(build_result())), encoding="utf-8")
        for name, size in capture(page, out_dir).items():
            print(f"{out_dir / name}: {size / 1000:.0f} kB")


if __name__ == "__main__":
    main(sys.argv)

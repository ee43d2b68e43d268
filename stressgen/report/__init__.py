"""Stress reports: ``report.html``, ``summary.json``, ``metrics.parquet`` and the arrays to re-render them.

Formatting: every number comes from a `stressgen.results.RunResult`; the only series derived here are the
tear sheet's plots of one real-history equity curve (drawdowns, rolling Sharpe and volatility, monthly
returns: `report.series`). `write_outputs` publishes a results directory as one set (a kill leaves the old
or the new one), `load_results` reads one back, `render_html` gives the page as text, `html.page` is
the page shell other HTML pages reuse, and `pit_figure` draws a rolling-origin calibration's PIT histograms.
"""

from . import html as html
from .evaluate_page import pit_figure as pit_figure
from .html import page as page
from .load import load_results as load_results
from .render import render_html as render_html
from .scorecard import write_scorecard as write_scorecard
from .summary import SUMMARY_SCHEMA as SUMMARY_SCHEMA
from .summary import build_summary as build_summary
from .writers import atomic_write as atomic_write
from .writers import check_output_dir as check_output_dir
from .writers import write_outputs as write_outputs

__all__ = ["html", "page", "pit_figure", "load_results", "render_html", "SUMMARY_SCHEMA", "build_summary",
           "atomic_write", "check_output_dir", "write_outputs", "write_scorecard"]

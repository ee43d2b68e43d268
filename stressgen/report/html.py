"""The page shell every stressgen HTML page shares: typography, table of contents, warning box, plotly.js.

`page(title, sections)` returns one self-contained HTML document. plotly.js is inlined once, from the
installed plotly package, so the page works offline and never contacts a CDN. Figures are embedded with
`figure_html`, which writes only a ``<div>`` and the call that draws it.

The page watches itself: a small script installed before anything else records uncaught errors, failed
resource loads and ``console.error`` calls in a visible box at the top (``#page-errors``) and in
``document.documentElement.dataset.pageErrors``; after load it counts the figures that drew an SVG into
``data-figures-total`` / ``data-figures-rendered``. A reader sees a broken page at once and the browser test
reads the same attributes.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence

import plotly.io as pio
import plotly.offline

__all__ = ["page", "figure_html", "slug", "esc", "PALETTE", "REAL_COLOUR", "SYN_COLOUR"]

# One palette for the whole report: strategy i always has colour i (a colour-blind-safe qualitative set).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#999999", "#882255")
REAL_COLOUR = "#222222"   # the real history, wherever it appears
SYN_COLOUR = "#0072B2"    # synthetic worlds

_CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --rule:#e3e6ec; --accent:#0072B2; --bg:#ffffff; --soft:#f6f7f9;
        --warn-bg:#fff4e5; --warn-ink:#8a4b00; --err-bg:#fdecea; --err-ink:#8b1a10; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin:0; color:var(--ink); background:var(--bg); line-height:1.5;
       font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       font-variant-numeric: tabular-nums; }
.layout { display:flex; align-items:flex-start; max-width:1400px; margin:0 auto; }
nav.toc { position:sticky; top:0; flex:0 0 230px; max-height:100vh; overflow-y:auto; padding:28px 18px;
          border-right:1px solid var(--rule); font-size:0.9rem; }
nav.toc h2 { font-size:0.8rem; text-transform:uppercase; letter-spacing:0.06em; color:var(--muted); margin:0 0 8px; }
nav.toc ol { list-style:none; padding:0; margin:0; }
nav.toc li { margin:4px 0; }
nav.toc a { color:var(--ink); text-decoration:none; }
nav.toc a:hover { color:var(--accent); }
main { flex:1 1 auto; min-width:0; padding:28px 40px 60px; }
h1 { font-size:1.7rem; margin:0 0 4px; font-weight:650; }
.subtitle { color:var(--muted); margin:0 0 20px; }
section { margin:0 0 44px; }
section > h2 { font-size:1.3rem; font-weight:620; border-bottom:2px solid var(--rule); padding-bottom:6px;
               margin:0 0 14px; }
h3 { font-size:1.08rem; font-weight:600; margin:26px 0 8px; }
p, li { max-width:80ch; }
.note { color:var(--muted); font-size:0.9rem; }
/* Tables fit the page: values stay on one line, but headers and the [low, high] intervals under them may
   wrap, so a 10-column table needs about 80px a column; a table still wider than the page scrolls inside
   its .table-wrap instead of being cut off. */
table.data { border-collapse:collapse; margin:8px 0 6px; font-size:0.86rem; }
table.data th, table.data td { padding:4px 8px; border-bottom:1px solid var(--rule); text-align:right;
                               vertical-align:top; white-space:nowrap; }
table.data th { background:var(--soft); font-weight:600; color:#333b4b; white-space:normal; min-width:4.5em; }
table.data td.label, table.data th.label { text-align:left; }
table.data .ci { display:block; color:var(--muted); font-size:0.76rem; white-space:normal; }
table.kv td { text-align:left; white-space:normal; }
table.kv td:first-child { font-weight:600; color:#333b4b; width:190px; }
table.scorecard td { white-space:normal; }
/* tables of sentences (a stress case's description and notes) wrap inside their cells */
table.prose td { white-space:normal; min-width:5em; }
table.prose td:last-child, table.prose th:last-child { text-align:left; min-width:14em; }
table.scorecard td:last-child, table.scorecard th:last-child { text-align:left; min-width:14em; }
table.scorecard td .ci { min-width:16em; }
tr.failed td { background:var(--err-bg); }
.fail { color:var(--err-ink); font-weight:700; white-space:nowrap; }
.table-wrap { overflow-x:auto; max-width:100%; }
.cols { display:flex; gap:40px; flex-wrap:wrap; }
.cols > div { min-width:0; max-width:100%; }
details { margin:10px 0; }
details > summary { cursor:pointer; padding:6px 0; }
figure { margin:10px 0 22px; }
figcaption { color:var(--muted); font-size:0.88rem; margin-top:4px; max-width:90ch; }
.box { border-radius:6px; padding:12px 16px; margin:0 0 20px; }
.box h2 { font-size:1rem; margin:0 0 6px; border:0; }
.box ul { margin:0; padding-left:20px; }
.warnings { background:var(--warn-bg); color:var(--warn-ink); border:1px solid #f3c98b; }
.alerts { background:var(--err-bg); color:var(--err-ink); border:2px solid #d93025; }
#page-errors { background:var(--err-bg); color:var(--err-ink); border:1px solid #f0a39b; display:none; }
#page-errors.shown { display:block; }
code, .mono { font-family: "SFMono-Regular", Menlo, Consolas, monospace; font-size:0.85em; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
@media (max-width: 900px) { nav.toc { display:none; } main { padding:20px; } }
@media print { nav.toc { display:none; } }
"""

# Installed first, before plotly.js, so that an error anywhere later on the page is caught and shown.
_WATCH_JS = """
(function () {
  var errors = [];
  function show(msg) {
    errors.push(String(msg));
    document.documentElement.dataset.pageErrors = JSON.stringify(errors);
    var box = document.getElementById('page-errors');
    if (box) {
      box.classList.add('shown');
      var li = document.createElement('li'); li.textContent = String(msg);
      box.querySelector('ul').appendChild(li);
    }
  }
  window.__pageErrors = errors;
  window.addEventListener('error', function (e) {
    if (e.target && e.target !== window && (e.target.src || e.target.href)) {
      show('failed to load ' + (e.target.src || e.target.href));
    } else {
      show((e.message || 'error') + (e.filename ? ' (' + e.filename + ':' + e.lineno + ')' : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) { show('unhandled rejection: ' + e.reason); });
  var consoleError = console.error;
  console.error = function () {
    show(Array.prototype.map.call(arguments, String).join(' '));
    return consoleError.apply(console, arguments);
  };
  document.documentElement.dataset.pageErrors = '[]';
  window.addEventListener('load', function () {
    // plotly draws synchronously in newPlot, but give its promises one frame before counting
    requestAnimationFrame(function () { setTimeout(function () {
      var divs = document.querySelectorAll('.plotly-graph-div');
      var drawn = 0;
      divs.forEach(function (d) { if (d.querySelector('svg.main-svg')) { drawn += 1; } });
      var root = document.documentElement.dataset;
      root.figuresTotal = String(divs.length);
      root.figuresRendered = String(drawn);
      if (drawn < divs.length) { show((divs.length - drawn) + ' of ' + divs.length + ' figures did not render'); }
      root.pageReady = 'true';
    }, 0); });
  });
})();
"""


def esc(text: object) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text), quote=True)


def slug(text: str) -> str:
    """A stable, readable element id from a heading (``"Head-to-head matrix"`` -> ``"head-to-head-matrix"``)."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "section"


@functools.cache
def _plotly_js() -> str:
    # the minified bundle of the installed plotly package; "</script" cannot occur inside it (plotly's own
    # to_html inlines it the same way)
    return plotly.offline.get_plotlyjs()


def figure_html(fig, *, caption: str, div_id: str, height: int | None = None) -> str:
    """One plotly figure as ``<figure>``: a div, the script that draws it, and a caption saying what it shows.

    plotly.js itself is not included: `page` inlines it once for all figures.
    """
    if height is not None:
        fig.update_layout(height=height)
    body = pio.to_html(fig, full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True,
                               "modeBarButtonsToRemove": ["sendDataToCloud"]})
    return f'<figure>{body}<figcaption>{caption}</figcaption></figure>'


def page(title: str, sections: Sequence[tuple[str, str]], *, warnings: Sequence[str] = (),
         subtitle: str = "", alerts: Sequence[str] = (), alerts_title: str = "Failed checks") -> str:
    """A complete, self-contained HTML document.

    Args:
        title: the page title (also the ``<h1>``).
        sections: ``(heading, body_html)`` in order; each becomes a ``<section>`` with an id from `slug` and
            an entry in the table of contents. Bodies are trusted HTML (escape user text with `esc`).
        warnings: plain-text lines shown in a warning box above the first section (escaped here).
        alerts: plain-text lines shown in a red box (headed `alerts_title`) above the warnings: results that
            should not be trusted as they stand, such as failed plausibility checks.
        subtitle: plain text under the title (escaped here).

    Returns:
        The HTML text. plotly.js is inlined once in ``<head>``; nothing is fetched from the network.
    """
    ids: dict[str, int] = {}
    toc, body = [], []
    for heading, content in sections:
        base = slug(heading)
        ids[base] = ids.get(base, 0) + 1
        sid = base if ids[base] == 1 else f"{base}-{ids[base]}"
        toc.append(f'<li><a href="#{sid}">{esc(heading)}</a></li>')
        body.append(f'<section id="{sid}"><h2>{esc(heading)}</h2>\n{content}\n</section>')
    warn = ""
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        warn = f'<div class="box warnings" role="alert"><h2>Warnings</h2><ul>{items}</ul></div>'
    alert = ""
    if alerts:
        items = "".join(f"<li>{esc(a)}</li>" for a in alerts)
        alert = f'<div class="box alerts" role="alert"><h2>{esc(alerts_title)}</h2><ul>{items}</ul></div>'
    sub = f'<p class="subtitle">{esc(subtitle)}</p>' if subtitle else ""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_WATCH_JS}</script>",
        f'<script type="text/javascript">{_plotly_js()}</script>',
        "</head><body>",
        '<div class="layout">',
        f'<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{"".join(toc)}</ol></nav>',
        "<main>",
        f"<h1>{esc(title)}</h1>{sub}",
        '<div id="page-errors" class="box" role="alert"><h2>This page has errors</h2><ul></ul></div>',
        alert,
        warn,
        *body,
        "</main></div>",
        "</body></html>",
    ])

"""The report's "Regimes" section: the history's decoded regime path when the generator is the regime mixture.

The worlds start from the regime probabilities at the end of the history, so the reader needs to see which
regime the history ends in and how the model reads the past: a stacked area of each regime's probability on
each day given the whole history (smoothed), and a table of each regime's share of the days and mean stay on
the most likely (Viterbi) path. Other generator families have no regimes and no section.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..results import RegimeHistory, RunResult
from . import tables
from .figures import layout
from .html import esc, figure_html

__all__ = ["regimes_html", "regime_figure", "REGIME_COLOURS"]

# calm to turbulent: blue, yellow, orange, vermillion, purple (the Okabe-Ito colours of html.PALETTE)
REGIME_COLOURS = ("#0072B2", "#F0E442", "#E69F00", "#D55E00", "#882255")


def regime_figure(r: RegimeHistory) -> go.Figure:
    """Stacked areas: each regime's smoothed probability on each day of the history (they sum to 1)."""
    fig = go.Figure()
    for k, label in enumerate(r.labels):
        fig.add_trace(go.Scatter(x=list(r.dates), y=np.asarray(r.smoothed[:, k], np.float64), name=label,
                                 mode="lines", stackgroup="regimes", line=dict(width=0.5),
                                 fillcolor=REGIME_COLOURS[k % len(REGIME_COLOURS)],
                                 line_color=REGIME_COLOURS[k % len(REGIME_COLOURS)],
                                 hovertemplate=f"{esc(label)}: %{{y:.0%}}<extra>%{{x}}</extra>"))
    return layout(fig, height=320, legend_below=True, yaxis_title="probability (given the whole history)",
                  yaxis_tickformat=".0%", yaxis_range=[0, 1])


def regimes_html(result: RunResult) -> str:
    """The section's body, or "" without a regime path (the section is then left out)."""
    r = result.regimes
    if r is None:
        return ""
    share, spell, last = r.share_of_days(), r.mean_spell_days(), r.smoothed[-1]
    rows = [[esc(label), tables.fmt_pct(share[k]),
             "never" if np.isnan(spell[k]) else f"{spell[k]:.0f}", tables.fmt_pct(last[k])]
            for k, label in enumerate(r.labels)]
    end = r.labels[int(r.viterbi[-1])]
    intro = (f"<p>The regime mixture reads the history as {len(r.labels)} regimes, calmest first. The worlds "
             f"start from the regime probabilities on the last day ({esc(r.dates[-1])}: most likely "
             f"<b>{esc(end)}</b>) and move between regimes with the fitted transition matrix. Shares and stays "
             "are on the most likely (Viterbi) path; definitions: docs/regime.md.</p>")
    table = tables.table(["regime", "share of the history's days", "mean stay (days)", "probability on the last day"],
                         rows)
    fig = figure_html(regime_figure(r), div_id="fig-regimes",
                      caption="Each regime's probability on each day of the history, given the whole history "
                              "(smoothed); the areas sum to 1.")
    return intro + table + fig

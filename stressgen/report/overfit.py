"""The report's "Overfitting" section: one block per strategy with a parameter grid (`RunResult.overfit`).

For each grid: a red-bordered warning when the real-history winner is not robust across worlds (PBO or
P(below the grid median) above 1/2), the weaker flags (DSR under 95%, chance share over 5%) as notes; a table
of DSR, PSR, PBO, the winner's rank across worlds and the chance share; the rank distribution as a bar chart;
and each parameter set's real-history Sharpe ratio. Strategies without a grid get nothing here (a grid of
one strategy has no search to judge).
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..metrics.overfit_grid import BELOW_MEDIAN_LIMIT, PBO_LIMIT
from ..results import OverfitResult, RunResult
from . import tables
from .figures import layout
from .html import PALETTE, esc, figure_html

__all__ = ["overfit_html", "rank_figure"]


def rank_figure(o: OverfitResult, colour: str) -> go.Figure:
    """Bars: share of worlds in which the real-history winner holds each rank of the grid (1 = best)."""
    ranks = list(range(1, len(o.rank_shares) + 1))
    fig = go.Figure(go.Bar(x=ranks, y=[float(v) for v in o.rank_shares], marker_color=colour,
                           hovertemplate="rank %{x}: %{y:.1%} of worlds<extra></extra>"))
    median = (len(ranks) + 1) / 2
    fig.add_vline(x=median, line_dash="dot", line_color="#555",
                  annotation_text="grid median", annotation_position="top")
    return layout(fig, height=300, xaxis_title="rank of the real-history winner in a world (1 = best of the grid)",
                  yaxis_title="share of worlds", yaxis_tickformat=".0%", xaxis_dtick=1 if len(ranks) <= 30 else None)


def _stats_table(o: OverfitResult) -> str:
    pct, num = tables.fmt_pct, tables.fmt_num
    rows = [
        ("Real-history winner", f"<code>{esc(o.winner_name)}</code>, Sharpe {num(o.real_sharpe[o.winner])} "
                                f"over {o.n_periods:,} real periods"),
        ("Deflated Sharpe ratio (DSR)", f"{pct(o.dsr)}: P[true Sharpe &gt; {num(o.dsr_benchmark)}], the Sharpe "
                                        f"ratio expected from the best of {o.n_trials} unskilled trials"),
        ("Probabilistic Sharpe ratio (PSR)", f"{pct(o.psr)}: P[true Sharpe &gt; 0]"),
        ("PBO (CSCV, real history)", f"{num(o.pbo, 2)} over {o.pbo_combinations:,} splits of {o.pbo_splits} blocks "
                                     "(the in-sample winner's out-of-sample Sharpe ratio is negative in "
                                     f"{pct(o.pbo_prob_oos_loss)} of them)"),
        ("P(winner below the grid median)", f"{pct(o.p_below_median)} &plusmn; {pct(o.p_below_median_se)} of "
                                            f"{o.n_worlds:,} worlds"),
        ("P(winner best of the grid)", f"{pct(o.p_best)}; median rank {num(o.median_rank)} of {len(o.sets)}"),
        ("Chance share", f"{pct(o.chance_share)} &plusmn; {pct(o.chance_se)} of {o.null_worlds:,} no-edge worlds "
                         f"reach the winner's real Sharpe ratio (p = {num(o.chance_p_value)}); its median "
                         f"Sharpe there: {num(o.null_sharpe_median)}"),
    ]
    return tables.kv_table(rows)


def _sets_table(o: OverfitResult) -> str:
    rows = [[("<b>" if p == o.winner else "") + f"<code>{esc(name)}</code>" + ("</b> (winner)" if p == o.winner
                                                                               else ""),
             tables.fmt_num(o.real_sharpe[p])] for p, name in enumerate(o.sets)]
    return tables.table(["parameter set", "real-history Sharpe"], rows)


def _one(i: int, o: OverfitResult, colour: str) -> str:
    # GridOverfit.warnings lists the robustness flags first, then the weaker ones
    k = int(o.p_below_median > BELOW_MEDIAN_LIMIT) + int(o.pbo > PBO_LIMIT)
    robustness, notes = o.warnings[:k], o.warnings[k:]
    parts = [f"<h3>{esc(o.strategy)} ({len(o.sets)} parameter sets)</h3>"]
    if robustness:
        items = "".join(f"<li>{esc(w)}</li>" for w in robustness)
        parts.append(f'<div class="box alerts" role="alert"><h2>Not robust across worlds: the real-history '
                     f"winner {esc(o.winner_name)} is likely overfit</h2><ul>{items}</ul></div>")
    else:
        parts.append(f'<p class="note">Robust: the real-history winner <code>{esc(o.winner_name)}</code> stays in '
                     "the top half of the grid in most worlds and PBO is at most 1/2.</p>")
    if notes:
        parts.append('<div class="box warnings"><ul>' + "".join(f"<li>{esc(w)}</li>" for w in notes)
                     + "</ul></div>")
    parts.append(_stats_table(o))
    parts.append(figure_html(rank_figure(o, colour), div_id=f"fig-overfit-{i}",
                             caption=f"Where {esc(o.winner_name)}, the best of the grid on the real history, ranks "
                                     f"among the grid's {len(o.sets)} sets in each of {o.n_worlds:,} worlds (by "
                                     "Sharpe ratio; a tie spreads evenly over the ranks it covers). A robust winner "
                                     "piles up at rank 1; an overfit one spreads evenly."))
    parts.append(_sets_table(o))
    return "\n".join(parts)


def overfit_html(result: RunResult) -> str:
    """The section's body, or "" when no strategy of the run has a grid (the section is then left out)."""
    if not result.overfit:
        return ""
    intro = ('<p>Every strategy with a parameter grid: was its best point on the real history found by skill or '
             "by search? Sharpe ratios are annualised, per period with ddof = 0, in excess of the risk-free rate, "
             "on the whole real history after the warm-up. DSR deflates the winner's Sharpe ratio for the number "
             "of trials; PBO is the share of combinatorially symmetric cross-validation splits of the real history "
             "in which the in-sample winner ranks at or below the median out of sample; the rank across worlds "
             "asks the same of the simulated worlds; the chance share runs the winner on worlds with the edge "
             "removed (each world's log returns de-meaned per asset, as long as the real history) and counts how "
             "often it reaches its real Sharpe ratio. Strategies without a grid have no section here. Definitions: "
             "docs/overfitting.md.</p>")
    names = [s.name for s in result.strategies]
    blocks = []
    for i, o in enumerate(result.overfit):
        first = names.index(o.sets[0]) if o.sets[0] in names else i
        blocks.append(_one(i, o, PALETTE[first % len(PALETTE)]))
    return intro + "\n".join(blocks)

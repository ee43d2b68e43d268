"""The report's "Reverse stress" section: per parameter set a spec's ``[reverse]`` stresses, the most plausible
way it loses at least l (docs/reverse.md).

Per strategy: the event's probability; the most plausible losing world's prices (each asset's cumulative
growth, beside the conditional mean path and, for the optimised method, the most likely path found), the
strategy's equity and its executed weights over the horizon; the most plausible losing worlds with their
plausibility, percentile and top drivers; the drivers (per-asset contributions, volatility path and average
correlation, losing worlds against all); the optimised path's plausibility and exactly re-measured loss; and the
worst sampled worlds beside the most plausible ones. Figures hold only these few paths: nothing per world of the
whole sample goes into the page.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..results import RunResult
from ..results_reverse import ReverseResult
from . import tables
from .figures import ASSET_COLOURS, asset_equity, date_x, layout, thin
from .html import PALETTE, esc, figure_html

__all__ = ["reverse_html", "path_figure", "drivers_figure"]

_GREY = "#8a8f98"


def _colour(j: int) -> str:
    return ASSET_COLOURS[j % len(ASSET_COLOURS)]


def path_figure(r: ReverseResult, dates, colour: str) -> go.Figure:
    """Prices, equity and weights along the most plausible losing world (module docstring)."""
    best = r.most_plausible[0]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=(f"Prices in world {best.world}", "Strategy equity",
                                        "Executed weights"))
    growth, mean = asset_equity(best.path), np.exp(np.vstack([np.zeros((1, r.mean_path.shape[1])), r.mean_path]))
    opt = r.optimised
    opt_growth = asset_equity(opt.log_returns[0]) if opt is not None and len(opt.met) and opt.met[0] else None
    n = growth.shape[0]
    idx = thin(n)
    x = date_x(dates, n, idx)
    for j, asset in enumerate(r.assets):
        line = dict(color=_colour(j), width=1.6)
        fig.add_trace(go.Scatter(x=x, y=growth[idx, j], mode="lines", name=str(asset), legendgroup=str(asset),
                                 line=line, hovertemplate=f"{esc(asset)}<br>%{{x}}: %{{y:.3f}}<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=mean[idx, j], mode="lines", name=f"{asset}: conditional mean",
                                 legendgroup=str(asset), showlegend=False, line={**line, "dash": "dash", "width": 1},
                                 hovertemplate=f"{esc(asset)}, mean over losing worlds<br>%{{x}}: %{{y:.3f}}"
                                               "<extra></extra>"), row=1, col=1)
        if opt_growth is not None:
            fig.add_trace(go.Scatter(x=x, y=opt_growth[idx, j], mode="lines", name=f"{asset}: optimised",
                                     legendgroup=str(asset), showlegend=False, line={**line, "dash": "dot"},
                                     hovertemplate=f"{esc(asset)}, optimised path<br>%{{x}}: %{{y:.3f}}"
                                                   "<extra></extra>"), row=1, col=1)
        w = np.asarray(best.weights, np.float64)[:, j]
        widx = thin(len(w))
        fig.add_trace(go.Scatter(x=date_x(dates[1:] if dates is not None else None, len(w), widx), y=w[widx],
                                 mode="lines", name=f"{asset}: weight", legendgroup=str(asset), showlegend=False,
                                 line=dict(color=_colour(j), width=1.4, shape="hv"),
                                 hovertemplate=f"{esc(asset)} weight<br>%{{x}}: %{{y:.1%}}<extra></extra>"),
                      row=1, col=3)
    lines = [(best, f"world {best.world} (most plausible)", colour, 2.4)]
    if r.worst and r.worst[0].world != best.world:
        lines.append((r.worst[0], f"world {r.worst[0].world} (worst sampled)", _GREY, 1.2))
    for w, label, c, width in lines:
        eidx = thin(len(w.equity))
        fig.add_trace(go.Scatter(x=date_x(dates, len(w.equity), eidx), y=w.equity[eidx], mode="lines", name=label,
                                 line=dict(color=c, width=width),
                                 hovertemplate=f"{label}<br>%{{x}}: %{{y:.3f}}<extra></extra>"), row=1, col=2)
    fig.add_hline(y=1.0 - r.config.loss, line=dict(color="#D55E00", dash="dot", width=1), row=1, col=2)
    fig.update_yaxes(title_text="price (start = 1)", row=1, col=1)
    fig.update_yaxes(title_text="equity (start = 1)", row=1, col=2)
    fig.update_yaxes(title_text="weight", tickformat=".1%", row=1, col=3)  # weights near 5% need a decimal
    return layout(fig, height=420 + 22 * (len(r.assets) // 8), legend_below=True)


def drivers_figure(r: ReverseResult, dates, colour: str) -> go.Figure:
    """Left: per-asset P&L contributions, the most plausible world and the losing worlds' mean. Right: the
    mean realised volatility path of the losing worlds against all worlds."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("P&L contribution per asset", "Realised volatility (annualised)"))
    assets = [str(a) for a in r.assets]
    best = r.most_plausible[0]
    fig.add_trace(go.Bar(x=assets, y=best.contributions.per_asset, name=f"world {best.world}",
                         marker_color=colour, hovertemplate="%{x}: %{y:.2%}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=assets, y=r.drivers.contributions.per_asset, name="mean over losing worlds",
                         marker_color=_GREY, hovertemplate="%{x}: %{y:.2%}<extra></extra>"), row=1, col=1)
    day_dates = dates[1:] if dates is not None else None
    for values, label, c, dash in ((r.drivers.vol_losing, "losing worlds", colour, None),
                                   (r.drivers.vol_all, "all worlds", _GREY, "dash")):
        v = np.asarray(values, np.float64)
        idx = thin(len(v))
        fig.add_trace(go.Scatter(x=date_x(day_dates, len(v), idx), y=v[idx], mode="lines", name=label,
                                 line=dict(color=c, width=1.8, dash=dash),
                                 hovertemplate=f"{label}<br>%{{x}}: %{{y:.1%}}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(title_text="contribution to total return", tickformat=".1%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(barmode="group")
    return layout(fig, height=400, legend_below=True)


def _drivers_text(w) -> str:
    return ", ".join(f"{esc(a)} {tables.fmt_pct(v)}" for a, v in w.contributions.top(3)) or tables.DASH


def _world_rows(worlds, kind: str) -> list[list[str]]:
    return [[esc(kind), str(w.world), tables.fmt_pct(w.loss), tables.fmt_num(w.plausibility, 4),
             tables.fmt_num(w.percentile), _drivers_text(w)] for w in worlds]


def _optimised(r: ReverseResult) -> str:
    o = r.optimised
    if o is None:
        return ""
    met = int(np.sum(o.met))
    if not len(o.met) or not o.met[0]:
        return (f"<p><b>Optimised path:</b> the search met the loss from none of its {len(o.met)} starts; the "
                "sampled worlds above are the answer.</p>")
    loss = o.best_loss()[0]
    how = "re-measured exactly with the strategy" if o.exact_loss is not None else "as measured by the search"
    best_sampled = r.most_plausible[0].percentile
    return (f"<p><b>Optimised path</b> (the most likely noise whose path loses at least "
            f"{tables.fmt_pct(r.config.loss)}; {met} of {len(o.met)} starts met it): loss "
            f"{tables.fmt_pct(loss)} ({how}), noise log-likelihood {tables.fmt_num(o.log_lik[0], 4)}, Mahalanobis "
            f"distance |z| = {tables.fmt_num(o.mahalanobis[0])}, log-likelihood percentile "
            f"{tables.fmt_num(100 * o.percentile[0])} (the share of ordinary worlds whose noise is no more likely; "
            f"the most plausible sampled losing world sits at {tables.fmt_num(best_sampled)} among sampled worlds). "
            f"Drawn dotted in the prices panel. {esc(o.relaxation)}.</p>")



def _tilt_text(r: ReverseResult) -> str:
    """The tilt in words: how its strength was set, not the direction's weights (`Tilt.describe` keeps those
    for the provenance and reverse.json)."""
    how = f"z = {r.tilt_choice.z:g}, chosen on a pilot" if r.tilt_choice is not None else "z set by reverse.tilt_z"
    return f"tilted toward the strategy's average holdings ({how})"

def _one(i: int, r: ReverseResult, result: RunResult) -> str:
    colour = PALETTE[i % len(PALETTE)]
    p, c = r.probability, r.config
    tilt = f"{_tilt_text(r)}, probabilities reweighted to the plain model" if r.tilt else "plain worlds"
    parts = [f"<h3>{tables.swatch(i)}{esc(c.strategy)}: loss of {tables.fmt_pct(c.loss)} or more</h3>",
             f"<p>P(loss \u2265 {tables.fmt_pct(c.loss)}) = <b>{tables.fmt_pct(p.value)}</b> "
             f"[{tables.fmt_pct(p.lo)}, {tables.fmt_pct(p.hi)}] ({r.n_losing:,} of {c.n_worlds:,} worlds, "
             f"{tilt}; Kish effective size {tables.fmt_num(r.ess_kish)}, of the losing worlds "
             f"{tables.fmt_num(r.ess_losing)}); largest sampled loss {tables.fmt_pct(r.largest_loss)}. "
             f"Plausibility: {esc(r.plausibility_method)}.</p>"]
    if not r.most_plausible:
        return "\n".join(parts)
    best = r.most_plausible[0]
    dates = result.world_dates() if c.horizon == result.horizon else None
    parts.append(figure_html(
        path_figure(r, dates, colour), div_id=f"fig-rev{i}-path",
        caption=f"The most plausible losing world ({best.world}: loss {tables.fmt_pct(best.loss)}, plausibility "
                f"percentile {tables.fmt_num(best.percentile)}). Left: each asset's price (solid), the conditional "
                f"mean path over the losing worlds (dashed)" + (", the optimised path (dotted)" if r.optimised
                                                                   is not None else "")
                + f". Middle: {esc(c.strategy)}'s equity there and in the worst sampled world; the dotted line is "
                  f"1 \u2212 {tables.fmt_pct(c.loss)}. Right: the weights the engine executed, held over each day."))
    parts.append(tables.table(["", "world", "loss", "plausibility", "percentile", "top drivers (P&L)"],
                              _world_rows(r.most_plausible, "most plausible") + _world_rows(r.worst, "worst"),
                              label_cols=1))
    parts.append('<p class="note">Most plausible losing worlds first, then the worst sampled worlds by loss. '
                 "Plausibility is in nats (higher = more plausible); the percentile is the share of "
                 f"{r.n_reference:,} ordinary (plain, unweighted) worlds, losing or not, that are no more "
                 "plausible. The most plausible way to lose is "
                 "rarely the worst world.</p>")
    d = r.drivers
    parts.append(figure_html(
        drivers_figure(r, dates, colour), div_id=f"fig-rev{i}-drivers",
        caption=f"What drove the loss. Left: each asset's contribution to the total return (on unit capital; "
                f"with cash {tables.fmt_pct(best.contributions.cash)} and costs "
                f"{tables.fmt_pct(best.contributions.costs)} they sum to world {best.world}'s return). Right: the "
                f"mean realised volatility, losing worlds against all. Average pairwise correlation over the "
                f"horizon: {tables.fmt_num(d.corr_losing, 2)} in the losing worlds against "
                f"{tables.fmt_num(d.corr_all, 2)} in all worlds "
                f"(shift {tables.fmt_num(d.corr_losing - d.corr_all, 2)})."))
    parts.append(_optimised(r))
    parts += [f'<p class="note">{esc(n)}</p>' for n in r.notes]
    return "\n".join(x for x in parts if x)


def reverse_html(result: RunResult) -> str:
    """The section's body ("" without reverse results: the section is then left out)."""
    if not result.reverse:
        return ""
    intro = ("<p>Reverse stress: for each strategy, the most plausible ways it loses at least the loss "
             "threshold (the spec's <code>[reverse]</code>; docs/reverse.md). Worlds are drawn from the run's "
             "generator with its seed, tilted toward the strategy's losses where the family allows it, and "
             "weighted back to the plain model.</p>")
    return intro + "\n".join(_one(i, r, result) for i, r in enumerate(result.reverse))

"""The `stressgen evaluate` HTML page: the fidelity scorecard with stylized-fact plots, real against
synthetic (ACF curves, QQ plots, correlation heatmaps, drawdown distributions), the table of metrics with
intervals and ranks beside the two floors, the definitions and, when the study ran, the rolling-origin
calibration (PIT histograms and the table of KS distance, p-value, band shares and CRPS). Nothing is
computed here beyond layout: every number comes from a `stressgen.metrics.fidelity.Scorecard` or a
`stressgen.studies.CalibrationResult`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics.fidelity.protocol import Scorecard
from ..metrics.fidelity.thresholds import THRESHOLDS, check
from .html import PALETTE, REAL_COLOUR, esc, figure_html, page

if TYPE_CHECKING:
    from ..studies.calibration import CalibrationResult

__all__ = ["render", "pit_figure"]

_FONT = dict(family="-apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif", size=12)


def _layout(fig: go.Figure, height: int = 360, **kw) -> go.Figure:
    fig.update_layout(template="plotly_white", font=_FONT, height=height, margin=dict(l=60, r=20, t=40, b=50),
                      legend=dict(orientation="h", y=-0.18), **kw)
    return fig


def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.3g}"


def _colours(names: list[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _table(card: Scorecard) -> str:
    t = card.table
    cols = list(dict.fromkeys(t["generator"]))
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = []
    for metric in dict.fromkeys(t["metric"]):
        sub = t[t["metric"] == metric].set_index("generator")
        limit = THRESHOLDS.get(metric)
        cells = []
        for c in cols:
            r = sub.loc[c]
            ci = f'<span class="ci">[{_fmt(r["lo"])}, {_fmt(r["hi"])}]</span>' if math.isfinite(r["lo"]) else ""
            rank = f' <sup>#{int(r["rank"])}</sup>' if r["kind"] == "generator" and math.isfinite(r["rank"]) else ""
            style = ' style="font-weight:700"' if r["kind"] == "generator" and r["rank"] == 1 else ""
            failed = limit is not None and r["kind"] == "generator" and limit.fails(r["mean"])
            mark = ' style="color:#8b1a10;font-weight:700"' if failed else style
            cells.append(f"<td{mark}>{_fmt(r['mean'])}{rank}{ci}</td>")
        lim = f"{limit.limit:g}" if limit else ""
        family = esc(card.meta.get("metrics", {}).get(metric, {}).get("family", ""))
        rows.append(f'<tr><td class="label"><code>{esc(metric)}</code></td><td class="label">{family}</td>'
                    f'{"".join(cells)}<td>{lim}</td></tr>')
    return (f'<div class="table-wrap"><table class="data"><thead><tr><th class="label">metric</th>'
            f'<th class="label">family</th>{head}<th>threshold</th></tr></thead><tbody>{"".join(rows)}'
            f"</tbody></table></div>"
            '<p class="note">Mean over replicates, 90% interval below it, rank among generators as #k (1 = best; '
            "every metric is lower-is-better). Floors are not ranked. Red: above the threshold.</p>")


def _summary(card: Scorecard) -> str:
    m = card.meta
    rank = card.ranking()
    sample = "in-sample (no refit: the run's history against its worlds)" if m.get("in_sample") else (
        f"out of sample: fit {m['train'][0]}..{m['train'][1]} ({m['n_train']} returns), "
        f"score {m['test'][0]}..{m['test'][1]} ({m['n_test']} returns)")
    kv = [("data", f"{m['source']} ({len(m['assets'])} assets)"), ("protocol", sample),
          ("paths per replicate", m["n_paths"]), ("replicates", m["n_seeds"]),
          ("interval", f"{m['interval']:.0%} (t interval of the mean over replicates)")]
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in kv)
    ranks = "".join(f"<tr><td class='label'>{esc(g)}</td><td>{v:.2f}</td></tr>" for g, v in rank.items())
    return (f'<table class="data kv"><tbody>{rows}</tbody></table><h3>Mean rank over metrics</h3>'
            f'<table class="data"><thead><tr><th class="label">generator</th><th>mean rank</th></tr></thead>'
            f"<tbody>{ranks}</tbody></table>")


def _curves(card: Scorecard, key: str, title: str, y_title: str, div_id: str, caption: str) -> str:
    names = list(card.plots)
    colours = _colours(names)
    fig = go.Figure()
    real = next(iter(card.plots.values()))[key][0]
    lags = np.arange(1, len(real) + 1)
    fig.add_trace(go.Scatter(x=lags, y=real, name="real", line=dict(color=REAL_COLOUR, width=2)))
    for n in names:
        fig.add_trace(go.Scatter(x=lags, y=card.plots[n][key][1], name=n, line=dict(color=colours[n], width=1.5)))
    _layout(fig, title=title, xaxis_title="lag (days)", yaxis_title=y_title)
    return figure_html(fig, caption=caption, div_id=div_id)


def _qq(card: Scorecard) -> str:
    names = list(card.plots)
    colours = _colours(names)
    fig = go.Figure()
    lo = hi = 0.0
    for n in names:
        r, s = card.plots[n]["qq"]
        lo, hi = min(lo, r.min(), s.min()), max(hi, r.max(), s.max())
        fig.add_trace(go.Scatter(x=r, y=s, mode="markers", name=n, marker=dict(color=colours[n], size=5)))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                             line=dict(color=REAL_COLOUR, dash="dot", width=1)))
    _layout(fig, height=460, title="QQ plot of daily returns (units of the real std)",
            xaxis_title="real quantile", yaxis_title="synthetic quantile")
    return figure_html(fig, div_id="qq", caption="Quantiles of daily returns divided by each asset's real standard "
                       "deviation, pooled over assets, at 199 levels. Points above the line in the left tail mean "
                       "the synthetic losses are smaller than the real ones.")


def _heatmaps(card: Scorecard) -> str:
    first = next(iter(card.plots.values()))
    if first["corr"][0].shape[0] < 2:
        return '<p class="note">One asset: no correlation matrix.</p>'
    names = list(card.plots)
    assets = card.meta["assets"]
    n = len(names) + 1
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=["real"] + names, horizontal_spacing=0.06,
                        vertical_spacing=0.08)
    mats = [first["corr"][0]] + [card.plots[g]["corr"][1] for g in names]
    for i, m in enumerate(mats):
        fig.add_trace(go.Heatmap(z=m, x=assets, y=assets, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                                 showscale=i == 0), row=i // cols + 1, col=i % cols + 1)
    _layout(fig, height=380 * rows, title="Correlation of daily returns")
    fig.update_yaxes(autorange="reversed")
    return figure_html(fig, div_id="corr", caption="Pearson correlations: the held-out real period (first panel) "
                       "and each generator's worlds (paths pooled, each demeaned on its own).")


def _drawdowns(card: Scorecard) -> str:
    names = list(card.plots)
    colours = _colours(names)
    fig = go.Figure()

    def ecdf(x, name, colour, width):
        x = np.sort(x)
        fig.add_trace(go.Scatter(x=x, y=np.arange(1, x.size + 1) / x.size, name=name, mode="lines",
                                 line=dict(color=colour, width=width, shape="hv")))

    ecdf(next(iter(card.plots.values()))["drawdowns"][0], "real", REAL_COLOUR, 2.5)
    for n in names:
        ecdf(card.plots[n]["drawdowns"][1], n, colours[n], 1.5)
    _layout(fig, title="Maximum drawdown of rolling windows", xaxis_title="max drawdown (fraction of the peak)",
            yaxis_title="share of windows ≤ x", xaxis_tickformat=".0%")
    return figure_html(fig, div_id="drawdowns", caption="Empirical CDFs of the maximum drawdown of rolling "
                       "one-year windows (one a month), per asset, pooled over assets: real held-out period "
                       "against each generator's worlds.")


def _strategies(card: Scorecard) -> str:
    s = card.strategies
    if s.empty:
        return '<p class="note">No strategies were scored.</p>'
    wide = s.groupby(["strategy", "generator"], sort=False)["value"].mean().unstack("generator")
    gens = list(wide.columns)
    head = "".join(f"<th>{esc(g)}</th>" for g in gens)
    rows = "".join(f'<tr><td class="label">{esc(k)}</td>' + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>"
                   for k, r in zip(wide.index, wide.to_numpy(), strict=True))
    return (f'<table class="data"><thead><tr><th class="label">strategy</th>{head}</tr></thead><tbody>{rows}'
            "</tbody></table><p class='note'>Relative error of the VaR and ES of 20-day P&amp;L at 1% and 5%, "
            "synthetic against the real scored period, mean over replicates (the strategy_re column averages "
            "these rows).</p>")


def _definitions(card: Scorecard) -> str:
    items = "".join(f"<tr><td class='label'><code>{esc(k)}</code></td><td class='label'>{esc(v['definition'])}</td>"
                    f"</tr>" for k, v in card.meta.get("metrics", {}).items())
    return (f'<table class="data kv"><tbody>{items}</tbody></table>'
            '<p class="note">Full definitions, the protocol and the thresholds: docs/fidelity.md.</p>')


# the headline bar of the calibration (docs/fidelity.md): at most this share outside the 5-95 % band ...
CALIBRATION_MAX_OUTSIDE_5_95 = 0.15
# ... and a KS p-value of at least this
CALIBRATION_MIN_PVALUE = 0.05


def pit_figure(cal: CalibrationResult) -> go.Figure:
    """The calibration figure: one panel per outcome (rows: equal weight, then strategies; columns: total
    return, max drawdown), the density of each generator's PITs over the bins, against the uniform density 1.
    fidelity.html shows it; a notebook can too (``fig.show()``)."""
    measures = list(dict.fromkeys(o.rpartition(":")[2] for o in cal.outcomes))
    subjects = list(dict.fromkeys(o.rpartition(":")[0] for o in cal.outcomes))
    label = {"ew": "equal weight"}
    titles = [f"{label.get(s, s)}: {m.replace('_', ' ')}" for s in subjects for m in measures]
    fig = make_subplots(rows=len(subjects), cols=len(measures), shared_xaxes=True,
                        vertical_spacing=0.25 / len(subjects), subplot_titles=titles)
    colours = _colours(list(cal.generators))
    for i, s in enumerate(subjects):
        for j, m in enumerate(measures):
            outcome = f"{s}:{m}"
            for g in cal.generators:
                h = cal.summary(g, outcome).histogram
                centres = [(a + b) / 2 for a, b in zip(h.edges[:-1], h.edges[1:], strict=True)]
                fig.add_trace(go.Bar(x=centres, y=list(h.density), name=g, legendgroup=g, marker_color=colours[g],
                                     showlegend=i == 0 and j == 0, width=0.9 / len(h.counts) / len(cal.generators)),
                              row=i + 1, col=j + 1)
            fig.add_hline(y=1.0, line=dict(color=REAL_COLOUR, dash="dot", width=1), row=i + 1, col=j + 1)
    _layout(fig, height=260 * len(subjects) + 80, barmode="group", title="PIT histograms (density; 1 = uniform)")
    fig.update_xaxes(range=[0, 1], dtick=0.1)
    return fig


def _pit_figure(cal: CalibrationResult) -> str:
    return figure_html(pit_figure(cal), div_id="pit", caption="Histogram of the PIT of each real outcome among "
                       "the worlds across origins, as a density (1 everywhere when calibrated). A U shape: the "
                       "worlds are too narrow (real outcomes land in their tails); a hump: too wide; a slope: biased.")


def _calibration_table(cal: CalibrationResult) -> str:
    t = cal.table()
    rows = []
    for r in t.itertuples(index=False):
        miss_p = math.isfinite(r.ks_pvalue) and r.ks_pvalue < CALIBRATION_MIN_PVALUE
        miss_band = math.isfinite(r.outside_5_95) and r.outside_5_95 > CALIBRATION_MAX_OUTSIDE_5_95
        bad = ' style="color:#8b1a10;font-weight:700"'
        rows.append(f'<tr><td class="label">{esc(r.generator)}</td><td class="label"><code>{esc(r.outcome)}</code>'
                    f"</td><td>{r.n}</td><td>{_fmt(r.ks)}</td><td{bad if miss_p else ''}>{_fmt(r.ks_pvalue)}</td>"
                    f"<td>{_fmt(r.outside_1_99)}</td><td{bad if miss_band else ''}>{_fmt(r.outside_5_95)}</td>"
                    f"<td>{_fmt(r.crps)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("origins", "KS", "KS p-value", "outside 1–99 %", "outside 5–95 %",
                                               "CRPS"))
    return (f'<div class="table-wrap"><table class="data"><thead><tr><th class="label">generator</th>'
            f'<th class="label">outcome</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f'<p class="note">Calibrated forecasts put 2 % of PITs outside 1–99 % and 10 % outside 5–95 %. Red: a '
            f"KS p-value below {CALIBRATION_MIN_PVALUE:g} or more than {CALIBRATION_MAX_OUTSIDE_5_95:.0%} outside "
            "5–95 % (the headline bar). The p-value assumes independent PITs; forecasts whose horizons overlap "
            "are dependent, which makes it too small. CRPS in the outcome's units, lower is better.</p>")


def _calibration(cal: CalibrationResult) -> str:
    c, plan = cal.config, cal.schedule
    kv = [("origins", f"{len(plan.origins)}, every {c.every_months} months, {plan.origins[0]}..{plan.origins[-1]}"
                      + (f" ({len(plan.skipped)} skipped: too little history before or after)" if plan.skipped
                         else "")),
          ("forecast", f"h = {c.horizon} periods, M = {c.n_worlds} worlds per origin"),
          ("fits", "refitted at every origin" if c.refit_every == 1 else
           f"refitted every {c.refit_every} origins, re-anchored to each origin in between"),
          ("time", ", ".join(f"{g} {s:.0f} s" for g, s in cal.seconds.items()))]
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in kv)
    return (f'<table class="data kv"><tbody>{rows}</tbody></table>' + _pit_figure(cal) + _calibration_table(cal)
            + '<p class="note">At each origin the generator is fitted on the data up to it and its worlds continue '
              "from it; the PIT is the share of worlds below the real outcome of the next h periods (ties count "
              "half). Definitions: docs/fidelity.md, \"Calibration (rolling origin)\".</p>")


def render(card: Scorecard, *, title: str = "Scenario fidelity scorecard",
           calibration: CalibrationResult | None = None) -> str:
    """The complete HTML page for `card`, with a calibration section when `calibration` is given."""
    warnings = list(check(card.table))
    if card.meta.get("in_sample"):
        warnings.insert(0, "In-sample scores: the generator was fitted on the history it is compared with; "
                           "run `stressgen evaluate` for the out-of-sample protocol.")
    sections: list[tuple[str, str]] = [("Summary", _summary(card)), ("Scorecard", _table(card))]
    if card.plots:
        acf_note = ("Real held-out curve against each generator's curve averaged over its paths, "
                    "averaged over assets.")
        sections.append(("Autocorrelation", "".join([
            _curves(card, "acf_r", "ACF of returns", "ACF", "acf-r", acf_note),
            _curves(card, "acf_abs", "ACF of |returns|", "ACF", "acf-abs", acf_note + " Volatility clustering."),
            _curves(card, "acf_sq", "ACF of squared returns", "ACF", "acf-sq", acf_note),
            _curves(card, "leverage", "Leverage: corr(r_t, r²_t+k)", "correlation", "leverage",
                    acf_note + " Negative values: falls raise later volatility."),
        ])))
        sections += [("QQ plots", _qq(card)), ("Correlation", _heatmaps(card)), ("Drawdowns", _drawdowns(card))]
    sections.append(("Strategy tails", _strategies(card)))
    if calibration is not None:
        sections.append(("Calibration (rolling origin)", _calibration(calibration)))
    sections.append(("Definitions", _definitions(card)))
    m = card.meta
    subtitle = f"{m['source']} · {', '.join(map(str, m.get('generators', [])))}"
    return page(title, sections, warnings=warnings, subtitle=subtitle)

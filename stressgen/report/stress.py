"""The report's "Stress scenarios" section: the base case and each ``[[stress]]`` case side by side.

Every case is the same strategies on worlds drawn with the base case's random numbers (common random numbers,
`stressgen.stage_stress`) and weighted by the case's world probabilities, so what differs between two rows is
what the case stresses. The section shows an overview (effective sizes, the equal-weight portfolio's weighted
median and 5% quantile), the cases' fans on one chart, the weighted distribution of each parameter set's total
return per case, and per parameter set each case's VaR, ES and probabilities against the base case. A case whose
weights rest on few worlds (``low_ess``) gets a red box like the plausibility gate's. Runs without
``[[stress]]`` have no section.

Histograms are binned here, on the host, over bins common to every case: the page carries bin heights, never
the worlds' values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..metrics.quantile import weighted_quantile
from ..metrics.weighted import Estimate
from ..results import RunResult, StressCase, StressStrategy
from . import tables
from .figures import date_x, layout, thin
from .html import PALETTE, esc, figure_html

__all__ = ["stress_html", "stress_warnings", "case_colour", "case_weights", "ew_quantiles", "ShiftRow",
           "shift_rows", "base_strategy", "StressHistogram", "return_histograms", "stress_fan_figure",
           "stress_histogram_figure", "HIST_BINS", "DISPLAY_QUANTILE"]

HIST_BINS = 60
# The bins span every case's weighted 0.5%..99.5% range: one wild world must not squash the rest into one bar.
# Worlds beyond fall into the outermost bins (and are counted in the caption), so each case's bars still sum
# to the probability of its defined worlds.
DISPLAY_QUANTILE = 0.005


def case_colour(i: int) -> str:
    """Case i's colour; the base case (i = 0) gets the report's synthetic-world blue, ``PALETTE[0]``."""
    return PALETTE[i % len(PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha:.2f})"


def case_weights(case: StressCase) -> np.ndarray:
    """``[worlds]`` float64 probabilities of the case's worlds (uniform when the case has none)."""
    if case.weights is None:
        n = int(np.asarray(case.ew_return).shape[0])
        return np.full(n, 1.0 / n)
    return np.asarray(case.weights, np.float64)


def _wquantiles(values: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Weighted inverted-CDF quantiles over the finite values (NaN when no finite world carries weight)."""
    x = np.asarray(values, np.float64)
    ok = np.isfinite(x)
    if not ok.any() or not w[ok].sum() > 0:
        return np.full(len(qs), math.nan)
    return np.asarray(weighted_quantile(x[ok], np.asarray(qs, np.float64), w[ok]), np.float64)


def ew_quantiles(case: StressCase) -> tuple[float, float]:
    """``(median, 5% quantile)`` of the equal-weight portfolio's total return under the case's weights."""
    q05, q50 = _wquantiles(case.ew_return, case_weights(case), (0.05, 0.5))
    return float(q50), float(q05)


@dataclasses.dataclass(frozen=True)
class ShiftRow:
    """One statistic of one parameter set in one case, beside the base case's.

    Attributes:
        key: ``"var"``, ``"es"``, ``"p_loss"`` or ``"p_drawdown"`` (the summary.json key).
        threshold: the drawdown depth x of ``P(max drawdown > x)``; None for the other keys.
        label: the statistic in words.
        case, base: the case's estimate and the base case's (None when the base lacks the statistic).
    """

    key: str
    threshold: float | None
    label: str
    case: Estimate
    base: Estimate | None

    @property
    def shift(self) -> float:
        """Case minus base (NaN without a base value)."""
        return math.nan if self.base is None else self.case.value - self.base.value


def _statistics(s: StressStrategy, level: float) -> list[tuple[str, float | None, str, Estimate]]:
    pct = f"{100 * level:g}%"
    out = [("var", None, f"VaR {pct} of total return", s.var), ("es", None, f"ES {pct} of total return", s.es),
           ("p_loss", None, "P(total return < 0)", s.p_loss)]
    out += [("p_drawdown", float(x), f"P(max drawdown > {tables.fmt_pct(x)})", e) for x, e in s.p_drawdown]
    return out


def shift_rows(case: StressStrategy, base: StressStrategy | None, level: float) -> tuple[ShiftRow, ...]:
    """`case`'s VaR, ES, P(loss) and P(drawdown > x) for every x, each beside `base`'s (matched by key and x)."""
    base_by = {} if base is None else {(k, x): e for k, x, _, e in _statistics(base, level)}
    return tuple(ShiftRow(k, x, label, e, base_by.get((k, x))) for k, x, label, e in _statistics(case, level))


def base_strategy(cases: Sequence[StressCase], name: str) -> StressStrategy | None:
    """The base case's statistics of the parameter set `name` (cases[0] is the base case)."""
    return next((s for s in cases[0].strategies if s.name == name), None) if cases else None


@dataclasses.dataclass(frozen=True)
class StressHistogram:
    """The weighted distribution of one parameter set's total return in each case, on bins common to all cases.

    Attributes:
        name: the parameter set's display name.
        edges: ``[bins + 1]`` bin edges.
        shares: ``[cases, bins]`` probability per bin; the outermost bins also hold the worlds beyond them.
        below, above: ``[cases]`` probability of worlds below the first edge / above the last (in those bins).
        undefined: ``[cases]`` probability of worlds whose return is NaN (in no bin).
    """

    name: str
    edges: np.ndarray
    shares: np.ndarray
    below: np.ndarray
    above: np.ndarray
    undefined: np.ndarray


def _histogram(name: str, values: Sequence[np.ndarray], weights: Sequence[np.ndarray], bins: int) -> StressHistogram:
    ranges = np.array([_wquantiles(v, w, (DISPLAY_QUANTILE, 1.0 - DISPLAY_QUANTILE)) for v, w in zip(values, weights)])
    lo, hi = np.nanmin(ranges[:, 0], initial=np.inf), np.nanmax(ranges[:, 1], initial=-np.inf)
    if not (np.isfinite(lo) and np.isfinite(hi)):  # no finite world at all: an empty plot around 0
        lo, hi = -0.01, 0.01
    if hi <= lo:  # every world alike: a range of width zero would draw no bar
        half = max(abs(lo) * 0.05, 1e-6)
        lo, hi = lo - half, hi + half
    edges = np.linspace(lo, hi, bins + 1)
    shares, below, above, undefined = [], [], [], []
    for v, w in zip(values, weights):
        defined = ~np.isnan(v)
        x, wd = v[defined], w[defined]
        counts, _ = np.histogram(np.clip(x, lo, hi), bins=edges, weights=wd)  # clip: +-inf and tails to the edges
        shares.append(counts)
        below.append(float(wd[x < lo].sum()))
        above.append(float(wd[x > hi].sum()))
        undefined.append(float(w[~defined].sum()))
    return StressHistogram(name=name, edges=edges, shares=np.asarray(shares), below=np.asarray(below),
                           above=np.asarray(above), undefined=np.asarray(undefined))


def return_histograms(cases: Sequence[StressCase], bins: int = HIST_BINS) -> tuple[StressHistogram, ...]:
    """One `StressHistogram` per parameter set (rows of `StressCase.total_return`, in the base case's order)."""
    if not cases:
        return ()
    weights = [case_weights(c) for c in cases]
    return tuple(_histogram(s.name, [np.asarray(c.total_return[p], np.float64) for c in cases], weights, bins)
                 for p, s in enumerate(cases[0].strategies))


def stress_fan_figure(cases: Sequence[StressCase], world_dates: pd.DatetimeIndex | None = None) -> go.Figure:
    """Each case's weighted median and 5-95% band of the equal-weight equity, on one chart (case i: colour i)."""
    fig = go.Figure()
    for i, c in enumerate(cases):
        if not {"q05", "q50", "q95"} <= set(c.fan):
            continue
        colour, name = case_colour(i), c.name  # plotly draws trace names as text; hover templates are escaped
        label = esc(name)
        n = len(c.fan["q50"])
        idx = thin(n)
        x = date_x(world_dates, n, idx)
        fig.add_trace(go.Scatter(x=x, y=np.asarray(c.fan["q95"], np.float64)[idx] - 1.0, mode="lines",
                                 line=dict(width=0.6, color=colour), showlegend=False, legendgroup=name,
                                 hovertemplate=f"{label} 95th pct.<br>%{{x}}: %{{y:.1%}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=np.asarray(c.fan["q05"], np.float64)[idx] - 1.0, mode="lines",
                                 line=dict(width=0.6, color=colour), fill="tonexty", fillcolor=_rgba(colour, 0.14),
                                 name=f"{name}: 5\u201395th pct.", legendgroup=name,
                                 hovertemplate=f"{label} 5th pct.<br>%{{x}}: %{{y:.1%}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=np.asarray(c.fan["q50"], np.float64)[idx] - 1.0, mode="lines",
                                 line=dict(width=2.2, color=colour), name=f"{name}: median", legendgroup=name,
                                 hovertemplate=f"{label} median<br>%{{x}}: %{{y:.1%}}<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", title_text="cumulative return, equal weight")
    fig.update_xaxes(title_text="date" if world_dates is not None else "period")
    return layout(fig, height=460, legend_below=True)


def stress_histogram_figure(hists: Sequence[StressHistogram], cases: Sequence[StressCase]) -> go.Figure:
    """Overlaid bars of each case's probability per bin; a menu picks the parameter set when there are several."""
    fig = go.Figure()
    for k, h in enumerate(hists):
        centres, widths = 0.5 * (h.edges[:-1] + h.edges[1:]), np.diff(h.edges)
        bounds = np.stack([h.edges[:-1], h.edges[1:]], axis=1)
        for i, c in enumerate(cases):
            fig.add_trace(go.Bar(x=centres, y=h.shares[i], width=widths, name=c.name, visible=k == 0,
                                 marker=dict(color=case_colour(i)), opacity=0.55, customdata=bounds,
                                 hovertemplate=f"{esc(c.name)}: %{{customdata[0]:.1%}} to %{{customdata[1]:.1%}}"
                                               "<br>probability %{y:.2%}<extra></extra>"))
    if len(hists) > 1:
        n = len(cases)
        buttons = [dict(label=h.name, method="update",
                        args=[{"visible": [j // n == k for j in range(n * len(hists))]}])
                   for k, h in enumerate(hists)]
        fig.update_layout(updatemenus=[dict(buttons=buttons, direction="down", x=0, xanchor="left", y=1.0,
                                            yanchor="bottom", showactive=True, pad=dict(b=6))])
    fig.update_xaxes(title_text="total return over the horizon", tickformat=".0%")
    fig.update_yaxes(title_text="probability (weighted share of worlds)", tickformat=".0%")
    fig = layout(fig, height=380, legend_below=True, barmode="overlay", bargap=0.0)
    if len(hists) > 1:
        fig.update_layout(margin=dict(t=70))  # room for the menu above the plot
    return fig


def _est(e: Estimate | None) -> str:
    f = tables.fmt_pct
    return tables.DASH if e is None else tables.with_ci(f(e.value), f(e.lo), f(e.hi))


def _signed_pp(x: float) -> str:
    """A difference of fractions in percentage points, signed: ``0.031 -> "+3.1 pp"``."""
    if math.isfinite(x):  # 0.2 - 0.3 is -0.09999999999999998: shown as -10.0, not -10.00
        x = float(f"{x:.12g}")
    text = tables.fmt_pct(x)
    if text == tables.DASH:
        return text
    return ("+" if x > 0 else "") + text.replace("%", " pp")


def _name(i: int, c: StressCase) -> str:
    return f'<span class="swatch" style="background:{case_colour(i)}"></span><b>{esc(c.name)}</b>'


def _overview(cases: Sequence[StressCase]) -> str:
    rows = []
    for i, c in enumerate(cases):
        median, q05 = ew_quantiles(c)
        what = esc(c.condition) if c.condition else "plain worlds"
        if c.start:
            what += f'<span class="ci">start: {esc(c.start)}</span>'
        flag = '<span class="fail">\u26a0 low ESS</span>' if c.low_ess else "ok"
        rows.append([_name(i, c), esc(c.description), what, f"{c.n_worlds:,}",
                     f'{c.ess_kish:,.0f}<span class="ci">entropy {c.ess_entropy:,.0f}</span>', flag,
                     tables.fmt_pct(median), tables.fmt_pct(q05),
                     "<br>".join(esc(n) for n in c.notes) or tables.DASH])
    return tables.table(["Scenario", "Description", "Condition / start", "Worlds", "Effective worlds (Kish)",
                         "Low ESS", "Equal weight: median return", "Equal weight: 5% quantile", "Notes"],
                        rows, label_cols=3, cls="data prose",
                        row_classes=["failed" if c.low_ess else "" for c in cases])


def _low_ess_box(c: StressCase) -> str:
    # the stage puts its own low-ESS sentence first among the notes (StressCase.notes): this one replaces it
    items = [f"Kish effective number of worlds {c.ess_kish:,.0f} of {c.n_worlds:,} (entropy "
             f"{c.ess_entropy:,.0f}): this case's tail numbers rest on few worlds; read them with their intervals, "
             "or draw more worlds or soften the case.", *c.notes[1:]]
    return (f'<div class="box alerts" role="alert"><h2>Low effective size: {esc(c.name)}</h2><ul>'
            + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul></div>")


def _shift_table(i: int, name: str, cases: Sequence[StressCase]) -> str:
    base = base_strategy(cases, name)
    rows, classes = [], []
    for j, c in enumerate(cases[1:], start=1):
        s = next((s for s in c.strategies if s.name == name), None)
        if s is None:
            continue
        for r in shift_rows(s, base, c.level):
            rows.append([_name(j, c), esc(r.label), _est(r.case), _est(r.base), _signed_pp(r.shift)])
            classes.append("failed" if c.low_ess else "")
    body = tables.table(["Scenario", "Statistic", "Scenario value [95% CI]", "Base value [95% CI]",
                         "Shift (scenario \u2212 base)"], rows, label_cols=2, row_classes=classes)
    # no strategy swatch: in this section the colours are the scenarios'
    return (f"<details{' open' if i == 0 else ''}><summary><b>{esc(name)}</b></summary>"
            f"{body}</details>")


def _views(c: StressCase) -> str:
    rows = [[esc(v.label), tables.fmt_num(v.prior), tables.fmt_num(v.posterior), tables.fmt_num(v.residual),
             "yes" if v.binding else "no"] for v in c.views]
    return f"<h3>Views: {esc(c.name)}</h3>" + tables.table(
        ["View", "Prior", "Posterior", "Residual", "Binding"], rows)


def stress_warnings(result: RunResult) -> list[str]:
    """Lines for the page's warning box: one per case whose weights rest on few worlds."""
    return [f"Stress: {c.name}: effective number of worlds {c.ess_kish:,.0f} (Kish) of {c.n_worlds:,} is low; "
            "its tail numbers rest on few worlds (see Stress scenarios)" for c in result.stress if c.low_ess]


def stress_html(result: RunResult) -> str:
    """The section's body, or "" without stress cases (the section is then left out)."""
    cases = result.stress
    if not cases:
        return ""
    level = f"{100 * cases[0].level:g}%"
    parts = ["<p>The base case (the run's own worlds) and each <code>[[stress]]</code> case of "
             "the spec. A case's worlds are drawn with the base case's random numbers and carry probabilities "
             "(a tilt's likelihood ratios, then entropy pooling for views), so a shift from the base comes from "
             "what the case stresses, not from a fresh draw. Every statistic here is weighted by those "
             "probabilities; the effective number of worlds (Kish: 1 / \u03a3 w\u00b2; entropy: "
             "exp(\u2212\u03a3 w log w)) says how many equally likely worlds they are worth. Definitions: "
             "docs/stress.md.</p>"]
    parts += [_low_ess_box(c) for c in cases if c.low_ess]
    parts += ["<h3>Scenarios</h3>", _overview(cases),
              '<p class="note">Equal weight: the equal-weight portfolio of all assets rebalanced every period, '
              "its total return over the horizon (weighted median and 5% quantile).</p>"]
    dates = result.world_dates()
    parts.append(figure_html(stress_fan_figure(cases, dates), div_id="fig-stress-fan",
                             caption="The equal-weight portfolio's cumulative return in each scenario: the "
                                     "weighted median (line) and the weighted 5th to 95th percentile band, "
                                     f"{dates[0].date()} to {dates[-1].date()}."))
    hists = return_histograms(cases)
    if hists:
        beyond = max(float(np.max(h.below + h.above)) for h in hists)
        undefined = max(float(np.max(h.undefined)) for h in hists)
        menu = " The menu above the plot picks the parameter set." if len(hists) > 1 else ""
        parts.append(figure_html(
            stress_histogram_figure(hists, cases), div_id="fig-stress-returns",
            caption=f"Weighted distribution of each parameter set's total return over {result.horizon} periods in "
                    f"each scenario (probability per bin, bins common to all scenarios).{menu} The axis spans "
                    f"every scenario's weighted {100 * DISPLAY_QUANTILE:g}th to {100 - 100 * DISPLAY_QUANTILE:g}th "
                    f"percentile; worlds beyond are counted in the outermost bins (at most {beyond:.2%} of a "
                    f"scenario's probability)."
                    + (f" Worlds with an undefined return (at most {undefined:.2%}) are in no bin." if undefined
                       else "")))
    if len(cases) > 1:
        parts += ["<h3>Shifts against the base case</h3>",
                  f"<p>Per parameter set, each scenario's VaR and ES at {level} of the total return over the "
                  "horizon (positive = loss), P(loss) = P(total return &lt; 0) and P(max drawdown &gt; x), beside "
                  "the base case's. The shift is the scenario's value minus the base value, in percentage points "
                  "(positive: more loss, or a more likely loss or drawdown). Intervals are 95%: the bootstrap "
                  "over weighted worlds for VaR and ES, Wilson with the delta-method size for probabilities; the shift "
                  "has no interval of its own (the two cases share their random numbers, so their intervals are "
                  "not independent).</p>"]
        parts += [_shift_table(i, s.name, cases) for i, s in enumerate(cases[0].strategies)]
    parts += [_views(c) for c in cases if c.views]
    return "\n".join(parts)

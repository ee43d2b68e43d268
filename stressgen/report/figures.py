"""Plotly figures of a run's results: pure functions of `RunResult` pieces, returning ``go.Figure``.

The figures carry few points: paths are thinned to at most `MAX_POINTS` per line and a few lines,
histograms are binned here (bars, not raw samples), so a report over 100,000 worlds stays a few megabytes.
Colours follow `stressgen.report.html`: the real history is dark grey, synthetic worlds blue, strategy i has
``PALETTE[i]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics.stylized import equal_weight_equity as equal_weight_equity
from .html import PALETTE, REAL_COLOUR, SYN_COLOUR

__all__ = ["MAX_POINTS", "MAX_LINES", "CLIP_QUANTILE", "BELOW_LEGEND", "ASSET_COLOURS", "equal_weight_equity",
           "asset_equity", "thin", "date_x", "robust_range", "paths_figure", "fan_figure", "histogram_figure",
           "head_to_head_figure", "worst_worlds_figure", "acf_figure", "correlation_figure", "quantile_bands",
           "layout"]

MAX_POINTS = 400  # per line: enough to see a year of daily data, small enough to keep the page light
MAX_LINES = 30    # sample paths drawn per panel
# Histograms show the 0.5%..99.5% range of worlds: one wild world must not squash the rest into one bar.
CLIP_QUANTILE = 0.005
# Legends sit under the plot (below the x-axis title): above it they covered subplot titles.
BELOW_LEGEND = dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left")
# Muted, distinct colours for the asset lines of the worst world (the strategies keep PALETTE).
ASSET_COLOURS = ("#7f8ea3", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#ff9da7", "#59a14f", "#bab0ac",
                 "#e15759", "#4e79a7", "#f28e2b", "#af7aa1")

_FONT = dict(family='-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Arial, sans-serif', size=12,
             color="#1d2330")


def layout(fig: go.Figure, *, height: int = 380, legend_below: bool = False, **kw) -> go.Figure:
    """The house style; `legend_below` puts the legend under the x axis and grows the bottom margin for it."""
    legend = BELOW_LEGEND if legend_below else dict(orientation="h", yanchor="bottom", y=1.02, x=0)
    margin = dict(l=60, r=20, t=40, b=120 if legend_below else 50)
    fig.update_layout(template="plotly_white", font=_FONT, height=height, margin=margin, hovermode="closest",
                      legend=legend, **kw)
    return fig



def date_x(dates: pd.DatetimeIndex | None, n: int, idx: np.ndarray) -> np.ndarray:
    """x values of the points `idx` of a line of `n` points: ISO dates when `dates` has ``n`` of them, else
    the point numbers themselves."""
    if dates is None or len(dates) != n:
        return idx
    return np.asarray(pd.DatetimeIndex(dates)[idx].strftime("%Y-%m-%d"))



def robust_range(values: np.ndarray, *, include: Sequence[float | None] = (), q: float = CLIP_QUANTILE
                 ) -> tuple[float, float, int, int]:
    """``(low, high, n_below, n_above)``: the ``q``..``1 - q`` quantile range of the finite `values`, widened
    to take in every finite value of `include` (the real-history marker), and how many values lie outside.
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0, 0
    lo, hi = (float(x) for x in np.quantile(v, [q, 1.0 - q]))
    for x in include:
        if x is not None and np.isfinite(x):
            lo, hi = min(lo, float(x)), max(hi, float(x))
    if hi <= lo:  # every world alike: a range of width zero would draw no bar
        half = max(abs(lo) * 0.05, 1e-6)
        lo, hi = lo - half, hi + half
    return lo, hi, int(np.sum(v < lo)), int(np.sum(v > hi))


def asset_equity(log_returns: np.ndarray) -> np.ndarray:
    """Equity from 1.0 of each asset held alone, ``[time, assets] -> [time + 1, assets]``."""
    c = np.exp(np.cumsum(np.asarray(log_returns, np.float64), axis=0))
    return np.concatenate([np.ones((1, c.shape[1])), c], axis=0)


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most about `max_points` evenly spaced points of ``range(n)``, first and last included."""
    if n <= max_points:
        return np.arange(n)
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return idx


def paths_figure(real_paths: np.ndarray, sample_paths: np.ndarray, *, max_lines: int = MAX_LINES,
                 world_dates: pd.DatetimeIndex | None = None) -> go.Figure:
    """Cumulative return of the equal-weight portfolio: real windows (left) against synthetic worlds (right).

    Both inputs are ``[k, horizon, assets]`` log returns; at most `max_lines` of each are drawn. The worlds'
    axis shows `world_dates` (``[horizon + 1]``, `RunResult.world_dates`); the real windows come from
    different years, so their axis counts periods into the window.
    """
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(f"Real windows ({min(len(real_paths), max_lines)})",
                                        f"Synthetic worlds ({min(len(sample_paths), max_lines)})"))
    for col, (paths, colour) in enumerate(((real_paths, REAL_COLOUR), (sample_paths, SYN_COLOUR)), start=1):
        paths = np.asarray(paths)[:max_lines]
        if paths.size == 0:
            continue
        eq = equal_weight_equity(paths) - 1.0
        idx = thin(eq.shape[1])
        x = idx if col == 1 else date_x(world_dates, eq.shape[1], idx)
        for i, line in enumerate(eq):
            fig.add_trace(go.Scatter(x=x, y=line[idx], mode="lines", line=dict(color=colour, width=1),
                                       opacity=0.45, showlegend=False,
                                       hovertemplate=f"{'window' if col == 1 else 'world'} {i}"
                                                     "<br>%{x}: %{y:.1%}<extra></extra>"),
                          row=1, col=col)
    fig.update_yaxes(tickformat=".0%", title_text="cumulative return", row=1, col=1)
    fig.update_xaxes(title_text="periods into the window", row=1, col=1)
    fig.update_xaxes(title_text="date" if world_dates is not None else "period", row=1, col=2)
    return layout(fig, height=400)


def quantile_bands(labels: Sequence[str]) -> tuple[list[tuple[str, str]], str | None]:
    """Pair quantile labels symmetrically (``q05`` with ``q95``), outermost first, and find the median."""
    qs = sorted((float(k[1:]), k) for k in labels if k.startswith("q") and _is_number(k[1:]))
    pairs, median = [], None
    lo, hi = 0, len(qs) - 1
    while lo < hi:
        pairs.append((qs[lo][1], qs[hi][1]))
        lo, hi = lo + 1, hi - 1
    if lo == hi:
        median = qs[lo][1]
    return pairs, median


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fan_figure(fan: Mapping[str, np.ndarray], *, world_dates: pd.DatetimeIndex | None = None,
               real_dates: pd.DatetimeIndex | None = None) -> go.Figure:
    """Quantile bands of equal-weight equity over all worlds, the median, and the real window overlaid.

    The x axis shows `world_dates` when given. The real window happened earlier: it is drawn period by
    period on the same axis, with its own dates (`real_dates`, `RunResult.real_window_dates`) in its hover.
    """
    pairs, median = quantile_bands(list(fan))
    fig = go.Figure()
    n = len(next(iter(fan.values()))) if fan else 0
    idx = thin(n)
    x = date_x(world_dates, n, idx)
    for depth, (lo, hi) in enumerate(pairs):
        alpha = 0.12 + 0.16 * depth
        label = f"{float(lo[1:]):g}\u2013{float(hi[1:]):g}th percentile"
        fig.add_trace(go.Scatter(x=x, y=np.asarray(fan[hi])[idx] - 1.0, mode="lines", line=dict(width=0),
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=np.asarray(fan[lo])[idx] - 1.0, mode="lines", line=dict(width=0),
                                 fill="tonexty", fillcolor=f"rgba(0,114,178,{alpha:.2f})", name=label,
                                 hovertemplate=f"{lo}/{hi}<br>%{{x}}: %{{y:.1%}}<extra></extra>"))
    if median is not None:
        fig.add_trace(go.Scatter(x=x, y=np.asarray(fan[median])[idx] - 1.0, mode="lines",
                                 line=dict(color=SYN_COLOUR, width=2), name="median world",
                                 hovertemplate="median<br>%{x}: %{y:.1%}<extra></extra>"))
    if "real" in fan:
        real = np.asarray(fan["real"])
        ridx = thin(len(real))
        own = date_x(real_dates, len(real), ridx)  # the real window's own dates, or its period numbers
        fig.add_trace(go.Scatter(x=date_x(world_dates, len(real), ridx), y=real[ridx] - 1.0, mode="lines",
                                 line=dict(color=REAL_COLOUR, width=2, dash="dash"),
                                 name="real (latest window)", customdata=np.asarray(own, dtype=object),
                                 hovertemplate="real window<br>%{customdata}: %{y:.1%}<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", title_text="cumulative return, equal weight")
    fig.update_xaxes(title_text="date" if world_dates is not None else "period")
    return layout(fig, height=460, legend_below=True)


def histogram_figure(values: np.ndarray, *, colour: str, x_title: str, real: float | None = None,
                     percent: bool = True, bins: int = 50, markers: Mapping[str, float] | None = None,
                     x_range: tuple[float, float] | None = None) -> go.Figure:
    """Share of worlds per bin of `values` (binned here), with the real history and other markers as lines.

    Non-finite values are left out (the caption of the caller says how many). With `x_range` (from
    `robust_range`) only that range is binned, and a note at each top corner counts the worlds beyond that
    side; bars stay shares of all finite worlds, so the bars of a clipped figure sum to less than 100%.
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    total = v.size
    fig = go.Figure()
    if x_range is not None and not np.all(np.isfinite(x_range)):
        x_range = None
    if x_range is not None and total:
        lo, hi = (float(x) for x in x_range)
        for n, x, side, text in ((int(np.sum(v < lo)), 0.0, "left", "\u2190 {} below"),
                                 (int(np.sum(v > hi)), 1.0, "right", "{} above \u2192")):
            if n:
                fig.add_annotation(xref="paper", yref="paper", x=x, y=1.0, xanchor=side, yanchor="bottom",
                                   showarrow=False, font=dict(size=11, color="#5b6475"),
                                   text=text.format(f"{n:,} world{'s' if n != 1 else ''}"))
        v = v[(v >= lo) & (v <= hi)]
    if v.size:
        counts, edges = np.histogram(v, bins=bins, range=x_range)
        share = counts / total
        centres = 0.5 * (edges[:-1] + edges[1:])
        fmt = ".1%" if percent else ".3g"
        fig.add_trace(go.Bar(x=centres, y=share, width=np.diff(edges), marker=dict(color=colour, opacity=0.75),
                             name="worlds", customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                             hovertemplate=f"%{{customdata[0]:{fmt}}} to %{{customdata[1]:{fmt}}}"
                                           "<br>%{y:.1%} of worlds<extra></extra>"))
    lines = dict(markers or {})
    if real is not None and np.isfinite(real):
        lines = {"real history": float(real), **lines}
    for i, (name, x) in enumerate(lines.items()):
        if x is None or not np.isfinite(x):
            continue
        colour_i = REAL_COLOUR if name == "real history" else "#8a4b00"
        fig.add_vline(x=float(x), line=dict(color=colour_i, width=2, dash="dash" if i else "solid"))
        fig.add_trace(go.Scatter(x=[float(x)], y=[0], mode="markers", name=name,
                                 marker=dict(color=colour_i, size=9, symbol="triangle-up"),
                                 hovertemplate=f"{name}: %{{x:{'.1%' if percent else '.3g'}}}<extra></extra>"))
    if x_range is not None:
        pad = 0.02 * (x_range[1] - x_range[0])
        fig.update_xaxes(range=[x_range[0] - pad, x_range[1] + pad])
    fig.update_xaxes(title_text=x_title, tickformat=".0%" if percent else None)
    fig.update_yaxes(title_text="share of worlds", tickformat=".0%")
    fig = layout(fig, height=340, bargap=0.02, legend_below=True)
    if fig.layout.annotations:  # the counts of clipped worlds sit above the plot, below the mode bar
        fig.update_layout(margin=dict(t=64))
    return fig


def head_to_head_figure(h2h: pd.DataFrame) -> go.Figure:
    """Heatmap of P(row beats column), the number in each cell."""
    z = h2h.to_numpy(np.float64)
    names = [str(c) for c in h2h.columns]
    rows = [str(i) for i in h2h.index]
    fig = go.Figure(go.Heatmap(z=z, x=names, y=rows, zmin=0, zmax=1, colorscale="RdBu", reversescale=False,
                               texttemplate="%{z:.0%}", textfont=dict(size=12),
                               colorbar=dict(title="P(row beats column)", tickformat=".0%"),
                               hovertemplate="%{y} beats %{x} in %{z:.1%} of worlds<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="row strategy")
    fig.update_xaxes(title_text="column strategy", side="bottom")
    side = max(320, 60 + 48 * len(rows))
    return layout(fig, height=side)


def worst_worlds_figure(worst_equity: np.ndarray, worst_worlds: Sequence[int],
                        worst_paths: Mapping[int, np.ndarray], assets: Sequence[str], *, colour: str,
                        world_dates: pd.DatetimeIndex | None = None) -> go.Figure:
    """Left: the strategy's equity in its worst worlds. Right: each asset's cumulative return in the worst.

    The legend sits under the plots (above them it covered the subplot titles); each asset line has its own
    colour and its name in the legend and the hover text. `world_dates` labels the x axes.
    """
    worst = int(worst_worlds[0]) if len(worst_worlds) else None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("Strategy equity in its worst worlds",
                                        f"Assets in world {worst}" if worst is not None else "Assets"))
    eq = np.asarray(worst_equity, np.float64)
    for i, line in enumerate(eq):
        idx = thin(len(line))
        fig.add_trace(go.Scatter(x=date_x(world_dates, len(line), idx), y=line[idx], mode="lines",
                                 name=f"world {worst_worlds[i]}",
                                 line=dict(color=colour, width=2.2 if i == 0 else 1),
                                 opacity=1.0 if i == 0 else 0.55, legendgroup="equity",
                                 hovertemplate=f"world {worst_worlds[i]}<br>%{{x}}: %{{y:.3f}}"
                                               "<extra></extra>"),
                      row=1, col=1)
    if worst is not None and worst in worst_paths:
        paths = np.asarray(worst_paths[worst])
        ae = asset_equity(paths) - 1.0
        idx = thin(ae.shape[0])
        x = date_x(world_dates, ae.shape[0], idx)
        for j, name in enumerate(assets):
            fig.add_trace(go.Scatter(x=x, y=ae[idx, j], mode="lines", name=str(name), legendgroup="assets",
                                     line=dict(color=ASSET_COLOURS[j % len(ASSET_COLOURS)], width=1),
                                     hovertemplate=f"{name}<br>%{{x}}: %{{y:.1%}}<extra></extra>"),
                          row=1, col=2)
        ew = equal_weight_equity(paths) - 1.0
        idx = thin(len(ew))
        fig.add_trace(go.Scatter(x=date_x(world_dates, len(ew), idx), y=ew[idx], mode="lines",
                                 name="equal weight",
                                 line=dict(color=SYN_COLOUR, width=2.2), legendgroup="assets",
                                 hovertemplate="equal weight<br>%{x}: %{y:.1%}<extra></extra>"),
                      row=1, col=2)
    fig.update_yaxes(title_text="equity (start = 1)", row=1, col=1)
    fig.update_yaxes(title_text="cumulative return", tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text="date" if world_dates is not None else "period")
    rows = (len(eq) + len(assets) + 1) // 8  # legend rows beyond the first, about 8 entries a row
    return layout(fig, height=440 + 22 * rows, legend_below=True)


def acf_figure(acf_abs: pd.DataFrame) -> go.Figure:
    """Autocorrelation of |r| by lag, real history against synthetic worlds (volatility clustering)."""
    fig = go.Figure()
    lags = np.asarray(acf_abs.index, np.float64)
    styles = {"real": dict(color=REAL_COLOUR, dash="dash"), "synthetic": dict(color=SYN_COLOUR)}
    for i, col in enumerate(acf_abs.columns):
        style = styles.get(str(col), dict(color=PALETTE[(i + 1) % len(PALETTE)]))
        fig.add_trace(go.Scatter(x=lags, y=acf_abs[col].to_numpy(np.float64), mode="lines+markers",
                                 name=str(col), line=dict(width=2, **style), marker=dict(size=5),
                                 hovertemplate=f"{col}<br>lag %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#c0c6d0", width=1))
    fig.update_xaxes(title_text="lag (periods)")
    fig.update_yaxes(title_text="ACF of |r|")
    return layout(fig, height=340)


def correlation_figure(corr_real: np.ndarray, corr_syn: np.ndarray, assets: Sequence[str]) -> go.Figure:
    """Correlation matrices side by side on one colour scale from -1 to 1."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Real history", "Synthetic worlds"))
    names = [str(a) for a in assets]
    show_text = len(names) <= 12  # numbers in cells stay legible up to about a dozen assets
    for col, m in enumerate((corr_real, corr_syn), start=1):
        fig.add_trace(go.Heatmap(z=np.asarray(m, np.float64), x=names, y=names, zmin=-1, zmax=1,
                                 colorscale="RdBu", reversescale=True, showscale=col == 2,
                                 texttemplate="%{z:.2f}" if show_text else None,
                                 colorbar=dict(title="corr."),
                                 hovertemplate="%{y} / %{x}: %{z:.2f}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    return layout(fig, height=max(380, 120 + 22 * len(names)))

"""The report's real-history tear sheet (in the manner of quantstats): how each strategy did on the real data.

One section for all strategies: a headline table (CAGR, volatility, Sharpe, maximum drawdown, best and
worst month, one row per strategy and one for the equal-weight benchmark), equity against the benchmark,
the underwater (drawdown) plot, rolling Sharpe ratio and volatility, and the monthly returns heatmap with a
selector for the strategy. Every number is derived from `StrategyResult.real_equity` and
`RealHistory.benchmark` by `stressgen.report.series` (definitions there and in docs/report.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..results import RunResult
from ..types import PERIODS_PER_YEAR
from . import series, tables
from .figures import date_x, layout, thin
from .html import PALETTE, REAL_COLOUR, esc, figure_html

__all__ = ["tearsheet_html", "real_curves", "equity_figure", "underwater_figure", "rolling_figure",
           "monthly_figure", "stats_table", "TEAR_POINTS", "BENCHMARK"]

# Points per line: drawdown troughs and rolling swings over decades need more than the worlds' 400.
TEAR_POINTS = 1_000
BENCHMARK = "equal weight (benchmark)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def real_curves(result: RunResult) -> list[tuple[str, str, np.ndarray]]:
    """``(name, colour, equity)`` of every strategy with a real-history equity of the calendar's length,
    then the benchmark."""
    rh = result.real_history
    n = len(rh.dates)
    out = [(s.name, PALETTE[i % len(PALETTE)], np.asarray(s.real_equity, np.float64))
           for i, s in enumerate(result.strategies) if len(s.real_equity) == n]
    return out + [(BENCHMARK, REAL_COLOUR, np.asarray(rh.benchmark, np.float64))]


def _conventions(result: RunResult) -> tuple[int, float]:
    """Periods per year of the history's frequency and the run's annual risk-free rate (0 when unstated)."""
    ppy = PERIODS_PER_YEAR.get(result.data.freq, 252)
    costs = result.spec.get("costs") if isinstance(result.spec, dict) else None
    rf = costs.get("rf", 0.0) if isinstance(costs, dict) else 0.0
    return ppy, float(rf) if isinstance(rf, (int, float)) else 0.0


def _line(name, colour, x, y, *, fmt, width=1.6, dash=None, showlegend=True, group=None):
    return go.Scatter(x=x, y=y, mode="lines", name=name, legendgroup=group or name, showlegend=showlegend,
                      line=dict(color=colour, width=width, dash=dash),
                      hovertemplate=f"{esc(name)}<br>%{{x}}: %{{y:{fmt}}}<extra></extra>")


def equity_figure(curves, dates: pd.DatetimeIndex) -> go.Figure:
    """Equity of each strategy and of the benchmark on the real history (start = 1)."""
    fig = go.Figure()
    for name, colour, eq in curves:
        idx = thin(len(eq), TEAR_POINTS)
        bench = name == BENCHMARK
        fig.add_trace(_line(name, colour, date_x(dates, len(eq), idx), eq[idx], fmt=".3f",
                            width=1.4 if bench else 1.8, dash="dot" if bench else None))
    fig.update_yaxes(title_text="equity (start = 1)")
    fig.update_xaxes(title_text="date")
    return layout(fig, height=440, legend_below=True)


def underwater_figure(curves, dates: pd.DatetimeIndex) -> go.Figure:
    """Drawdown from the running peak of each curve, drawn below zero (underwater)."""
    fig = go.Figure()
    for name, colour, eq in curves:
        dd = series.drawdown(eq)
        # keep each stretch's deepest point: thinning alone can step over a one-day trough
        idx = np.union1d(thin(len(dd), TEAR_POINTS), [int(np.argmax(dd))])
        bench = name == BENCHMARK
        fig.add_trace(_line(name, colour, date_x(dates, len(dd), idx), -dd[idx], fmt=".1%",
                            width=1.2 if bench else 1.6, dash="dot" if bench else None))
    fig.update_yaxes(title_text="drawdown", tickformat=".0%")
    fig.update_xaxes(title_text="date")
    return layout(fig, height=400, legend_below=True)


def rolling_figure(curves, dates: pd.DatetimeIndex, *, periods_per_year: int, rf: float) -> go.Figure:
    """Rolling Sharpe ratio (top) and rolling volatility (bottom) over `series.ROLLING_WINDOW` periods."""
    w = series.ROLLING_WINDOW
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(f"Rolling Sharpe ratio ({w} periods, annualised)",
                                        f"Rolling volatility ({w} periods, annualised)"))
    for name, colour, eq in curves:
        bench = name == BENCHMARK
        style = dict(width=1.2 if bench else 1.5, dash="dot" if bench else None)
        sharpe = series.rolling_sharpe(eq, window=w, periods_per_year=periods_per_year, rf=rf)
        vol = series.rolling_volatility(eq, window=w, periods_per_year=periods_per_year)
        idx = thin(len(eq), TEAR_POINTS)
        x = date_x(dates, len(eq), idx)
        fig.add_trace(_line(name, colour, x, sharpe[idx], fmt=".2f", **style), row=1, col=1)
        fig.add_trace(_line(name, colour, x, vol[idx], fmt=".1%", showlegend=False, **style), row=2, col=1)
    fig.add_hline(y=0, line=dict(color="#c0c6d0", width=1), row=1, col=1)
    fig.update_yaxes(title_text="Sharpe", row=1, col=1)
    fig.update_yaxes(title_text="volatility", tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="date", row=2, col=1)
    return layout(fig, height=600, legend_below=True)


def monthly_figure(curves, dates: pd.DatetimeIndex) -> go.Figure:
    """Heatmap of monthly returns, years x months plus the year's total, one strategy at a time (a selector
    above the plot switches; the first strategy is shown)."""
    fig = go.Figure()
    names = []
    for k, (name, _, eq) in enumerate(curves):
        t = series.monthly_table(eq, dates)
        z = t.to_numpy(np.float64)
        text = [[tables.fmt_pct(v) if np.isfinite(v) else "" for v in row] for row in z]
        lim = float(np.nanmax(np.abs(z[:, :12]))) if np.isfinite(z[:, :12]).any() else 0.1
        fig.add_trace(go.Heatmap(z=z, x=[*_MONTHS, "Year"], y=[str(y) for y in t.index], text=text,
                                 texttemplate="%{text}", textfont=dict(size=10), colorscale="RdYlGn",
                                 zmid=0, zmin=-lim, zmax=lim, visible=k == 0, xgap=2, ygap=2,
                                 colorbar=dict(title="return", tickformat=".0%"),
                                 hovertemplate=f"{esc(name)}<br>%{{y}} %{{x}}: %{{z:.2%}}<extra></extra>"))
        names.append(name)
    buttons = [dict(label=name, method="update",
                    args=[{"visible": [j == k for j in range(len(names))]}])
               for k, name in enumerate(names)]
    fig.update_layout(updatemenus=[dict(buttons=buttons, direction="down", x=0, xanchor="left", y=1.0,
                                        yanchor="bottom", showactive=True, pad=dict(b=6))])
    fig.update_yaxes(autorange="reversed", type="category", title_text="year")
    fig.update_xaxes(type="category")
    n_years = len(fig.data[0].y) if fig.data else 1
    fig = layout(fig, height=max(280, 150 + 28 * n_years))
    fig.update_layout(margin=dict(t=70))  # room for the selector above the plot
    return fig


def stats_table(curves, dates: pd.DatetimeIndex, *, periods_per_year: int, rf: float) -> str:
    """One row per curve: total return, CAGR, volatility, Sharpe, maximum drawdown, best and worst month."""
    rows = []
    for name, colour, eq in curves:
        h = series.headline_stats(eq, dates, periods_per_year=periods_per_year, rf=rf)
        mark = f'<span class="swatch" style="background:{colour}"></span>'
        rows.append([mark + esc(name), tables.fmt_pct(h.total_return), tables.fmt_pct(h.cagr),
                     tables.fmt_pct(h.volatility), tables.fmt_num(h.sharpe), tables.fmt_pct(h.max_drawdown),
                     tables.fmt_pct(h.best_month), tables.fmt_pct(h.worst_month)])
    return tables.table(["Equity", "Total return", "CAGR", "Volatility (ann.)", "Sharpe", "Max drawdown",
                         "Best month", "Worst month"], rows)


def tearsheet_html(result: RunResult) -> str:
    """The section body; one sentence when the run has no real-history backtest."""
    rh = result.real_history
    if rh is None or len(rh.dates) < 2:
        return ("<p>No real-history backtest in this run (the history is too short for the strategies' "
                "warm-up), so there is no tear sheet.</p>")
    dates = rh.index()
    curves = real_curves(result)
    ppy, rf = _conventions(result)
    w = series.ROLLING_WINDOW
    span = f"{esc(rh.dates[0])} to {esc(rh.dates[-1])}"
    missing = [s.name for s in result.strategies if len(s.real_equity) != len(rh.dates)]
    skipped = (f" Left out (no real-history equity): {esc(', '.join(missing))}." if missing else "")
    return "\n".join([
        f"<p>Each strategy backtested on the whole real history from {span} ({len(rh.dates) - 1:,} periods, "
        f"after a warm-up of {rh.warmup:,} periods), against the equal-weight portfolio of all assets, "
        f"rebalanced every period without costs (dotted).{skipped}</p>",
        stats_table(curves, dates, periods_per_year=ppy, rf=rf),
        f'<p class="note">CAGR = (final equity)<sup>{ppy}/T</sup> \u2212 1 over T periods; volatility and '
        f"Sharpe annualised with {ppy} periods a year (std with ddof = 1, Sharpe of returns in excess of the "
        f"risk-free rate {rf:g}); maximum drawdown from the running peak; a month's return compounds the "
        f"daily returns within it (the first and last months may be partial).</p>",
        figure_html(equity_figure(curves, dates), div_id="fig-tear-equity",
                    caption=f"Equity on the real history, {span}: each strategy net of costs and the "
                            f"equal-weight benchmark (dotted)."),
        figure_html(underwater_figure(curves, dates), div_id="fig-tear-underwater",
                    caption="Underwater plot: the drawdown from the running peak of equity (0 at a new "
                            "high)."),
        figure_html(rolling_figure(curves, dates, periods_per_year=ppy, rf=rf), div_id="fig-tear-rolling",
                    caption=f"Rolling Sharpe ratio and volatility over the last {w} periods (about three "
                            f"months), annualised with {ppy} periods a year; empty before the first full "
                            f"window."),
        figure_html(monthly_figure(curves, dates), div_id="fig-tear-monthly",
                    caption="Monthly returns (compounded daily returns within each month) by year, and the "
                            "year's total in the last column; the menu above the plot picks the strategy."),
    ])

"""`render_html(result)`: the stress report page of one run, assembled from tables and figures.

Section order follows the questions a reader asks: what was run, how the strategies compare, whether the
synthetic worlds look like the market, how the strategies did on the real history (the tear sheet), and then
per strategy the distribution of outcomes and the worst cases.

Time axes of worlds show dates (`RunResult.world_dates`: the business days after the history's last close),
and histograms show the 0.5%..99.5% range of worlds (`figures.robust_range`), saying how many lie beyond.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..results import FAN_WORLDS, RunResult, StrategyResult
from ..types import PERIODS_PER_YEAR, period_words
from . import figures, tables
from .html import PALETTE, esc, figure_html, page
from .overfit import overfit_html
from .regimes import regimes_html
from .reverse import reverse_html
from .scorecard_table import scorecard_html
from .stress import stress_html, stress_warnings
from .tearsheet import tearsheet_html

__all__ = ["render_html", "report_warnings", "plausibility_alerts", "RANK_METRICS"]

MAX_SUSPECTS = 20  # the header lists at most this many data-quality suspects (summary.json has them all)

# Metrics shown in the real-history rank table (the others are in summary.json); kept when present.
RANK_METRICS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "var_95", "es_95",
                "worst_day", "turnover_annual")


def _code(value) -> str:
    return f"<code>{esc(json.dumps(value, sort_keys=True, default=str))}</code>"


def _list(items) -> str:
    items = list(items)
    if not items:
        return tables.DASH
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def report_warnings(result: RunResult) -> list[str]:
    """Lines for the warning box: failed fidelity thresholds first, then the generator's fit warnings, then
    each parameter grid whose real-history winner is not robust across worlds, then each stress case whose
    weights rest on few worlds."""
    out = [f"Scenario fidelity: {f}" for f in result.fidelity.failures]
    out += [f"Generator: {w}" for w in result.generator.warnings]
    out += [f"Overfitting: {o.strategy}: {o.warnings[0]} (see Overfitting)" for o in result.overfit if not o.robust]
    out += stress_warnings(result)
    return out


def plausibility_alerts(result: RunResult) -> list[str]:
    """Lines for the red box at the top: one sentence per failed plausibility check (check, asset, value
    against bound, worst world); empty when every check passed or the run predates the gate."""
    p = result.plausibility
    return [] if p is None else [c.message for c in p.failures]


def _plausibility_line(result: RunResult) -> str:
    p = result.plausibility
    if p is None:
        return "not computed (results written before the plausibility gate)"
    bad = len(p.failures)
    state = f"<b>{bad} failed</b> (red box at the top)" if bad else "all passed"
    return (f"{len(p.checks)} checks of the worlds against the history, {state}; a check fails only beyond "
            f"sampling error at {100 * p.confidence:g}% (see Scenario fidelity)")


def _suspects(result: RunResult) -> str:
    items = [f"{esc(s.asset)} {esc(s.date)}: {esc(s.kind)}, log return {s.size:+.3g} — {esc(s.detail)}"
             for s in result.suspects[:MAX_SUSPECTS]]
    if len(result.suspects) > MAX_SUSPECTS:
        items.append(f"… and {len(result.suspects) - MAX_SUSPECTS} more (summary.json lists them all)")
    return _list(items) if items else "none flagged"


def _header(result: RunResult) -> str:
    d, g = result.data, result.generator
    assets = list(result.assets)
    shown = ", ".join(assets[:12]) + (f", \u2026 ({len(assets)} in all)" if len(assets) > 12 else "")
    timings = ", ".join(f"{esc(k)} {v:,.1f} s" for k, v in result.timings.items()) or tables.DASH
    pairs = [
        ("Data", f"{esc(d.source)}: {esc(d.start)} to {esc(d.end)}, {d.n_obs:,} observations, "
                 f"frequency {esc(d.freq)}"),
        ("Assets", esc(shown)),
        ("Data quality suspects", _suspects(result)),
        ("Plausibility", _plausibility_line(result)),
        ("Generator", esc(g.name)),
        ("Generator config", _code(g.config)),
        ("Fitted-parameter digest", f"<code>{esc(g.params_digest)}</code>"),
        ("Seed", f"{result.seed}"),
        ("Size", f"{result.n_worlds:,} worlds \u00d7 {result.horizon:,} periods \u00d7 {len(assets)} assets"),
        ("Conventions", _list(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in result.conventions.items())),
        ("Package versions", esc(", ".join(f"{k} {v}" for k, v in result.versions.items()))),
        ("Timings", timings),
    ]
    return tables.kv_table(pairs)


def _overview(result: RunResult) -> str:
    return ("<p>Each strategy was backtested on every synthetic world. Medians and percentiles are taken "
            "across worlds; the interval under each figure is a bootstrap percentile interval over worlds. "
            "The last column is the percentile of the real-history backtest among the worlds (50 = typical; "
            "near 0 or 100 = the real history was unusual for these worlds).</p>"
            + tables.overview_table(result.strategies))


def _paths(result: RunResult) -> str:
    k_real, k_syn = len(result.real_paths), len(result.sample_paths)
    dates = result.world_dates()
    span = f"{dates[0].date()} to {dates[-1].date()}"
    parts = [figure_html(figures.paths_figure(result.real_paths, result.sample_paths, world_dates=dates),
                         div_id="fig-paths",
                         caption=f"Cumulative return of a daily-rebalanced equal-weight portfolio of the "
                                 f"{len(result.assets)} assets over windows of {result.horizon} periods: "
                                 f"{min(k_real, figures.MAX_LINES)} real windows from different years (left, "
                                 f"periods into the window) and the first {min(k_syn, figures.MAX_LINES)} "
                                 f"synthetic worlds (right, dated {span}: the worlds continue the history's "
                                 f"calendar), same scale.")]
    if result.fan:
        pairs, _ = figures.quantile_bands([k for k in result.fan if k != "real"])
        bands = ", ".join(f"{float(lo[1:]):g}\u2013{float(hi[1:]):g}" for lo, hi in pairs)
        real_dates = result.real_window_dates()
        window = (f" ({real_dates[0].date()} to {real_dates[-1].date()}, drawn period by period on the "
                  f"worlds' dates; its own dates are in its hover text)" if len(real_dates) else "")
        parts.append(figure_html(figures.fan_figure(result.fan, world_dates=dates, real_dates=real_dates),
                                 div_id="fig-fan",
                                 caption=f"Fan chart: percentiles ({bands}) and median over "
                                         f"{_fan_worlds(result.n_worlds)} of the equal-weight portfolio's cumulative "
                                         f"return, {span}; dashed: the most recent real window of the same "
                                         f"length{window}."))
    return "\n".join(parts)


def _fan_worlds(n_worlds: int) -> str:
    return f"all {n_worlds:,} worlds" if n_worlds <= FAN_WORLDS else f"the first {FAN_WORLDS:,} of {n_worlds:,} worlds"


def _nonfinite_note(values: np.ndarray) -> str:
    bad = int(np.sum(~np.isfinite(np.asarray(values, np.float64))))
    return f" {bad:,} worlds with an undefined value are left out." if bad else ""


def _clipped(values: np.ndarray, *include) -> tuple[tuple[float, float] | None, str]:
    """The histogram's x range (`figures.robust_range`) and the caption's sentence on what it leaves out."""
    lo, hi, below, above = figures.robust_range(values, include=include)
    if not np.isfinite(lo):
        return None, ""
    q = 100 * figures.CLIP_QUANTILE
    span = f" The axis spans the {q:g}th to {100 - q:g}th percentile of worlds, widened to the markers"
    if below == above == 0:
        return (lo, hi), span + ": every world lies within it."
    note = (f"{span}: {below:,} world{' lies' if below == 1 else 's lie'} below it and {above:,} above "
            f"(not drawn; counted at the plot's top corners).")
    return (lo, hi), note


def _strategy(i: int, s: StrategyResult, result: RunResult) -> str:
    colour = PALETTE[i % len(PALETTE)]
    params = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in s.params.items()) or "defaults"
    parts = [f'<p class="note">Plugin <code>{esc(s.plugin)}</code>; parameters: {params}.</p>',
             "<h3>Risk across worlds</h3>", tables.risk_table(s.aggregate.summary),
             '<p class="note">Value across worlds, bootstrap 95% interval underneath. Returns, drawdowns, '
             "VaR and ES in percent; VaR/ES are one-period, historical, losses positive.</p>",
             '<div class="cols">',
             f"<div><h3>Tail of terminal outcomes</h3>{tables.tails_table(s.aggregate.tails)}</div>",
             f"<div><h3>Probabilities</h3>{tables.probabilities_table(s.aggregate.probabilities)}</div>",
             "</div>"]
    metrics = s.metrics
    if "total_return" in metrics:
        tr = metrics["total_return"].to_numpy()
        q05 = s.aggregate.summary["value"].get(("total_return", "q05"))
        x_range, clip_note = _clipped(tr, s.real.get("total_return"), q05)
        parts.append(figure_html(
            figures.histogram_figure(tr, colour=colour, x_title="total return over the horizon",
                                     real=s.real.get("total_return"), x_range=x_range,
                                     markers={"5th percentile": q05} if q05 is not None else None),
            div_id=f"fig-s{i}-return",
            caption=f"Distribution of {esc(s.name)}'s total return over {result.horizon} periods across "
                    f"{len(tr):,} worlds (share of worlds per bin). Solid line: the same strategy on the real "
                    f"history (percentile {tables.fmt_num(s.real_rank.get('total_return'))}); dashed: the "
                    f"5th percentile of the worlds.{clip_note}{_nonfinite_note(tr)}"))
    if "max_drawdown" in metrics:
        dd = metrics["max_drawdown"].to_numpy()
        x_range, clip_note = _clipped(dd, s.real.get("max_drawdown"))
        parts.append(figure_html(
            figures.histogram_figure(dd, colour=colour, x_title="maximum drawdown (depth)",
                                     real=s.real.get("max_drawdown"), x_range=x_range),
            div_id=f"fig-s{i}-drawdown",
            caption=f"Distribution of {esc(s.name)}'s maximum drawdown (peak-to-trough depth, including the "
                    f"starting equity) across worlds. Line: the real history (percentile "
                    f"{tables.fmt_num(s.real_rank.get('max_drawdown'))}).{clip_note}{_nonfinite_note(dd)}"))
    return "\n".join(parts)


def _head_to_head(result: RunResult) -> str:
    if result.head_to_head.empty:
        return "<p>Only one strategy: nothing to compare.</p>"
    return figure_html(figures.head_to_head_figure(result.head_to_head), div_id="fig-h2h",
                       caption="Head-to-head: the share of worlds in which the row strategy's total return "
                               "beats the column strategy's (ties count half). Rows above 50% against every "
                               "column win in most worlds.")


def _ranks(result: RunResult) -> str:
    present = {m for s in result.strategies for m in s.real_rank}
    metrics = [m for m in RANK_METRICS if m in present] or sorted(present)
    return ("<p>Each strategy was also backtested on the real history. The number is the percentile of that "
            "result among the worlds (ties count half); the real value is underneath. The markers on the "
            "histograms above show the same thing.</p>" + tables.rank_table(result.strategies, metrics))


def _worst(result: RunResult) -> str:
    parts = []
    dates = result.world_dates()
    for i, s in enumerate(result.strategies):
        if not len(s.worst_worlds):
            continue
        worst = int(s.worst_worlds[0])
        tr = s.metrics["total_return"].get(worst) if "total_return" in s.metrics else None
        parts.append(f"<h3>{tables.swatch(i)}{esc(s.name)}</h3>")
        parts.append(figure_html(
            figures.worst_worlds_figure(s.worst_equity, s.worst_worlds, result.worst_paths, result.assets,
                                        colour=PALETTE[i % len(PALETTE)], world_dates=dates),
            div_id=f"fig-s{i}-worst",
            caption=f"Left: {esc(s.name)}'s equity in its {len(s.worst_worlds)} worst worlds by total return "
                    f"(bold: world {worst}, total return {tables.fmt_pct(tr)}). Right: each asset's cumulative "
                    f"return in world {worst} (one colour each, named in the legend below) and the "
                    f"equal-weight portfolio (blue, bold)."))
    return "\n".join(parts) or "<p>No worst worlds were kept for this run.</p>"


def _fidelity(result: RunResult) -> str:
    f = result.fidelity
    parts = ['<p>Does the generator reproduce the market? Statistics of the real history against the same '
             "statistics of the synthetic worlds.</p>"]
    failures = f.failures
    if failures:
        parts.append('<div class="box warnings"><h2>Failed fidelity checks</h2>'
                     + _list(esc(x) for x in failures) + "</div>")
    if f.skipped:  # metrics whose window is longer than the worlds: say why their cells are empty
        parts.append("<p><strong>Not scored (the worlds are too short):</strong></p>"
                     + _list(esc(x) for x in f.skipped))
    parts += ["<h3>Moments per asset</h3>", tables.frame_table(f.moments, index_label="asset")]
    if len(f.acf_abs):
        parts.append(figure_html(figures.acf_figure(f.acf_abs), div_id="fig-acf",
                                 caption="Autocorrelation of absolute returns by lag, averaged over assets: "
                                         "real history (dashed) against synthetic worlds. Slowly decaying "
                                         "positive values are volatility clustering."))
    if f.corr_real.size:
        cr, cs = np.asarray(f.corr_real), np.asarray(f.corr_syn)
        off = ~np.eye(cr.shape[0], dtype=bool)
        gap = float(np.max(np.abs(cr - cs)[off])) if off.any() else 0.0
        parts.append(figure_html(figures.correlation_figure(cr, cs, result.assets), div_id="fig-corr",
                                 caption=f"Correlation of log returns between assets, real history (left) and "
                                         f"synthetic worlds (right); largest absolute difference "
                                         f"{tables.fmt_num(gap, 2)}."))
    if f.diversity is not None:
        d = f.diversity
        parts.append(f"<p><strong>Diversity across worlds:</strong> mean pairwise distance of world summaries "
                     f"(per-asset return, volatility and drawdown, and the mean correlation) is "
                     f"{tables.fmt_num(d.ratio, 2)} times that of real windows of the same length "
                     f"({d.n_worlds} worlds, {d.n_real} windows). Far below 1 means collapsed, "
                     f"look-alike worlds; far above 1, worlds wilder than history.</p>")
    if f.scorecard is not None:
        parts += ["<h3>Scorecard</h3>", scorecard_html(f.scorecard)]
    if result.plausibility is not None:
        parts += ["<h3>Plausibility checks</h3>", _plausibility_table(result)]
    return "\n".join(parts)


def _plausibility_table(result: RunResult) -> str:
    p = result.plausibility
    frame = pd.DataFrame({"value": [c.value for c in p.checks], "bound": [c.bound for c in p.checks],
                          "passed": ["yes" if c.passed else "NO" for c in p.checks],
                          "worst world": [tables.DASH if c.worst_world is None else str(c.worst_world)
                                          for c in p.checks]},
                         index=pd.Index([c.check + (f" · {c.asset}" if c.asset else "") for c in p.checks]))
    daily = period_words(PERIODS_PER_YEAR.get(result.data.freq, 252))[1]
    return ('<p class="note">The worlds against what the history makes plausible: the share of worlds with a '
            f"{daily} |log r| above 0.5, each asset's tail index (Hill, a lower bound) and 99.9% quantile of "
            "annualised volatility, and the 99.9% quantile of the equal-weight return; a check fails only when "
            f"its bound is violated beyond sampling error ({100 * p.confidence:g}% one-sided).</p>"
            + tables.frame_table(frame, index_label="check"))


def render_html(result: RunResult) -> str:
    """The whole stress report as one self-contained HTML document (plotly.js inlined, no network)."""
    g = result.generator.name
    sections = [("Run", _header(result)), ("Overview", _overview(result)),
                ("Real and synthetic paths", _paths(result)),
                ("Scenario fidelity", _fidelity(result)),
                ("Head-to-head", _head_to_head(result)),
                ("Where the real history ranks", _ranks(result))]
    if result.overfit:  # only runs with a parameter grid have something to judge
        sections.append(("Overfitting", overfit_html(result)))
    if result.regimes is not None:  # only the regime mixture reads the history as regimes
        sections.append(("Regimes", regimes_html(result)))
    if result.stress:  # only a spec with [[stress]] cases has scenarios to compare
        sections.append(("Stress scenarios", stress_html(result)))
    if result.reverse:  # only a spec with [reverse] asks how a strategy loses
        sections.append(("Reverse stress", reverse_html(result)))
    sections.append(("Real history: tear sheet", tearsheet_html(result)))
    sections += [(f"Strategy: {s.name}", _strategy(i, s, result)) for i, s in enumerate(result.strategies)]
    sections.append(("Worst worlds", _worst(result)))
    subtitle = (f"{g} \u00b7 {result.n_worlds:,} worlds \u00d7 {result.horizon:,} periods \u00d7 "
                f"{len(result.assets)} assets \u00b7 seed {result.seed}")
    alerts = plausibility_alerts(result)
    title = (f"Implausible worlds: {len(alerts)} of {len(result.plausibility.checks)} plausibility checks failed"
             if alerts else "")
    return page("Stress report", sections, warnings=report_warnings(result), subtitle=subtitle, alerts=alerts,
                alerts_title=title)

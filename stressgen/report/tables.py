"""Number formatting and HTML tables of a run's results. Formatting only: every number comes from `RunResult`.

Numbers are shown with three significant digits: returns, drawdowns, VaR/ES and probabilities as
percentages, ratios as plain numbers, durations in periods. Undefined values show as an en dash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from ..results import StrategyResult
from .html import PALETTE, esc

__all__ = ["metric_kind", "metric_label", "metric_order", "fmt", "fmt_pct", "fmt_num", "table", "kv_table", "risk_table",
           "tails_table", "probabilities_table", "overview_table", "rank_table", "frame_table", "swatch", "with_ci",
           "DASH"]

DASH = "\u2013"

_LABELS = {
    "total_return": "Total return", "cagr": "CAGR", "volatility": "Volatility (ann.)", "sharpe": "Sharpe",
    "sortino": "Sortino", "calmar": "Calmar", "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Longest drawdown (periods)", "worst_day": "Worst period", "hit_rate": "Hit rate",
    "turnover": "Turnover (per period)", "turnover_annual": "Turnover (annual)", "cost_drag": "Cost drag (ann.)",
}
_PCT = {"total_return", "cagr", "volatility", "max_drawdown", "worst_day", "hit_rate", "turnover",
        "turnover_annual", "cost_drag"}
_COUNT = {"max_drawdown_duration"}
# Display order of metrics (returns, risk, ratios, tails, trading); others follow in their own order.
_ORDER = ("total_return", "cagr", "volatility", "max_drawdown", "max_drawdown_duration", "sharpe", "sortino",
          "calmar", "worst_day", "hit_rate", "turnover", "turnover_annual", "cost_drag")


def metric_order(metrics) -> list[str]:
    """`metrics` in display order: `_ORDER` first, then VaR/ES by level, then the rest as given."""
    metrics = list(metrics)

    def key(m):
        if m in _ORDER:
            return (0, _ORDER.index(m), False)
        if m.startswith(("var_", "es_")):
            kind, _, level = m.partition("_")
            try:
                return (1, float(level), kind == "es")
            except ValueError:
                pass
        return (2, metrics.index(m), False)

    return sorted(metrics, key=key)


def metric_kind(metric: str) -> str:
    """``"pct"``, ``"count"`` or ``"num"``: how a metric's values are shown."""
    if metric in _PCT or metric.startswith(("var_", "es_")):
        return "pct"
    return "count" if metric in _COUNT else "num"


def metric_label(metric: str) -> str:
    """Readable name: ``"var_95"`` -> ``"VaR 95% (1 period)"``."""
    if metric in _LABELS:
        return _LABELS[metric]
    for prefix, word in (("var_", "VaR"), ("es_", "ES")):
        if metric.startswith(prefix):
            return f"{word} {metric[len(prefix):]}% (1 period)"
    return metric.replace("_", " ")


def _bad(x) -> str | None:
    """The text of a value that is not a finite number, or None when it is one."""
    if x is None:
        return DASH
    try:
        x = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if math.isnan(x):
        return DASH
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    return None


def _sig(v: float, digits: int = 3) -> str:
    """`digits` significant digits, never scientific notation; thousands separated."""
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    if decimals > 6:  # below 1e-4 relative to the unit: indistinguishable from 0 at this precision
        return "0"
    text = f"{v:.{decimals}f}"
    return text.replace("-", "\u2212")


def fmt_pct(x, digits: int = 3) -> str:
    """A fraction as a percentage, ``0.1234 -> "12.3%"``."""
    bad = _bad(x)
    return bad if bad is not None else _sig(100.0 * float(x), digits) + "%"


def fmt_num(x, digits: int = 3) -> str:
    """A plain number with `digits` significant digits."""
    bad = _bad(x)
    return bad if bad is not None else _sig(float(x), digits)


def fmt(metric: str, x) -> str:
    """Format `x` as values of `metric` are shown."""
    kind = metric_kind(metric)
    if kind == "pct":
        return fmt_pct(x)
    if kind == "count":
        bad = _bad(x)
        return bad if bad is not None else f"{float(x):,.0f}"
    return fmt_num(x)


def with_ci(text: str, lo: str, hi: str) -> str:
    """`text` followed by its interval ``[lo, hi]`` (nothing when both ends are missing)."""
    if lo == DASH and hi == DASH:
        return text
    return f'{text}<span class="ci">[{lo}, {hi}]</span>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, label_cols: int = 1,
          cls: str = "data", row_classes: Sequence[str] | None = None) -> str:
    """An HTML table; `header` is plain text (escaped here), row cells are HTML (already escaped).

    The table sits in a ``div.table-wrap``, which scrolls sideways if the table is ever wider than the page;
    `row_classes` gives each ``<tr>`` a class (empty for none).
    """
    def cell(tag, i, content):
        c = ' class="label"' if i < label_cols else ""
        return f"<{tag}{c}>{content}</{tag}>"

    classes = list(row_classes) if row_classes is not None else [""] * len(rows)
    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(header))
    body = "".join((f'<tr class="{k}">' if k else "<tr>") + "".join(cell("td", i, c) for i, c in enumerate(r))
                   + "</tr>" for r, k in zip(rows, classes, strict=True))
    return f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>"


def kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    """Two-column key/value table; keys are plain text, values HTML."""
    body = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="table-wrap"><table class="data kv"><tbody>{body}</tbody></table></div>'


def _stat_label(stat: str) -> str:
    if stat.startswith("q"):
        try:
            return f"{float(stat[1:]):g}th pct."
        except ValueError:
            return stat
    return {"mean": "Mean", "undefined": "Undefined"}.get(stat, stat)


def risk_table(summary: pd.DataFrame) -> str:
    """Metric rows, one column per statistic (mean, quantiles), bootstrap interval under each value.

    `summary` is ``aggregate_metrics(...).summary``: index ``(metric, statistic)``, columns ``value``,
    ``ci_low``, ``ci_high``. The ``undefined`` column (share of worlds where a ratio is undefined) is shown
    only when some metric has undefined worlds.
    """
    metrics = metric_order(dict.fromkeys(summary.index.get_level_values(0)))
    stats = list(dict.fromkeys(summary.index.get_level_values(1)))
    undefined = summary.xs("undefined", level=1)["value"] if "undefined" in stats else pd.Series(dtype=float)
    if not (undefined.fillna(0) > 0).any():
        stats = [s for s in stats if s != "undefined"]
    rows = []
    for m in metrics:
        row = [esc(metric_label(m))]
        for s in stats:
            if (m, s) not in summary.index:
                row.append(DASH)
                continue
            v = summary.loc[(m, s)]
            f = fmt_pct if s == "undefined" else (lambda x, m=m: fmt(m, x))
            row.append(with_ci(f(v["value"]), f(v["ci_low"]), f(v["ci_high"])))
        rows.append(row)
    return table(["Metric", *map(_stat_label, stats)], rows)


def tails_table(tails: pd.DataFrame) -> str:
    """VaR and ES across worlds of terminal return and max drawdown, with intervals (losses positive)."""
    rows = []
    for (quantity, stat), v in tails.iterrows():
        word, _, level = stat.partition("_")
        what = "terminal loss" if quantity == "total_return" else metric_label(quantity).lower()
        label = f"{'VaR' if word == 'var' else 'ES'} {level}% of {what}"
        rows.append([esc(label), with_ci(fmt_pct(v["value"]), fmt_pct(v["ci_low"]), fmt_pct(v["ci_high"]))])
    return table(["Across worlds", "Value [95% CI]"], rows)


def probabilities_table(probs: pd.DataFrame) -> str:
    """Probabilities of events across worlds with intervals."""
    rows = [[esc(event.replace("total_return", "terminal return").replace("max_drawdown", "max drawdown")),
             with_ci(fmt_pct(v["value"]), fmt_pct(v["ci_low"]), fmt_pct(v["ci_high"]))]
            for event, v in probs.iterrows()]
    return table(["Event", "Probability [95% CI]"], rows)


def swatch(i: int) -> str:
    """A small square in strategy i's colour, before its name."""
    return f'<span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'


def overview_table(strategies: Sequence[StrategyResult]) -> str:
    """One row per strategy: the figures a reader compares first, each with its interval."""
    rows = []
    for i, s in enumerate(strategies):
        summ, tails, probs = s.aggregate.summary, s.aggregate.tails, s.aggregate.probabilities

        def cell(metric, stat, table_=summ, kind=None):
            v = table_.loc[(metric, stat)] if (metric, stat) in table_.index else None
            if v is None:
                return DASH
            f = (lambda x: fmt(kind or metric, x))
            return with_ci(f(v["value"]), f(v["ci_low"]), f(v["ci_high"]))

        p_loss = probs.loc["P(total_return < 0)"] if "P(total_return < 0)" in probs.index else None
        var_key = next((k for k in tails.index if k[0] == "total_return" and k[1].startswith("es_")), None)
        rows.append([
            swatch(i) + esc(s.name),
            cell("total_return", "q50"),
            cell("total_return", "q05"),
            cell("sharpe", "q50"),
            cell("max_drawdown", "q50"),
            DASH if p_loss is None else with_ci(fmt_pct(p_loss["value"]), fmt_pct(p_loss["ci_low"]),
                                                 fmt_pct(p_loss["ci_high"])),
            DASH if var_key is None else cell(*var_key, table_=tails, kind="total_return"),
            fmt_num(s.real_rank.get("total_return")),
        ])
    es_label = "ES of terminal loss"
    if strategies:
        k = next((k for k in strategies[0].aggregate.tails.index
                  if k[0] == "total_return" and k[1].startswith("es_")), None)
        if k is not None:
            es_label = f"ES {k[1][3:]}% of terminal loss"
    return table(["Strategy", "Median return", "5th pct. return", "Median Sharpe", "Median max DD", "P(loss)",
                  es_label, "Real history pct."], rows)


def rank_table(strategies: Sequence[StrategyResult], metrics: Sequence[str] | None = None) -> str:
    """Percentile of the real-history backtest among the worlds, per strategy and metric, with its value."""
    if metrics is None:
        metrics = metric_order(dict.fromkeys(m for s in strategies for m in s.real_rank))
    rows = []
    for i, s in enumerate(strategies):
        row = [swatch(i) + esc(s.name)]
        for m in metrics:
            if m not in s.real_rank:
                row.append(DASH)
                continue
            row.append(f'{fmt_num(s.real_rank[m])}<span class="ci">real: {fmt(m, s.real.get(m))}</span>')
        rows.append(row)
    return table(["Strategy", *map(metric_label, metrics)], rows)


def frame_table(df: pd.DataFrame, *, formats: Mapping[str, str] | None = None, index_label: str = "") -> str:
    """Any small DataFrame: numbers with three significant digits (or ``formats[column]`` = "pct"/"num")."""
    formats = dict(formats or {})
    header = [index_label or (df.index.name or ""), *[str(c) for c in df.columns]]
    rows = []
    for idx, r in df.iterrows():
        row = [esc(idx)]
        for c in df.columns:
            v = r[c]
            if isinstance(v, (bool, str)) or v is None:
                row.append(esc(v) if v is not None else DASH)
            elif formats.get(str(c)) == "pct":
                row.append(fmt_pct(v))
            else:
                row.append(fmt_num(v))
        rows.append(row)
    return table(header, rows)

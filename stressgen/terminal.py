"""What the command line prints: the end-of-run summary table, strategy parameters, and plugin names.

Kept out of `stressgen.cli` so the CLI stays a thin shell (parse, call, print) and so each piece can be
tested without running a command. Everything here reads results the library already returns; nothing is
computed but formatting.

Plugin names: a strategy loaded from ``path/to/file.py:Class`` lives in a module that `stressgen.plugins`
names ``_stressgen_plugin_<hash>`` (a unique name per file, so two ``strategy.py`` files do not collide in
``sys.modules``). That name means nothing to a user, so every place a user reads a plugin shows
``file.py:Class`` instead (`plugin_label`, `demangle`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["plugin_label", "demangle", "strategy_parameters", "format_parameters", "summary_frame", "format_summary"]

_MANGLED = re.compile(r"\b(_stressgen_plugin_[0-9a-f]{12})\.([A-Za-z_][\w.]*)")


def plugin_label(ref: str) -> str:
    """``file.py:Class`` for a file reference (any directory dropped); other references unchanged."""
    where, sep, attr = ref.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where or "\\" in where):
        return f"{Path(where).name}:{attr}"
    return ref


def demangle(text: str) -> str:
    """`text` with every ``_stressgen_plugin_<hash>.Class`` written as ``file.py:Class``."""
    def label(match: re.Match) -> str:
        module = sys.modules.get(match.group(1))
        file = getattr(module, "__file__", None)
        # a module that failed to import is no longer in sys.modules: still hide the hash
        return f"{Path(file).name if file else '<plugin file>'}:{match.group(2)}"

    return _MANGLED.sub(label, text)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def strategy_parameters(cls: type) -> list[tuple[str, str, str]]:
    """``(name, type, default)`` of each constructor field of a strategy dataclass (default ``""``: required)."""
    if not isinstance(cls, type):  # a plugin may be an instance: its fields are set, show their values
        cls, values = type(cls), cls
    else:
        values = None
    if not dataclasses.is_dataclass(cls):
        return []
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation only costs the type column
        hints = {}
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if values is not None:
            default = repr(getattr(values, f.name))
        elif f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = ""
        out.append((f.name, _type_name(hints.get(f.name, f.type)), default))
    return out


def format_parameters(params: Iterable[tuple[str, str, str]]) -> str:
    """``fast=10, slow=50, assets (required)``: one line for a listing."""
    return ", ".join(f"{n}={d}" if d else f"{n} (required)" for n, _, d in params) or "(none)"


def _get(frame: pd.DataFrame, key: Any) -> float:
    try:
        return float(frame.loc[key, "value"])
    except (KeyError, TypeError, ValueError):
        return math.nan


def summary_frame(result: Any) -> pd.DataFrame:
    """One row per strategy (parameter set) of a `RunResult`: the headline numbers of the report.

    Columns: plugin (``file.py:Class``), mean and median total return, VaR and ES 95% of total return
    (losses positive), median max drawdown, P(loss), and the real history's percentile among the worlds by
    total return (NaN when the run has no real-history backtest).
    """
    rows = []
    for s in result.strategies:
        summary, tails, probs = s.aggregate.summary, s.aggregate.tails, s.aggregate.probabilities
        rows.append({
            "strategy": s.name,
            "plugin": plugin_label(s.plugin),
            "mean_return": _get(summary, ("total_return", "mean")),
            "median_return": _get(summary, ("total_return", "q50")),
            "var_95": _get(tails, ("total_return", "var_95")),
            "es_95": _get(tails, ("total_return", "es_95")),
            "median_max_dd": _get(summary, ("max_drawdown", "q50")),
            "p_loss": _get(probs, "P(total_return < 0)"),
            "real_rank": float(s.real_rank.get("total_return", math.nan)) if s.real_rank else math.nan,
        })
    return pd.DataFrame(rows).set_index("strategy")


_HEADERS = {"plugin": "plugin", "mean_return": "mean ret", "median_return": "median ret", "var_95": "VaR 95%",
            "es_95": "ES 95%", "median_max_dd": "median maxDD", "p_loss": "P(loss)",
            "real_rank": "real pctile"}


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


def format_summary(result: Any) -> str:
    """`summary_frame` as a plain fixed-width table (no colour, so it pipes and diffs cleanly)."""
    frame = summary_frame(result)
    if frame["plugin"].eq(frame.index.to_series()).all():
        frame = frame.drop(columns="plugin")  # built-ins named after themselves: the column says nothing
    cells = [["strategy", *(_HEADERS[c] for c in frame.columns)]]
    for name, row in frame.iterrows():
        cells.append([str(name)] + [row[c] if c == "plugin" else
                                    ("-" if math.isnan(row[c]) else f"{row[c]:.0f}") if c == "real_rank"
                                    else _pct(row[c]) for c in frame.columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    text = ["  ".join(c.ljust(w) if i == 0 or (cells[0][i] == "plugin") else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in cells]
    notes = ["returns: total over the horizon; VaR/ES 95%: of total return, losses positive",
             "real pctile: percentile of the real history's total return among the worlds"]
    return "\n".join([text[0], "  ".join("-" * w for w in widths), *text[1:], *notes])


def _table(cells: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    rows = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            .rstrip() for r in cells]
    return [rows[0], "  ".join("-" * w for w in widths), *rows[1:]]


def format_stress(result: Any) -> str:
    """The stress cases of a `RunResult` as a plain table: per case its Kish effective number of worlds and,
    per strategy, the ES of total return with its shift against the base case (empty without cases)."""
    if not result.stress:
        return ""
    base = result.stress[0]
    level = f"{100 * base.level:g}%"
    cells = [["stress case", "ESS", *(f"ES {level} {s.name}" for s in base.strategies)]]
    for case in result.stress:
        row = [case.name + (" (!)" if case.low_ess else ""), f"{case.ess_kish:,.0f}"]
        for s, b in zip(case.strategies, base.strategies, strict=True):
            value = _pct(s.es.value)
            shift = s.es.value - b.es.value
            row.append(value if case is base or math.isnan(shift) else f"{value} ({100 * shift:+.1f})")
        cells.append(row)
    notes = [f"ES {level}: of total return, losses positive, weighted by each case's world probabilities; "
             "(+x): shift against the base case in points",
             "ESS: Kish effective number of worlds; (!): below [report] min_ess"]
    return "\n".join([*_table(cells), *notes])

"""The fidelity scorecard of a run as a collapsed table: failed thresholds first, each metric named.

`FidelitySummary.scorecard` is `quick_scorecard`'s tidy table (one row per generator x metric: columns
``generator``, ``kind``, ``family``, ``metric``, ``mean``, ``lo``, ``hi``, ``n``, ``rank``), whose index is a
bare row number. Here each row gets its metric's one-line definition (`metric_names`) and its threshold
(`THRESHOLDS`, the limits docs/fidelity.md states); a row fails when `Threshold.fails` says so, exactly the
rule `check` uses to list `FidelitySummary.failures`. Failed rows move to the top and are marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics.fidelity.score import ScoreConfig, metric_names
from ..metrics.fidelity.thresholds import THRESHOLDS
from . import tables
from .html import esc

__all__ = ["scorecard_rows", "scorecard_html", "FAIL", "PASS"]

FAIL, PASS = "FAIL", "pass"
_COLUMNS = {"metric", "mean"}


def scorecard_rows(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The rows to show, failures first (stable otherwise): columns ``generator``, ``metric``, ``family``,
    ``definition``, ``value``, ``lo``, ``hi``, ``limit`` (NaN where none) and ``status`` (`FAIL`, `PASS`,
    ``"no limit"`` or ``"not computed"``)."""
    names = metric_names(ScoreConfig())
    out = []
    for r in scorecard.to_dict(orient="records"):
        metric, value = str(r["metric"]), float(r["mean"])
        t = THRESHOLDS.get(metric)
        checked = t is not None and r.get("kind", "generator") == "generator"  # floors are not checked
        if not np.isfinite(value):
            status = "not computed"
        elif not checked:
            status = "no limit"
        else:
            status = FAIL if t.fails(value) else PASS
        family, definition = names.get(metric, (r.get("family", ""), ""))
        out.append(dict(generator=str(r.get("generator", "")), metric=metric,
                        family=str(r.get("family") or family), definition=definition, value=value,
                        lo=float(r.get("lo", np.nan)), hi=float(r.get("hi", np.nan)),
                        limit=t.limit if checked else np.nan, meaning=t.meaning if t is not None else "",
                        status=status))
    frame = pd.DataFrame(out, columns=["generator", "metric", "family", "definition", "value", "lo", "hi",
                                       "limit", "meaning", "status"])
    order = np.argsort((frame["status"] != FAIL).to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def scorecard_html(scorecard: pd.DataFrame) -> str:
    """``<details>`` (closed) holding the table; its summary line says how many thresholds failed."""
    if not _COLUMNS <= set(scorecard.columns):  # not a quick_scorecard table: show it as it is
        return ("<details><summary>Scorecard (in-sample)</summary>"
                + tables.frame_table(scorecard, index_label="row") + "</details>")
    rows = scorecard_rows(scorecard)
    n_fail = int((rows["status"] == FAIL).sum())
    n_checked = int(rows["status"].isin([FAIL, PASS]).sum())
    many = rows["generator"].nunique() > 1
    # one replicate (the quick scorecard) has no interval: leave the column out, not a column of dashes
    has_interval = bool((np.isfinite(rows["lo"]) & np.isfinite(rows["hi"])).any())
    body = []
    for r in rows.itertuples(index=False):
        failed = r.status == FAIL
        status = f'<span class="fail">\u2717 {FAIL}</span>' if failed else esc(r.status)
        label = f"<code>{esc(r.metric)}</code>" + (f'<span class="ci">{esc(r.definition)}</span>'
                                                   if r.definition else "")
        interval = (f"[{tables.fmt_num(r.lo)}, {tables.fmt_num(r.hi)}]"
                    if np.isfinite(r.lo) and np.isfinite(r.hi) else tables.DASH)
        limit = f"\u2264 {r.limit:g}" if np.isfinite(r.limit) else tables.DASH
        cells = [status, label, esc(r.family), tables.fmt_num(r.value), interval, limit,
                 esc(r.meaning) if failed else ""]
        if not has_interval:
            del cells[4]
        if many:
            cells.insert(1, esc(r.generator))
        body.append((failed, cells))
    header = ["Status", "Metric", "Family", "Value", "Interval", "Threshold", "What failing means"]
    if not has_interval:
        header.remove("Interval")
    if many:
        header.insert(1, "Generator")
    html = tables.table(header, [c for _, c in body], label_cols=4 if many else 3, cls="data scorecard",
                        row_classes=["failed" if f else "" for f, _ in body])
    verdict = (f'<span class="fail">{n_fail} of {n_checked} thresholds failed</span>' if n_fail
               else f"all {n_checked} thresholds passed")
    return (f"<details class=\"scorecard\"><summary>In-sample, {len(rows)} metrics: "
            f"{verdict} \u2014 click to open</summary>"
            '<p class="note">Each fidelity metric of the worlds against the history they were fitted on '
            "(lower is better; in-sample, so optimistic), and the threshold a plausible "
            "generator stays under (docs/fidelity.md); failed thresholds come first.</p>"
            f"{html}</details>")

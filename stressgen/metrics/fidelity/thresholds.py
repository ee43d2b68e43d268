"""The fidelity thresholds stated in docs/fidelity.md, and `check`, which lists the ones a table fails.

A threshold is a limit that a plausible generator stays under; it is set well above the known-DGP floor
(what a correct model scores against one real path of about three years), so that noise alone rarely
trips it, and well below what a clearly wrong model scores (i.i.d. Gaussian returns, a mis-scaled
volatility, a replay of history). Failing one is a warning to read the worlds with care, not a proof
that they are useless. Measured known-DGP floors (docs/fidelity.md, headline table) set the lower bound:
on the single S&P 500 index a correct GARCH scores dd_w1n 3.4, strategy_re 1.5 and rel_es_1pct_20d 2.5
against one of its own paths, so those limits are 4 and 2, and 20-day ES has no limit (too noisy on three
years to tell a wrong model from a right one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["Threshold", "THRESHOLDS", "check"]


@dataclasses.dataclass(frozen=True)
class Threshold:
    """``metric <= limit`` passes; `meaning` says in words what failing it means."""

    metric: str
    limit: float
    meaning: str

    def fails(self, value: float) -> bool:
        """A finite value above the limit (a metric that could not be computed is not a failure)."""
        return bool(np.isfinite(value) and value > self.limit)


THRESHOLDS: dict[str, Threshold] = {t.metric: t for t in (
    Threshold("w1n_1d", 0.5, "daily returns have the wrong distribution"),
    Threshold("w1n_20d", 0.8, "monthly returns have the wrong distribution"),
    Threshold("rel_var_1pct_1d", 0.75, "the daily 1% VaR is off by more than 75%"),
    Threshold("rel_es_1pct_1d", 1.0, "the daily 1% expected shortfall is off by more than 100%"),
    Threshold("acf_abs", 0.9, "volatility clustering (ACF of |r|) is not reproduced"),
    Threshold("leverage", 0.6, "the leverage effect is badly off"),
    Threshold("corr_err", 0.2, "cross-asset correlations are off by more than 0.2 on average"),
    Threshold("coexceed_err", 0.3, "joint tail losses across assets are badly off"),
    Threshold("dd_w1n", 4.0, "one-year drawdowns have the wrong distribution"),
    Threshold("strategy_re", 2.0, "strategy P&L tails (VaR/ES of 20-day P&L) are off by more than 200%"),
    Threshold("copy_rate", 0.25, "the worlds replay the training history (memorisation)"),
    Threshold("disc_score", 0.3, "a simple classifier tells synthetic from real windows"),
)}


def check(table: pd.DataFrame, thresholds: Mapping[str, Threshold] = THRESHOLDS) -> list[str]:
    """One sentence per (generator, metric) whose mean exceeds its threshold; floors are not checked.

    `table` is `Scorecard.table` (columns ``generator``, ``metric``, ``mean``, and optionally ``kind``).
    A metric that could not be computed (NaN) is not a failure.
    """
    missing = {"generator", "metric", "mean"} - set(table.columns)
    if missing:
        raise ValueError(f"check: the table lacks columns {sorted(missing)}; expected Scorecard.table")
    rows = table if "kind" not in table.columns else table[table["kind"] == "generator"]
    out = []
    for row in rows.itertuples(index=False):
        t = thresholds.get(row.metric)
        if t is not None and t.fails(row.mean):
            out.append(f"{row.generator}: {row.metric} = {row.mean:.3g} exceeds {t.limit:g} ({t.meaning})")
    return out

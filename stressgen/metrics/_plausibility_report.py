"""The plausibility gate's results and its quantile test (`stressgen.metrics.plausibility`, whose module
docstring defines the checks and their sampling tolerances).

`PlausibilityCheck` and `PlausibilityReport` are what a run stores and shows; `quantile_check` is the one-sided
test of a 99.9% quantile against its bound through an exact binomial order statistic (`quantile_lower_rank`),
shared by the volatility and equal-weight return checks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["PlausibilityCheck", "PlausibilityReport", "quantile_lower_rank", "quantile_check", "num", "pct",
           "why"]


@dataclasses.dataclass(frozen=True)
class PlausibilityCheck:
    """One check: `value` against `bound` (a lower bound for ``hill_index``, an upper one otherwise);
    `passed` allows for sampling error; `asset` is None for the checks over all assets."""

    check: str
    asset: str | None
    value: float
    bound: float
    passed: bool
    worst_world: int | None
    message: str


@dataclasses.dataclass(frozen=True)
class PlausibilityReport:
    """Every check of one set of worlds, in `CHECKS` order (per-asset checks in asset order)."""

    checks: tuple[PlausibilityCheck, ...]
    n_worlds: int = 0
    horizon: int = 0
    confidence: float = 0.99

    @property
    def failures(self) -> tuple[PlausibilityCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def summary_line(self, most: int = 4) -> str:
        """``plausibility: N checks failed: ...`` (or ``... all N checks passed``) on one line."""
        bad = self.failures
        if not bad:
            return f"plausibility: all {len(self.checks)} checks passed"
        fmt = {"big_moves": lambda x: f"{100 * x:.3g}%", "ew_return": pct}
        items = [f"{c.check}{' ' + c.asset if c.asset else ''} ({fmt.get(c.check, num)(c.value)} vs bound "
                 f"{fmt.get(c.check, num)(c.bound)}, worst world {c.worst_world})" for c in bad[:most]]
        more = f"; and {len(bad) - most} more" if len(bad) > most else ""
        return f"plausibility: {len(bad)} of {len(self.checks)} checks failed: {'; '.join(items)}{more}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (non-finite floats stay floats; strict writers map them to null)."""
        return {"n_worlds": self.n_worlds, "horizon": self.horizon, "confidence": self.confidence,
                "checks": [dataclasses.asdict(c) for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlausibilityReport:
        """Inverse of `to_dict`, also after strict JSON (null for a non-finite value)."""
        def number(v: Any) -> float:
            return math.nan if v is None else float(v)

        checks = tuple(PlausibilityCheck(**{**c, "value": number(c["value"]), "bound": number(c["bound"])})
                       for c in d["checks"])
        return cls(checks, int(d["n_worlds"]), int(d["horizon"]), float(d["confidence"]))


def quantile_lower_rank(n: int, q: float, confidence: float) -> int:
    """The largest 1-based rank r with ``P(X_(r) > q-quantile) <= 1 - confidence`` among n draws; 0 if none.

    ``X_(r)`` exceeds the true quantile exactly when fewer than r draws fall below it, a Binomial(n, q) event.
    """
    alpha = 1.0 - confidence
    m = int(stats.binom.ppf(alpha, n, q))            # smallest m with cdf(m) >= alpha
    if stats.binom.cdf(m, n, q) > alpha:
        m -= 1
    return max(m + 1, 0)


def num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def pct(x: float) -> str:
    return f"{100 * x:+.3g}%" if math.isfinite(x) else str(x)


def why(fail: bool, beyond_bound: bool) -> str:
    return " beyond sampling error" if fail else " but within sampling error" if beyond_bound else ""


def _order_stat(values: np.ndarray, rank: int) -> float:
    return float(np.partition(values, rank - 1)[rank - 1])


def quantile_check(name: str, asset: str | None, values: np.ndarray, worlds: np.ndarray, bound: float,
                   what: str, bound_text: str, quantile: float, level: float,
                   fmt: Callable[[float], str]) -> PlausibilityCheck:
    """The `quantile` of `values` (one per world, `worlds` their indices) against an upper `bound`: it fails
    only when the lower confidence order statistic at `level` lies above the bound."""
    n = values.size
    if n == 0 or not math.isfinite(bound):
        return PlausibilityCheck(name, asset, math.nan, bound, True, None, f"{name}: {asset or 'all assets'}: "
                                 f"not evaluated (no finite worlds or no real reference).")
    value = _order_stat(values, max(math.ceil(quantile * n), 1))
    rank = quantile_lower_rank(n, quantile, level)
    low = _order_stat(values, rank) if rank else -math.inf
    worst = int(worlds[np.argmax(np.nan_to_num(values, nan=-np.inf))])
    where = f"{name}: {asset + ': ' if asset else ''}the {100 * quantile:g}% quantile of {what}"
    fail = low > bound
    reason = (f" beyond sampling error (order statistic {rank} of {n} is {fmt(low)})" if fail else
              " but within sampling error" if value > bound else "")
    text = (f"{where} is {fmt(value)}, {'above' if value > bound else 'within'} the bound {bound_text} = "
            f"{fmt(bound)}{reason}; worst world {worst} ({fmt(float(values.max()))})")
    return PlausibilityCheck(name, asset, value, bound, not fail, worst, text)

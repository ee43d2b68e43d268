"""Small numerical helpers that more than one layer needs (generators fit with them, metrics check with
them). This module imports nothing from stressgen, so any layer may use it."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["hill_index", "tail_count"]


def tail_count(n: int, fraction: float, minimum: int = 10) -> int:
    """How many of the `n` largest values a tail estimate reads: ``ceil(fraction * n)``, at least `minimum`
    (fewer make the Hill estimator's standard error, index / sqrt(k), larger than a third of the index), and
    never all of them."""
    return int(min(max(math.ceil(fraction * n), minimum), n - 1))


def hill_index(abs_values: np.ndarray, k: int) -> float:
    """Hill estimator ``1 / mean(log(X_(i) / X_(k+1)))`` over the k largest of `abs_values` (nan if undefined).

    Its standard error is about ``index / sqrt(k)`` (Hill, 1975; de Haan and Ferreira, 2006).
    """
    x = np.asarray(abs_values, np.float64).ravel()
    if not 1 <= k < x.size:
        return math.nan
    top = np.sort(np.partition(x, x.size - k - 1)[x.size - k - 1:])[::-1]  # X_(1) >= ... >= X_(k+1)
    if not top[k] > 0:
        return math.nan
    mean_log = float(np.mean(np.log(top[:k] / top[k])))
    return 1.0 / mean_log if mean_log > 0 else math.inf

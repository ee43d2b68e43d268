"""Calibration: Kupiec's proportion-of-failures (POF) test of the synthetic VaR on held-out real returns.

The synthetic VaR_a of h-day returns (paths pooled) is used as a forecast for every held-out window; a
violation is a real h-day return below ``-VaR``. With x violations in n windows,

    LR = -2 ln[(1 - a)^(n - x) a^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x]   (0 ln 0 = 0),  LR ~ chi2(1)

under the null that the violation probability is a. Windows are non-overlapping (one every h days), so
for h = 1 they are all days and the violations are independent under a correct model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats
from scipy.special import xlogy

from .marginal import aggregate, pooled, var_es

__all__ = ["Kupiec", "kupiec_lr", "kupiec", "kupiec_test"]


@dataclasses.dataclass(frozen=True)
class Kupiec:
    """One Kupiec test: violations, windows, the statistic and its chi2(1) p-value."""

    violations: int
    n: int
    alpha: float
    lr: float
    pvalue: float

    @property
    def rate(self) -> float:
        return self.violations / self.n

    def rejects(self, size: float = 0.05) -> bool:
        return self.pvalue < size


def kupiec_lr(violations: int, n: int, alpha: float) -> float:
    """The POF likelihood-ratio statistic (>= 0)."""
    x, p = int(violations), violations / n
    lr = -2.0 * (xlogy(n - x, 1.0 - alpha) + xlogy(x, alpha)) + 2.0 * (xlogy(n - x, 1.0 - p) + xlogy(x, p))
    return max(lr, 0.0)


def kupiec(violations: int, n: int, alpha: float) -> Kupiec:
    lr = kupiec_lr(violations, n, alpha)
    return Kupiec(int(violations), int(n), float(alpha), lr, float(stats.chi2.sf(lr, df=1)))


def kupiec_test(real: np.ndarray, syn: np.ndarray, alpha: float, h: int = 1, *,
                syn_sorted: np.ndarray | None = None) -> list[Kupiec]:
    """One test per asset: synthetic ``VaR_alpha`` of h-day returns against non-overlapping real h-day returns.

    `real` is ``[time, assets]``, `syn` ``[paths, time, assets]``. `syn_sorted`: ``marginal.sorted_pooled(syn,
    h)`` when the caller has it (the same VaR, an order statistic, without another pass over the paths).
    """
    if syn_sorted is None:
        var_s, _ = var_es(pooled(aggregate(syn, h, axis=1)), alpha)
    else:
        var_s = -np.quantile(syn_sorted, alpha, axis=-1, method="inverted_cdf")
    r = aggregate(real, h, axis=0)[::h]
    hits = np.sum(r < -var_s, axis=0)
    return [kupiec(int(x), r.shape[0], alpha) for x in hits]

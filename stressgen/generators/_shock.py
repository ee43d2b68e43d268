"""The `PathShock` condition: an instantaneous move of a portfolio on one day of every world, after which the
generator's own dynamics take over (docs/stress.md, "Path shock"). The GARCH sampler applies it
(`_garch_sim.simulate` with ``shocked=True``), the stationary bootstrap too (`_bootstrap_regime`, with the
shock row of `conditional_shock_row`); other families refuse it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import ConfigError

__all__ = ["PathShock", "shock_weights", "conditional_shock_row"]

NEWTON_STEPS = 50  # the host solve stops on its own tolerance long before; the cap only guards a flat slope


@dataclasses.dataclass(frozen=True, kw_only=True)
class PathShock:
    """A move of `size` (a simple return) of the target portfolio on day `day` of the horizon.

    Attributes:
        day: 1-based day of the horizon on which the shock happens (at most the horizon; checked at sampling).
        size: the target's simple return that day, > -1 (-0.20: a 20% fall).
        assets: None: the target is the daily rebalanced equal-weight portfolio of all assets; otherwise the
            equal-weight portfolio of these named assets (one name: that asset's own return). The other
            assets move through the fitted dependence.
    """

    day: int
    size: float
    assets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        d = self.day
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ConfigError(f"shock.day must be an integer >= 1 (1-based day of the horizon), got {d!r}")
        s = self.size
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s):
            raise ConfigError(f"shock.size must be a finite number (a simple return), got {s!r}")
        if s <= -1.0:
            raise ConfigError(f"shock.size must be above -1 (a fall of 100% or more leaves nothing), got {s!r}")
        a = self.assets
        if a is None:
            return
        if not isinstance(a, tuple) or not a or not all(isinstance(n, str) for n in a):
            raise ConfigError(f"shock.assets must be a non-empty tuple of asset names or None, got {a!r}")
        if len(set(a)) != len(a):
            raise ConfigError(f"shock.assets names an asset twice: {a!r}")

    def describe(self) -> str:
        """Short text for `Provenance.condition`: chunks drawn under different shocks never concat."""
        target = "equal-weight" if self.assets is None else ",".join(self.assets)
        return f"shock(day={self.day}, size={self.size!r}, assets={target})"


def shock_weights(shock: PathShock, assets: tuple[str, ...], horizon: int) -> np.ndarray:
    """``[assets]`` float64 target weights (summing to 1) of `shock` for a fit on `assets`; checks the day
    against `horizon` and the names against the fit (ConfigError naming the key or the asset)."""
    if shock.day > horizon:
        raise ConfigError(f"shock.day = {shock.day} is beyond the horizon of {horizon} days")
    n = len(assets)
    if shock.assets is None:
        return np.full(n, 1.0 / n)
    unknown = [name for name in shock.assets if name not in assets]
    if unknown:
        raise ConfigError(f"shock.assets: unknown asset {unknown[0]!r}; the generator was fitted on "
                          f"{', '.join(assets)}")
    w = np.zeros(n)
    w[[assets.index(name) for name in shock.assets]] = 1.0 / len(shock.assets)
    return w


def conditional_shock_row(w: np.ndarray, mean: np.ndarray, cov: np.ndarray, size: float) -> np.ndarray:
    """``[assets]`` float64 log returns of a shock day: the conditional mean of a row with `mean` and covariance
    `cov` given the target's log move t, ``r = mean + cov w (t - w.mean) / (w' cov w)``, with t solved so that
    the target's simple return ``sum_i w_i (exp(r_i) - 1)`` is `size` exactly.

    The construction of `_garch_sim.shock_innovations` (which does it per world in float32 inside the jitted
    loop, from each world's variances) for a generator whose dependence is one fixed covariance: solved once,
    on the host, in float64. Newton's method starts at the log-linear solution, which by Jensen lies at or above
    the root of this convex equation (``w . b = 1``); ConfigError naming shock.size when no root is reached.
    """
    w, mean, cov = (np.asarray(x, np.float64) for x in (w, mean, cov))
    cw = cov @ w
    b = cw / float(w @ cw)  # the move of each asset per unit of the target's log move
    a = mean - b * float(w @ mean)
    target = 1.0 + float(size)
    t = float(np.log1p(size))  # sum_i w_i (a_i + b_i t) = t: the log-linear start
    for _ in range(NEWTON_STEPS):
        g = w * np.exp(a + b * t)
        f, fp = float(g.sum()) - target, float((g * b).sum())
        if abs(f) <= 1e-14 * target or fp <= 0:
            break
        t -= f / fp
    row = a + b * t
    if not abs(float((w * np.expm1(row)).sum()) - size) <= 1e-9 or not np.isfinite(row).all():
        raise ConfigError(f"shock.size = {size!r} cannot be met through the fitted dependence (the target's "
                          "assets do not all move with it)")
    return row

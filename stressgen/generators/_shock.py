"""The `PathShock` condition: an instantaneous move of a portfolio on one day of every world, after which the
generator's own dynamics take over (docs/stress.md, "Path shock"). The GARCH sampler applies it
(`_garch_sim.simulate` with ``shocked=True``); other families refuse it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import ConfigError

__all__ = ["PathShock", "shock_weights"]


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

"""Tail tilting by importance sampling: the `Tilt` condition and the host-side math of its likelihood ratios.

A `Tilt` makes a generator draw each day's innovation from an exponentially tilted law that favours losses
of a portfolio (the equal-weight one by default), and returns with every world its likelihood ratio
``dP / dQ`` (plain law over tilted law) in `Scenarios.weights`. A tail statistic weighted by these ratios is
an unbiased (probabilities, means) or consistent (quantiles, ES) estimate under the plain law, from worlds
that sit where the tail is; docs/stress.md says how to choose the strength and read the weights.

The per-day laws (the generator multiplies the ratios over the horizon):

* filtered historical simulation: row j of the standardized residuals, score ``s_j = -(w . e_j - m) / sd``
  (standardized over the rows), is drawn with probability ``pi_j ∝ exp(theta s_j)`` instead of ``1 / n``;
  ratio ``(1 / n) / pi_j``. Rows are drawn by Walker's alias method, whose acceptance thresholds are integers
  out of 2^24, and the ratio uses the probabilities those integers realise exactly (`alias_table`), so the
  rounding of the table does not bias the weights.
* copulas: the latent standard normals ``z`` are shifted by ``theta d``, ``d`` the unit vector along which
  the portfolio of the correlated normals ``L z`` falls fastest; ratio ``exp(-theta d . z + theta^2 / 2)``
  at the shifted ``z``. The t copula's mixing variable is not tilted, so the ratio is the same, and exact.

In both, ``theta`` is the shift, in standard deviations, of the day's standardized portfolio innovation
(exactly for the copulas, to first order for FHS), so ``theta * sqrt(horizon)`` is the shift of its sum.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import ConfigError

__all__ = ["Tilt", "direction_weights", "fhs_scores", "alias_table", "latent_direction", "ALIAS_BITS", "MAX_LOG_WEIGHT"]

ALIAS_BITS = 24  # acceptance thresholds are integers out of 2^24: the sampler compares them to 24 random bits
MAX_LOG_WEIGHT = 80.0  # exp(80) is near float32's largest finite value (3.4e38 = exp(88.7))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tilt:
    """Exponential tilt of a generator's daily innovations toward losses of a portfolio.

    Attributes:
        theta: tilt strength >= 0: the shift of each day's standardized portfolio innovation, in standard
            deviations (0: the plain law, every weight 1). ``theta * sqrt(horizon)`` near the tail's quantile
            in standard deviations (2.6 for 99.5%) is the classic choice (`Tilt.for_tail`).
        direction: portfolio weights over the assets, in the fitted order, whose losses are favoured; None:
            the equal-weight portfolio. Only its direction matters (it is rescaled); it may not be all zero.
    """

    theta: float
    direction: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        t = self.theta
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise ConfigError(f"tilt.theta must be a finite number >= 0 (to favour gains, negate tilt.direction), "
                              f"got {t!r}")
        d = self.direction
        if d is None:
            return
        if not isinstance(d, tuple) or not d:
            raise ConfigError(f"tilt.direction must be a non-empty tuple of numbers or None, got {d!r}")
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in d):
            raise ConfigError(f"tilt.direction must hold finite numbers, got {d!r}")
        if not any(d):
            raise ConfigError("tilt.direction is all zero: it names no portfolio to tilt toward")

    @classmethod
    def for_tail(cls, z: float, horizon: int, direction: tuple[float, ...] | None = None) -> Tilt:
        """The tilt that moves the sum of `horizon` standardized portfolio innovations by `z` standard
        deviations toward losses: ``theta = z / sqrt(horizon)``."""
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ConfigError(f"tilt horizon must be an integer >= 1, got {horizon!r}")
        if isinstance(z, bool) or not isinstance(z, int | float) or not math.isfinite(z) or z < 0:
            raise ConfigError(f"tilt.theta: the shift z must be a finite number >= 0, got {z!r}")
        return cls(theta=float(z) / math.sqrt(horizon), direction=direction)

    def describe(self) -> str:
        """Short text for `Provenance.condition`: chunks drawn under different tilts never concat."""
        return f"tilt(theta={self.theta!r}, direction={'equal-weight' if self.direction is None else self.direction})"


def direction_weights(tilt: Tilt, n_assets: int) -> np.ndarray:
    """``[assets]`` float64 portfolio weights of `tilt` (equal weight by default), scaled to unit L1 norm."""
    if tilt.direction is None:
        return np.full(n_assets, 1.0 / n_assets)
    if len(tilt.direction) != n_assets:
        raise ConfigError(f"tilt.direction has {len(tilt.direction)} weights, but the generator was fitted on "
                          f"{n_assets} assets")
    w = np.asarray(tilt.direction, np.float64)
    return w / np.abs(w).sum()


def fhs_scores(resid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``[rows]`` loss score of each residual row: ``-(w . e_j)`` standardized over the rows (mean 0, sd 1)."""
    p = np.asarray(resid, np.float64) @ w
    sd = p.std()
    if not sd > 0:
        raise ConfigError("tilt.direction: the portfolio's standardized residuals do not vary; nothing to tilt")
    return -(p - p.mean()) / sd


def alias_table(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walker's alias table of ``pi ∝ exp(logits)``: (thresholds ``[n]`` uint32 out of 2^ALIAS_BITS, aliases
    ``[n]`` int32, log likelihood ratios ``log((1 / n) / pi'_j)`` ``[n]`` float64).

    The sampler draws a column k uniformly and keeps it when 24 random bits fall below ``thresholds[k]``,
    else takes ``aliases[k]``. ``pi'`` are the probabilities that this integer table realises exactly, not
    the target ``pi``, so the ratios are exact for the draws actually made. Raises ConfigError (naming
    tilt.theta) when the tilt is so strong that some row would never be drawn: its worlds would be missing
    from the estimate, not just rare.
    """
    logits = np.asarray(logits, np.float64)
    n = logits.size
    w = np.exp(logits - logits.max())
    q = w * n / w.sum()  # mean 1; exactly 1 everywhere when the logits are equal (theta = 0)
    one = 1 << ALIAS_BITS
    thresholds = np.full(n, one, np.int64)
    aliases = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if q[i] < 1.0]
    large = [i for i in range(n) if q[i] >= 1.0]
    q = q.copy()
    while small and large:  # Vose's variant: every column is filled by one small row and one large one
        s, g = small.pop(), large.pop()
        thresholds[s] = int(round(q[s] * one))
        aliases[s] = g
        q[g] -= 1.0 - q[s]
        (small if q[g] < 1.0 else large).append(g)
    # columns left over hold mass 1 up to rounding: they keep their own row (threshold 2^24)
    mass = thresholds.astype(np.float64) / one
    realised = mass.copy()
    np.add.at(realised, aliases, 1.0 - mass)  # realised[j] = n * pi'_j
    if (realised <= 0).any():
        raise ConfigError(f"tilt.theta is too strong for filtered historical simulation: {int((realised <= 0).sum())}"
                          f" residual rows would never be drawn (probability below 2^-{ALIAS_BITS} / n); "
                          "lower tilt.theta")
    return thresholds.astype(np.uint32), aliases.astype(np.int32), -np.log(realised)


def latent_direction(chol: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``[assets]`` unit vector d in latent-normal space along which ``w . (L z)`` falls fastest:
    ``d = -L' w / |L' w|``, so ``d . z`` is the standardized loss score of the day's portfolio of normals."""
    g = np.asarray(chol, np.float64).T @ w
    norm = np.linalg.norm(g)
    if not norm > 0:
        raise ConfigError("tilt.direction: the portfolio of the copula's normals has zero variance")
    return -g / norm

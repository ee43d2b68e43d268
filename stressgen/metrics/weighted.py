"""Weighted cross-world statistics with their effective sample size and intervals.

The point estimates are exactly those of the unweighted report (`stressgen.metrics.quantile` and
`aggregate`): the same inverted-CDF quantile, VaR/ES positive = loss, ``P(loss) = P(total return < 0)``,
``P(drawdown > x)`` strict, NaN worlds dropped and their weighted share reported as ``undefined``. With
uniform weights every value here equals the unweighted one (tests/metrics/test_weighted.py).

Effective number of scenarios of normalised weights ``w`` (``sum w = 1``) over n worlds:

* **Kish**: ``n_kish = 1 / sum w_i^2`` (= exp of the Renyi entropy of order 2). It is the size of an equally
  weighted sample whose weighted mean has the same variance, for values independent of the weights:
  ``Var(sum w_i x_i) = sigma^2 sum w_i^2 = sigma^2 / n_kish``. The report shows this one: it is the one the
  standard errors below use, and it is the smaller (more cautious) of the two.
* **Entropy** (Meucci 2012, "Effective number of scenarios in fully flexible probabilities"):
  ``n_exp = exp(-sum w_i log w_i)`` (Shannon entropy, order 1). ``1 <= n_kish <= n_exp <= n``; both are n
  for uniform weights and 1 for one world carrying all the weight.

Intervals (each result says which in ``method``), weights treated as fixed numbers:

* probabilities: the delta-method standard error of the self-normalised estimate,
  ``se = sqrt(sum w_i^2 (x_i - p)^2)``, and the Wilson score interval with ``n = p (1 - p) / se^2`` trials
  (n_kish when se = 0). With equal weights, or weights that are equal on a subset and 0 elsewhere, n is the
  number of weighted worlds: the plain binomial interval. Unlike a Kish-n interval it is not widened by large
  weights on worlds outside the event, which a tilt toward a rare event produces and which barely move p;
* means: ``se = sd_w / sqrt(n_kish)`` (``sd_w`` the weighted standard deviation, ddof 0), normal interval;
* quantiles, VaR, ES: the weighted bootstrap of `aggregate.bootstrap` (worlds drawn uniformly with
  replacement, carrying their weights, renormalised), percentile interval, ``se`` the replicates' sd.

None of these re-solves the weights per replicate: for entropy-pooling weights, which depend on the same
worlds, the intervals leave out the uncertainty of the weights themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from ..errors import ConfigError
from .aggregate import bootstrap
from .quantile import _tails_1d, weighted_quantile

__all__ = ["EffectiveSize", "Estimate", "TailEstimate", "effective_size", "kish_ess", "entropy_ess",
           "normalised", "weighted_probability", "weighted_mean_estimate", "weighted_quantile_estimate",
           "weighted_tail_risk", "loss_event", "drawdown_event"]


def normalised(w, n: int | None = None) -> np.ndarray:
    """``[worlds]`` float64 weights summing to 1 (uniform over `n` worlds when `w` is None).

    Raises ConfigError for negative, non-finite or all-zero weights.
    """
    if w is None:
        if n is None or n < 1:
            raise ConfigError(f"uniform weights need a positive number of worlds, got {n!r}")
        return np.full(n, 1.0 / n)
    w = np.asarray(w, np.float64)
    if w.ndim != 1 or (n is not None and w.size != n):
        raise ConfigError(f"weights must be [worlds] = [{n}], got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError(f"weights must be finite and >= 0; {int((~np.isfinite(w) | (w < 0)).sum())} are not")
    total = w.sum()
    if not total > 0:
        raise ConfigError("weights sum to 0: no world carries probability")
    return w / total


def kish_ess(w) -> float:
    """``1 / sum w_i^2`` of the normalised weights."""
    w = normalised(w)
    return float(1.0 / np.sum(w * w))


def entropy_ess(w) -> float:
    """``exp(-sum w_i log w_i)`` of the normalised weights (0 log 0 = 0)."""
    w = normalised(w)
    pos = w[w > 0]
    return float(np.exp(-np.sum(pos * np.log(pos))))


@dataclasses.dataclass(frozen=True)
class EffectiveSize:
    """Effective number of scenarios (module docstring). `n` counts all worlds, `support` those with w > 0."""

    n: int
    support: int
    kish: float
    entropy: float

    @property
    def kish_share(self) -> float:
        """``kish / n``: 1 for uniform weights."""
        return self.kish / self.n


def effective_size(w) -> EffectiveSize:
    """Both effective sizes of `w` (any non-negative weights; normalised here)."""
    w = normalised(w)
    return EffectiveSize(n=int(w.size), support=int((w > 0).sum()), kish=kish_ess(w), entropy=entropy_ess(w))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A weighted estimate with its interval.

    Attributes:
        value: the point estimate (NaN if no world is defined).
        se: its standard error (see ``method``).
        lo, hi: the interval at ``ci_level``.
        ci_level: the interval's coverage.
        ess: Kish effective size of the weights over the defined (non-NaN) worlds.
        undefined: weighted share of worlds whose value was NaN (left out, the rest renormalised).
        method: how ``se`` and the interval were computed.
    """

    value: float
    se: float
    lo: float
    hi: float
    ci_level: float
    ess: float
    undefined: float
    method: str


def _defined(x, w) -> tuple[np.ndarray, np.ndarray, float]:
    """`x` as float64, the weights renormalised over its non-NaN entries, and the NaN share."""
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ConfigError(f"expected one value per world ([worlds]), got shape {x.shape}")
    w = normalised(w, x.size)
    bad = np.isnan(x)
    undefined = float(w[bad].sum())
    wd = np.where(bad, 0.0, w)
    if not wd.sum() > 0:
        return x, wd, undefined
    return x, wd / wd.sum(), undefined


def _z(ci_level: float) -> float:
    if not 0.0 < ci_level < 1.0:
        raise ConfigError(f"ci_level must be in (0, 1), got {ci_level!r}")
    return float(stats.norm.ppf(0.5 + ci_level / 2.0))


def _nan_estimate(ci_level: float, undefined: float, method: str) -> Estimate:
    return Estimate(math.nan, math.nan, math.nan, math.nan, ci_level, 0.0, undefined, method)


def weighted_probability(event, w=None, *, ci_level: float = 0.95) -> Estimate:
    """``P_w(event)`` from a per-world indicator (bool, or float 0/1 with NaN = undefined world).

    Interval: Wilson score with ``n = p (1 - p) / se^2`` trials, ``se = sqrt(sum w_i^2 (x_i - p)^2)`` (the
    module doc); ``Estimate.ess`` holds that n.
    """
    z = _z(ci_level)
    ev = np.asarray(event)
    x, wd, undefined = _defined(ev.astype(np.float64), w)
    method = "delta-method se, Wilson interval with n = p(1-p)/se^2"
    if not wd.sum() > 0:
        return _nan_estimate(ci_level, undefined, method)
    # rounding of the weights' sum can carry p a few ulps past 1 (or below 0), where the se is undefined
    xf = np.where(np.isnan(x), 0.0, x)
    p = min(1.0, max(0.0, float(np.sum(wd * xf))))
    var = float(np.sum(wd * wd * (xf - p) ** 2))
    n = p * (1.0 - p) / var if var > 0 else 1.0 / float(np.sum(wd * wd))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(p, math.sqrt(p * (1 - p) / n), max(0.0, centre - half), min(1.0, centre + half), ci_level,
                    n, undefined, method)


def weighted_mean_estimate(x, w=None, *, ci_level: float = 0.95) -> Estimate:
    """Weighted mean of ``x[worlds]`` (NaN dropped), ``se = sd_w / sqrt(n_kish)``, normal interval."""
    z = _z(ci_level)
    x, wd, undefined = _defined(x, w)
    method = "sd_w / sqrt(Kish n) (normal interval)"
    if not wd.sum() > 0:
        return _nan_estimate(ci_level, undefined, method)
    xf = np.where(np.isnan(x), 0.0, x)
    mean = float(wd @ xf)
    n = 1.0 / float(np.sum(wd * wd))
    se = math.sqrt(float(wd @ (xf - mean) ** 2) / n)
    return Estimate(mean, se, mean - z * se, mean + z * se, ci_level, n, undefined, method)


def loss_event(total_return) -> np.ndarray:
    """``total_return < 0`` as 0/1 floats, NaN where the return is NaN (the report's P(loss))."""
    r = np.asarray(total_return, np.float64)
    return np.where(np.isnan(r), np.nan, (r < 0).astype(np.float64))


def drawdown_event(max_drawdown, threshold: float) -> np.ndarray:
    """``max_drawdown > threshold`` (a positive depth) as 0/1 floats, NaN where undefined (P(drawdown > x))."""
    d = np.asarray(max_drawdown, np.float64)
    return np.where(np.isnan(d), np.nan, (d > threshold).astype(np.float64))


def _boot_interval(reps: np.ndarray, ci_level: float) -> tuple[float, float, float]:
    """(se, lo, hi) of bootstrap replicates: sd and inverted-CDF percentile interval, NaN replicates dropped."""
    reps = reps[~np.isnan(reps)]
    if reps.size < 2:
        return math.nan, math.nan, math.nan
    alpha = (1.0 - ci_level) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(np.std(reps, ddof=1)), float(lo), float(hi)


def _bootstrap_method(n_boot: int) -> str:
    return f"weighted bootstrap, {n_boot} replicates (percentile interval)"


def _check_boot(n_boot: int, ci_level: float) -> None:
    _z(ci_level)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ConfigError(f"n_boot must be an int >= 2, got {n_boot!r}")


# Jitted once per shape, level and replicate count (a lambda handed to `bootstrap` would be traced anew on
# every call); the point estimate rides along so that both compile together.
@functools.partial(jax.jit, static_argnames=("n_boot",))
def _quantile_boot(x: jax.Array, q: jax.Array, w: jax.Array, key: jax.Array, n_boot: int):
    reps = bootstrap(lambda xs, ws: weighted_quantile(xs, q, ws), [x], w, key=key, n_boot=n_boot)
    return weighted_quantile(x, q, w), reps


@functools.partial(jax.jit, static_argnames=("n_boot",))
def _tail_boot(r: jax.Array, w: jax.Array, alpha: jax.Array, key: jax.Array, n_boot: int):
    # quantile._tails_1d is tail_risk's body with the tail probability as an array, so one compiled program
    # serves every confidence level
    def stat(rs, ws):
        var, es = _tails_1d(rs, ws, alpha[None])
        return jnp.concatenate([var, es])

    return stat(r, w), bootstrap(stat, [r], w, key=key, n_boot=n_boot)


def weighted_quantile_estimate(x, q: float, w=None, *, key: jax.Array, n_boot: int = 200,
                               ci_level: float = 0.95) -> Estimate:
    """Inverted-CDF quantile ``Q(q)`` of ``x[worlds]`` (`quantile.weighted_quantile`), bootstrap interval."""
    _check_boot(n_boot, ci_level)
    x32 = jnp.asarray(x, jnp.float32)
    _, wd, undefined = _defined(x, w)
    wj = jnp.asarray(normalised(w, x32.shape[0]), jnp.float32)
    if not 0.0 <= q <= 1.0:
        raise ConfigError(f"q must be a probability in [0, 1], got {q!r}")
    value, reps = _quantile_boot(x32, jnp.asarray(q, jnp.float32), wj, key, n_boot)
    value = float(value)
    se, lo, hi = _boot_interval(np.asarray(reps, np.float64), ci_level)
    return Estimate(value, se, lo, hi, ci_level, 1.0 / float(np.sum(wd * wd)) if wd.sum() > 0 else 0.0,
                    undefined, _bootstrap_method(n_boot))


@dataclasses.dataclass(frozen=True)
class TailEstimate:
    """Weighted VaR and ES of returns at one confidence level (losses positive), with intervals."""

    confidence: float
    var: Estimate
    es: Estimate


def weighted_tail_risk(returns, confidence: float, w=None, *, key: jax.Array, n_boot: int = 200,
                       ci_level: float = 0.95) -> TailEstimate:
    """``VaR = -Q(1 - confidence)`` and ``ES = -E_w[r | r <= Q(1 - confidence)]`` across worlds
    (`quantile.tail_risk`'s definition: the report's), each with a weighted-bootstrap percentile interval.
    Both intervals come from the same replicates."""
    _check_boot(n_boot, ci_level)
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    r32 = jnp.asarray(returns, jnp.float32)
    _, wd, undefined = _defined(returns, w)
    wj = jnp.asarray(normalised(w, r32.shape[0]), jnp.float32)
    # 1 - 0.95 in float64, then rounded, as quantile.tail_risk does
    alpha = jnp.asarray(1.0 - float(confidence), jnp.float32)
    point, reps = _tail_boot(r32, wj, alpha, key, n_boot)
    var, es = np.asarray(point, np.float64)
    reps = np.asarray(reps, np.float64)
    ess = 1.0 / float(np.sum(wd * wd)) if wd.sum() > 0 else 0.0
    method = _bootstrap_method(n_boot)
    out = []
    for value, col in ((var, reps[:, 0]), (es, reps[:, 1])):
        se, lo, hi = _boot_interval(col, ci_level)
        out.append(Estimate(float(value), se, lo, hi, ci_level, ess, undefined, method))
    return TailEstimate(float(confidence), out[0], out[1])

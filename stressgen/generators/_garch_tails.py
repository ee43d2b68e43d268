"""Tails that stay plausible: the innovation law the GARCH sampler actually replays, and the moment
condition that keeps its variance recursion from exploding.

Why. The variance recursion is ``sigma2' = omega + A * sigma2`` with ``A = (alpha + gamma [e < 0]) e^2 + beta``.
Returns have a finite fourth moment only if ``E[A^2] < 1`` under the law of the innovations e that are
*sampled* (He and Terasvirta, 1999; Ling and McAleer, 2002), and the stationary tail index kappa of returns
solves ``E[A^(kappa/2)] = 1`` (Kesten). Maximum likelihood under a Student-t law says nothing about this
condition for the replayed residuals: on 20 large US stocks, near-integrated fits (alpha + gamma/2 + beta of
0.99-0.999) with residual kurtosis of 7-15 give ``E[A^2]`` of 1.02-1.16 (kappa 2.1-2.9) and a single
-84 sigma residual gives 1,043. Such worlds have a tail index near 2: a few in a thousand hold e-fold
daily moves that no history shows.

What is done, per asset, at fit time (each change is reported by a `GarchFitWarning`):

1. **Tails of the residual law: generalised Pareto, as in McNeil and Frey (2000).** The k largest residuals
   on each side (k = 5 % of the sample, at least 25) are exceedances over the threshold at rank k + 1; a
   GPD is fitted to them by maximum likelihood, and each tail order statistic is replaced by the fitted
   GPD's quantile at its plotting position ``(j - 1/2) / k``. The body (95 % of days, each side) and every
   residual's date, hence the cross-section FHS draws, are kept; a lone bad print no longer sets the tail.
   The GPD shape is capped at `XI_MAX` = 0.2 (a tail index of 5 for the innovations): at 1/4 the fourth
   moment of the innovations, and so of returns, is infinite whatever the dynamics, and a margin of one
   unit of tail index keeps ``E[e^4]`` moderate (9 for a t with 5 degrees of freedom). Copula margins obey
   the same rule: their degrees of freedom are raised to at least `NU_MIN` = 5.
2. **Persistence under the sampled law.** ``E[A] = alpha + gamma E[e^2 1(e<0)] + beta``, not
   ``alpha + gamma/2 + beta``: skewed residuals can push the replayed persistence above 1 when the t law's
   is below it. Above `max_persistence` the three coefficients are scaled down together, with omega set so
   that the unconditional variance is the sample variance.
3. **Finite fourth moment.** If ``E[A^2] > 1`` under the sampled law, the news coefficients alpha and gamma
   are shrunk by a common factor and beta raised so that ``E[A]`` (the persistence, hence how long a
   volatility shock lasts, and the unconditional variance) is unchanged, until ``E[A^2] = 1``: the smallest
   change to the fit's dynamics that gives returns a tail index of at least 4. If even no news at all
   leaves ``E[A^2] >= 1`` (persistence itself too close to 1) the coefficients are scaled down together.

Real daily stock returns have tail indices near 3-4 (Hill estimates of 3.0-4.5 on the bundled data),
so the guard brings the worlds to the edge of what history shows rather than far inside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats


__all__ = ["XI_MAX", "NU_MIN", "TailFit", "evt_tails", "SampledLaw", "fhs_law", "t_law", "moment_guard"]

XI_MAX = 0.2
NU_MIN = 5.0
TAIL_FRACTION = 0.05
MIN_EXCEEDANCES = 25


@dataclasses.dataclass(frozen=True)
class TailFit:
    """GPD fit of one tail of one asset's residuals: shape, scale, threshold (in |e|), exceedances, and the
    shape the data gave before the cap."""

    xi: float
    scale: float
    threshold: float
    k: int
    xi_fitted: float


def _tail(x: np.ndarray, k: int) -> tuple[np.ndarray, TailFit]:
    """GPD quantiles at the plotting positions of the k largest values of `x` (descending), and the fit."""
    order = np.argsort(x)[::-1]
    threshold = float(x[order[k]])
    excess = x[order[:k]] - threshold
    xi, _, scale = stats.genpareto.fit(excess, floc=0)
    fitted_xi = float(xi)
    if xi > XI_MAX:
        xi = XI_MAX
        scale = stats.genpareto.fit(excess, f0=XI_MAX, floc=0)[2]
    positions = (np.arange(1, k + 1) - 0.5) / k  # exceedance probabilities of ranks 1..k
    values = threshold + stats.genpareto.isf(positions, xi, scale=scale)
    out = x.copy()
    out[order[:k]] = values
    return out, TailFit(float(xi), float(scale), threshold, k, fitted_xi)


def evt_tails(e: np.ndarray) -> tuple[np.ndarray, TailFit, TailFit]:
    """One asset's residuals with both tails replaced by fitted GPD quantiles (see the module doc); returns
    (residuals, left tail fit, right tail fit). With fewer than 4 * `MIN_EXCEEDANCES` residuals there is no
    tail to fit: they are returned as they are, with fits of k = 0."""
    e = np.asarray(e, dtype=np.float64)
    k = int(min(max(np.ceil(TAIL_FRACTION * e.size), MIN_EXCEEDANCES), e.size // 4))
    if k < MIN_EXCEEDANCES:
        none = TailFit(0.0, 0.0, float("inf"), 0, 0.0)
        return e.copy(), none, none
    left, left_fit = _tail(-e, k)
    both, right_fit = _tail(-left, k)
    return both, left_fit, right_fit


@dataclasses.dataclass(frozen=True, eq=False)
class SampledLaw:
    """The innovation law the sampler draws: values ``e`` with probabilities ``w`` (equal for the replayed
    FHS residuals; a quadrature of the t margin for the copulas), unit variance."""

    e: np.ndarray
    w: np.ndarray

    def moment(self, alpha: float, gamma: float, beta: float, p: float) -> float:
        """``E[A^p]`` with ``A = (alpha + gamma [e < 0]) e^2 + beta``."""
        return float(np.dot(self.w, ((alpha + gamma * (self.e < 0)) * self.e * self.e + beta) ** p))

    def persistence(self, alpha: float, gamma: float, beta: float) -> float:
        """``E[A]``."""
        return self.moment(alpha, gamma, beta, 1.0)

    def news(self, alpha: float, gamma: float) -> float:
        """``E[A] - beta``: the part of the persistence that comes from shocks."""
        return float(alpha + gamma * np.dot(self.w, self.e * self.e * (self.e < 0)))


def fhs_law(e: np.ndarray) -> SampledLaw:
    """The empirical law of replayed (restandardized) residuals: each day equally likely."""
    e = np.asarray(e, dtype=np.float64)
    return SampledLaw(e, np.full(e.size, 1.0 / e.size))


def t_law(nu: float) -> SampledLaw:
    """A unit-variance Student-t law, as the copula sampler draws it: the t quantile of a normal score z,
    integrated over z in [-9, 9] by the trapezoid rule (the tails to 1e-19, far past any float32 draw)."""
    z = np.linspace(-9.0, 9.0, 36_001)
    w = stats.norm.pdf(z) * (z[1] - z[0])
    w[[0, -1]] /= 2
    e = np.sign(z) * stats.t.isf(stats.norm.sf(np.abs(z)), nu)  # isf of the small side: no rounding to 1
    w /= w.sum()
    return SampledLaw(e / np.sqrt(np.dot(w, e * e)), w)


def moment_guard(params: np.ndarray, law: SampledLaw, *, sample_var: float, max_persistence: float,
                 tail_index: float, loglik: Callable[[np.ndarray], float]) -> tuple[np.ndarray, str | None]:
    """Steps 2 and 3 of the module doc on one asset's ``PARAM_NAMES`` vector (percent units).

    `loglik` is the model's log-likelihood of the asset's returns at a parameter vector. Returns the
    parameters and a short note of what changed (None when nothing did); the caller reports the notes of
    all assets in one warning.
    """
    mu, omega, alpha, gamma, beta, nu = np.array(params, dtype=np.float64)
    p = tail_index / 2.0
    notes = []
    persistence = law.persistence(alpha, gamma, beta)
    if persistence > max_persistence:
        c = max_persistence / persistence
        alpha, gamma, beta = c * alpha, c * gamma, c * beta
        omega = sample_var * (1.0 - max_persistence)
        notes.append(f"persistence {persistence:.5f} under the replayed innovations scaled to {max_persistence}")
    moment = law.moment(alpha, gamma, beta, p)
    if moment <= 1.0 + 1e-9:  # on the boundary already (a guarded fit, up to the root finder's tolerance)
        return np.array([mu, omega, alpha, gamma, beta, nu]), ("; ".join(notes) or None)
    news = law.news(alpha, gamma)

    def on_boundary(c: float) -> np.ndarray | None:
        """Persistence scaled by c, then the news share shrunk by s until E[A^p] = 1 (None: impossible)."""
        def excess(s: float) -> float:
            return law.moment(c * s * alpha, c * s * gamma, c * (beta + (1.0 - s) * news), p) - 1.0

        if excess(0.0) > 0.0:
            return None
        s = 1.0 if excess(1.0) <= 0.0 else optimize.brentq(excess, 0.0, 1.0, xtol=1e-10)
        a, g, b = c * s * alpha, c * s * gamma, c * (beta + (1.0 - s) * news)
        return np.array([mu, sample_var * (1.0 - law.persistence(a, g, b)), a, g, b, nu])

    def cost(c: float) -> float:
        candidate = on_boundary(c)
        return 1e300 if candidate is None else -loglik(candidate)

    # c = moment^(-1/p) with s = 1 scales all three coefficients and lands on the boundary; c = 1 shrinks only
    # the news. The likelihood chooses between the two ends: the most likely fit with a finite p-th moment.
    c_all = moment ** (-1.0 / p)
    best = optimize.minimize_scalar(cost, bounds=(c_all, 1.0), method="bounded", options={"xatol": 1e-5})
    c = float(best.x) if best.fun < cost(c_all) else c_all
    fixed = on_boundary(c)
    _, _, a, g, b, _ = fixed
    notes.append(f"E[A^{p:g}] {moment:.4f} -> 1: persistence {law.persistence(alpha, gamma, beta):.4f} -> "
                 f"{law.persistence(a, g, b):.4f}, alpha + gamma {alpha + gamma:.4f} -> {a + g:.4f}")
    return fixed, "; ".join(notes)

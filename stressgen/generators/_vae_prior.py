"""The VAE's variance prior: a multi-component GJR-GARCH with variance targeting, fitted before the network trains.

Why. The decoder's log-scale is a prior plus the network's learned correction. The first design's prior was
half the log of the 21-day EWMA state: a unit root in variance (RiskMetrics), with no level to return to.
Early stopping ends a fit within a few hundred steps, before the network learns a pull of its own; on the
sp500-index from end-2018 (a calm decade's fit, a stormy quarter at its end), the default VAE's worlds kept the
quarter's volatility all year and its 99.9% one-year return was 355%, three times history's best.

The prior's variance before day t is, in standardized units (returns over their fit-sample standard deviation,
so the fit sample's mean square is 1), a convex combination of a constant and the EWMA states:

    s2_t = w + sum_k [a_k v_{k,t} + d_k u_{k,t}],     w + sum_k (a_k + d_k) = 1,  all weights >= 0,
    v_{k,t} = lam_k v_{k,t-1} + (1 - lam_k) x_{t-1}^2,
    u_{k,t} = lam_k u_{k,t-1} + (1 - lam_k) 2 x_{t-1}^2 1{x_{t-1} < 0},

one all-day state `v` and one down-day state `u` (doubled, so both have the mean of x^2 under symmetric
innovations) per configured half-life (decay `lam_k`). With one half-life this is GJR-GARCH(1, 1) with its
unconditional variance targeted at 1 (alpha = a (1 - lam), gamma = 2 d (1 - lam), beta = lam); with several
it is a component GARCH (Engle and Lee 1999): a fast component for the days after a shock and slow ones for
the level of the year. Why several. Fitted on sp500-20's training days, one-year paths of the prior alone
(t(5.3) innovations) have an ACF of |r| at lag 1 of 0.057 with the best single half-life per asset (history:
0.109 within a year) and a leverage corr(r_t, |r_t+1|) of -0.013 (history -0.040); with the combination of
half-lives 1, 5, 21, 63 and 250, 0.098 and -0.036. The quasi-likelihood of the held-out last 15% of days
rises by 0.029 nats a day on sp500-20 and 0.010 on sp500-index, and falls by 0.0013 on wti (kept out of the
choice; docs/fidelity.md).

The level, the persistence and the cap below take the innovations to be symmetric, so that a down day's
doubled square has the mean of a square; the sampler's Student-t innovations are. History's are not quite
(``2 E[z^2 1{z < 0}]`` of the raw returns is 1.04 on sp500-index and 1.06 on wti), which the fit absorbs into
its weights.

The persistence, the slowest rate at which a variance shock decays, is the largest root mu of
``sum_k (a_k + d_k)(1 - lam_k) / (mu - lam_k) = 1`` (the deviations' recursion; one half-life: ``1 - w (1 -
lam)``). It is capped as GARCH's (`GarchConfig.max_persistence`, 0.999: a variance shock's half-life of at most
about 700 days). The root lies below the cap exactly when ``sum_k (a_k + d_k)(1 - lam_k) / (cap - lam_k) <= 1``
(the left side falls in mu above the largest decay), a linear constraint; a half-life whose decay is at least
the cap cannot carry weight. The weights maximise the Gaussian quasi-likelihood over the training days
(consistent for the variance whatever the innovations' law, Bollerslev and Wooldridge 1992) under these
constraints, by SLSQP (scipy): a smooth objective over a polytope, 0.1 s for 20 assets. `w = 1` (a constant
variance) is feasible, so data without clustering keep none.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize

from ._vae_nn import vol_states

__all__ = ["VaeFitWarning", "fit_variance_prior", "prior_persistence"]

_BINDS = 1e-7  # the cap's constraint binds when its slack is below this
_TINY = 1e-9  # a state's weight below this is 0


class VaeFitWarning(UserWarning):
    """A VAE fit met a bound: an asset's variance prior wants more persistence than the cap allows, or its fit
    did not converge."""


def fit_variance_prior(x: np.ndarray, decays: np.ndarray, *, max_persistence: float,
                       assets: tuple[str, ...]) -> np.ndarray:
    """``weights [1 + 2H, A]`` of the prior variance ``w + sum_s c_s v_s`` from the training days ``x [T, A]``
    (standardized), over the `vol_states` (H states of all days, then H of down days; `decays` ``[H]``): row 0
    is the constant's `w`, rows ``1 + s`` and ``1 + H + s`` the all-day and down-day states of half-life s.
    Each column is non-negative and sums to 1. Warns (`VaeFitWarning`, naming the assets) where the persistence
    cap binds and where the optimiser stopped short of convergence (its last iterate, made feasible, is kept)."""
    x = np.asarray(x, np.float64)
    lam = np.tile(np.asarray(decays, np.float64), 2)
    v = vol_states(x, np.asarray(decays, np.float64))[:-1]  # [T, 2H, A]: the states before each training day
    usable = lam < max_persistence
    if not usable.any():
        raise ValueError(f"max_persistence = {max_persistence} is at most every state's decay")  # VaeConfig checks
    # the cap as a linear constraint on the states' weights (module doc); unusable states are held at 0
    cap_coef = np.where(usable, (1.0 - lam) / np.where(usable, max_persistence - lam, 1.0), 0.0)
    # w >= _TINY: the variance stays positive at every iterate, even one that breaks the cap by a tolerance
    bounds = [(_TINY, 1.0)] + [(0.0, 1.0 if u else 0.0) for u in usable]
    start = np.concatenate([[0.5], 0.5 * usable / usable.sum()])
    start = _feasible(start, cap_coef)
    weights = np.empty((1 + lam.size, x.shape[1]))
    capped, unconverged = [], []
    for a in range(x.shape[1]):
        design = np.concatenate([np.ones((v.shape[0], 1)), v[:, :, a]], axis=1)  # s2 = design @ weights
        sq = x[:, a] ** 2

        def loss(p, design=design, sq=sq):
            s2 = design @ p
            return np.mean(np.log(s2) + sq / s2), design.T @ ((1.0 / s2 - sq / s2 ** 2) / s2.size)

        res = minimize(loss, start, jac=True, method="SLSQP", bounds=bounds, options={"maxiter": 500, "ftol": 1e-12},
                       constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones_like(p)},
                                    {"type": "ineq", "fun": lambda p: 1.0 - cap_coef @ p[1:],
                                     "jac": lambda p: np.concatenate([[0.0], -cap_coef])}])
        weights[:, a] = _feasible(res.x, cap_coef)
        if not np.isfinite(res.x).all():
            unconverged.append(f"{assets[a]} ({res.message}; the iterate was not finite: its prior is a constant)")
        elif not res.success:
            unconverged.append(f"{assets[a]} ({res.message})")
        if 1.0 - cap_coef @ weights[1:, a] < _BINDS:
            capped.append(assets[a])
    if capped:
        warnings.warn(f"the VAE's variance prior for {', '.join(capped)} wants a persistence above "
                      f"max_persistence = {max_persistence:g}, the cap it was fitted at; their worlds' volatility "
                      "returns to its level faster than their history's did", VaeFitWarning, stacklevel=3)
    if unconverged:
        warnings.warn(f"the VAE's variance prior did not converge for {', '.join(unconverged)}; their prior is the "
                      "optimiser's last iterate, within the constraints", VaeFitWarning, stacklevel=3)
    return weights


def _feasible(p: np.ndarray, cap_coef: np.ndarray) -> np.ndarray:
    """`p` moved onto the constraints, which SLSQP meets only to a tolerance: the states' weights non-negative,
    0 below `_TINY` (a speck of weight on a slow state would otherwise set the persistence alone) and on states
    the cap rules out, scaled down to meet the cap if they break it, and the constant taking the rest."""
    c = np.where((cap_coef > 0) & (p[1:] > _TINY), p[1:], 0.0)
    load = cap_coef @ c
    if load > 1.0:  # a hair inside the cap, so that rounding cannot leave the product above 1
        c = c * ((1.0 - 1e-12) / load)  # cap_coef > 1 where usable, so now sum(c) < 1
    return np.concatenate([[1.0 - c.sum()], c])


def prior_persistence(weights: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``[A]`` the prior's persistence: the largest root mu of ``sum_s c_s (1 - lam_s) / (mu - lam_s) = 1`` over
    the states that carry weight (module doc), by bisection. One half-life: ``1 - w (1 - lam)``. No weight on
    any state (a constant variance): 0. Any weight on a state puts the root above its decay, however small the
    weight: a speck on a slow state sets the figure, which is why the fit zeroes weights below `_TINY`."""
    c = np.asarray(weights, np.float64)[1:]
    lam = np.tile(np.asarray(decays, np.float64), 2)[:, None]
    out = np.zeros(c.shape[1])
    for a in range(c.shape[1]):
        on = c[:, a] > 0
        if not on.any():
            continue
        # the root lies above the largest decay in use and at most that plus sum c (1 - lam), where every term
        # of the sum is at most its share of 1 (below 1 when w > 0)
        lo = float(lam[on, 0].max())
        hi = lo + float(np.sum(c[on, a] * (1.0 - lam[on, 0])))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid == lo or mid == hi:
                break
            lo, hi = (mid, hi) if np.sum(c[on, a] * (1.0 - lam[on, 0]) / (mid - lam[on, 0])) > 1.0 else (lo, mid)
        out[a] = hi
    return out

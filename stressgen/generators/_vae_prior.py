"""The VAE's variance prior: a GJR-GARCH(1, 1) with variance targeting, fitted before the network trains.

Why. The decoder's log-scale is a prior plus the network's learned correction. The first design's prior was
half the log of the 21-day EWMA state: a unit root in variance (RiskMetrics), with no level to return to.
Early stopping ends a fit within a few hundred steps, before the network learns a pull of its own; on the
sp500-index from end-2018 (a calm decade's fit, a stormy quarter at its end), the default VAE's worlds kept the
quarter's volatility all year and its 99.9% one-year return was 355%, three times history's best.

The prior's variance before day t is, in standardized units (returns over their fit-sample standard deviation,
so the fit sample's mean square is 1):

    s2_t = w + (1 - w) [(1 - g) v_t + g d_t],
    v_t = lam v_{t-1} + (1 - lam) x_{t-1}^2,     d_t = lam d_{t-1} + (1 - lam) 2 x_{t-1}^2 1{x_{t-1} < 0},

`v` and `d` the EWMA states of all days and of down days (doubled, so both have the mean of x^2 under
symmetric innovations) at one of the configured half-lives (decay `lam`). Substituting gives GJR-GARCH(1, 1)
with its unconditional variance targeted at 1:

    s2_{t+1} = w (1 - lam) + lam s2_t + (alpha + gamma 1{x_t < 0}) x_t^2,
    alpha = (1 - w)(1 - lam)(1 - g),     gamma = 2 (1 - w)(1 - lam) g,     beta = lam,

persistence ``alpha + gamma / 2 + beta = 1 - w (1 - lam)`` below 1. Each asset's half-life, `w` and `g` are
chosen on a grid by Gaussian quasi-maximum likelihood over the training days (consistent for the variance
whatever the innovations' law, Bollerslev and Wooldridge 1992), with the persistence capped as GARCH's
(`GarchConfig.max_persistence`, 0.999: a variance shock's half-life of at most about 700 days). `w = 1` (a
constant variance) is on the grid, so data without clustering keep none. Pure NumPy, run once per fit (about
2 s for 20 assets and 4 half-lives on two cores: it grows with assets x half-lives x 1,111 grid points).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._vae_nn import vol_states

__all__ = ["VaeFitWarning", "fit_variance_prior", "prior_persistence", "W_STEPS", "G_GRID"]

W_STEPS = 100  # grid steps of w from its lowest value (the persistence cap) to 1
# the down days' share g of the state: 0 is symmetric GARCH; 1 puts all the weight on down days, as a GJR-GARCH
# whose alpha is 0 (the down-day states double the down days' squares, so both states have the same mean)
G_GRID = np.linspace(0.0, 1.0, 11)


class VaeFitWarning(UserWarning):
    """A VAE fit met a bound: an asset's variance prior wants more persistence than the cap allows."""


def fit_variance_prior(x: np.ndarray, decays: np.ndarray, *, max_persistence: float,
                       assets: tuple[str, ...]) -> np.ndarray:
    """``weights [1 + 2H, A]`` of the prior variance ``w + sum_s c_s v_s`` from the training days ``x [T, A]``
    (standardized), over the `vol_states` (H states of all days, then H of down days; `decays` ``[H]``): row 0
    is the constant's `w`; each asset's chosen half-life s carries ``(1 - w)(1 - g)`` on its all-day state
    (row ``1 + s``) and ``(1 - w) g`` on its down-day state (row ``1 + H + s``); 0 elsewhere. Warns
    (`VaeFitWarning`, naming the assets) where the persistence cap binds."""
    x = np.asarray(x, np.float64)
    lam = np.asarray(decays, np.float64)
    n_h = lam.size
    v = vol_states(x, lam)[:-1]  # [T, 2H, A]: the states before each training day
    sq = x * x
    weights = np.zeros((1 + 2 * n_h, x.shape[1]))
    capped = []
    for a in range(x.shape[1]):
        best = (-np.inf, 0, 1.0, 0.0, False)
        for s in range(n_h):
            w_min = min(1.0, (1.0 - max_persistence) / (1.0 - lam[s]))
            w = np.linspace(w_min, 1.0, W_STEPS + 1)[:, None]  # ends at exactly 1: 1 - w is never below 0
            for g in G_GRID:
                state = (1.0 - g) * v[:, s, a] + g * v[:, n_h + s, a]
                s2 = w + (1.0 - w) * state[None]
                ll = -0.5 * np.mean(np.log(s2) + sq[None, :, a] / s2, axis=1)
                k = int(np.argmax(ll))  # the first of equal values: the lowest w, g and half-life
                if ll[k] > best[0]:
                    best = (ll[k], s, float(w[k, 0]), float(g), k == 0 and w_min < 1.0)
        _, s, w, g, at_cap = best
        weights[0, a], weights[1 + s, a], weights[1 + n_h + s, a] = w, (1.0 - w) * (1.0 - g), (1.0 - w) * g
        if at_cap:
            capped.append(assets[a])
    if capped:
        warnings.warn(f"the VAE's variance prior for {', '.join(capped)} wants a persistence above "
                      f"max_persistence = {max_persistence:g}, the cap it was fitted at; their worlds' volatility "
                      "returns to its level faster than their history's did", VaeFitWarning, stacklevel=3)
    return weights


def prior_persistence(weights: np.ndarray, decays: np.ndarray) -> np.ndarray:
    """``[A]`` the prior's GARCH persistence ``1 - w (1 - lam)`` per asset (w: row 0; lam: the decay of the
    half-life whose two states carry the rest). With w = 1 the variance is constant and this is 1 - (1 - lam)."""
    w = np.asarray(weights, np.float64)
    lam = np.asarray(decays, np.float64)
    n_h = lam.size
    state_w = w[1:1 + n_h] + w[1 + n_h:1 + 2 * n_h]
    return 1.0 - w[0] * (1.0 - lam[np.argmax(state_w, axis=0)])

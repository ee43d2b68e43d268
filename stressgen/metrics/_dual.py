"""The dual of entropy pooling, solved: projected Newton with L-BFGS-B behind it (see `pooling`).

``D(theta) = log sum_i p0_i exp(theta . c_i)`` over the worlds with prior weight, ``theta_j <= 0`` on the
inequality rows; gradient ``E_p[c]``, Hessian ``Cov_p(c)`` for the tilted ``p``. Rows come in scaled to unit
root-mean-square under the prior, so one tolerance fits them all. Host-side NumPy float64.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["solve_dual", "tilt"]


def tilt(theta: np.ndarray, logp0: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray]:
    """``(D(theta), p)``: the dual and the tilted probabilities, by a shifted log-sum-exp."""
    z = logp0 + theta @ c
    top = z.max()
    e = np.exp(z - top)
    s = e.sum()
    return float(top + np.log(s)), e / s


def _violation(theta: np.ndarray, g: np.ndarray, eq: np.ndarray) -> np.ndarray:
    """Scaled KKT residual per row: equalities and active inequalities need ``g = 0``, inactive ``g <= 0``."""
    return np.where(eq | (theta < 0), np.abs(g), np.maximum(g, 0.0))


def _direction(theta, g, p, c, eq, tol: float) -> tuple[str, np.ndarray]:
    """The next move of `_newton`: ``("newton", step)``, ``("slope", step)``, ``("unbounded", _)`` or
    ``("none", _)``.

    The free rows are the equalities, the active inequalities (``theta_j < 0``) and the inactive ones whose
    gradient points into the feasible side (``g_j > 0``); the others stay at their bound ``theta_j = 0``.
    Rows that are dependent on the support (a ranking beside mean views of its two quantities) leave
    directions along which D is linear: there a Newton step sees no minimum, so the move is down that slope
    ("slope"); a free row at its bound that the slope would push past it is fixed at 0 and the rest retried.
    """
    free = eq | (theta < 0) | (g > 0)
    step = np.zeros_like(theta)
    while free.any():
        centred = c[free] - g[free, None]
        vals, vecs = np.linalg.eigh((centred * p) @ centred.T)
        null = vals <= 1e-10 * max(vals.max(), 1e-300)
        g_null = vecs[:, null] @ (vecs[:, null].T @ g[free])
        if np.abs(g_null).max(initial=0.0) <= 0.1 * tol:
            keep = ~null  # a pseudo-inverse Newton step on the free rows
            step[free] = -vecs[:, keep] @ ((vecs[:, keep].T @ g[free]) / vals[keep])
            return "newton", step
        step[:] = 0.0
        step[free] = -g_null
        blocked = ~eq & (theta == 0) & (step > 0)
        if blocked.any():
            free &= ~blocked
            continue
        return ("slope" if (~eq & (step > 0)).any() else "unbounded"), step
    return "none", step


def _newton(theta, c, eq, ub, logp0, tol: float, max_steps: int):
    """Projected Newton with Armijo backtracking from `theta`: (theta, p, g, steps, stalled).

    `stalled` is True when the line search found no decrease (then `_solve` hands over to L-BFGS-B).
    """
    d, p = tilt(theta, logp0, c)
    g = c @ p
    steps = 0
    polish = True
    while steps < max_steps:
        if not (np.isfinite(theta).all() and np.isfinite(g).all()):
            break  # a diverging dual (views that cannot hold): the caller's residual check reports it
        worst = _violation(theta, g, eq).max()
        within = worst <= tol
        if within and not polish:
            break
        # Once within tol, one more step: Newton squares the error (1e-10 -> ~1e-16) for one Hessian
        polish = polish and not within
        steps += 1
        kind, step = _direction(theta, g, p, c, eq, tol)
        if kind in ("none", "unbounded"):
            break  # nothing to polish, or D falls without bound (views that cannot hold: diagnosed later)
        if kind == "slope":  # D is linear along `step`: go to the first multiplier that reaches 0, exactly
            moving = ~eq & (step > 0)
            limits = -theta[moving] / step[moving]
            theta = np.minimum(theta + limits.min() * step, ub)
            theta[np.flatnonzero(moving)[np.argmin(limits)]] = 0.0
            d, p = tilt(theta, logp0, c)
            g = c @ p
            continue
        t = 1.0
        while True:  # backtracking on the projected move
            trial = np.minimum(theta + t * step, ub)
            d_new, p_new = tilt(trial, logp0, c)
            slope = g @ (trial - theta)
            if d_new <= d + 1e-4 * slope:
                break
            # Near the optimum D changes by less than its rounding (slope below ~1e-13 |D|): judge the step
            # by the residuals instead, which Newton still shrinks quadratically
            if abs(slope) < 1e-13 * max(1.0, abs(d)) and _violation(trial, c @ p_new, eq).max() < worst:
                break
            t *= 0.5
            if t < 1e-10:  # no decrease left: rounding if already within tol, else a stall
                return theta, p, g, steps, not within
        theta, d, p = trial, d_new, p_new
        g = c @ p
    return theta, p, g, steps, False


def solve_dual(c: np.ndarray, eq: np.ndarray, logp0: np.ndarray, tol: float, max_newton: int):
    """theta minimising D on ``theta_j <= 0`` (inequality rows): (theta, p, (L-BFGS-B its, Newton steps), residual).

    Newton from ``theta = 0`` first (quadratic convergence, a handful of steps). Only if its line search
    stalls, L-BFGS-B (globally convergent under the bounds) takes over from there and Newton polishes its
    answer; ``Posterior.iterations`` shows whether that happened.
    """
    k = c.shape[0]
    ub = np.where(eq, np.inf, 0.0)
    theta, p, g, steps, stalled = _newton(np.zeros(k), c, eq, ub, logp0, tol, max_newton)
    lbfgs = 0
    if stalled:
        def fun(th):
            d, q = tilt(th, logp0, c)
            return d, c @ q

        res = optimize.minimize(fun, theta, jac=True, method="L-BFGS-B", bounds=list(zip([-np.inf] * k, ub)),
                                options={"maxiter": 1000, "gtol": 1e-12, "ftol": 1e-15})
        lbfgs = int(res.nit)
        theta, p, g, more, _ = _newton(np.minimum(res.x, ub), c, eq, ub, logp0, tol, max_newton)
        steps += more
    return theta, p, (lbfgs, steps), _violation(theta, g, eq)

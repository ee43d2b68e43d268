"""Entropy pooling: the probabilities over worlds closest to the prior (in relative entropy) that meet views.

Problem (Meucci 2008, "Fully Flexible Views"), over the worlds with prior weight ``p0_i > 0``::

    minimise  KL(p || p0) = sum_i p_i log(p_i / p0_i)
    s.t.      sum p = 1,  p >= 0,  E_p[c_j] = 0 (equality rows),  E_p[c_j] <= 0 (inequality rows)

with the centred rows ``c_j[worlds]`` of `stressgen.metrics.views`. Its solution is an exponential tilt of
the prior, ``p_i = p0_i exp(theta . c_i) / Z(theta)``, where ``theta`` minimises the smooth convex dual

    D(theta) = log sum_i p0_i exp(theta . c_i),   theta_j <= 0 on inequality rows,

whose gradient is ``E_p[c]`` (the view residuals) and Hessian ``Cov_p(c)``. At the optimum ``KL = -D``.
`_dual.solve_dual` solves it in float64 by projected Newton steps from ``theta = 0`` with a backtracking
line search until every scaled residual is below ``tol`` (quadratic convergence; the rows are scaled to unit
root-mean-square under the prior so that one tolerance fits probabilities, means and variances alike). If
the line search stalls, L-BFGS-B (scipy) continues from there and Newton polishes its answer. The Lagrange
multipliers of the primal are ``-theta`` in the rows' own units.

Nothing is repaired silently. Before the solve: each view alone is checked (`views.check_view`), and rows
that are linearly dependent on the support (the same constraint twice, or two that contradict) are refused
naming the views. After it: if a residual is above ``tol``, a linear programme (scipy HiGHS) decides whether
the views can hold together at all (`InfeasibleViewsError`, naming a conflicting pair where one exists) or
the solver failed (`PoolingSolveError` with each view's residual).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import optimize

from ..errors import ConfigError
from .views import (InfeasibleViewsError, PoolingSolveError, ProbabilityView, RankingView, Row, View, ViewError,
                    VolatilityView, check_view, view_rows)
from ._dual import solve_dual
from .weighted import EffectiveSize, effective_size, normalised

__all__ = ["PoolConfig", "ViewFit", "Posterior", "entropy_pool"]


@dataclasses.dataclass(frozen=True)
class PoolConfig:
    """Solver settings.

    Attributes:
        tol: largest accepted residual of a row scaled to unit RMS under the prior (for a probability view,
            about the residual in probability units times ``1 / sqrt(q (1 - q))``).
        max_newton: Newton iterations after L-BFGS-B before giving up (`PoolingSolveError`).
        rank_tol: smallest eigenvalue of the rows' prior correlation matrix treated as independent.
    """

    tol: float = 1e-10
    max_newton: int = 100
    rank_tol: float = 1e-10

    def __post_init__(self) -> None:
        if not 0 < self.tol < 1e-2:
            raise ConfigError(f"PoolConfig.tol must be in (0, 0.01), got {self.tol!r}")
        if not (isinstance(self.max_newton, int) and self.max_newton >= 1):
            raise ConfigError(f"PoolConfig.max_newton must be an int >= 1, got {self.max_newton!r}")


@dataclasses.dataclass(frozen=True)
class ViewFit:
    """How one view holds at the posterior.

    Attributes:
        label: the view, e.g. ``"P(ew_return <= -0.3) == 0.05"``.
        prior: its quantity under the prior (probability, mean, sd; for a ranking the smallest gap
            ``E[q_k] - E[q_k+1]``).
        posterior: the same under the posterior.
        residual: how far the posterior misses the view, in the quantity's units (0 when it holds; for an
            inequality only a violation counts).
        binding: whether the view moved the posterior (a non-zero multiplier on one of its rows).
        multipliers: the Lagrange multipliers of its rows (``>= 0`` on inequalities; see `Posterior`). A
            row that repeats an earlier view's (the same view twice, or the mean row of a volatility view
            that a `MeanView` already states) is kept once, under the earlier view; a row that every
            probability vector meets is dropped. Such a view shows fewer multipliers, or none.
    """

    label: str
    prior: float
    posterior: float
    residual: float
    binding: bool
    multipliers: tuple[float, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Posterior:
    """Result of `entropy_pool`.

    Attributes:
        probabilities: ``[worlds]`` float64 posterior, summing to 1 (0 where the prior is 0 or a view excludes).
        prior: ``[worlds]`` the prior, normalised.
        relative_entropy: ``KL(posterior || prior)`` in nats.
        effective: effective number of scenarios of the posterior (`weighted.EffectiveSize`: Kish and
            exp-entropy); `prior_effective` the same for the prior.
        fits: one `ViewFit` per view, in the order given.
        multipliers: ``[rows]`` Lagrange multipliers of the linear rows (``p ∝ p0 exp(-sum_j m_j c_j)``).
        row_views: ``[rows]`` index of the view each row belongs to.
        excluded_worlds: worlds set to 0 by probability-0/1 views (exact conditioning).
        iterations: ``(L-BFGS-B iterations, Newton steps)``; L-BFGS-B runs only when Newton's line search
            stalls, so 0 there is the usual case.
        max_scaled_residual: the largest scaled row residual at the solution (below ``PoolConfig.tol``).
    """

    probabilities: np.ndarray
    prior: np.ndarray
    relative_entropy: float
    effective: EffectiveSize
    prior_effective: EffectiveSize
    fits: tuple[ViewFit, ...]
    multipliers: np.ndarray
    row_views: np.ndarray
    excluded_worlds: int
    iterations: tuple[int, int]
    max_scaled_residual: float


def _quantities(views: Sequence[View], quantities: Mapping[str, object], n: int) -> dict[str, np.ndarray]:
    out = {}
    for v in views:
        for name in (v.quantities if isinstance(v, RankingView) else (v.quantity,)):
            if name in out:
                continue
            if name not in quantities:
                raise ViewError(v.label, f"unknown quantity {name!r}; given: {', '.join(sorted(quantities))}")
            x = np.asarray(quantities[name], np.float64)
            if x.shape != (n,):
                raise ViewError(v.label, f"quantity {name!r} must hold one value per world, shape ({n},); "
                                         f"got {x.shape}")
            if not np.isfinite(x).all():
                raise ViewError(v.label, f"quantity {name!r} has {int((~np.isfinite(x)).sum())} NaN/inf "
                                         f"world(s); drop them (prior weight 0) or fill them first")
            out[name] = x
    return out


def _exclusions(views: Sequence[View], q: Mapping[str, np.ndarray], support: np.ndarray) -> np.ndarray:
    """The support after exact conditioning by probability-0/1 views (see `views.ProbabilityView`)."""
    for v in views:
        if not isinstance(v, ProbabilityView):
            continue
        inside = v.indicator(q[v.quantity])
        if v.probability == 0 and v.relation in ("==", "<="):
            support = support & ~inside
        elif v.probability == 1 and v.relation in ("==", ">="):
            support = support & inside
        else:
            continue
        if not support.any():
            raise InfeasibleViewsError(v.label, "no world with prior weight is left once the probability-0/1 "
                                                "views condition on their events")
    return support


def _is_exact(v: View) -> bool:
    return isinstance(v, ProbabilityView) and ((v.probability == 0 and v.relation in ("==", "<="))
                                               or (v.probability == 1 and v.relation in ("==", ">=")))


def _check_rank(rows: list[Row], c: np.ndarray, p0: np.ndarray, labels: list[str], rank_tol: float) -> None:
    """Refuse linearly dependent equality rows: their prior correlation matrix must be non-singular.

    Only equalities: inequalities may overlap (``E[x] >= 0`` beside ``E[x] <= 1``) and the Newton step
    solves its system by least squares for the ones active at once.
    """
    eq = [j for j, r in enumerate(rows) if r.kind == "eq"]
    if len(eq) < 1:
        return
    rows, c = [rows[j] for j in eq], c[eq]
    centred = c - (c @ p0)[:, None]
    cov = (centred * p0) @ centred.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    vals, vecs = np.linalg.eigh(corr)
    if vals[0] > rank_tol:
        return
    involved = sorted({rows[j].view for j in np.flatnonzero(np.abs(vecs[:, 0]) > 1e-6)})
    raise ViewError(tuple(labels[j] for j in involved),
                    "these views constrain linearly dependent combinations of the worlds (one repeats the "
                    "other, or they contradict each other); keep one")


def _fixed_by_equalities(rows: list[Row], c: np.ndarray, eq: np.ndarray, p0: np.ndarray, scale: np.ndarray,
                         labels: list[str], tol: float) -> np.ndarray:
    """Mask of the inequality rows that the equalities decide: left out of the solve, or refused.

    An inequality row that is an affine function of the equality rows on the support (``E[x] >= 0`` beside
    a volatility view holding ``E[x] = 0.02``) takes the same value under every p that meets the
    equalities: it holds (the row is dropped, multiplier 0) or it cannot (`InfeasibleViewsError`). Kept in
    the solve, it would be collinear with them and leave the dual flat along their combination.
    """
    fixed = np.zeros(len(rows), bool)
    if not eq.any():
        return fixed
    basis = np.vstack([np.ones(c.shape[1]), c[eq]])
    root = np.sqrt(p0)
    for j in np.flatnonzero(~eq):
        coef = np.linalg.lstsq((basis * root).T, c[j] * root, rcond=None)[0]
        if np.sqrt(p0 @ (c[j] - coef @ basis) ** 2) > 1e-9:  # rows have unit RMS: not determined
            continue
        if coef[0] > tol:  # E_p[c_j] = coef[0] for every p meeting the equalities
            deciders = [rows[k].view for k, b in zip(np.flatnonzero(eq), coef[1:]) if abs(b) > 1e-9]
            names = tuple(dict.fromkeys([labels[rows[j].view]] + [labels[v] for v in deciders]))
            raise InfeasibleViewsError(names, f"the equality view(s) decide the first one, and it misses its "
                                              f"bound by {coef[0] * scale[j]:g}")
        fixed[j] = True
    return fixed


def _lp_feasible(c: np.ndarray, eq: np.ndarray) -> bool:
    """Whether some p >= 0, sum p = 1, meets the rows (equalities exactly, inequalities <= 0)."""
    a_eq = np.vstack([np.ones(c.shape[1]), c[eq]])
    b_eq = np.concatenate([[1.0], np.zeros(int(eq.sum()))])
    res = optimize.linprog(np.zeros(c.shape[1]), A_ub=c[~eq] if (~eq).any() else None,
                           b_ub=np.zeros(int((~eq).sum())) if (~eq).any() else None,
                           A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    return res.status == 0


def _diagnose(rows, c, eq, labels, residual, tol) -> None:
    """After a failed solve: infeasible together (naming a conflicting pair) or a solver failure."""
    if not _lp_feasible(c, eq):
        views = sorted({r.view for r in rows})
        for a, b in itertools.combinations(views, 2):
            keep = np.array([r.view in (a, b) for r in rows])
            if not _lp_feasible(c[keep], eq[keep]):
                raise InfeasibleViewsError((labels[a], labels[b]), "these views cannot hold together on "
                                                                   "these worlds")
        raise InfeasibleViewsError(tuple(labels[j] for j in views), "no probabilities over these worlds meet "
                                                                     "all of these views together")
    worst = ", ".join(f"{labels[r.view]}: {abs(g):.3g}" for r, g in zip(rows, residual))
    raise PoolingSolveError(tuple(labels[j] for j in sorted({r.view for r in rows})),
                            f"the dual solver stopped with scaled residuals above tol={tol:g} ({worst}); the "
                            f"views hold only at the edge of what these worlds allow (some worlds at weight 0)")


def _measure(v: View, q: Mapping[str, np.ndarray], p: np.ndarray) -> float:
    """The view's quantity under probabilities `p`: a probability, a mean, an sd or the smallest ranking gap."""
    if isinstance(v, ProbabilityView):
        return float(p @ v.indicator(q[v.quantity]))
    if isinstance(v, RankingView):
        means = [float(p @ q[name]) for name in v.quantities]
        return min(a - b for a, b in zip(means, means[1:]))
    x = q[v.quantity]
    mean = float(p @ x)
    if isinstance(v, VolatilityView):
        return float(np.sqrt(max(p @ (x - mean) ** 2, 0.0)))
    return mean


def _target_residual(v: View, value: float) -> float:
    if isinstance(v, RankingView):
        return abs(value) if v.relation == "==" else max(-value, 0.0)
    if isinstance(v, ProbabilityView):
        target = v.probability
    else:
        target = v.std if isinstance(v, VolatilityView) else v.target
    if v.relation == "==":
        return abs(value - target)
    return max(value - target, 0.0) if v.relation == "<=" else max(target - value, 0.0)


def entropy_pool(prior, views: Sequence[View], quantities: Mapping[str, object], *,
                 config: PoolConfig = PoolConfig()) -> Posterior:
    """The minimum-relative-entropy reweighting of the worlds that meets `views` (module docstring).

    Args:
        prior: ``[worlds]`` non-negative prior weights (e.g. ``Scenarios.weights``; need not sum to 1), or
            None for uniform worlds (then the size comes from `quantities`).
        views: `ProbabilityView`, `MeanView`, `VolatilityView`, `RankingView` instances.
        quantities: name -> ``[worlds]`` per-world values that the views name (finite).
        config: solver tolerances.

    Raises:
        ViewError: a view names an unknown or non-finite quantity, or views are linearly dependent.
        InfeasibleViewsError: a view alone, or the views together, cannot hold on these worlds.
        PoolingSolveError: the solver did not reach ``config.tol`` (the residuals are in the message).
    """
    views = tuple(views)
    if not views:
        raise ConfigError("entropy_pool needs at least one view")
    # uniform prior: the number of worlds is the length of the quantities (each is checked against it below)
    n = next((np.atleast_1d(np.asarray(quantities[name])).shape[0] for name in quantities), None) \
        if prior is None else None
    p0 = normalised(prior, n)
    q = _quantities(views, quantities, p0.size)
    support = _exclusions(views, q, p0 > 0)
    excluded = int(((p0 > 0) & ~support).sum())
    p0s = np.where(support, p0, 0.0)
    p0s = p0s / p0s.sum()
    keep = tuple(v for v in views if not _is_exact(v))
    for v in keep:
        check_view(v, views, q, p0s, support)
    labels = [v.label for v in views]
    index = [j for j, v in enumerate(views) if not _is_exact(v)]  # not views.index: equal views are allowed
    rows = [dataclasses.replace(r, view=index[r.view]) for r in view_rows(keep, q, p0s)]
    # A row that every p on the support meets (identically 0, or an inequality no world violates) constrains
    # nothing; kept, it would make the rows' covariance singular.
    rows = [r for r in rows if not (r.c[support] == 0).all() and not (r.kind == "le" and r.c[support].max() <= 0)]
    post = p0s.copy()
    theta = np.zeros(len(rows))
    scale = np.ones(len(rows))
    its, worst = (0, 0), 0.0
    if rows:
        c = np.stack([r.c[support] for r in rows])
        eq = np.array([r.kind == "eq" for r in rows])
        ps = p0s[support]
        scale = np.sqrt(np.maximum((c * c) @ ps, np.finfo(float).tiny))
        c /= scale[:, None]
        _check_rank(rows, c, ps, labels, config.rank_tol)
        solve = ~_fixed_by_equalities(rows, c, eq, ps, scale, labels, config.tol)
        theta = np.zeros(len(rows))
        theta[solve], p_s, its, residual = solve_dual(c[solve], eq[solve], np.log(ps), config.tol, config.max_newton)
        if not residual.max() <= config.tol:  # written so that a NaN residual fails too
            _diagnose([r for r, kept in zip(rows, solve) if kept], c[solve], eq[solve], labels, residual,
                      config.tol)
        worst = float(residual.max())
        post = np.zeros_like(p0)
        post[support] = p_s
    multipliers = -theta / scale + 0.0  # + 0.0: no -0.0 for a slack inequality
    row_views = np.array([r.view for r in rows], dtype=np.int64)
    fits = []
    for j, v in enumerate(views):
        value = _measure(v, q, post)
        mine = tuple(float(m) for m in multipliers[row_views == j])
        fits.append(ViewFit(v.label, _measure(v, q, p0), value, _target_residual(v, value),
                            _is_exact(v) or any(m != 0 for m in mine), mine))
    pos = post > 0
    kl = float(np.sum(post[pos] * np.log(post[pos] / p0[pos])))
    return Posterior(post, p0, kl, effective_size(post), effective_size(p0), tuple(fits), multipliers, row_views,
                     excluded, its, worst)

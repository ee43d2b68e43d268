"""Host-side estimation for the GARCH generator: arch fits, parameter guards, filtering, copulas.

Everything here is NumPy/SciPy/arch in float64 and runs once per fit; nothing enters jitted code.
Units: arch is fitted on returns in percent (``100 * r``) because its optimiser is tuned for that scale,
so every parameter here is in percent units (``mu`` in %, ``omega`` and variances in %^2), as arch
reports them.
"""

from __future__ import annotations

import warnings

import numpy as np
from arch import arch_model
from arch.utility.exceptions import ConvergenceWarning
from scipy import optimize, special, stats

from ..errors import ConfigError

__all__ = ["PARAM_NAMES", "NU_FLOOR", "GarchFitWarning", "arch_fit", "guard", "guard_mean", "loglik", "arch_filter",
           "restandardize", "pseudo_observations", "nearest_correlation", "gaussian_copula", "t_copula",
           "t_copula_loglik"]

PARAM_NAMES = ("mu", "omega", "alpha", "gamma", "beta", "nu")
_ARCH_NAMES = ("mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu")
# Degrees of freedom that a nu <= 2 (infinite variance) is clamped to: arch's own lower bound for nu.
NU_FLOOR = 2.05
# How far below a bound (omega, alpha, beta >= 0, alpha + gamma >= 0) a fitted value may sit and still be read
# as the bound itself: SLSQP's constraint tolerance, a thousand times over (seen: down to -4e-10)
BOUND_TOLERANCE = 1e-7
# Profile-likelihood range of the t copula's degrees of freedom: below 2.5 the copula is barely
# distinguishable from extreme tail dependence; above 50 it is practically the Gaussian copula.
COPULA_NU_RANGE = (2.5, 50.0)


class GarchFitWarning(UserWarning):
    """A GARCH fit was unreliable or its parameters were changed by a guard; the message says what."""


def _model(y100: np.ndarray, mean: str = "Constant"):
    # rescale=False: we chose the percent scale on purpose; the spec asks for exactly this model.
    return arch_model(y100, mean=mean, vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False)


def arch_fit(y100: np.ndarray, asset: str, *, mean: float | None = None) -> np.ndarray:
    """GJR-GARCH(1,1)-t with constant mean by arch's maximum likelihood; returns ``PARAM_NAMES`` values.

    With `mean` given, the mean is held there: the variance parameters are arch's maximum likelihood of the
    zero-mean model of ``y100 - mean`` (`GarchConfig.drift = "sample"` passes the sample mean).

    Silent (disp="off"). arch's own warnings are caught (arch also switches its ConvergenceWarning filter
    to "always" globally, which catch_warnings undoes): a failed optimisation becomes one warning naming
    the asset, arch's other warnings are re-issued naming the asset, anything else passes through as is.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = (_model(y100) if mean is None else _model(y100 - mean, "Zero")).fit(disp="off")
    if res.convergence_flag != 0:
        message = " ".join(str(res.optimization_result.message).split())
        warnings.warn(f"GARCH fit of asset {asset!r} did not converge (optimizer code "
                      f"{res.convergence_flag}: {message}); its estimates are used as they are, after the "
                      "persistence and nu guards", GarchFitWarning, stacklevel=3)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            continue  # reported above, from the optimizer's own flag
        if w.category.__module__.startswith("arch."):
            warnings.warn(f"GARCH fit of asset {asset!r}: {w.category.__name__}: {w.message}",
                          GarchFitWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if mean is None:
        return np.asarray(res.params[list(_ARCH_NAMES)], dtype=np.float64)
    return np.concatenate([[mean], np.asarray(res.params[list(_ARCH_NAMES[1:])], dtype=np.float64)])


def guard(params: np.ndarray, *, asset: str, sample_var: float, max_persistence: float) -> np.ndarray:
    """Make one asset's parameters usable for simulation, warning about every change.

    * persistence ``alpha + gamma/2 + beta > max_persistence`` (in particular >= 1: no finite unconditional
      variance, so an unconditional start and long horizons explode): alpha, gamma and beta are scaled by
      one common factor so the persistence equals `max_persistence`, and omega is set so that the
      unconditional variance equals the sample variance of the asset's returns.
    * ``nu <= 2`` (infinite variance; arch bounds nu at 2.05, a loaded model or a plugin might not):
      clamped to `NU_FLOOR`. ``2 < nu <= 4`` (infinite kurtosis) is a legitimate heavy-tailed fit and is
      left alone: sample kurtosis is then meaningless, but variance and quantiles are fine.
    """
    p = np.array(params, dtype=np.float64)
    # arch's SLSQP meets its bounds only to its tolerance: on returns without volatility clustering or
    # asymmetry (i.i.d. Gaussian ones, say) alpha + gamma lands at -1e-13 .. -4e-10 in 4 fits of 20. Such a
    # value is the boundary, not a different model: it is set there (the worlds change by float rounding
    # only, so nothing is reported); a larger violation is not the optimiser's and is refused below.
    if np.all(np.isfinite(p)):
        p[1:3] = np.where((p[1:3] < 0) & (p[1:3] >= -BOUND_TOLERANCE), 0.0, p[1:3])  # omega, alpha
        p[4] = 0.0 if -BOUND_TOLERANCE <= p[4] < 0 else p[4]  # beta
        if -BOUND_TOLERANCE <= p[2] + p[3] < 0:
            p[3] = -p[2]
    mu, omega, alpha, gamma, beta, nu = p
    if not np.all(np.isfinite(p)) or omega < 0 or alpha < 0 or beta < 0 or alpha + gamma < 0:
        raise ConfigError(f"asset {asset!r}: GARCH parameters must be finite with omega, alpha, beta >= 0 "
                          f"and alpha + gamma >= 0, got {dict(zip(PARAM_NAMES, p.round(6)))}")
    persistence = alpha + gamma / 2 + beta
    if persistence > max_persistence:
        factor = max_persistence / persistence
        p[2:5] *= factor
        p[1] = sample_var * (1.0 - max_persistence)
        warnings.warn(
            f"GARCH fit of asset {asset!r} has persistence alpha + gamma/2 + beta = {persistence:.6f} "
            f"(alpha={alpha:.4g}, gamma={gamma:.4g}, beta={beta:.4g}) above max_persistence "
            f"{max_persistence}; scaled alpha, gamma, beta by {factor:.6f} to persistence {max_persistence} "
            f"and set omega = {p[1]:.4g} so the unconditional variance equals the sample variance "
            f"{sample_var:.4g} (%^2)", GarchFitWarning, stacklevel=4)
    if nu <= 2.0:
        p[5] = NU_FLOOR
        warnings.warn(f"GARCH fit of asset {asset!r} has nu = {nu:.4g} <= 2 (infinite variance); clamped "
                      f"nu to {NU_FLOOR}", GarchFitWarning, stacklevel=4)
    return p


def guard_mean(params: np.ndarray, y100: np.ndarray, *, asset: str, max_se: float = 5.0) -> np.ndarray:
    """Replace a fitted mean more than `max_se` standard errors from the sample mean by the sample mean.

    The t likelihood's location legitimately differs from the sample mean by a standard error or two (it
    down-weights outliers), never by more: a larger gap means the optimiser failed, which happens on stale
    prices (long runs of zero returns make the likelihood degenerate). Left alone, such a mean is a drift
    of percents a day in every world.
    """
    p = np.array(params, dtype=np.float64)
    mean, se = float(np.mean(y100)), float(np.std(y100, ddof=1) / np.sqrt(y100.size))
    if abs(p[0] - mean) > max_se * se:
        warnings.warn(f"GARCH fit of asset {asset!r} has mean {p[0]:.4g}% a period, {abs(p[0] - mean) / se:.0f} "
                      f"standard errors from the sample mean {mean:.4g}%: the fit failed there; the sample mean "
                      "is used", GarchFitWarning, stacklevel=4)
        p[0] = mean
    return p


def loglik(y100: np.ndarray, params: np.ndarray) -> float:
    """arch's log-likelihood of the model at fixed `params` (the same backcast and bounds as its fit)."""
    return float(_model(y100).fix(np.asarray(params, dtype=np.float64)).loglikelihood)


def arch_filter(y100: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, float]:
    """arch's conditional-variance filter at fixed `params`: (standardized residuals [time], sigma2_next).

    `arch_model.fix` uses the same backcast and variance bounds as arch's fit, so for fitted parameters
    the residuals are exactly arch's. ``sigma2_next`` is the variance of the first simulated day, by the
    GJR recursion from the last residual and the last conditional variance.
    """
    res = _model(y100).fix(np.asarray(params, dtype=np.float64))
    eps = np.asarray(res.resid, dtype=np.float64)
    sigma2 = np.asarray(res.conditional_volatility, dtype=np.float64) ** 2
    _, omega, alpha, gamma, beta, _ = params
    e = eps[-1]
    sigma2_next = omega + (alpha + gamma * (e < 0)) * e * e + beta * sigma2[-1]
    return eps / np.sqrt(sigma2), float(sigma2_next)


def restandardize(e: np.ndarray) -> np.ndarray:
    """Columns rescaled to sample mean 0, variance 1.

    Why: the recursion assumes E[e] = 0 and E[e^2] = 1, but fitted residuals only approximately have them
    (the t likelihood does not force the sample variance to 1, and the mean is estimated). FHS replays
    these rows, so an uncorrected variance of, say, 1.03 would inflate every simulated variance by 3% and
    shift the unconditional level; a nonzero mean would add drift.
    """
    e = np.asarray(e, dtype=np.float64)
    return (e - e.mean(axis=0)) / e.std(axis=0)


def pseudo_observations(e: np.ndarray) -> np.ndarray:
    """Ranks / (n + 1) per column: the PIT with the empirical margin.

    Ranks rather than the fitted t CDF keep the copula estimate consistent when the t margin is wrong
    (e.g. skewed residuals), the usual semiparametric (canonical ML) choice.
    """
    e = np.asarray(e, dtype=np.float64)
    return stats.rankdata(e, axis=0) / (e.shape[0] + 1.0)


def nearest_correlation(r: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Symmetric, positive definite, unit diagonal: eigenvalues clipped at `floor`, then rescaled."""
    r = (np.asarray(r, dtype=np.float64) + np.asarray(r, dtype=np.float64).T) / 2
    w, v = np.linalg.eigh(r)
    r = (v * np.maximum(w, floor)) @ v.T
    d = np.sqrt(np.diag(r))
    return r / np.outer(d, d)


def gaussian_copula(e: np.ndarray) -> np.ndarray:
    """Correlation of the normal scores ``Phi^{-1}(u)`` of the residuals' pseudo-observations."""
    z = special.ndtri(pseudo_observations(e))
    return nearest_correlation(np.corrcoef(z, rowvar=False).reshape(z.shape[1], z.shape[1]))


def _kendall_correlation(u: np.ndarray) -> np.ndarray:
    """``sin(pi/2 * tau)`` of Kendall's tau: the correlation of any elliptical copula, t included.

    The normal-score correlation is biased for a t copula; the tau relation is exact and robust.
    """
    d = u.shape[1]
    r = np.eye(d)
    for i in range(d):
        for j in range(i):
            r[i, j] = r[j, i] = np.sin(np.pi / 2 * stats.kendalltau(u[:, i], u[:, j]).statistic)
    return nearest_correlation(r)


def t_copula_loglik(u: np.ndarray, corr: np.ndarray, nu: float) -> float:
    """Log-likelihood of the t copula with correlation `corr` and `nu` degrees of freedom at `u` [n, d]."""
    n, d = u.shape
    x = special.stdtrit(nu, u)
    chol = np.linalg.cholesky(corr)
    q = np.sum(np.linalg.solve(chol, x.T) ** 2, axis=0)  # x' R^-1 x per row
    logdet = 2 * np.sum(np.log(np.diag(chol)))
    joint = (n * (special.gammaln((nu + d) / 2) - special.gammaln(nu / 2) - d / 2 * np.log(nu * np.pi)
                  - logdet / 2) - (nu + d) / 2 * np.sum(np.log1p(q / nu)))
    return float(joint - np.sum(stats.t.logpdf(x, nu)))


def t_copula(e: np.ndarray, n_grid: int = 24) -> tuple[np.ndarray, float]:
    """t-copula (correlation, degrees of freedom) of the residuals.

    The correlation comes from Kendall's tau; nu maximises the profile likelihood, first over a log grid
    on `COPULA_NU_RANGE`, then by a bounded scalar search between the grid neighbours of the best point.
    With one asset the copula is trivial and nu is not identified; the upper end of the range is returned
    (any value gives the same single-asset margins).
    """
    u = pseudo_observations(e)
    if u.shape[1] == 1:
        return np.eye(1), COPULA_NU_RANGE[1]
    corr = _kendall_correlation(u)
    grid = np.geomspace(*COPULA_NU_RANGE, n_grid)
    ll = np.array([t_copula_loglik(u, corr, nu) for nu in grid])
    k = int(np.argmax(ll))
    lo, hi = np.log(grid[max(k - 1, 0)]), np.log(grid[min(k + 1, n_grid - 1)])
    best = optimize.minimize_scalar(lambda a: -t_copula_loglik(u, corr, float(np.exp(a))), bounds=(lo, hi),
                                    method="bounded", options={"xatol": 1e-3})
    nu = float(np.exp(best.x)) if -best.fun >= ll[k] else float(grid[k])
    return corr, nu

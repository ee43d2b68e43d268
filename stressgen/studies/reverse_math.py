"""The arithmetic of reverse stress testing (`stressgen.studies.reverse`), as pure NumPy functions of arrays.

Shapes: worlds' log returns ``r`` are ``[worlds, horizon, assets]``; weights ``w`` are ``[worlds]``
probabilities (any non-negative numbers; each function normalises over the worlds it is given).

* `gaussian_loglik`: the generic plausibility score of a world, ``sum_t log N(r_t; mu, Sigma)`` with the
  history's mean and covariance (for families without an explicit noise model).
* `weighted_percentile`: where a score sits among all sampled worlds, ``100 * sum_j w_j [s_j <= s]``.
* `mean_path`: ``E_w[cumsum_t r | selected]``, ``[horizon, assets]``.
* `vol_path`: each world's daily realised volatility, the root mean square of its assets' log returns that day,
  annualised (``sqrt(mean_i r_ti^2 * periods_per_year)``), ``[worlds, horizon]``.
* `mean_pairwise_corr`: each world's average off-diagonal correlation of its assets' daily log returns over the
  horizon, ``[worlds]`` (NaN with fewer than 3 days or 2 assets, or an asset that does not move).
* `contributions`: per-asset P&L contributions from the engine's executed weights (docs/reverse.md): on unit
  starting capital, day t adds ``E_{t-1} w_{t,i} R_{t,i}`` for asset i, ``E_{t-1} (1 - sum w_t - c_t) rf`` for
  cash and ``-E_{t-1} c_t`` for costs; since ``E_t - E_{t-1} = E_{t-1} pnl_t`` the three sum over the horizon
  to ``E_T - 1``, the world's total simple return (compounding is attributed to the day's starting equity).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_loglik", "weighted_percentile", "mean_path", "vol_path", "mean_pairwise_corr",
           "contributions", "weighted_mean"]


def gaussian_loglik(r: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``[worlds]`` log-likelihood of each world's daily returns, i.i.d. ``N(mean, cov)`` per day (float64).

    A singular `cov` (an asset that never moved, or more assets than days) is regularised by adding
    ``1e-12 * trace / assets`` to its diagonal."""
    r = np.asarray(r, np.float64)
    mean = np.asarray(mean, np.float64)
    cov = np.asarray(cov, np.float64)
    n_assets = cov.shape[0]
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = np.linalg.cholesky(cov + np.eye(n_assets) * 1e-12 * np.trace(cov) / n_assets)
    d = (r - mean).reshape(-1, n_assets)
    z = np.linalg.solve(chol, d.T).T.reshape(r.shape)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    per_day = -0.5 * ((z * z).sum(-1) + n_assets * np.log(2.0 * np.pi) + logdet)
    return per_day.sum(-1)


def weighted_percentile(scores: np.ndarray, w: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``100 * sum_j w_j [scores_j <= at_k]`` for each value of `at` (w normalised over all worlds; NaN scores
    count as below nothing: they carry no weight here)."""
    s = np.asarray(scores, np.float64)
    w = np.asarray(w, np.float64)
    ok = ~np.isnan(s)
    s, w = s[ok], w[ok] / w[ok].sum()
    order = np.argsort(s, kind="stable")
    cdf = np.cumsum(w[order])
    pos = np.searchsorted(s[order], np.asarray(at, np.float64), side="right")
    return 100.0 * np.where(pos > 0, cdf[np.maximum(pos - 1, 0)], 0.0)


def weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_j w_j x_j / sum_j w_j`` along the first axis, NaN entries left out (float64)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
    ok = ~np.isnan(x)
    total = np.where(ok, w, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, w * x, 0.0).sum(0) / total


def mean_path(r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``[horizon, assets]`` weighted mean of the worlds' cumulative log returns per asset."""
    return weighted_mean(np.cumsum(np.asarray(r, np.float64), axis=1), w)


def vol_path(r: np.ndarray, periods_per_year: int) -> np.ndarray:
    """``[worlds, horizon]`` annualised root mean square of each day's log returns across assets."""
    r = np.asarray(r, np.float64)
    return np.sqrt((r * r).mean(-1) * periods_per_year)


def mean_pairwise_corr(r: np.ndarray) -> np.ndarray:
    """``[worlds]`` average off-diagonal entry of each world's correlation matrix over its horizon."""
    r = np.asarray(r, np.float64)
    n_worlds, horizon, n_assets = r.shape
    if horizon < 3 or n_assets < 2:
        return np.full(n_worlds, np.nan)
    d = r - r.mean(1, keepdims=True)
    cov = np.einsum("wta,wtb->wab", d, d)
    sd = np.sqrt(np.einsum("waa->wa", cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (sd[:, :, None] * sd[:, None, :])
    off = ~np.eye(n_assets, dtype=bool)
    return corr[:, off].mean(-1)


def contributions(executed: np.ndarray, costs: np.ndarray, equity: np.ndarray, r: np.ndarray,
                  rf_per_period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-asset, cash and cost contributions to each world's total simple return (module docstring).

    Args:
        executed: ``[worlds, horizon, assets]`` weights held over each day (executed at the previous close).
        costs: ``[worlds, horizon]`` cost paid at that close, as a fraction of equity.
        equity: ``[worlds, horizon]`` equity at each close after the start (the start is 1).
        r: ``[worlds, horizon, assets]`` log returns.
        rf_per_period: the cash rate per day.
    Returns:
        ``([worlds, assets], [worlds], [worlds])`` float64.
    """
    w = np.asarray(executed, np.float64)
    c = np.asarray(costs, np.float64)
    eq = np.asarray(equity, np.float64)
    start = np.concatenate([np.ones((eq.shape[0], 1)), eq[:, :-1]], axis=1)  # E_{t-1}
    big_r = np.expm1(np.asarray(r, np.float64))
    per_asset = np.einsum("wt,wta->wa", start, w * big_r)
    cash = (start * (1.0 - w.sum(-1) - c) * rf_per_period).sum(-1)
    cost = -(start * c).sum(-1)
    return per_asset, cash, cost

"""Stylized facts of return series (Cont, 2001), as plain NumPy functions over the last axis = time.

These summarise real against synthetic returns in the demo and the scenario-fidelity scorecard. Inputs are
log returns shaped ``[..., time]`` (one series per leading index) unless a function says otherwise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["annualised_volatility", "excess_kurtosis", "acf", "mean_pairwise_correlation", "equal_weight_equity",
           "market_quantities"]


def annualised_volatility(r: np.ndarray, periods_per_year: int = 252) -> np.ndarray:
    """Sample standard deviation (ddof=1) over time, times sqrt(periods per year)."""
    return np.std(r, axis=-1, ddof=1) * np.sqrt(periods_per_year)


def excess_kurtosis(r: np.ndarray) -> np.ndarray:
    """Moment estimator m4 / m2^2 - 3 (biased, as scipy.stats.kurtosis with fisher=True, bias=True)."""
    d = r - r.mean(axis=-1, keepdims=True)
    m2 = np.mean(d**2, axis=-1)
    return np.mean(d**4, axis=-1) / m2**2 - 3.0


def acf(x: np.ndarray, lags: np.ndarray | list[int]) -> np.ndarray:
    """Sample autocorrelation at `lags`, shape ``[..., len(lags)]``.

    The standard estimator: autocovariances divided by n (not n - k) and by the lag-0 variance, with the
    series' own mean removed, so that the result matches statsmodels' `acf(adjusted=False)`.
    """
    d = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    var = np.sum(d * d, axis=-1)
    out = [np.sum(d[..., k:] * d[..., : n - k], axis=-1) / var for k in lags]
    return np.stack(out, axis=-1)


def mean_pairwise_correlation(r: np.ndarray) -> float:
    """Average off-diagonal Pearson correlation of ``r[time, assets]`` (nan for a single asset)."""
    if r.shape[1] < 2:
        return float("nan")
    c = np.corrcoef(r, rowvar=False)
    return float(c[~np.eye(c.shape[0], dtype=bool)].mean())


def equal_weight_equity(log_returns: np.ndarray) -> np.ndarray:
    """Equity from 1.0 of a daily-rebalanced equal-weight portfolio, ``[..., time, assets] -> [..., time + 1]``.

    Each period the portfolio earns the mean simple return of the assets.
    """
    daily = np.expm1(np.asarray(log_returns, np.float64)).mean(axis=-1)
    equity = np.cumprod(1.0 + daily, axis=-1)
    return np.concatenate([np.ones(equity.shape[:-1] + (1,)), equity], axis=-1)


def market_quantities(r: np.ndarray, assets: tuple[str, ...], periods_per_year: int) -> dict[str, np.ndarray]:
    """Per-world quantities of ``r [worlds, horizon, assets]`` log returns: ``ew_return`` (total simple return
    of the daily rebalanced equal-weight portfolio), ``ew_volatility`` (its annualised daily sd, ddof 1),
    ``max_abs_log_return`` (the world's largest daily |log return| of any asset: the plausibility gate's
    measure), ``return:<asset>`` (total simple return) and ``volatility:<asset>`` (annualised sd of daily log
    returns)."""
    r = np.asarray(r, np.float64)
    ew = np.expm1(r).mean(axis=2)
    scale = np.sqrt(periods_per_year)
    out = {"ew_return": np.expm1(np.log1p(ew).sum(axis=1)), "ew_volatility": ew.std(axis=1, ddof=1) * scale,
           "max_abs_log_return": np.abs(r).max(axis=(1, 2))}
    total, vol = np.expm1(r.sum(axis=1)), r.std(axis=1, ddof=1) * scale
    for j, a in enumerate(assets):
        out[f"return:{a}"], out[f"volatility:{a}"] = total[:, j], vol[:, j]
    return out

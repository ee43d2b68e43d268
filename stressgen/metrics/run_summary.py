"""The stress report's real-against-synthetic summary, streamed over chunks of worlds (optax style).

``state = init(n_assets, horizon)``, ``state = update(state, chunk)`` per chunk of worlds
``[worlds, time, assets]``, ``finalize(state, real, ...)`` -> `FidelitySummary`. Memory is a few
``[assets, assets]`` sums, whatever the number of worlds. A chunk computed elsewhere (another process or
machine) is summarised alone by `partial` and folded in with `merge`, in chunk order: the sums then do not
depend on where each chunk ran.

What it holds:

* moments per asset (annualised mean and volatility, skewness, excess kurtosis) pooled over every
  synthetic day of every world, against the whole real history;
* the mean ACF of |r| at lags 1..20 within worlds (the first `ACF_WORLDS`), against the mean ACF within real
  windows of the horizon's length (one a month): the sample ACF of a short series is biased towards 0, so
  both sides are measured on series of the same length;
* the correlation matrices of both.

Sums are float64: a float32 sum of squares over millions of days loses the digits the kurtosis needs.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import pandas as pd

from .diversity import Diversity
from .stylized import acf

__all__ = ["FidelitySummary", "SummaryState", "ACF_WORLDS", "ACF_LAGS", "init", "update", "partial", "merge",
           "finalize", "real_moments"]

ACF_WORLDS = 2_000  # the synthetic ACF of |r| is averaged over the first worlds (its error is ~1/sqrt(n T))
ACF_LAGS = 20
_BLOCK_ROWS = 1 << 16  # rows (days x worlds) per float64 block of `update`


@dataclasses.dataclass(frozen=True)
class FidelitySummary:
    """Real against synthetic, as the report's fidelity section shows it.

    Attributes:
        moments: index asset; columns ``mean_real``, ``mean_syn``, ``vol_real``, ``vol_syn`` (annualised),
            ``skew_real``, ``skew_syn``, ``kurt_real``, ``kurt_syn`` (excess).
        acf_abs: index lag; columns ``real`` and ``synthetic``: the mean ACF of |r|.
        corr_real, corr_syn: ``[assets, assets]`` correlation matrices.
        scorecard: the in-sample fidelity scorecard (`stressgen.metrics.fidelity.quick_scorecard`'s table),
            or None when none was computed.
        failures: the scorecard thresholds these worlds fail, one line each.
        diversity: spread of the worlds against real windows of the same length (None for a history shorter
            than two horizons).
        skipped: scorecard metrics left out (NaN) because they need longer worlds, one line each.
    """

    moments: pd.DataFrame
    acf_abs: pd.DataFrame
    corr_real: np.ndarray
    corr_syn: np.ndarray
    scorecard: pd.DataFrame | None = None
    failures: tuple[str, ...] = ()
    diversity: Diversity | None = None
    skipped: tuple[str, ...] = ()


class SummaryState(NamedTuple):
    n: int                 # synthetic days seen (all worlds)
    powers: np.ndarray     # [4, assets] sums of r, r^2, r^3, r^4
    cross: np.ndarray      # [assets, assets] sum of r r'
    acf_sum: np.ndarray    # [lags] sum over the first ACF_WORLDS worlds of their mean ACF of |r| across assets
    acf_n: int             # worlds in acf_sum
    lags: np.ndarray       # [lags] 1..min(ACF_LAGS, horizon - 1)


def init(n_assets: int, horizon: int) -> SummaryState:
    lags = np.arange(1, min(ACF_LAGS, horizon - 1) + 1)
    return SummaryState(0, np.zeros((4, n_assets)), np.zeros((n_assets, n_assets)), np.zeros(len(lags)), 0, lags)


def update(state: SummaryState, worlds: np.ndarray) -> SummaryState:
    """Add a chunk ``[worlds, time, assets]`` of log returns."""
    flat = worlds.reshape(-1, worlds.shape[-1])
    powers, cross = state.powers.copy(), state.cross.copy()
    # in blocks of rows: float64 copies of a whole chunk (and their powers) would cost several times its size
    for start in range(0, flat.shape[0], _BLOCK_ROWS):
        x = flat[start:start + _BLOCK_ROWS].astype(np.float64)
        # products, not x ** k: NumPy's float power for k = 3, 4 calls pow() per element (about 10x slower)
        x2 = x * x
        powers += np.stack([x.sum(axis=0), x2.sum(axis=0), (x2 * x).sum(axis=0), (x2 * x2).sum(axis=0)])
        cross += x.T @ x
    acf_sum, acf_n = state.acf_sum, state.acf_n
    if acf_n < ACF_WORLDS and len(state.lags):
        take = worlds[:ACF_WORLDS - acf_n]
        acf_sum = acf_sum + np.nansum(np.nanmean(acf(np.abs(np.moveaxis(take, 1, 2)), state.lags), axis=1), axis=0)
        acf_n += take.shape[0]
    return state._replace(n=state.n + flat.shape[0], powers=powers, cross=cross, acf_sum=acf_sum, acf_n=acf_n)


def partial(worlds: np.ndarray, first_world: int, horizon: int) -> SummaryState:
    """The sums of one chunk alone, whose first world is `first_world` (the ACF reads only worlds below
    `ACF_WORLDS`, so it needs the chunk's place); fold chunks together with `merge`."""
    skip = min(int(first_world), ACF_WORLDS)  # worlds before the chunk count towards the ACF's cap
    state = update(init(worlds.shape[-1], horizon)._replace(acf_n=skip), worlds)
    return state._replace(acf_n=state.acf_n - skip)


def merge(a: SummaryState, b: SummaryState) -> SummaryState:
    """The sums of `a`'s worlds and then `b`'s (their chunks in world order: float sums depend on order)."""
    if a.powers.shape != b.powers.shape or not np.array_equal(a.lags, b.lags):
        raise ValueError(f"cannot merge summaries of {a.powers.shape[1]} and {b.powers.shape[1]} assets "
                         f"with {a.lags.size} and {b.lags.size} ACF lags")
    return SummaryState(a.n + b.n, a.powers + b.powers, a.cross + b.cross, a.acf_sum + b.acf_sum,
                        a.acf_n + b.acf_n, a.lags)


def _stats(state: SummaryState) -> tuple[np.ndarray, ...]:
    """(mean, sd with ddof=1, skewness, excess kurtosis, correlation) from the power sums."""
    m1, m2, m3, m4 = (s / state.n for s in state.powers)
    var = m2 - m1**2
    skew = (m3 - 3 * m1 * m2 + 2 * m1**3) / var**1.5
    kurt = (m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4) / var**2 - 3.0
    cov = state.cross / state.n - np.outer(m1, m1)
    sd = np.sqrt(np.diag(cov))
    return m1, np.sqrt(var * state.n / max(state.n - 1, 1)), skew, kurt, cov / np.outer(sd, sd)


def real_moments(real: np.ndarray) -> tuple[np.ndarray, ...]:
    """`_stats` of a real history ``[time, assets]``, by the same sums as the worlds'."""
    return _stats(update(init(real.shape[1], 1), real[None]))  # horizon 1: no lags, no ACF work


def finalize(state: SummaryState, real: np.ndarray, *, assets: tuple[str, ...], horizon: int,
             periods_per_year: int) -> FidelitySummary:
    """Moments, ACF of |r| and correlations of the worlds seen, against the real history ``[time, assets]``."""
    mr, sr, kr, xr, corr_real = real_moments(real)
    ms, ss, ks, xs, corr_syn = _stats(state)
    ppy = periods_per_year
    table = pd.DataFrame({
        "mean_real": mr * ppy, "mean_syn": ms * ppy, "vol_real": sr * np.sqrt(ppy), "vol_syn": ss * np.sqrt(ppy),
        "skew_real": kr, "skew_syn": ks, "kurt_real": xr, "kurt_syn": xs,
    }, index=pd.Index(list(assets), name="asset"))
    lags = state.lags
    acf_real = np.full(len(lags), np.nan)
    if real.shape[0] >= horizon and len(lags):
        windows = np.lib.stride_tricks.sliding_window_view(real, horizon, axis=0)[::21]  # [n, assets, horizon]
        acf_real = np.nanmean(acf(np.abs(windows), lags), axis=(0, 1))
    acf_abs = pd.DataFrame({"real": acf_real, "synthetic": state.acf_sum / max(state.acf_n, 1)},
                           index=pd.Index(lags, name="lag"))
    return FidelitySummary(moments=table, acf_abs=acf_abs, corr_real=corr_real, corr_syn=corr_syn)

"""Overfitting statistics: how much of a backtest's Sharpe ratio survives the search that found it.

Host-side NumPy float64 statistics over small arrays (one return series, a parameter grid's metric table);
nothing here is jitted, because the inputs are tiny and the combinatorics (CSCV) is not shape-static.

* **PSR**, probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012, "The Sharpe ratio efficient frontier",
  eq. for ``PSR(SR*)``)::

      PSR(SR*) = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2) )

* **DSR**, deflated Sharpe ratio (Bailey & Lopez de Prado 2014, "The deflated Sharpe ratio"): PSR against
  the Sharpe ratio expected from the best of N unskilled trials::

      SR* = sqrt(V[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))

* **MinTRL**, minimum track record length (Bailey & Lopez de Prado 2012)::

      MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Phi^-1(c) / (SR - SR*))^2

* **PBO**, probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey,
  Borwein, Lopez de Prado & Zhu 2014, "The probability of backtest overfitting"): see `pbo_cscv`.
* Across worlds: `winner_rank_across_worlds` (does the parameter set that wins on the real history keep
  winning in simulated worlds?) and `chance_share` (how often does a no-edge generator reach the real Sharpe?).

Conventions (stated once, used everywhere here):

* ``SR`` is the **per-period, non-annualised** Sharpe ratio ``mean(r) / std(r)`` of the given returns
  (no risk-free rate: pass excess returns if one applies). Trial Sharpe ratios passed to `deflated_sharpe`
  must be in the same unit.
* Moments are the **biased sample moments** (divide by T, ddof = 0), as in the papers: ``sigma^2 = m2``,
  ``g3 = m3 / m2^1.5``, ``g4 = m4 / m2^2`` (non-excess kurtosis, 3 for a normal), with
  ``m_k = mean((r - mean r)^k)``. They are the moments of the empirical distribution, so
  ``g4 >= g3^2 + 1`` holds exactly and the PSR variance term ``1 - g3 SR + (g4 - 1)/4 SR^2
  >= (1 - g3 SR / 2)^2 >= 0`` never goes negative. (The report's Sharpe uses ddof = 1: it is larger in
  magnitude by ``sqrt(T / (T - 1))`` before annualisation; convert before mixing the two.)
* Ranks are **ascending in performance** (rank N = best) inside PBO, as in the paper, and **1 = best** in
  `winner_rank_across_worlds`, as in a league table. Ties take the average rank; an argmax tie takes the
  first (lowest-index) parameter set.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable

import numpy as np

from ..errors import ConfigError

__all__ = [
    "per_period_sharpe", "probabilistic_sharpe", "deflated_sharpe", "min_track_record_length",
    "expected_max_sharpe", "pbo_cscv", "winner_rank_across_worlds", "chance_share",
    "PSRResult", "DSRResult", "PBOResult", "WinnerRank", "ChanceShare",
]

_N = NormalDist()
EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant (not e)
MAX_CSCV_COMBINATIONS = 12_870  # C(16, 8): a few seconds at most for the generic metric


# --- input checks --------------------------------------------------------------------------------------------


def _finite(name: str, x) -> np.ndarray:
    """``x`` as float64, refusing NaN / inf with a message that names the argument and the first bad index."""
    a = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(f"{name} holds {int(bad.sum())} NaN/inf value(s) (first at index {where}); "
                          f"expected finite numbers (drop or fill missing periods before calling)")
    return a


def _series(name: str, returns) -> np.ndarray:
    r = _finite(name, returns)
    if r.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D series of per-period returns, got shape {r.shape}")
    if r.size < 2:
        raise ConfigError(f"{name} has {r.size} period(s); the Sharpe ratio and its variance need at least 2")
    return r


def _moments(name: str, r: np.ndarray) -> tuple[float, float, float]:
    """``(SR, g3, g4)`` with biased (ddof = 0) sample moments; refuses a constant series (SR undefined)."""
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if not m2 > 0.0:
        raise ConfigError(f"{name} is constant (zero variance): its Sharpe ratio is undefined")
    m3, m4 = float(np.mean(d**3)), float(np.mean(d**4))
    return float(r.mean()) / math.sqrt(m2), m3 / m2**1.5, m4 / m2**2


def _sharpe_from(mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """`per_period_sharpe` from a mean and a standard deviation (same zero-variance rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # mu * inf would be NaN for mu == 0, hence the explicit 0
        return np.where(sd > 0, mu / np.where(sd > 0, sd, 1.0), np.where(mu != 0, np.sign(mu) * np.inf, 0.0))


def per_period_sharpe(returns, axis: int = 0) -> np.ndarray:
    """``mean / std`` (ddof = 0) along `axis`, non-annualised; the default metric of `pbo_cscv`.

    A zero-variance column gets ``+-inf`` (or 0 when its mean is also 0) instead of NaN, so that it still
    ranks: a riskless gain beats any risky one.
    """
    r = np.asarray(returns, dtype=np.float64)
    return _sharpe_from(r.mean(axis=axis), r.std(axis=axis))


# --- PSR, DSR, MinTRL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PSRResult:
    """Probabilistic Sharpe ratio and its inputs (per-period SR, biased sample moments)."""

    psr: float  # P[true SR > benchmark_sr]
    sharpe: float  # per-period SR of the returns
    benchmark_sr: float  # SR*
    skewness: float  # g3
    kurtosis: float  # g4, non-excess (3 for a normal)
    n_periods: int  # T
    z: float  # the standard-normal score inside Phi


def _psr_z(sr: float, sr_star: float, g3: float, g4: float, t: int) -> float:
    # variance of the SR estimator (Mertens 2002 / Opdyke 2007, non-iid-normal correction), times T - 1
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    num = (sr - sr_star) * math.sqrt(t - 1)
    if var <= 0.0:  # only for a two-point distribution at one SR value; the estimate is then exact
        return 0.0 if num == 0.0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def probabilistic_sharpe(returns, benchmark_sr: float = 0.0) -> PSRResult:
    """PSR (Bailey & Lopez de Prado 2012): the probability that the true Sharpe ratio exceeds `benchmark_sr`.

    ``PSR = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2) )`` with SR the per-period
    Sharpe ratio of `returns` ``[T]`` and g3, g4 the biased sample skewness and (non-excess) kurtosis.
    `benchmark_sr` is per-period too (an annual SR of 1 on daily data is ``1 / sqrt(252)``).
    """
    r = _series("returns", returns)
    sr_star = float(_finite("benchmark_sr", benchmark_sr))
    sr, g3, g4 = _moments("returns", r)
    z = _psr_z(sr, sr_star, g3, g4, r.size)
    return PSRResult(_N.cdf(z) if math.isfinite(z) else float(z > 0), sr, sr_star, g3, g4, int(r.size), z)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """``E[max_n SR_n]`` of N unskilled trials, the DSR benchmark (Bailey & Lopez de Prado 2014, eq. 7)::

        SR* = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))

    (the extreme-value approximation of the expected maximum of N standard normals, scaled by the trials'
    SR dispersion). One trial involves no selection, so its benchmark is 0 (the formula's ``Phi^-1(0)``
    would be ``-inf``).
    """
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials <= 0:
        raise ConfigError(f"n_trials must be a positive integer (the number of parameter sets tried), "
                          f"got {n_trials!r}")
    variance = float(_finite("variance", variance))
    if variance < 0:
        raise ConfigError(f"variance of the trials' Sharpe ratios must be >= 0, got {variance}")
    n = int(n_trials)
    if n == 1:
        return 0.0
    q = (1.0 - EULER_GAMMA) * _N.inv_cdf(1.0 - 1.0 / n) + EULER_GAMMA * _N.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(variance) * q


@dataclass(frozen=True)
class DSRResult:
    """Deflated Sharpe ratio: the PSR of `returns` against the expected best of N unskilled trials."""

    dsr: float  # PSR(SR*)
    sharpe: float  # per-period SR of the selected strategy's returns
    benchmark_sr: float  # SR*, the expected maximum SR of N no-skill trials
    n_trials: int  # N
    trial_variance: float  # V[SR_n], sample variance (ddof = 1) of the trials' per-period SRs
    skewness: float
    kurtosis: float
    n_periods: int


def deflated_sharpe(returns, trial_sharpes, n_trials: int | None = None) -> DSRResult:
    """DSR (Bailey & Lopez de Prado 2014) of the selected strategy's `returns` ``[T]``.

    `trial_sharpes` ``[N]`` are the per-period Sharpe ratios of every parameter set tried (the grid,
    including the selected one), in the same unit as `returns`' SR. ``V`` is their sample variance
    (ddof = 1: an unbiased estimate of the dispersion of SR estimates across trials; 0 for one trial).
    ``N`` defaults to ``len(trial_sharpes)``; pass `n_trials` for an effective number of independent trials
    when the grid's trials are strongly correlated (the paper clusters them). ``DSR = PSR(SR*)`` with
    ``SR* = expected_max_sharpe(N, V)``.
    """
    s = _finite("trial_sharpes", trial_sharpes).ravel()
    if s.size == 0:
        raise ConfigError("trial_sharpes is empty; expected the Sharpe ratio of every trial (N >= 1)")
    n = s.size if n_trials is None else n_trials
    var = float(np.var(s, ddof=1)) if s.size > 1 else 0.0
    sr_star = expected_max_sharpe(n, var)
    psr = probabilistic_sharpe(returns, sr_star)
    return DSRResult(psr.psr, psr.sharpe, sr_star, int(n), var, psr.skewness, psr.kurtosis, psr.n_periods)


def min_track_record_length(returns, benchmark_sr: float = 0.0, confidence: float = 0.95) -> float:
    """MinTRL (Bailey & Lopez de Prado 2012): periods needed for ``PSR(SR*) >= confidence``.

    ``MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Phi^-1(confidence) / (SR - SR*))^2``, in periods of
    `returns`, with SR, g3, g4 estimated from `returns` (biased moments). ``inf`` when ``SR <= SR*``: no
    track record, however long, shows a Sharpe ratio above a benchmark it does not beat.
    """
    r = _series("returns", returns)
    sr_star = float(_finite("benchmark_sr", benchmark_sr))
    c = float(_finite("confidence", confidence))
    if not 0.0 < c < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    sr, g3, g4 = _moments("returns", r)
    if sr <= sr_star:
        return math.inf
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    return 1.0 + var * (_N.inv_cdf(c) / (sr - sr_star)) ** 2


# --- PBO by CSCV ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting over all ``C(S, S/2)`` CSCV splits.

    Arrays are indexed by split, in `itertools.combinations(range(S), S // 2)` order of in-sample blocks.
    """

    pbo: float  # share of splits with logit <= 0: the IS winner ranks at or below the OOS median
    logits: np.ndarray  # lambda_c = ln(omega_c / (1 - omega_c)), omega_c = OOS rank / (N + 1)
    is_performance: np.ndarray  # metric of the IS-best strategy, in sample
    oos_performance: np.ndarray  # metric of the same strategy, out of sample (the degradation pairs)
    chosen: np.ndarray  # index of the IS-best strategy in each split
    prob_oos_loss: float  # share of splits whose chosen strategy has OOS metric < 0
    n_splits: int  # S
    n_strategies: int  # N


def _average_rank_ascending(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rank (1 = worst, N = best, ties averaged) of ``values[c, idx[c]]`` within row c of ``values[C, N]``."""
    v = values[np.arange(values.shape[0]), idx][:, None]
    below = np.sum(values < v, axis=1)
    tied_others = np.sum(values == v, axis=1) - 1
    return 1.0 + below + 0.5 * tied_others


def _check_metric(name: str, m, n: int) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.shape[-1:] != (n,) or np.isnan(m).any():
        raise ConfigError(f"metric must map [rows, {n}] returns to {n} non-NaN values, got shape {m.shape} "
                          f"on the {name} rows" + (" with NaN" if np.isnan(m).any() else ""))
    return m


def pbo_cscv(performance, n_splits: int = 16, metric: Callable[[np.ndarray], np.ndarray] = per_period_sharpe,
             max_combinations: int = MAX_CSCV_COMBINATIONS) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado & Zhu 2014).

    `performance` ``[T, N]`` holds the per-period returns of the grid's N parameter sets on the real
    history. Its rows are cut into S = `n_splits` contiguous blocks (``np.array_split``: sizes differ by at
    most one row, so no period is dropped; the paper assumes T divisible by S). For each of the
    ``C(S, S/2)`` choices of S/2 blocks as in-sample J (the rest, in order, is out-of-sample Jbar):

    1. ``n* = argmax_n metric(J)[n]`` (the strategy a researcher would pick; a tie takes the first),
    2. ``omega = rank of n* in metric(Jbar) / (N + 1)``, ranks ascending (N = best, ties averaged), so
       omega lies strictly in (0, 1),
    3. ``lambda = ln(omega / (1 - omega))``.

    ``PBO = #{lambda <= 0} / C(S, S/2)``: how often the in-sample winner is at or below the median out of
    sample. Noise grids give PBO around 1/2 or above; a persistent edge gives PBO near 0.

    `metric` maps returns ``[rows, N]`` to ``[N]`` (higher = better). The default, `per_period_sharpe`,
    is computed from per-block sums, so all 12,870 splits of S = 16 take milliseconds; any other metric
    is called on each split's rows.
    """
    m = _finite("performance", performance)
    if m.ndim != 2:
        raise ConfigError(f"performance must be [time, n_strategies] returns, got shape {m.shape}")
    t, n = m.shape
    if n < 2:
        raise ConfigError(f"performance has {n} strategy column(s); PBO compares a grid's parameter sets and "
                          f"needs at least 2 (a grid of one point cannot be overfit by selection)")
    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2 or n_splits % 2:
        raise ConfigError(f"n_splits must be an even integer >= 2 (half the blocks are in-sample), "
                          f"got {n_splits!r}")
    s = int(n_splits)
    if t < 2 * s:
        raise ConfigError(f"performance has {t} periods; n_splits={s} blocks of at least 2 periods each need "
                          f"at least {2 * s} (lower n_splits or use a longer history)")
    n_comb = math.comb(s, s // 2)
    if n_comb > max_combinations:
        raise ConfigError(f"n_splits={s} gives C({s}, {s // 2}) = {n_comb} splits, more than "
                          f"max_combinations={max_combinations}; lower n_splits")
    bounds = np.cumsum([0] + [len(b) for b in np.array_split(np.arange(t), s)])
    ins = np.zeros((n_comb, s), dtype=bool)  # ins[c, b]: block b is in-sample in split c
    for c, blocks in enumerate(itertools.combinations(range(s), s // 2)):
        ins[c, list(blocks)] = True

    if metric is per_period_sharpe:
        # Sufficient statistics per block (count, sum, sum of squares), centred on the column mean so that
        # var = E[x^2] - E[x]^2 does not cancel catastrophically; one matrix product per side then gives
        # every split's mean and ddof-0 variance.
        col_mean = m.mean(axis=0)
        x = m - col_mean
        cnt = np.diff(bounds).astype(np.float64)
        s1 = np.add.reduceat(x, bounds[:-1], axis=0)
        s2 = np.add.reduceat(x * x, bounds[:-1], axis=0)

        def side(mask: np.ndarray) -> np.ndarray:
            k = (mask @ cnt)[:, None]
            mu = (mask @ s1) / k
            var = np.maximum((mask @ s2) / k - mu * mu, 0.0)
            return _sharpe_from(mu + col_mean, np.sqrt(var))

        perf_is, perf_oos = side(ins.astype(np.float64)), side((~ins).astype(np.float64))
    else:
        rows = [np.arange(bounds[b], bounds[b + 1]) for b in range(s)]
        perf_is, perf_oos = np.empty((n_comb, n)), np.empty((n_comb, n))
        for c in range(n_comb):
            r_is = np.concatenate([rows[b] for b in range(s) if ins[c, b]])
            r_oos = np.concatenate([rows[b] for b in range(s) if not ins[c, b]])
            perf_is[c] = _check_metric("in-sample", metric(m[r_is]), n)
            perf_oos[c] = _check_metric("out-of-sample", metric(m[r_oos]), n)

    chosen = np.argmax(perf_is, axis=1)
    omega = _average_rank_ascending(perf_oos, chosen) / (n + 1)
    logits = np.log(omega / (1.0 - omega))
    idx = np.arange(n_comb)
    is_best, oos_best = perf_is[idx, chosen], perf_oos[idx, chosen]
    return PBOResult(float(np.mean(logits <= 0.0)), logits, is_best, oos_best, chosen,
                     float(np.mean(oos_best < 0.0)), s, n)


# --- across worlds -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WinnerRank:
    """Where the real history's best parameter set ranks in each simulated world (1 = best of the grid)."""

    winner: int  # index of the parameter set with the best real metric (first on a tie)
    ranks: np.ndarray  # [n_worlds] its rank in each world, 1 = best, ties averaged
    p_best: float  # share of worlds where it is strictly the best (rank 1)
    p_below_median: float  # share of worlds where rank > (n_params + 1) / 2: worse than the grid median
    p_below_median_se: float  # binomial standard error sqrt(p (1 - p) / n_worlds)
    median_rank: float
    n_params: int
    n_worlds: int


def winner_rank_across_worlds(real_metric, world_metric) -> WinnerRank:
    """Rank across worlds of the parameter set that is best on the real history.

    `real_metric` ``[n_params]`` is the grid's metric (higher = better) on the real history;
    `world_metric` ``[n_params, n_worlds]`` the same metric in each simulated world. A robust winner keeps
    rank 1 across worlds; an overfit one scatters uniformly over ``1..n_params`` (``p_below_median`` about
    1/2, as PBO's ``lambda <= 0``).
    """
    real = _finite("real_metric", real_metric)
    worlds = _finite("world_metric", world_metric)
    if real.ndim != 1 or real.size < 2:
        raise ConfigError(f"real_metric must be [n_params] with n_params >= 2 (a grid of one point has no "
                          f"winner to rank), got shape {real.shape}")
    if worlds.ndim != 2 or worlds.shape[0] != real.size or worlds.shape[1] < 1:
        raise ConfigError(f"world_metric must be [n_params={real.size}, n_worlds >= 1], got shape {worlds.shape}")
    n, w = worlds.shape
    win = int(np.argmax(real))
    v = worlds[win]
    ranks = 1.0 + np.sum(worlds > v, axis=0) + 0.5 * (np.sum(worlds == v, axis=0) - 1)
    p = float(np.mean(ranks > (n + 1) / 2))
    return WinnerRank(win, ranks, float(np.mean(ranks == 1.0)), p, math.sqrt(p * (1 - p) / w),
                      float(np.median(ranks)), n, w)


@dataclass(frozen=True)
class ChanceShare:
    """How often a no-edge generator's worlds reach the real Sharpe ratio."""

    share: float  # k / W, k = #{null worlds with SR >= real SR}
    se: float  # binomial standard error sqrt(share (1 - share) / W)
    p_value: float  # (k + 1) / (W + 1): the Monte-Carlo p-value, never 0 (Phipson & Smyth 2010)
    n_reached: int  # k
    n_worlds: int  # W


def chance_share(real_sharpe: float, null_world_sharpes) -> ChanceShare:
    """Share of no-edge worlds whose Sharpe ratio reaches the real one: ``#{SR_w >= SR_real} / W``.

    `null_world_sharpes` ``[W]`` are the strategy's Sharpe ratios in worlds of a generator with no edge
    (returns de-meaned per asset, which the caller does), in the same unit as `real_sharpe`. A small share
    says the real Sharpe is unlikely to be luck; ``>=`` counts ties as reached (conservative).
    """
    real = float(_finite("real_sharpe", real_sharpe))
    null = _finite("null_world_sharpes", null_world_sharpes).ravel()
    if null.size == 0:
        raise ConfigError("null_world_sharpes is empty; expected one Sharpe ratio per no-edge world")
    k, w = int(np.sum(null >= real)), int(null.size)
    p = k / w
    return ChanceShare(p, math.sqrt(p * (1 - p) / w), (k + 1) / (w + 1), k, w)

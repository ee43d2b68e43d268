"""Overfitting statistics of one parameter grid, on the real history and across simulated worlds.

A researcher who runs a grid on the real history and keeps its best point has searched; `grid_overfit`
measures what that search is worth, in one typed `GridOverfit`:

* **DSR** of the real winner: its PSR against the Sharpe ratio expected from the best of N unskilled trials,
  N = the grid's size (or an effective number of trials), the trials' variance from the grid's real Sharpe
  ratios (`stressgen.metrics.overfit.deflated_sharpe`);
* **PSR** of the real winner against a Sharpe ratio of 0;
* **PBO** by CSCV on the real history (`pbo_cscv`), with the number of blocks S chosen for the history's length
  (`cscv_n_splits`: at most 16 blocks, each at least `MIN_BLOCK_PERIODS` long);
* the **rank distribution** of the real winner across the worlds (1 = best of the grid), and the probability
  that it falls below the grid median (`winner_rank_across_worlds`);
* the **chance share**: in how many worlds *with the strategy's edge removed* the real winner reaches its real
  Sharpe ratio (`chance_share`). The edge is removed by de-meaning each world's log returns per asset
  (`demean_log_returns`): every asset then has zero drift over each world, so trend and carry are gone while
  volatility, correlation, tails and clustering stay. The worlds must be as long as the real sample (a Sharpe
  ratio's spread shrinks with the square root of the length, so a one-year world is no reference for a
  ten-year history); the caller draws them and runs the winner alone on them (`null_sharpes` is called with
  the winner's index: one extra backtest of one parameter set).

Units: real returns are per-period **simple excess returns** (the risk-free rate per period taken off), and
every Sharpe ratio here is per period with ddof = 0, as in `stressgen.metrics.overfit`. The worlds' metric
only ranks parameter sets within a world, so any monotone version of the Sharpe ratio will do (the run's
annualised, ddof = 1 `sharpe`); an undefined value (NaN: a world where a set stayed in cash) ranks last.

Pure NumPy on host arrays, like `stressgen.metrics.overfit`; nothing here draws worlds or backtests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .overfit import (ChanceShare, DSRResult, PBOResult, PSRResult, WinnerRank, chance_share, deflated_sharpe,
                      pbo_cscv, per_period_sharpe, probabilistic_sharpe, winner_rank_across_worlds)

__all__ = ["GridOverfit", "grid_overfit", "check_grid_overfit", "cscv_n_splits", "demean_log_returns",
           "MIN_BLOCK_PERIODS", "MIN_SPLITS", "MAX_SPLITS", "PBO_LIMIT", "BELOW_MEDIAN_LIMIT", "DSR_LEVEL",
           "CHANCE_LEVEL"]

# A CSCV block is one period of the cross-validation: its Sharpe ratio needs some days to mean anything, and
# 21 business days is a month. The paper's S = 16 (C(16, 8) = 12,870 splits) is the most we use; below
# S = 4 (6 splits) PBO can only take the values 0, 1/2 and 1, which is no estimate.
MIN_BLOCK_PERIODS = 21
MAX_SPLITS = 16
MIN_SPLITS = 4

# When the report calls the real-history winner not robust (see `GridOverfit.warnings`): PBO above 1/2 or a
# winner below the grid median in more than half the worlds means its rank is no better than a coin flip.
PBO_LIMIT = 0.5
BELOW_MEDIAN_LIMIT = 0.5
# Weaker flags, at the usual 5% level: a DSR under 95% (the winner's Sharpe ratio is within what the search
# alone would give) and a chance share over 5% (no-edge worlds reach the real Sharpe ratio often).
DSR_LEVEL = 0.95
CHANCE_LEVEL = 0.05


def cscv_n_splits(n_periods: int, *, strategy: str = "grid") -> int:
    """The number of CSCV blocks for a real history of `n_periods`: the largest even S <= `MAX_SPLITS` with
    blocks of at least `MIN_BLOCK_PERIODS` periods. Refuses, naming `strategy`, a history too short for
    `MIN_SPLITS` blocks."""
    if isinstance(n_periods, bool) or not isinstance(n_periods, (int, np.integer)):
        raise ConfigError(f"strategy {strategy!r}: the number of real periods must be an integer, got {n_periods!r}")
    t = max(int(n_periods), 0)  # a warm-up longer than the history leaves none: the message below says so
    s = min(MAX_SPLITS, t // MIN_BLOCK_PERIODS)
    s -= s % 2
    if s < MIN_SPLITS:
        raise ConfigError(f"strategy {strategy!r}: PBO by CSCV cuts the real history into at least {MIN_SPLITS} "
                          f"blocks of {MIN_BLOCK_PERIODS} periods, so it needs at least "
                          f"{MIN_SPLITS * MIN_BLOCK_PERIODS} real periods after the warm-up; the history gives "
                          f"{t}: load a longer history or shorten the warm-up")
    return s


def check_grid_overfit(strategy: str, n_params: int, n_periods: int, n_trials: int | None = None,
                       n_splits: int | None = None) -> int:
    """Everything `grid_overfit` would refuse, checked from sizes alone, before any compute; returns S.

    A grid of one point has no selection to test (PBO needs at least two parameter sets); the number of
    trials must be a positive integer; the real history must hold `n_splits` blocks of `MIN_BLOCK_PERIODS`
    periods (default: `cscv_n_splits`). Every message names `strategy`.
    """
    if isinstance(n_params, bool) or not isinstance(n_params, (int, np.integer)) or n_params < 2:
        raise ConfigError(f"strategy {strategy!r}: grid has {n_params!r} parameter set(s); the overfitting "
                          "statistics compare the grid's points (PBO needs at least 2): give a grid with "
                          "two or more values, or use params = {...} for a single point")
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer))
                                 or n_trials <= 0):
        raise ConfigError(f"strategy {strategy!r}: n_trials must be a positive integer (the number of "
                          f"parameter sets tried, for the deflated Sharpe ratio), got {n_trials!r}")
    if n_splits is None:
        return cscv_n_splits(n_periods, strategy=strategy)
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2 or n_splits % 2:
        raise ConfigError(f"strategy {strategy!r}: n_splits must be an even integer >= 2, got {n_splits!r}")
    if n_periods < n_splits * MIN_BLOCK_PERIODS:
        raise ConfigError(f"strategy {strategy!r}: n_splits={n_splits} CSCV blocks of {MIN_BLOCK_PERIODS} "
                          f"periods need {n_splits * MIN_BLOCK_PERIODS} real periods; the history gives "
                          f"{n_periods}: lower n_splits or load a longer history")
    return int(n_splits)


def demean_log_returns(log_returns: np.ndarray) -> np.ndarray:
    """``[worlds, time, assets]`` log returns with each world's mean per asset taken off (over time).

    This is how `grid_overfit`'s chance share removes a strategy's edge: every asset's log price ends each world
    where it started, so no drift is left to harvest, while the day-to-day moves around it (volatility,
    correlation, fat tails, clustering) are those the generator drew. Zero-mean log returns still have simple
    returns of mean about ``sigma^2 / 2`` per period (Jensen), a small positive carry for long positions.
    """
    r = np.asarray(log_returns)
    if r.ndim != 3:
        raise ConfigError(f"log_returns must be [worlds, time, assets], got shape {r.shape}")
    return r - r.mean(axis=1, keepdims=True, dtype=np.float64).astype(r.dtype)


@dataclass(frozen=True)
class GridOverfit:
    """What a grid search on the real history is worth, on the real history and across worlds.

    Attributes:
        strategy: the strategy's display name.
        n_params: the grid's size N.
        n_trials: N in the DSR (the grid's size unless an effective number was given).
        n_periods: T, real periods the statistics use (after the warm-up).
        winner: index of the parameter set with the best real Sharpe ratio (first on a tie).
        real_sharpe: ``[n_params]`` per-period Sharpe ratios (ddof = 0) of every set on the real history.
        psr: the winner's PSR against 0.
        dsr: the winner's DSR.
        pbo: PBO by CSCV on the real history.
        rank: the winner's rank in each world (1 = best), P(below the grid median), ...
        rank_shares: ``[n_params]`` share of worlds in which the winner holds rank k + 1 (a tie spreads evenly
            over the ranks it covers, so the shares sum to 1).
        n_undefined_worlds: worlds where some set's metric was undefined (ranked last there).
        chance: share of no-edge worlds (log returns de-meaned per asset) in which the winner reaches its real
            Sharpe ratio, with its standard error and Monte-Carlo p-value.
        null_sharpe_median: the winner's median per-period Sharpe ratio in those no-edge worlds.
    """

    strategy: str
    n_params: int
    n_trials: int
    n_periods: int
    winner: int
    real_sharpe: np.ndarray
    psr: PSRResult
    dsr: DSRResult
    pbo: PBOResult
    rank: WinnerRank
    rank_shares: np.ndarray
    n_undefined_worlds: int
    chance: ChanceShare
    null_sharpe_median: float

    @property
    def robust(self) -> bool:
        """Whether the real winner keeps its place: PBO and P(below median) both at most 1/2."""
        return self.pbo.pbo <= PBO_LIMIT and self.rank.p_below_median <= BELOW_MEDIAN_LIMIT

    @property
    def warnings(self) -> tuple[str, ...]:
        """One sentence per flag raised, the robustness flags first; empty when none is."""
        out = []
        if self.rank.p_below_median > BELOW_MEDIAN_LIMIT:
            out.append(f"the real-history winner falls below the grid median in "
                       f"{100 * self.rank.p_below_median:.1f}% of the worlds (more than half): its rank on the real "
                       "history does not carry over to other plausible histories")
        if self.pbo.pbo > PBO_LIMIT:
            out.append(f"PBO is {self.pbo.pbo:.3f} (above 1/2): on the real history, the in-sample winner ranks at or "
                       "below the median out of sample in most CSCV splits")
        if self.dsr.dsr < DSR_LEVEL:
            out.append(f"the deflated Sharpe ratio is {100 * self.dsr.dsr:.1f}% (under {100 * DSR_LEVEL:.0f}%): the "
                       f"winner's Sharpe ratio is within what picking the best of {self.n_trials} unskilled "
                       "trials would give")
        if self.chance.share > CHANCE_LEVEL:
            out.append(f"in {100 * self.chance.share:.1f}% of the worlds with the edge removed the winner reaches its "
                       f"real Sharpe ratio by chance (over {100 * CHANCE_LEVEL:.0f}%)")
        return tuple(out)


def _rank_shares(world: np.ndarray, winner: int) -> np.ndarray:
    """Share of worlds with the winner at each rank 1..N; a tie of m sets at positions b+1..b+m adds 1/m to
    each, so averaged ranks (2.5) are not rounded one way."""
    n = world.shape[0]
    v = world[winner]
    above = np.sum(world > v, axis=0)  # strictly better sets: the winner's best possible position is above + 1
    tied = np.sum(world == v, axis=0)  # the winner itself included, so >= 1
    shares = np.empty(n)
    for k in range(1, n + 1):
        covered = (k >= above + 1) & (k <= above + tied)
        shares[k - 1] = np.mean(np.where(covered, 1.0 / tied, 0.0))
    return shares


def grid_overfit(strategy: str, real_returns, world_sharpe, null_sharpes: Callable[[int], np.ndarray], *,
                 n_trials: int | None = None, n_splits: int | None = None) -> GridOverfit:
    """Overfitting statistics of one grid (see the module doc for each one and the units).

    Args:
        strategy: display name, used in every error message.
        real_returns: ``[T, N]`` per-period simple excess returns of the N parameter sets on the real history.
        world_sharpe: ``[N, W]`` each set's Sharpe ratio (any monotone version) in each of W worlds.
        null_sharpes: called once with the real winner's index; returns ``[W0]`` the winner's per-period
            Sharpe ratios (ddof = 0) in W0 worlds of T periods with the edge removed (`demean_log_returns`).
            NaN (a world where it stayed in cash) counts as not reaching the real Sharpe ratio.
        n_trials: N in the DSR (default: the grid's size); an effective number for strongly correlated sets.
        n_splits: CSCV blocks (default: `cscv_n_splits` of T).
    """
    real = np.asarray(real_returns, dtype=np.float64)
    world = np.asarray(world_sharpe, dtype=np.float64)
    if real.ndim != 2:
        raise ConfigError(f"strategy {strategy!r}: real_returns must be [time, n_params], got shape {real.shape}")
    t, n = real.shape
    s = check_grid_overfit(strategy, n, t, n_trials, n_splits)
    if world.ndim != 2 or world.shape[0] != n or world.shape[1] < 1:
        raise ConfigError(f"strategy {strategy!r}: world_sharpe must be [n_params={n}, n_worlds >= 1], "
                          f"got shape {world.shape}")
    if not np.isfinite(real).all():
        raise ConfigError(f"strategy {strategy!r}: real_returns holds NaN/inf; expected finite daily returns")

    sr = per_period_sharpe(real)
    if not np.isfinite(sr).all():
        raise ConfigError(f"strategy {strategy!r}: a parameter set has constant real returns (it never traded "
                          "after the warm-up), so its Sharpe ratio is undefined")
    winner = int(np.argmax(sr))
    psr = probabilistic_sharpe(real[:, winner], 0.0)
    dsr = deflated_sharpe(real[:, winner], sr, n_trials=n if n_trials is None else int(n_trials))
    pbo = pbo_cscv(real, n_splits=s)

    # An undefined Sharpe ratio ranks below every defined one: one finite floor under all of them keeps the
    # ties among undefined sets averaged, as winner_rank_across_worlds does for any tie.
    undefined = ~np.isfinite(world)
    if undefined.all():
        raise ConfigError(f"strategy {strategy!r}: every world's Sharpe ratio is undefined")
    floor = float(np.min(world[~undefined])) - 1.0
    ranked = np.where(undefined, floor, world)
    # the real winner (argmax of the real Sharpe ratios) is the winner ranked across worlds
    rank = winner_rank_across_worlds(sr, ranked)

    null = np.asarray(null_sharpes(winner), dtype=np.float64).ravel()
    if null.size == 0:
        raise ConfigError(f"strategy {strategy!r}: no no-edge worlds to compute the chance share on")
    null_defined = np.where(np.isnan(null), -np.inf, null)
    # chance_share refuses infinities; clipping to the largest float keeps every comparison with the real,
    # finite, Sharpe ratio unchanged
    big = np.finfo(np.float64).max
    chance = chance_share(float(sr[winner]), np.clip(null_defined, -big, big))
    return GridOverfit(strategy=strategy, n_params=n, n_trials=dsr.n_trials, n_periods=t, winner=winner,
                       real_sharpe=sr, psr=psr, dsr=dsr, pbo=pbo, rank=rank, rank_shares=_rank_shares(ranked, winner),
                       n_undefined_worlds=int(undefined.any(axis=0).sum()), chance=chance,
                       null_sharpe_median=float(np.nanmedian(null)) if np.isfinite(null).any() else math.nan)

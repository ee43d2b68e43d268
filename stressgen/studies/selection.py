"""Strategy selection across worlds: which candidates would each selection method keep?

A researcher with C candidate strategies ranks them and keeps the top k. `select` backtests every candidate
on the real history and on simulated worlds and ranks them by three methods:

* ``"real_sharpe"``: the Sharpe ratio on the real history (a plain backtest);
* ``"dsr"``: the deflated Sharpe ratio on the real history, N = C trials, the trials' variance from the
  candidates' real Sharpe ratios (`stressgen.metrics.overfit.deflated_sharpe`);
* ``"median_world_sharpe"``: the median Sharpe ratio across the worlds.

With no-edge worlds (each world's log returns de-meaned per asset, `edge_removed`; as long as the real
history) it also gives each candidate's chance share: how often those worlds reach its real Sharpe ratio. That
is no ranking method: it asks whether a real Sharpe ratio could be luck, and a strategy that memorised the
real path did not get it by luck (its chance share is 0, like a real edge's; docs/overfitting.md).

`Selection.count_in_top(names, method, k)` then says how many of `names` (say, strategies known to be
fabricated) a method keeps in its top k. Sharpe ratios are per period with ddof = 0, in excess of the
config's risk-free rate, annualised with its periods per year (the convention of `stressgen.metrics.overfit`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from .. import engine
from ..errors import ConfigError
from ..metrics.overfit import deflated_sharpe, per_period_sharpe
from ..metrics.overfit_grid import demean_log_returns
from ..metrics.risk import rf_per_period
from ..types import MarketData, Scenarios

__all__ = ["METHODS", "Selection", "select", "edge_removed", "real_scenarios"]

METHODS = ("real_sharpe", "dsr", "median_world_sharpe")


@dataclasses.dataclass(frozen=True)
class Selection:
    """Candidates ranked by each method (attributes are ``[C]`` arrays in `names` order unless said).

    Attributes:
        names: the candidates, in the order given.
        real_sharpe: annualised Sharpe ratio on the real history.
        dsr: deflated Sharpe ratio on the real history (N = C trials).
        world_sharpe: ``[C, W]`` annualised Sharpe ratio in each world (NaN: stayed in cash).
        chance: share of no-edge worlds reaching the real Sharpe ratio (NaN when none were given).
        n_periods: real periods after the warm-up.
    """

    names: tuple[str, ...]
    real_sharpe: np.ndarray
    dsr: np.ndarray
    world_sharpe: np.ndarray
    chance: np.ndarray
    n_periods: int

    @property
    def median_world_sharpe(self) -> np.ndarray:
        return np.nanmedian(self.world_sharpe, axis=1)

    def score(self, method: str) -> np.ndarray:
        """``[C]`` the method's score, higher = better."""
        scores = {"real_sharpe": self.real_sharpe, "dsr": self.dsr, "median_world_sharpe": self.median_world_sharpe}
        if method not in scores:
            raise ConfigError(f"unknown selection method {method!r}; valid: {', '.join(METHODS)}")
        return scores[method]

    def ranking(self, method: str) -> tuple[str, ...]:
        """The candidates, best first (a stable sort: ties keep the given order; NaN last)."""
        s = np.nan_to_num(self.score(method), nan=-np.inf)
        return tuple(self.names[i] for i in np.argsort(-s, kind="stable"))

    def top(self, method: str, k: int) -> tuple[str, ...]:
        return self.ranking(method)[:k]

    def count_in_top(self, names: Iterable[str], method: str, k: int) -> int:
        """How many of `names` the method keeps in its top k."""
        return len(set(names) & set(self.top(method, k)))


def edge_removed(worlds: Scenarios) -> Scenarios:
    """`worlds` with each world's log returns de-meaned per asset (the edge removed; see `demean_log_returns`)."""
    flat = demean_log_returns(np.asarray(worlds.log_returns))
    return worlds.replace(log_returns=jnp.asarray(flat), weights=None)


def real_scenarios(market: MarketData, like: Scenarios) -> Scenarios:
    """The real history as world 0 of scenarios shaped like `like` (the other worlds flat), so a backtest
    reuses the program compiled for `like`: its first ``H = like.history`` rows warm the strategies up and the
    next ``like.horizon`` are traded, from the close ``market.dates[H]`` on (dated as `obs.calendar` shows)."""
    r = np.asarray(market.log_returns, np.float32)
    warm, horizon = int(like.history.shape[0]), like.horizon
    if r.shape[0] < warm + horizon:
        raise ConfigError(f"the history has {r.shape[0]} returns; a warm-up of {warm} and {horizon} traded periods "
                          f"need {warm + horizon}")
    padded = np.zeros(like.log_returns.shape, np.float32)
    padded[0] = r[warm:warm + horizon]
    return like.replace(log_returns=jnp.asarray(padded), history=jnp.asarray(r[:warm]),
                        anchor_prices=jnp.asarray(market.prices[warm], jnp.float32),
                        history_end=market.dates[warm].date().isoformat(), weights=None)


def _sharpe(strategy: Any, scenarios: Scenarios, config: engine.BacktestConfig, rf_p: float,
            worlds: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(per-period Sharpe ratios ``[worlds]``, daily excess returns ``[worlds, time]``)."""
    pnl = np.asarray(engine.backtest(strategy, scenarios, config).pnl, np.float64)[:worlds] - rf_p
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = np.where(pnl.std(axis=1) > 0, per_period_sharpe(pnl, axis=1), np.nan)
    return sr, pnl


def select(candidates: Mapping[str, Any], real: Scenarios, worlds: Scenarios,
           config: engine.BacktestConfig = engine.BacktestConfig(), *,
           null_worlds: Scenarios | None = None) -> Selection:
    """Backtest every candidate on the real history (`real`: world 0 of it is the real path; pad it to the
    worlds' shape to reuse their compiled program, the other worlds are ignored), on `worlds`, and on
    `null_worlds` (no-edge worlds as long as the real history, e.g. `edge_removed` of worlds of that length).
    """
    if len(candidates) < 2:
        raise ConfigError(f"select needs at least 2 candidates to rank, got {len(candidates)}")
    ppy = config.periods_per_year
    rf_p = float(rf_per_period(config.rf, ppy))
    annual = float(np.sqrt(ppy))
    real_sr, real_r, world_sr, chance = [], [], [], []
    for strategy in candidates.values():
        sr, r = _sharpe(strategy, real, config, rf_p, worlds=1)
        real_sr.append(float(sr[0]))
        real_r.append(r[0])
        world_sr.append(_sharpe(strategy, worlds, config, rf_p)[0] * annual)
        if null_worlds is not None:
            null = _sharpe(strategy, null_worlds, config, rf_p)[0]
            chance.append(float(np.mean(np.nan_to_num(null, nan=-np.inf) >= sr[0])))
        else:
            chance.append(np.nan)
    trials = np.asarray(real_sr)
    if not np.isfinite(trials).all():
        bad = [n for n, s in zip(candidates, trials) if not np.isfinite(s)]
        raise ConfigError(f"candidates {bad} never traded on the real history: their Sharpe ratio is undefined")
    dsr = np.array([deflated_sharpe(r, trials).dsr for r in real_r])
    return Selection(names=tuple(candidates), real_sharpe=trials * annual, dsr=dsr, world_sharpe=np.stack(world_sr),
                     chance=np.asarray(chance, np.float64), n_periods=int(real_r[0].shape[0]))

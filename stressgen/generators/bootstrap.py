"""Stationary block bootstrap (Politis and Romano, 1994) of whole cross-sectional return vectors.

Each world is a sequence of blocks of consecutive historical days. A block starts at a uniformly drawn
day and its length is geometric with mean `mean_block` (a new block starts on each day with probability
``p = 1 / mean_block``); blocks wrap around the end of the sample (circularly), which is what makes the
resampled series stationary. Whole rows ``r[t, :]`` are copied, so every cross-asset dependence of the
history (correlations, joint tails, common volatility regimes) is kept exactly.

The default mean block length is Politis and White's optimal length (with the Patton, Politis and White
correction, from `arch.bootstrap.optimal_block_length`) computed on |r|, not on r: on daily returns r is
nearly white and its optimal length comes out near 3 days, which would destroy volatility clustering;
|r| carries the clustering, and its optimal length (tens of days) keeps it.

State matching (``matching="state"``, the default). A plain stationary bootstrap starts every block at a
uniformly drawn day, so a world that starts in a crisis is as likely to continue calm as one that starts in
a calm year: the spread of outcomes does not depend on where the history ends. Here each block starts
after a historical day whose market state is close to the world's current state, a nearest-neighbour
(Markov) bootstrap in the manner of Lall and Sharma (1996):

* the state is the exponentially weighted mean of the squared equal-weight return (the RiskMetrics
  variance of the average asset, decay 0.94 by default): it measures how stressed the whole cross-section
  is, correlations included, and it is updated causally, day by day, from the rows the world replays;
* a world starts in the state at the end of the history; a new block starts after one of the `neighbours`
  days whose state ranks nearest to the world's current state (``sqrt(n)`` days by default, Lall and
  Sharma's choice for the number of neighbours), and replays the days that followed it;
* blocks last ``1 / (1 - decay)`` days on average (16.7), the state's own memory: long enough to keep a
  few weeks of each stretch of history whole, short enough that the world is matched again as its state
  moves, so that clustering comes from the state rather than from replaying months of one period;
* blocks do not wrap from the last day to the first (that join would break the state): a block that
  reaches the end of the sample starts a new one.

With ``matching="none"`` the bootstrap is Politis and Romano's: uniform starts, circular blocks.

``sample(..., condition=InRegime(regime, stay_days))`` holds days 1..max(stay_days, 1) in a volatility regime
of the history (``calm``/``normal``/``turbulent``: terciles of the equal-weight trailing 21-day volatility):
blocks on those days are drawn only from history days so labelled, then the bootstrap above goes on
(`_bootstrap_regime`). ``condition=PathShock(day, size, assets)`` replays the plain world up to the day before,
then a shock row (the history's conditional mean given the target's move, met exactly as a simple return), then
a block that follows one of history's `ANALOGS` days most like the shock; ``condition=CrisisReplay(...)`` opens
every world with the episode's returns, then a block starting on a history day of the volatility label the
episode left (`_bootstrap_regime.forced_indices`, docs/stress.md). Other conditions are refused.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from arch.bootstrap import optimal_block_length
from flax import struct

from .. import rng
from ..errors import ConfigError, InsufficientHistoryError
from ..types import MarketData, Scenarios, business_days
from . import _bootstrap_regime as br
from . import _tables as tb
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict, config_to_dict,
                    digest, export_context, first_worlds, history_context, restore_context, take_arrays,
                    world_bucket)
from ._regime_condition import InRegime, held_days
from ._replay import CrisisReplay
from ._shock import PathShock, conditional_shock_row, shock_weights

__all__ = ["BootstrapConfig", "BootstrapFitted", "StationaryBootstrap", "block_indices", "default_block_length",
           "state_series", "matched_indices"]

MATCHING = ("state", "none")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BootstrapConfig:
    """Options of the stationary bootstrap.

    Attributes:
        mean_block: mean block length in periods (>= 1), or None for the default: with state matching, the
            state's memory ``1 / (1 - decay)`` (16.7 days at 0.94: a block lasts until the state it was
            matched on has renewed, and the next block is matched again, so volatility clustering is carried
            by the state rather than by long blocks); without, the median over assets of the optimal
            stationary-bootstrap length of |r|.
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
        matching: ``"state"`` (default): blocks start after days whose market state matches the world's
            (see the module doc); ``"none"``: uniform block starts (Politis and Romano).
        neighbours: how many nearest days in state a block start is drawn from; None: ``round(sqrt(n))``.
        decay: the state's daily decay (RiskMetrics' 0.94 for daily data), in (0, 1).
    """

    mean_block: float | None = None
    history_days: int = business_days(504)  # two years of business days; a run names it on other data
    matching: str = "state"
    neighbours: int | None = None
    decay: float = 0.94

    def __post_init__(self) -> None:
        if self.matching not in MATCHING:
            raise ConfigError(f"bootstrap.matching must be one of {', '.join(MATCHING)}, got {self.matching!r}")
        k = self.neighbours
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ConfigError(f"bootstrap.neighbours must be an integer >= 1 or None, got {k!r}")
        d = self.decay
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0.0 < d < 1.0:
            raise ConfigError(f"bootstrap.decay must be a number in (0, 1), got {d!r}")
        if self.mean_block is not None and not (isinstance(self.mean_block, int | float)
                                                and np.isfinite(self.mean_block) and self.mean_block >= 1):
            raise ConfigError(f"bootstrap.mean_block must be a number >= 1 or None, got {self.mean_block!r}")
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 0:
            raise ConfigError(f"bootstrap.history_days must be an integer >= 0, got {self.history_days!r}")


@struct.dataclass
class BootstrapFitted:
    """The sample to resample from; `mean_block` is a leaf so a new length does not recompile sampling."""

    returns: jax.Array  # [time, assets] float32 log returns
    mean_block: jax.Array  # scalar float32
    # state matching (empty arrays with matching="none"): the state after each day but the last, sorted,
    # the days in that order, each day's update of the state, and the state at the end of the history
    sorted_state: jax.Array  # [time - 1] float32, ascending
    order: jax.Array  # [time - 1] int32: day of each sorted state
    innovation: jax.Array  # [time] float32: (1 - decay) * (equal-weight return of the day)^2
    state_end: jax.Array  # scalar float32
    neighbours: jax.Array  # scalar int32
    config: BootstrapConfig = struct.field(pytree_node=False)
    context: HistoryContext
    digest: str = struct.field(pytree_node=False)


def default_block_length(log_returns: np.ndarray) -> float:
    """Median over assets of the optimal stationary-bootstrap block length of |r| (at least 1)."""
    lengths = optimal_block_length(np.abs(np.asarray(log_returns, dtype=np.float64)))["stationary"]
    return float(max(1.0, np.median(lengths.to_numpy())))


def state_series(log_returns: np.ndarray, decay: float) -> tuple[np.ndarray, np.ndarray]:
    """(state after each day ``[time]``, each day's update ``[time]``), float64.

    The state is the exponentially weighted mean of the squared equal-weight log return,
    ``s_t = decay * s_{t-1} + (1 - decay) * ew_t^2``, seeded with the mean of the first (up to) 20 squares
    so that the first days are not read as a calm that never was.
    """
    ew = np.asarray(log_returns, dtype=np.float64).mean(axis=1)
    innovation = (1.0 - decay) * ew * ew
    state = np.empty_like(ew)
    s = float(np.mean(ew[:20] ** 2))
    for t in range(ew.size):  # a host loop once per fit; a recursion NumPy cannot vectorise exactly
        s = decay * s + innovation[t]
        state[t] = s
    return state, innovation


def matched_indices(key: jax.Array, fitted: BootstrapFitted, horizon: int, p: jax.Array,
                    fence: jax.Array) -> jax.Array:
    """Row indices ``[horizon]`` of one state-matched world (see the module doc).

    The state is carried in float32 with every product rounded before it is added (`_tables.rounded`), so
    the block choices, and hence world i, are the same whatever the chunk it is drawn in.
    """
    n_obs = fitted.returns.shape[0]
    n_cand = fitted.sorted_state.shape[0]  # days 0 .. n-2: each has a next day to replay
    k = jnp.minimum(fitted.neighbours, n_cand)
    k_new, k_pick = jax.random.split(key)
    new = (jax.random.uniform(k_new, (horizon,)) < p).at[0].set(True)
    pick = jax.random.randint(k_pick, (horizon,), 0, k)
    decay = jnp.float32(fitted.config.decay)

    def step(carry: tuple[jax.Array, jax.Array], x: tuple[jax.Array, jax.Array]):
        prev, state = carry
        is_new, j = x
        # the k days nearest in state rank: a window of k ranks centred on the world's state, kept inside
        pos = jnp.searchsorted(fitted.sorted_state, state)
        lo = jnp.clip(pos - k // 2, 0, n_cand - k)
        start = fitted.order[lo + j] + 1
        i = jnp.where(is_new | (prev + 1 >= n_obs), start, prev + 1)
        state = tb.rounded(decay * state, fence) + fitted.innovation[i]
        return (i, state), i

    _, idx = jax.lax.scan(step, (jnp.int32(0), fitted.state_end), (new, pick))
    return idx


def block_indices(key: jax.Array, n_obs: int, horizon: int, p: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Row indices ``[horizon]`` of one bootstrap world, and the flags of the days that start a block.

    Day 0 always starts a block. On later days a block starts with probability `p`; otherwise the index
    moves to the next day, wrapping from the last observation to the first.
    """
    k_new, k_start = jax.random.split(key)
    new = (jax.random.uniform(k_new, (horizon,)) < p).at[0].set(True)
    start = jax.random.randint(k_start, (horizon,), 0, n_obs)

    def step(prev: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        is_new, s = x
        i = jnp.where(is_new, s, (prev + 1) % n_obs)
        return i, i

    _, idx = jax.lax.scan(step, start[0], (new, start))
    return idx, new


@partial(jax.jit, static_argnames=("n_worlds", "horizon"))
def _sample_held(fitted: BootstrapFitted, key: jax.Array, first_world: jax.Array, fence: jax.Array,
                 held: jax.Array, pool: jax.Array, m: jax.Array, member: jax.Array,
                 *, n_worlds: int, horizon: int) -> jax.Array:
    keys = rng.world_keys(key, first_world, n_worlds)
    p = 1.0 / fitted.mean_block
    idx = jax.vmap(br.conditioned_indices, in_axes=(0,) + (None,) * 8)(keys, fitted, horizon, held, p, fence,
                                                                       pool, m, member)
    return fitted.returns[idx]


@partial(jax.jit, static_argnames=("n_worlds", "horizon"))
def _sample_forced(fitted: BootstrapFitted, key: jax.Array, first_world: jax.Array, fence: jax.Array,
                   extra: jax.Array, extra_innovation: jax.Array, fixed: jax.Array, start_day: jax.Array,
                   pool: jax.Array, *, n_worlds: int, horizon: int) -> jax.Array:
    keys = rng.world_keys(key, first_world, n_worlds)
    p = 1.0 / fitted.mean_block
    innovation = jnp.concatenate([fitted.innovation, extra_innovation])
    idx = jax.vmap(br.forced_indices, in_axes=(0,) + (None,) * 8)(keys, fitted, horizon, p, fence, fixed,
                                                                  start_day, pool, innovation)
    return jnp.concatenate([fitted.returns, extra])[idx]  # history's rows, then the condition's


@partial(jax.jit, static_argnames=("n_worlds", "horizon"))
def _sample(fitted: BootstrapFitted, key: jax.Array, first_world: jax.Array, fence: jax.Array,
            *, n_worlds: int, horizon: int) -> jax.Array:
    keys = rng.world_keys(key, first_world, n_worlds)
    p = 1.0 / fitted.mean_block
    if fitted.config.matching == "state":
        idx = jax.vmap(matched_indices, in_axes=(0, None, None, None, None))(keys, fitted, horizon, p, fence)
    else:
        idx, _ = jax.vmap(block_indices, in_axes=(0, None, None, None))(keys, fitted.returns.shape[0], horizon, p)
    return fitted.returns[idx]  # [worlds, horizon, assets]: whole rows, so cross-sections stay intact


class StationaryBootstrap(AbstractGenerator):
    """Stationary block bootstrap of cross-sectional return vectors (final)."""

    name = "bootstrap"
    config_type = BootstrapConfig
    conditions = (InRegime, PathShock, CrisisReplay)

    def regime_names(self, config: BootstrapConfig | None) -> tuple[str, ...]:
        del config  # the volatility terciles of history, whatever the config
        return br.LABELS

    def fit(self, market: MarketData, *, key: jax.Array, config: BootstrapConfig | None = None) -> BootstrapFitted:
        del key  # resampling has nothing random to estimate; the argument keeps the protocol uniform
        config = self._config(config)
        r = market.log_returns
        if r.shape[0] < 2:
            raise InsufficientHistoryError(f"the bootstrap needs at least 2 returns, got {r.shape[0]}",
                                           path=market.source, expected="2 or more returns")
        if config.mean_block is not None:
            mean_block = float(config.mean_block)
        elif config.matching == "state":
            mean_block = 1.0 / (1.0 - config.decay)
        else:
            mean_block = default_block_length(r)
        if mean_block > r.shape[0] / 2:
            warnings.warn(f"{market.source}: mean block length {mean_block:.1f} exceeds half the sample "
                          f"({r.shape[0]} returns); worlds will be few long stretches of history", stacklevel=2)
        arrays = {"returns": np.asarray(r, dtype=np.float32), "mean_block": np.float32(mean_block),
                  **_state_arrays(r, config)}
        return _fitted(arrays, config, history_context(market, config.history_days))

    def sample(self, fitted: BootstrapFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        """Worlds ``first_world ..``; with ``condition=InRegime(...)`` days 1..max(stay_days, 1) replay only
        history days of that volatility regime (`_bootstrap_regime`); weights stay None and
        `Provenance.condition` names the condition and the regime's share of history's days. `PathShock` and
        `CrisisReplay`: see the module doc and `_sample_forced`; weights None, the condition in the provenance."""
        self._check_condition(condition)
        if isinstance(condition, InRegime):
            return self._sample_in_regime(fitted, key, n_worlds, horizon, condition, first_world)
        if isinstance(condition, PathShock | CrisisReplay):
            return self._sample_forced(fitted, key, n_worlds, horizon, condition, first_world)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        log_returns = first_worlds(_sample(fitted, key, jnp.uint32(first_world), np.uint32(0),
                                           n_worlds=world_bucket(n_worlds), horizon=horizon), n_worlds)
        return self._scenarios(fitted.context, log_returns, fitted.digest, first_world)

    def _sample_in_regime(self, fitted: BootstrapFitted, key: jax.Array, n_worlds: int, horizon: int,
                          condition: InRegime, first_world: int) -> Scenarios:
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        pool, m, member, share = br.regime_pool(np.asarray(fitted.returns), condition)
        days = held_days(condition)
        log_returns = first_worlds(_sample_held(
            fitted, key, jnp.uint32(first_world), np.uint32(0), jnp.int32(days), jnp.asarray(pool), jnp.int32(m),
            jnp.asarray(member), n_worlds=world_bucket(n_worlds), horizon=horizon), n_worlds)
        scenarios = self._scenarios(fitted.context, log_returns, fitted.digest, first_world)
        text = (f"in_regime(regime={condition.regime!r}, days=1..{days}, "
                f"history share={share:.3g}, rule=equal-weight 21-day volatility terciles)")
        return scenarios.replace(provenance=dataclasses.replace(scenarios.provenance, condition=text))

    def _sample_forced(self, fitted: BootstrapFitted, key: jax.Array, n_worlds: int, horizon: int,
                       condition: PathShock | CrisisReplay, first_world: int) -> Scenarios:
        """A shock row on its day or the episode's rows on days 1..L (appended to history's rows), then a block
        from the pool that stands for the state they left (`_bootstrap_regime`), then the plain bootstrap."""
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        returns = np.asarray(fitted.returns)
        assets = fitted.context.asset_names
        fixed = np.full(horizon, -1, np.int32)
        if isinstance(condition, PathShock):
            w = shock_weights(condition, assets, horizon)  # ConfigErrors for the day and the names first
            r = returns.astype(np.float64)
            cov = np.atleast_2d(np.cov(r, rowvar=False))  # history's own dependence: the law the rows replay
            extra = conditional_shock_row(w, r.mean(axis=0), cov, condition.size)[None].astype(np.float32)
            pool = br.analog_pool(returns, w, condition.size)
            fixed[condition.day - 1] = returns.shape[0]
        else:
            extra = condition.check(assets, horizon)
            pool, _ = br.replay_pool(returns, extra)
            fixed[:extra.shape[0]] = returns.shape[0] + np.arange(extra.shape[0])
        start_day = int(np.flatnonzero(fixed >= 0)[-1]) + 1  # the day after the last forced row
        # the forced rows move the matching state as history's rows do
        innovation = state_series(extra, fitted.config.decay)[1] if fitted.config.matching == "state" \
            else np.zeros(extra.shape[0])
        log_returns = first_worlds(_sample_forced(
            fitted, key, jnp.uint32(first_world), np.uint32(0), jnp.asarray(extra),
            jnp.asarray(innovation, jnp.float32), jnp.asarray(fixed), jnp.int32(start_day), jnp.asarray(pool),
            n_worlds=world_bucket(n_worlds), horizon=horizon), n_worlds)
        scenarios = self._scenarios(fitted.context, log_returns, fitted.digest, first_world)
        return scenarios.replace(provenance=dataclasses.replace(scenarios.provenance,
                                                                condition=condition.describe()))

    def reanchor(self, fitted: BootstrapFitted, market: MarketData, *, key: jax.Array) -> BootstrapFitted:
        """The estimated mean block length is kept; the resampling pool, its states and the history context
        are those of `market` (a fit with that block length given; `key` is unused, as in `fit`)."""
        config = dataclasses.replace(fitted.config, mean_block=float(np.asarray(fitted.mean_block)))
        return self.fit(market, key=key, config=config)

    def export_fitted(self, fitted: BootstrapFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest}
        return meta, {**arrays, **{name: np.asarray(getattr(fitted, name)) for name in _ARRAYS}}

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> BootstrapFitted:
        config = config_from_dict(BootstrapConfig, meta.get("config", {}), where="config")
        values = dict(zip(_ARRAYS, take_arrays(arrays, _ARRAYS), strict=True))
        fitted = _fitted(values, config, restore_context(meta.get("context", {}), arrays))
        check_digest(meta.get("digest"), config, *(getattr(fitted, name) for name in _ARRAYS))
        return fitted


# Every array of BootstrapFitted, in the order they are digested (persistence checks the digest on load).
_ARRAYS = ("returns", "mean_block", "sorted_state", "order", "innovation", "state_end", "neighbours")


def _state_arrays(r: np.ndarray, config: BootstrapConfig) -> dict[str, np.ndarray]:
    """The state-matching tables of `matching="state"` (empty ones with "none": nothing is matched)."""
    if config.matching == "none" or r.shape[0] < 3:
        # fewer than 3 returns leave fewer than 2 days to match among: matching could only replay one day
        return {"sorted_state": np.zeros(0, np.float32), "order": np.zeros(0, np.int32),
                "innovation": np.zeros(r.shape[0], np.float32), "state_end": np.float32(0),
                "neighbours": np.int32(1)}
    state, innovation = state_series(r, config.decay)
    state32 = state.astype(np.float32)
    order = np.argsort(state32[:-1], kind="stable").astype(np.int32)  # the last day has no next day
    k = config.neighbours or int(round(np.sqrt(r.shape[0])))
    return {"sorted_state": state32[:-1][order], "order": order, "innovation": innovation.astype(np.float32),
            "state_end": state32[-1], "neighbours": np.int32(min(k, r.shape[0] - 1))}


_SCALARS = ("mean_block", "state_end", "neighbours")


def _fitted(arrays: dict[str, np.ndarray], config: BootstrapConfig, context: HistoryContext) -> BootstrapFitted:
    # scalars are 0-d: a file format may hand them back as [1], which would give the scan carry a shape
    values = {name: jnp.asarray(arrays[name]).reshape(() if name in _SCALARS else np.shape(arrays[name]))
              for name in _ARRAYS}
    return BootstrapFitted(**values, config=config, context=context, digest=digest(config, *values.values()))

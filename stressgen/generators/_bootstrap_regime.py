"""`InRegime` in the stationary bootstrap: state-conditioned resampling of history days in a volatility regime.

The bootstrap has no regimes of its own, so history's days are labelled here, at sample time, from the
returns the fit keeps (nothing is added to the fitted pytree: its digest and saved files are unchanged):

* a day's volatility is the trailing 21-day realised volatility of the equal-weight portfolio (the RMS of
  its log returns over that day and the 20 before): the equal-weight portfolio measures the stress of the
  whole cross-section, correlations included, as the bootstrap's own matching state does; 21 days (a month)
  is long enough for a stable estimate and short enough to follow the 2020 crash; a trailing window keeps
  the label causal (a day's label uses no later day);
* the first 20 days have no full window and get no label (-1), so they are never drawn on held days;
* the labelled days are split at their terciles into ``calm`` / ``normal`` / ``turbulent``, the regime
  mixture's default labels, so one `InRegime` spec works with both families. Terciles (not fixed levels)
  make each label a third of the history whatever the market, so every label always has days to draw from.

Sampling with ``InRegime(regime, stay_days)``: on days 1..max(stay_days, 1) each block starts at a uniformly
drawn labelled day and a block is cut (a new one starts) when the next history day is not labelled so, is
past the end, or when the geometric block length runs out; from the day after the held period the plain
bootstrap goes on (a new block, matched on the state the held days left with ``matching="state"``, uniform
with ``matching="none"``). Worlds are exact draws of this conditioned resampling, so weights stay None.

`PathShock` and `CrisisReplay` force rows instead (`forced_indices`; docs/stress.md): the condition's own rows
(the shock row, the episode's days) are appended to the history's table and replayed on their days, and the
next day starts a block at a row drawn uniformly from a pool that stands for the state they left: the days
after history's `ANALOGS` days most like the shock (`analog_pool`), or the history days of the episode's own
volatility label (`replay_pool`). Then the plain bootstrap goes on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from . import _tables as tb
from ._regime_condition import InRegime

__all__ = ["LABELS", "WINDOW", "MIN_DAYS", "ANALOGS", "trailing_volatility", "label_thresholds", "day_labels",
           "regime_pool", "conditioned_indices", "analog_pool", "replay_pool", "forced_indices"]

LABELS = ("calm", "normal", "turbulent")
WINDOW = 21  # trailing days of the realised volatility
MIN_DAYS = 21  # a label with fewer history days is refused: the held days would replay a handful of rows
# A shock's aftermath is replayed from after one of the ANALOGS history days whose target return is nearest the
# shock's: enough analogues that the worlds do not all replay one aftermath (a single nearest day would make
# the post-shock block the same in every world), few enough that they stay comparable days (10 of ~1,500 days
# is history's 0.7% nearest to the shock; for a shock beyond history, its 10 most extreme days that way).
ANALOGS = 10
# fold_in data of the key of a forced block start: the plain draws split the world key and never fold it, so
# the forced start's number is a new one and the plain numbers of every other day are untouched
FORCED_SALT = 0x5E0C


def trailing_volatility(log_returns: np.ndarray) -> np.ndarray:
    """``[time]`` float64 RMS of the equal-weight log return over each day and the WINDOW - 1 before it
    (NaN for the first WINDOW - 1 days)."""
    ew = np.asarray(log_returns, np.float64).mean(axis=1)
    vol = np.full(ew.size, np.nan)
    if ew.size >= WINDOW:
        c = np.concatenate([[0.0], np.cumsum(ew * ew)])
        vol[WINDOW - 1:] = np.sqrt((c[WINDOW:] - c[:-WINDOW]) / WINDOW)
    return vol


def label_thresholds(log_returns: np.ndarray) -> tuple[float, float] | None:
    """The terciles (calm/normal, normal/turbulent) of history's trailing volatility; None with no full window."""
    vol = trailing_volatility(log_returns)[WINDOW - 1:]
    if vol.size == 0:
        return None
    lo, hi = np.quantile(vol, [1 / 3, 2 / 3])
    return float(lo), float(hi)


def _label(vol: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.where(vol <= lo, 0, np.where(vol <= hi, 1, 2))


def day_labels(log_returns: np.ndarray) -> np.ndarray:
    """``[time]`` int32 label index of each history day into `LABELS` (-1: the first WINDOW - 1 days)."""
    vol = trailing_volatility(log_returns)[WINDOW - 1:]
    labels = np.full(vol.size + WINDOW - 1, -1, np.int32)
    thresholds = label_thresholds(log_returns)
    if thresholds is None:
        return labels[:np.shape(log_returns)[0]]
    labels[WINDOW - 1:] = _label(vol, *thresholds)
    return labels


def regime_pool(log_returns: np.ndarray, condition: InRegime) -> tuple[np.ndarray, int, np.ndarray, float]:
    """(``[time]`` int32 days in the regime first then padding, their count, ``[time]`` bool membership, the
    share of labelled days in it); ConfigErrors for an unknown label or too few days."""
    if condition.regime not in LABELS:
        raise ConfigError(f"in_regime.regime: unknown regime {condition.regime!r}; the bootstrap's regimes are "
                          f"{', '.join(LABELS)}")
    labels = day_labels(log_returns)
    member = labels == LABELS.index(condition.regime)
    m = int(member.sum())
    if m < MIN_DAYS:
        raise ConfigError(f"in_regime.regime: regime {condition.regime!r} has {m} history days in the bootstrap's "
                          f"sample, fewer than {MIN_DAYS}")
    days = np.flatnonzero(member).astype(np.int32)
    pool = np.concatenate([days, np.zeros(member.size - m, np.int32)])
    return pool, m, member, m / max(1, int((labels >= 0).sum()))


def conditioned_indices(key: jax.Array, fitted, horizon: int, held: jax.Array, p: jax.Array, fence: jax.Array,
                        pool: jax.Array, m: jax.Array, member: jax.Array) -> jax.Array:
    """Row indices ``[horizon]`` of one world held in a regime on days ``0 .. held - 1`` (see the module doc)."""
    n_obs = fitted.returns.shape[0]
    state_mode = fitted.config.matching == "state"
    k_new, k_pick, k_held = jax.random.split(key, 3)
    t = jnp.arange(horizon)
    new = (jax.random.uniform(k_new, (horizon,)) < p) | (t == 0) | (t == held)  # the held period is cut
    held_start = pool[jax.random.randint(k_held, (horizon,), 0, m)]
    if state_mode:
        n_cand = fitted.sorted_state.shape[0]
        k = jnp.minimum(fitted.neighbours, n_cand)
        pick = jax.random.randint(k_pick, (horizon,), 0, k)
    else:
        pick = jax.random.randint(k_pick, (horizon,), 0, n_obs)
    decay = jnp.float32(fitted.config.decay)

    def step(carry, x):
        prev, state = carry
        day, is_new, hs, j = x
        nxt = prev + 1
        past_end = nxt >= n_obs
        hold = jnp.where(is_new | past_end | ~member[jnp.minimum(nxt, n_obs - 1)], hs, nxt)
        if state_mode:  # as `bootstrap.matched_indices`
            pos = jnp.searchsorted(fitted.sorted_state, state)
            lo = jnp.clip(pos - k // 2, 0, n_cand - k)
            plain = jnp.where(is_new | past_end, fitted.order[lo + j] + 1, nxt)
        else:  # as `bootstrap.block_indices`
            plain = jnp.where(is_new, j, nxt % n_obs)
        i = jnp.where(day < held, hold, plain)
        if state_mode:
            state = tb.rounded(decay * state, fence) + fitted.innovation[i]
        return (i, state), i

    init = (jnp.int32(0), fitted.state_end if state_mode else jnp.float32(0))
    _, idx = jax.lax.scan(step, init, (t, new, held_start, pick))
    return idx


def analog_pool(log_returns: np.ndarray, w: np.ndarray, size: float) -> np.ndarray:
    """``[m]`` int32 rows that follow history's ``m = min(ANALOGS, time - 1)`` days whose target log return
    ``log(sum_i w_i exp(r_i))`` is nearest ``log(1 + size)`` (ties: the earlier day); the last day has no next."""
    r = np.asarray(log_returns, np.float64)[:-1]
    target = np.log(np.exp(r) @ np.asarray(w, np.float64))
    near = np.argsort(np.abs(target - np.log1p(size)), kind="stable")[:ANALOGS]
    return (near + 1).astype(np.int32)


def replay_pool(log_returns: np.ndarray, episode: np.ndarray) -> tuple[np.ndarray, str]:
    """(``[m]`` int32 history days with the volatility label of the episode's last day, that label).

    The episode's last day is labelled as a history day is: its trailing WINDOW-day volatility (over the
    episode's last days, preceded by the history's last ones when the episode is shorter: a world starts where
    the history ends) against history's terciles. ConfigError naming replay.episode when history is too short.
    """
    r = np.asarray(log_returns, np.float64)
    thresholds = label_thresholds(r)
    window = np.concatenate([r, np.asarray(episode, np.float64)])[-WINDOW:]
    label = -1 if thresholds is None else int(_label(trailing_volatility(window)[-1:], *thresholds)[0])
    pool = np.flatnonzero(day_labels(r) == label).astype(np.int32)
    if label < 0 or pool.size < MIN_DAYS:
        raise ConfigError(f"replay.episode: the bootstrap's sample ({r.shape[0]} returns) has {pool.size} days of "
                          f"the volatility the episode leaves, fewer than {MIN_DAYS}")
    return pool, LABELS[label]


def forced_indices(key: jax.Array, fitted, horizon: int, p: jax.Array, fence: jax.Array, fixed: jax.Array,
                   start_day: jax.Array, pool: jax.Array, innovation: jax.Array) -> jax.Array:
    """Row indices ``[horizon]`` of one world into history's rows followed by a condition's rows.

    `fixed` ``[horizon]``: the row forced on each day (-1: none); day `start_day` starts a block at
    ``pool[u]``, u uniform from the world's key folded with FORCED_SALT; `innovation`: the state update of
    every row of that table. Other days are the plain bootstrap's (`bootstrap.matched_indices` /
    `block_indices`), drawn from the same numbers, so the days before the first forced one are the plain
    world's bit for bit.
    """
    n_obs = fitted.returns.shape[0]
    state_mode = fitted.config.matching == "state"
    k_new, k_pick = jax.random.split(key)
    new = (jax.random.uniform(k_new, (horizon,)) < p).at[0].set(True)
    if state_mode:
        n_cand = fitted.sorted_state.shape[0]
        k = jnp.minimum(fitted.neighbours, n_cand)
        pick = jax.random.randint(k_pick, (horizon,), 0, k)
    else:
        pick = jax.random.randint(k_pick, (horizon,), 0, n_obs)
    forced_start = pool[jax.random.randint(jax.random.fold_in(key, FORCED_SALT), (), 0, pool.shape[0])]
    decay = jnp.float32(fitted.config.decay)

    def step(carry, x):
        prev, state = carry
        day, is_new, j, f = x
        if state_mode:  # as `bootstrap.matched_indices`
            pos = jnp.searchsorted(fitted.sorted_state, state)
            lo = jnp.clip(pos - k // 2, 0, n_cand - k)
            plain = jnp.where(is_new | (prev + 1 >= n_obs), fitted.order[lo + j] + 1, prev + 1)
        else:  # as `bootstrap.block_indices`
            plain = jnp.where(is_new, j, (prev + 1) % n_obs)
        i = jnp.where(f >= 0, f, jnp.where(day == start_day, forced_start, plain))
        if state_mode:
            state = tb.rounded(decay * state, fence) + innovation[i]
        return (i, state), i

    init = (jnp.int32(0), fitted.state_end if state_mode else jnp.float32(0))
    _, idx = jax.lax.scan(step, init, (jnp.arange(horizon), new, pick, fixed))
    return idx

"""Indicator objects for step strategies: ``init`` / ``update(state, obs)`` / ``value`` / ``ready``.

    sma = ta.SMA(window=self.fast)                # build it in `step` from the strategy's (traced) fields
    state = sma.update(state, obs)                # once per close, every close
    w = jnp.where(sma.ready(state), sma.value(state) > price, 0.0)

Why objects: the function helpers in `stressgen.indicators` take the value that leaves a rolling window as
an argument, because a ring buffer in the engine's loop carry was slow on XLA-CPU. Every indicator here reads
a series that is on the engine's tape, so it fetches the leaving value itself with ``obs.log_price_ago`` /
``obs.log_return_ago`` and nobody hands it in by hand.

Conventions:

* ``source`` (static) picks the series: ``"price"`` = ``exp(obs.log_price)`` (relative to the first day
  seen), ``"log_price"``, or ``"return"`` = the day's log return. Defaults: price for SMA, EMA, max, min and
  RSI; return for `RollingStd` (volatility); log price for `ZScore` (as `strategies.ZScoreReversion`).
* Windows are traced ints and spans traced floats, so a grid over them is one compiled program.
* `update` must run once per close from the first close seen (the state counts closes; the leaving value
  is read ``window`` closes back). States are NamedTuples, one world, ``[assets]`` leaves.
* Before the window is full, statistics use the observations seen so far, like `stressgen.indicators`;
  ``ready(state)`` says when the window is full. Standard deviations use ``ddof=1`` (0 with one point).
* EMA: ``alpha = 2 / (span + 1)``, seeded with the first observation (pandas ``ewm(span, adjust=False)``);
  ``ready`` once ``span`` observations are in.
* RSI (Wilder 1978): changes ``d = x_t - x_{t-1}``; average gain and loss are the simple mean of the
  first ``window`` changes, then Wilder's smoothing ``avg += (d - avg) / window`` (alpha = 1/window, the
  TA-Lib definition). ``RSI = 100 * gain / (gain + loss)`` = ``100 - 100 / (1 + gain / loss)``; 50 when
  nothing moved. The first close has no change; ``ready`` after ``window`` changes.
* `RollingMax` / `RollingMin` read the whole window from the tape each close with a `lax.fori_loop` whose
  trip count is the traced window (see `_Extreme`).

Array forms (vector tier, ``x[time, assets]``, causal scans): ``Indicator(...).array(x)`` runs the same
update over the rows of x with leaving values read from x (the ``source`` is ignored: x is the series);
``rolling_max_array``, ``rolling_min_array`` and ``rsi_array`` are shorthands (the rolling mean, std, z-score
and EWMA have theirs in `stressgen.indicators`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from . import indicators as ind
from .strategy import static

__all__ = ["SMA", "EMA", "RollingStd", "RollingMax", "RollingMin", "RSI", "ZScore",
           "ZScoreState", "ExtremeState", "RSIState",
           "rolling_max_array", "rolling_min_array", "rsi_array"]

SOURCES = ("price", "log_price", "return")
Reader = Callable[[jax.Array | int], jax.Array]  # k -> [assets] value of the series k closes ago


def _reader(obs, source: str) -> Reader:
    if source == "return":
        return obs.log_return_ago
    if source == "log_price":
        return obs.log_price_ago
    return lambda k: jnp.exp(obs.log_price_ago(k))


class _Indicator:
    """Shared plumbing: registered as a pytree (traced window, static source), `update` on an obs, `array`."""

    source: str

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"{type(self).__name__}: source must be one of {SOURCES}, got {self.source!r}")

    def update(self, state, obs):
        """Fold in close t of `obs` (reads the leaving value from the tape)."""
        return self._step(state, _reader(obs, self.source))

    def array(self, x: jax.Array) -> jax.Array:
        """``[time, ...]`` value after each row of ``x[time, ...]`` (a causal scan of the same update)."""
        def body(state, t):
            state = self._step(state, lambda k: ind.lagged(x, t, k))
            return state, self.value(state)

        if x.ndim == 1:
            return self.array(x[:, None])[:, 0]
        return lax.scan(body, self.init(x.shape[1]), jnp.arange(x.shape[0]))[1]


def _register(cls):
    # a frozen dataclass that is also a pytree: the window is a traced leaf, so an indicator held as a
    # strategy field is a child of the strategy's tree (gridded and vmapped with it); `source` is static
    return jax.tree_util.register_dataclass(dataclasses.dataclass(frozen=True)(cls))


# ------------------------------------------------------------------------------------- rolling mean / std
class _Rolling(_Indicator):
    """Running sums over the window (`stressgen.indicators.Rolling`); the leaving value comes from the tape."""

    def init(self, n_assets: int) -> ind.Rolling:
        return ind.rolling_init((n_assets,))

    def _step(self, state: ind.Rolling, read: Reader) -> ind.Rolling:
        return ind.rolling_update(state, read(0), read(self.window), self.window)

    def ready(self, state: ind.Rolling) -> jax.Array:
        return ind.ready(state, self.window)


@_register
class SMA(_Rolling):
    """Simple moving average over `window` closes. State: `stressgen.indicators.Rolling`."""

    window: int = 20
    source: str = static("price")

    def value(self, state: ind.Rolling) -> jax.Array:
        return ind.rolling_mean(state, self.window)


@_register
class RollingStd(_Rolling):
    """Rolling sample standard deviation (ddof=1) over `window` closes; of log returns by default."""

    window: int = 20
    source: str = static("return")

    def value(self, state: ind.Rolling) -> jax.Array:
        return ind.rolling_std(state, self.window)


class ZScoreState(NamedTuple):
    roll: ind.Rolling
    x: jax.Array     # today's value, the numerator's first term


@_register
class ZScore(_Indicator):
    """``(x - rolling mean) / rolling std`` over `window` closes (the window includes today)."""

    window: int = 20
    source: str = static("log_price")

    def init(self, n_assets: int) -> ZScoreState:
        return ZScoreState(ind.rolling_init((n_assets,)), jnp.zeros((n_assets,), jnp.float32))

    def _step(self, state: ZScoreState, read: Reader) -> ZScoreState:
        x = read(0)
        return ZScoreState(ind.rolling_update(state.roll, x, read(self.window), self.window), x.astype(state.x.dtype))

    def value(self, state: ZScoreState) -> jax.Array:
        # 0 (not inf) while the spread is zero, e.g. after one observation
        return ind.rolling_zscore(state.roll, state.x, self.window)

    def ready(self, state: ZScoreState) -> jax.Array:
        return ind.ready(state.roll, self.window)


# --------------------------------------------------------------------------------------------------- EMA
@_register
class EMA(_Indicator):
    """Exponential moving average, ``alpha = 2 / (span + 1)``. State: `stressgen.indicators.Ewma`."""

    span: float = 20.0
    source: str = static("price")

    def init(self, n_assets: int) -> ind.Ewma:
        return ind.ewma_init((n_assets,))

    def _step(self, state: ind.Ewma, read: Reader) -> ind.Ewma:
        return ind.ewma_update(state, read(0), ind.span_to_alpha(self.span))

    def value(self, state: ind.Ewma) -> jax.Array:
        return state.mean

    def ready(self, state: ind.Ewma) -> jax.Array:
        return state.count >= self.span


# ------------------------------------------------------------------------------------------ rolling max/min
class ExtremeState(NamedTuple):
    value: jax.Array  # [assets] max (or min) over the last min(window, count) closes
    count: jax.Array


class _Extreme(_Indicator):
    """Max (``_sign = 1``) or min (``-1``) over the window, re-read from the tape every close.

    Why a `lax.fori_loop` with the traced window as its trip count rather than a static ``max_window``
    bound with masking: the window stays a traced leaf (a grid over windows is one program, as for `SMA`),
    the user picks no bound, and each close costs ``window`` tape reads rather than ``max_window``. A
    running max cannot drop the leaving value, and a monotonic deque would be the ring buffer in the carry
    that this module exists to avoid. The loop always reads `window` closes: before the first day the tape
    returns the first day, which is in the window anyway, so the bound does not depend on the (per-world)
    state and vmap over worlds keeps one plain loop; a grid over windows runs to the largest (masked).
    """

    _sign = 1.0

    def init(self, n_assets: int) -> ExtremeState:
        return ExtremeState(jnp.zeros((n_assets,), jnp.float32), jnp.zeros((), jnp.int32))

    def _step(self, state: ExtremeState, read: Reader) -> ExtremeState:
        s = self._sign
        best = lax.fori_loop(1, jnp.maximum(self.window, 1), lambda k, m: jnp.maximum(m, s * read(k)), s * read(0))
        return ExtremeState((s * best).astype(state.value.dtype), state.count + 1)

    def value(self, state: ExtremeState) -> jax.Array:
        return state.value

    def ready(self, state: ExtremeState) -> jax.Array:
        return state.count >= self.window


@_register
class RollingMax(_Extreme):
    """Highest value over the last `window` closes (today included)."""

    window: int = 20
    source: str = static("price")


@_register
class RollingMin(_Extreme):
    """Lowest value over the last `window` closes (today included)."""

    window: int = 20
    source: str = static("price")
    _sign = -1.0


# --------------------------------------------------------------------------------------------------- RSI
class RSIState(NamedTuple):
    gain: jax.Array   # [assets] Wilder average gain
    loss: jax.Array   # [assets] Wilder average loss (positive)
    count: jax.Array  # closes seen (changes seen = count - 1)


@_register
class RSI(_Indicator):
    """Wilder's relative strength index over `window` changes (0..100; see the module doc)."""

    window: int = 14
    source: str = static("price")

    def init(self, n_assets: int) -> RSIState:
        z = jnp.zeros((n_assets,), jnp.float32)
        return RSIState(z, z, jnp.zeros((), jnp.int32))

    def _step(self, state: RSIState, read: Reader) -> RSIState:
        d = (read(0) - read(1)).astype(state.gain.dtype)
        changes = state.count  # changes seen after this one: the first close has none
        # running mean for the first `window` changes (Wilder's seed), then alpha = 1 / window
        a = 1.0 / jnp.maximum(jnp.minimum(changes, self.window), 1).astype(d.dtype)
        a = jnp.where(changes == 0, 0.0, a)
        gain = state.gain + a * (jnp.maximum(d, 0.0) - state.gain)
        loss = state.loss + a * (jnp.maximum(-d, 0.0) - state.loss)
        return RSIState(gain, loss, state.count + 1)

    def value(self, state: RSIState) -> jax.Array:
        total = state.gain + state.loss
        # gain / total <= 1 exactly in floating point; 100 * gain / total could round above 100
        return jnp.where(total > 0, 100.0 * (state.gain / jnp.where(total > 0, total, 1.0)), 50.0)

    def ready(self, state: RSIState) -> jax.Array:
        return state.count > self.window


# ------------------------------------------------------------------------------------------ array shorthands
# (the rolling mean, std, z-score and EWMA already have theirs in `stressgen.indicators`: rolling_mean_array,
# rolling_std_array, rolling_zscore_array, ewma_mean_array)
def rolling_max_array(x: jax.Array, window) -> jax.Array:
    return RollingMax(window).array(x)


def rolling_min_array(x: jax.Array, window) -> jax.Array:
    return RollingMin(window).array(x)


def rsi_array(x: jax.Array, window=14) -> jax.Array:
    return RSI(window).array(x)

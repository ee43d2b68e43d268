"""Strategy protocols: two tiers, both written for ONE world, and parameter grids.

Conventions (shared with `stressgen.engine`):

* 252 periods a year by default; weights decided at close t earn the return of t+1 at the earliest
  (the engine's ``lag`` adds delay); costs are charged in bps of traded notional; equity compounds simple
  returns (log returns are converted with ``expm1``).
* Day index ``t`` counts closes relative to the start of the synthetic horizon: ``t = 0`` is the last real
  close (the decision taken there is the first one traded), history closes are ``t < 0``, synthetic closes
  are ``t = 1 .. horizon``.

Step tier (optax style, causal by construction)::

    class State(NamedTuple):
        sma: Rolling                                     # typed state: a NamedTuple of arrays

    @dataclasses.dataclass(frozen=True)
    class Flat(StepStrategy):
        level: float = 0.5                               # traced: a new value does not recompile
        long_short: bool = static(False)                 # static: used in a Python `if`
        def init(self, n_assets):
            return ()                                    # any pytree of arrays; prefer a NamedTuple
        def step(self, state, obs):                      # obs: Obs, information up to close t only
            return state, jnp.full(obs.log_return.shape, self.level / obs.log_return.shape[0])

``step`` returns ``(state, weights[assets])`` or ``(state, Rebalance(weights, trade))``; ``trade=False``
keeps the current (drifted) holdings, which is how schedules such as monthly rebalancing are written
(``Rebalance(w, obs.calendar.month_end)``). `Obs` carries the close's returns, prices, holdings, the
strategy's own equity, P&L and drawdown, and its calendar; it reads the past through accessors that stop at
today, so a step strategy cannot see a later close.

Vectorized tier (vectorbt style): ``weights(self, log_returns[time, assets]) -> [time, assets]`` (or a
`Rebalance` with ``trade[time]``) in jax.numpy, row t using returns up to row t only. The engine proves this
on every run (`stressgen.engine.check_causality`): for every parameter set, on the run's own input, with the
later returns changed at every close whose decision is traded.

Fields are traced unless declared `static` (explicitly, as in equinox or flax): numbers and arrays are pytree
leaves (vmappable, no recompile when changed), nested strategies are pytree children (so overlays compose),
and a static field is part of the compiled program. A parameter grid (`grid`) turns the named traced fields
into arrays of shape ``[n_params]`` and the engine vmaps over them: one program, not a Python loop.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Indicator helpers live in stressgen.indicators (which imports nothing from stressgen, so there is no
# cycle); re-exported here because strategy authors look for them next to the protocols.
from . import indicators as indicators
from .errors import ConfigError, StrategyError
from .types import BUSINESS_DAYS as BUSINESS_DAYS
from .types import business_days as business_days

__all__ = ["Obs", "Calendar", "Tape", "Rebalance", "StepStrategy", "VectorStrategy", "ParamGrid", "grid", "static",
           "business_days", "BUSINESS_DAYS",
           "is_static", "strategy_name", "user_strategy"]


class Tape(NamedTuple):
    """The engine's record of one world: the shared real history and this world's synthetic days.

    Rows are closes: ``hist_*[H - 1 + i]`` holds close ``i <= 0`` and ``syn_*[i - 1]`` holds close ``i >= 1``.
    Log prices are cumulative log returns since the first history day. It holds the world's future too, so
    strategies never get it: `Obs` reads it only through accessors that stop at today.
    """

    hist_r: jax.Array
    hist_lp: jax.Array
    syn_r: jax.Array
    syn_lp: jax.Array


def _read(hist: jax.Array, syn: jax.Array, i: jax.Array) -> jax.Array:
    h = lax.dynamic_index_in_dim(hist, jnp.clip(hist.shape[0] - 1 + i, 0, hist.shape[0] - 1), 0, keepdims=False)
    s = lax.dynamic_index_in_dim(syn, jnp.clip(i - 1, 0, syn.shape[0] - 1), 0, keepdims=False)
    return jnp.where(i >= 1, s, h)


class Calendar(NamedTuple):
    """Calendar facts of close t (int32 / bool scalars). A flag ``*_end`` says that the next close falls in a
    new week, month, quarter or year, so a month-end rebalance is ``Rebalance(w, obs.calendar.month_end)``."""

    date: jax.Array        # days since 1970-01-01
    weekday: jax.Array     # 0 = Monday
    week_end: jax.Array
    month_end: jax.Array
    quarter_end: jax.Array
    year_end: jax.Array


STEP_OBS = "(step)"  # the strategy an `Obs` error names; the engine replaces it with the strategy's own name


def _lag(k: jax.Array | int, what: str) -> jax.Array | int:
    """A concrete negative lag reads the future: refuse it where it is written. A traced one cannot be refused
    while tracing, so it is clamped at today (``k = 0``) and never reaches a later close."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k < 0:
        raise StrategyError(STEP_OBS, f"obs.{what}({int(k)}): a negative lag reads a later close; use k >= 0 "
                                      "(k = 0 is today)")
    return jnp.maximum(k, 0)


@dataclasses.dataclass(frozen=True)
class Obs:
    """What a step strategy sees at close t of one world: everything known at that close, and nothing later.

    Causal by construction: the world's later closes exist only inside the engine's tape, which `Obs` reads
    through `log_return_ago` / `log_price_ago`; they stop at today and refuse a negative lag. The tape itself
    is private (the one limit of the guarantee: code that digs it out, or closes over the scenario arrays,
    goes around every check; see docs/strategies.md).

    Attributes:
        log_return: ``[assets]`` log return of day t (close t-1 to close t).
        simple_return: ``[assets]`` ``expm1(log_return)``.
        log_price: ``[assets]`` cumulative log return since the first day the strategy saw (its price
            relative to that day is ``exp(log_price)``).
        holdings: ``[assets]`` the portfolio's weights at close t after drift, before today's trade
            (zero during the warm-up on history, which trades nothing).
        t: int32 scalar, the close index (``t <= 0`` on history, ``1 .. horizon`` on the synthetic days).
        seen: int32 scalar, closes seen so far including t (``log_return_ago(k)`` is valid for ``k < seen``).
        equity: the strategy's own portfolio value at close t before today's trade (1.0 through the warm-up
            and at close 0: P&L counts only on the synthetic horizon).
        pnl: the portfolio's simple return over day t (0 in the warm-up).
        peak: the highest equity so far (`drawdown` is ``1 - equity / peak``).
        periods_per_year: closes in a year of the data (`BacktestConfig.periods_per_year`: 252 for business
            days, 52 weekly, 12 monthly), for a strategy that annualises.
    """

    log_return: jax.Array
    simple_return: jax.Array
    log_price: jax.Array
    holdings: jax.Array
    t: jax.Array
    seen: jax.Array
    equity: jax.Array
    pnl: jax.Array
    peak: jax.Array
    _tape: Tape = dataclasses.field(repr=False)
    _calendar: jax.Array | None = dataclasses.field(default=None, repr=False)  # [closes, 6] int32, see calendar
    periods_per_year: int = 252  # the run's (`BacktestConfig.periods_per_year`): a Python int, part of the program

    @property
    def drawdown(self) -> jax.Array:
        """``1 - equity / peak``: 0 at a new high, 0.2 when the strategy is 20% below its best."""
        return 1.0 - self.equity / jnp.maximum(self.peak, 1e-30)

    @property
    def calendar(self) -> Calendar:
        """The `Calendar` of close t (the worlds continue the history's calendar: business days for daily
        data; warm-up closes are dated on that calendar counted back from the history's last date)."""
        if self._calendar is None:
            raise ConfigError("obs.calendar: these scenarios carry no dates (Scenarios.history_end is empty); "
                              "build them with history_end='YYYY-MM-DD'")
        row = self._tape.hist_r.shape[0] - 1 + self.t
        row = lax.dynamic_index_in_dim(self._calendar, jnp.clip(row, 0, self._calendar.shape[0] - 1), 0,
                                       keepdims=False)
        return Calendar(row[0], row[1], row[2] != 0, row[3] != 0, row[4] != 0, row[5] != 0)

    def log_return_ago(self, k: jax.Array | int) -> jax.Array:
        """``[assets]`` log return of close ``t - k`` (k = 0 is today; a negative k is refused). Before the
        first day seen it returns that first day."""
        return _read(self._tape.hist_r, self._tape.syn_r, self.t - _lag(k, "log_return_ago"))

    def log_price_ago(self, k: jax.Array | int) -> jax.Array:
        """``[assets]`` log price at close ``t - k`` (same rules as `log_return_ago`)."""
        return _read(self._tape.hist_lp, self._tape.syn_lp, self.t - _lag(k, "log_price_ago"))

    def replace(self, **changes: Any) -> Obs:
        """A copy with some fields changed (an overlay passes its inner strategy the inner holdings)."""
        return dataclasses.replace(self, **changes)


class Rebalance(NamedTuple):
    """Target weights with a trade flag: ``trade=False`` keeps the current holdings (no order, no cost)."""

    weights: jax.Array
    trade: jax.Array


def is_static(field: dataclasses.Field) -> bool:
    """Whether a strategy's dataclass field was declared with `static`."""
    return bool(field.metadata.get("static", False))


def static(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING) -> Any:
    """Declare a strategy field static: part of the compiled program, so a new value compiles a new one.

    Use it for what shapes the program: a Python ``if``, a shape, a ``range()``, a buffer capacity, a string
    option. Every other field is traced (like equinox's ``field(static=True)`` and flax's ``static``: the
    declaration decides, not whether the value happens to be an int or a float), so changing it, or
    gridding over it, reuses the program.
    """
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"static": True})


_TRACEABLE = (int, float, bool, complex, np.ndarray, np.generic, jax.Array)


def check_fields(strategy: Any) -> None:
    """Refuse a traced field whose value JAX cannot trace (a string, a function, an object), naming it."""
    for f in dataclasses.fields(strategy):
        if is_static(f):
            continue
        value = getattr(strategy, f.name)
        if isinstance(value, _StrategyBase):
            check_fields(value)
            continue
        for leaf in jax.tree_util.tree_leaves(value):
            if not isinstance(leaf, _TRACEABLE):
                raise StrategyError(strategy_name(strategy),
                                    f"field {f.name!r} holds a {type(leaf).__name__}, which cannot be traced; "
                                    f"declare it static: {f.name}: {type(leaf).__name__} = static(...) "
                                    "(from stressgen.strategy import static)")


class _StrategyBase:
    """Registers every subclass as a pytree: its static fields (see `static`) are the tree's structure, every
    other field is a child (a number or array is a leaf; a nested strategy is a subtree, so overlays compose)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(cls, _flatten_with_keys, lambda aux, ch: _unflatten(cls, aux, ch),
                                                flatten_func=_flatten)


def _split_fields(obj):
    if not dataclasses.is_dataclass(obj):
        raise StrategyError(strategy_name(obj), "must be a @dataclasses.dataclass(frozen=True)")
    kinds, children, statics = [], [], []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if is_static(f):
            kinds.append((f.name, False))
            statics.append(value)
        else:
            kinds.append((f.name, True))
            children.append(value)
    return kinds, children, tuple(statics)


def _flatten(obj):
    kinds, children, statics = _split_fields(obj)
    return children, (tuple(kinds), statics)


def _flatten_with_keys(obj):
    kinds, children, statics = _split_fields(obj)
    names = [n for n, leaf in kinds if leaf]
    return [(jax.tree_util.GetAttrKey(n), c) for n, c in zip(names, children)], (tuple(kinds), statics)


def _unflatten(cls, aux, children):
    kinds, statics = aux
    obj = object.__new__(cls)  # bypass __init__/__post_init__: children may be tracers or vmap axes specs
    it_c, it_s = iter(children), iter(statics)
    for name, leaf in kinds:
        object.__setattr__(obj, name, next(it_c) if leaf else next(it_s))
    return obj


class StepStrategy(_StrategyBase):
    """Step tier. Subclass as a frozen dataclass and define `init` and `step` (pure, one world)."""

    def init(self, n_assets: int) -> Any:
        raise NotImplementedError

    def step(self, state: Any, obs: Obs) -> tuple[Any, jax.Array | Rebalance]:
        raise NotImplementedError


class VectorStrategy(_StrategyBase):
    """Vectorized tier. Subclass as a frozen dataclass and define `weights` (jax.numpy, one world)."""

    def weights(self, log_returns: jax.Array) -> jax.Array | Rebalance:
        raise NotImplementedError


def user_strategy(strategy: Any) -> Any:
    """The strategy the user wrote: a grid's strategy, or the one an engine wrapper (`named_after`) runs."""
    if isinstance(strategy, ParamGrid):
        strategy = strategy.strategy
    return getattr(strategy, "named_after", strategy)


def strategy_name(strategy: Any) -> str:
    """``module.Class`` of a strategy (or a grid's strategy), for error messages; ``file.py:Class`` for a
    class loaded from a plugin file."""
    cls = type(user_strategy(strategy))
    # a class from a plugin file: the loader's module name (_stressgen_plugin_<hash>) means nothing to the
    # user, so name the file they wrote (stressgen.plugins sets __stressgen_ref__ on such modules)
    ref = getattr(sys.modules.get(cls.__module__), "__stressgen_ref__", None)
    return f"{ref}:{cls.__qualname__}" if ref else f"{cls.__module__}.{cls.__qualname__}"


@dataclasses.dataclass(frozen=True)
class ParamGrid:
    """A strategy whose leaves all carry a leading ``[n_params]`` axis, plus the gridded values.

    Attributes:
        strategy: the strategy with every leaf broadcast to ``[n_params, ...]``.
        values: name -> ``[n_params]`` array, the gridded fields (row p is parameter set p).
    """

    strategy: Any
    values: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(next(iter(self.values.values())))

    def at(self, p: int) -> Any:
        """Parameter set p as an ordinary (un-gridded) strategy."""
        return jax.tree_util.tree_map(lambda x: x[p], self.strategy)


def grid(strategy: Any, *, product: bool = True, **values: Any) -> ParamGrid:
    """Grid over fields of `strategy`: the cartesian product of the value lists (or zipped when
    ``product=False``). Window lengths may be gridded too: strategies read lagged values from the engine's
    tape, so no buffer size depends on them.
    """
    if not values:
        raise ConfigError("grid() needs at least one field=[values]")
    fields = {f.name: f for f in dataclasses.fields(strategy)}
    for name in values:
        if name not in fields:
            raise ConfigError(f"{strategy_name(strategy)} has no field {name!r}; fields: {', '.join(fields)}")
        if is_static(fields[name]):
            raise ConfigError(f"{strategy_name(strategy)}.{name} is static (it shapes the compiled program), so it "
                              "cannot be gridded in one program; run one backtest per value")
    lists = [np.atleast_1d(np.asarray(v)) for v in values.values()]
    if product:
        rows = list(itertools.product(*[list(v) for v in lists]))
    else:
        if len({len(v) for v in lists}) != 1:
            raise ConfigError("grid(product=False) needs value lists of equal length")
        rows = list(zip(*lists))
    cols = {n: np.asarray([r[i] for r in rows]) for i, n in enumerate(values)}
    n = len(rows)
    changes = {name: (col.astype(np.int32) if np.issubdtype(col.dtype, np.integer) else col.astype(np.float32))
               for name, col in cols.items()}
    # Every other leaf gets the [n_params] axis too, so the engine vmaps the whole strategy with in_axes=0.
    broadcast = jax.tree_util.tree_map(lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)).copy(),
                                       strategy)
    return ParamGrid(strategy=dataclasses.replace(broadcast, **changes), values=cols)


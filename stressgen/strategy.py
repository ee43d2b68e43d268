"""Strategy protocols: two tiers, both written for ONE world, and parameter grids.

Conventions (shared with `stressgen.engine`):

* 252 periods a year by default; weights decided at close t earn the return of t+1 at the earliest
  (the engine's ``lag`` adds delay); costs are charged in bps of traded notional; equity compounds simple
  returns (log returns are converted with ``expm1``).
* Day index ``t`` counts closes relative to the start of the synthetic horizon: ``t = 0`` is the last real
  close (the decision taken there is the first one traded), history closes are ``t < 0``, synthetic closes
  are ``t = 1 .. horizon``.

Step tier (optax style, causal by construction)::

    @dataclasses.dataclass(frozen=True)
    class Flat(StepStrategy):
        level: float = 0.5                               # floats are traced: a new value does not recompile
        def init(self, n_assets):
            return ()                                    # any pytree of arrays
        def step(self, state, obs):                      # obs: Obs, information up to close t only
            return state, jnp.full(obs.log_return.shape, self.level / obs.log_return.shape[0])

``step`` returns ``(state, weights[assets])`` or ``(state, Rebalance(weights, trade))``; ``trade=False``
keeps the current (drifted) holdings, which is how schedules such as monthly rebalancing are written.

Vectorized tier (vectorbt style): ``weights(self, log_returns[time, assets]) -> [time, assets]`` (or a
`Rebalance` with ``trade[time]``) in jax.numpy, row t using returns up to row t only. The engine proves
this on first use (`stressgen.engine.check_causality`), then evaluates it one close at a time inside its fused
loop when every op allows it (`stressgen.engine._stream`; `stressgen.engine.stream_reason` says why not).

Fields: Python floats and arrays are pytree leaves (traced, vmappable, no recompile when changed); ints,
bools, strings and None are static (shape-affecting: a new value compiles a new program); nested strategies
are pytree children (so overlays compose). A parameter grid (`grid`) turns the named fields into arrays of
shape ``[n_params]`` and the engine vmaps over them: one program, not a Python loop.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Indicator helpers live in stressgen.indicators (which imports nothing from stressgen, so there is no
# cycle); re-exported here because strategy authors look for them next to the protocols.
from . import indicators as indicators
from .errors import ConfigError, StrategyError

__all__ = ["Obs", "Tape", "Rebalance", "StepStrategy", "VectorStrategy", "ParamGrid", "grid", "strategy_name"]


class Tape(NamedTuple):
    """The read-only past of one world: the shared real history and this world's synthetic days.

    Rows are closes: ``hist_*[H - 1 + i]`` holds close ``i <= 0`` and ``syn_*[i - 1]`` holds close ``i >= 1``.
    Log prices are cumulative log returns since the first history day. During the warm-up the synthetic
    rows are a placeholder that is never read.
    """

    hist_r: jax.Array
    hist_lp: jax.Array
    syn_r: jax.Array
    syn_lp: jax.Array


def _read(hist: jax.Array, syn: jax.Array, i: jax.Array) -> jax.Array:
    h = lax.dynamic_index_in_dim(hist, jnp.clip(hist.shape[0] - 1 + i, 0, hist.shape[0] - 1), 0, keepdims=False)
    s = lax.dynamic_index_in_dim(syn, jnp.clip(i - 1, 0, syn.shape[0] - 1), 0, keepdims=False)
    return jnp.where(i >= 1, s, h)


class Obs(NamedTuple):
    """What a step strategy sees at close t of one world (everything is known at that close).

    Attributes:
        log_return: ``[assets]`` log return of day t (close t-1 to close t).
        simple_return: ``[assets]`` ``expm1(log_return)``.
        log_price: ``[assets]`` cumulative log return since the first day the strategy saw (its price
            relative to that day is ``exp(log_price)``).
        holdings: ``[assets]`` the portfolio's weights at close t after drift, before today's trade
            (zero during the warm-up on history, which trades nothing).
        t: int32 scalar, the close index (``t <= 0`` on history, ``1 .. horizon`` on the synthetic days).
        seen: int32 scalar, closes seen so far including t (``log_return_ago(k)`` is valid for ``k < seen``).
        tape: the past, read through `log_return_ago` / `log_price_ago`.
    """

    log_return: jax.Array
    simple_return: jax.Array
    log_price: jax.Array
    holdings: jax.Array
    t: jax.Array
    seen: jax.Array
    tape: Tape

    def log_return_ago(self, k: jax.Array | int) -> jax.Array:
        """``[assets]`` log return of close ``t - k`` (k = 0 is today). Negative k reads today: the tape
        cannot reach the future. Before the first day seen it returns that first day."""
        return _read(self.tape.hist_r, self.tape.syn_r, self.t - jnp.maximum(k, 0))

    def log_price_ago(self, k: jax.Array | int) -> jax.Array:
        """``[assets]`` log price at close ``t - k`` (same rules as `log_return_ago`)."""
        return _read(self.tape.hist_lp, self.tape.syn_lp, self.t - jnp.maximum(k, 0))


class Rebalance(NamedTuple):
    """Target weights with a trade flag: ``trade=False`` keeps the current holdings (no order, no cost)."""

    weights: jax.Array
    trade: jax.Array


def _is_leaf_value(value: Any) -> bool:
    # floats and arrays are traced parameters; ints/bools/strings stay static because they usually shape
    # buffers or switch code paths.
    return isinstance(value, (float, np.ndarray, np.generic, jax.Array)) and not isinstance(value, bool)


class _StrategyBase:
    """Registers every subclass as a pytree whose leaves are its float/array fields (see module doc)."""

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
        if f.metadata.get("static", False) or not (_is_leaf_value(value) or isinstance(value, _StrategyBase)):
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


def strategy_name(strategy: Any) -> str:
    """``module.Class`` of a strategy (or a grid's strategy), for error messages."""
    if isinstance(strategy, ParamGrid):
        strategy = strategy.strategy
    strategy = getattr(strategy, "named_after", strategy)  # an engine wrapper reports the user's strategy
    cls = type(strategy)
    return f"{cls.__module__}.{cls.__qualname__}"


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
    names = [f.name for f in dataclasses.fields(strategy)]
    for name in values:
        if name not in names:
            raise ConfigError(f"{strategy_name(strategy)} has no field {name!r}; fields: {', '.join(names)}")
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


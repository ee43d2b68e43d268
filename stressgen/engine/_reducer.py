"""The interface of a per-world reduction that the engine runs inside its time loop (optax style).

Why: a metrics-only run keeps no ``[worlds, time]`` series, so every per-world number has to be computed as
running state of the day loop. What is computed (risk metrics: `stressgen.metrics.running`) belongs to the
layer above the engine, which passes a `Reducer` in; the engine owns only this interface and knows nothing
about risk.

A reducer is a frozen dataclass of pure methods:

* `init` -> per-world state, a pytree (NamedTuple) of scalars; the engine broadcasts it to ``[params, worlds]``.
* `update(state, day, inputs, fence)` -> new state, for ONE world and one day (the engine vmaps it).
* `batch_init` / `batch_update` (optional): state across the worlds of a day, ``[params, ..., worlds]``, for
  what a per-world vmap does badly (a sorted tail buffer: worlds minor, so one insertion step is one
  contiguous vector operation).
* `pack(state, batch)` -> one float32 array ``[params, rows, worlds]``: the single transfer to the host
  (the engine splits it over devices along its last axis and chunks along it).
* `finalize(packed, horizon)` -> name -> ``[params, worlds]`` NumPy arrays, on the host.

Static and runtime parts: the reducer is a static argument of the jitted program (hashed and compared), so
only what shapes the program belongs in its identity. Numbers that may change between runs without a
recompilation (a risk-free rate) are returned by `inputs` and reach `update` as a traced float32 array;
fields that only feed `inputs` or `finalize` are declared ``dataclasses.field(compare=False)`` so they do not
enter the cache key. `update`, `batch_*` and `pack` must therefore read such numbers from `inputs` only: a
program compiled for an equal reducer is reused with another one's values.

Bit-exactness: results must not depend on how many worlds share a loop (chunks, devices). Round every
product that feeds an add with ``stressgen.numerics.rounded(x, fence)`` (XLA-CPU contracts ``a*b+c`` into an
FMA for some world counts only), multiply by ``1 / n`` rather than dividing by ``n``, and leave square roots
and divisions of the result to `finalize` (NumPy rounds the same whatever the array size).
"""

from __future__ import annotations

import abc
from typing import Any, Generic, NamedTuple, TypeVar

import jax
import numpy as np

from ..errors import ConfigError

__all__ = ["Day", "Reducer"]

State = TypeVar("State")
Batch = TypeVar("Batch")


class Day(NamedTuple):
    """What one day leaves behind: scalars for one world in `Reducer.update`; ``[params, worlds]`` arrays in
    `Reducer.batch_update` (``t`` stays a scalar there)."""

    t: jax.Array         # int32 day number, 1 .. horizon (the close that ends the day)
    pnl: jax.Array       # float32 simple return of the day, net of the cost of the trade that opened it
    equity: jax.Array    # float32 equity at the day's close (1.0 before the first trade)
    turnover: jax.Array  # float32 sum |w - h| traded at the close that opened the day
    cost: jax.Array      # float32 cost paid at that close, as a fraction of equity


class Reducer(abc.ABC, Generic[State, Batch]):
    """Per-world reduction of the daily series, run inside the engine's time loop (see the module doc).

    Subclasses are frozen dataclasses (hashable: the reducer is a static argument of the compiled program).
    """

    def inputs(self) -> np.ndarray:
        """``[n]`` float32 runtime numbers, traced into the program (changing them does not recompile)."""
        return np.zeros((0,), np.float32)

    @abc.abstractmethod
    def init(self) -> State:
        """Per-world state before the first day: a pytree of scalar arrays."""

    @abc.abstractmethod
    def update(self, state: State, day: Day, inputs: jax.Array, fence: jax.Array) -> State:
        """The state after `day`, for one world (pure; traced, vmapped over worlds and parameter sets).

        `inputs` is `inputs()` as a traced array; `fence` is a runtime uint32 zero for
        ``stressgen.numerics.rounded``.
        """

    def batch_init(self, lead: tuple[int, ...], n_worlds: int, horizon: int) -> Batch:
        """Cross-world state, arrays ``[*lead, ..., n_worlds]`` (`lead` is ``(params,)``); None: none."""
        return None  # type: ignore[return-value]

    def batch_update(self, batch: Batch, day: Day) -> Batch:
        """The cross-world state after `day` (``[params, worlds]`` fields); called once a day, unvmapped."""
        return batch

    @abc.abstractmethod
    def pack(self, state: State, batch: Batch) -> jax.Array:
        """Everything `finalize` needs as one float32 array ``[params, rows, worlds]`` (state leaves are
        ``[params, worlds]``). Bitcast integers (``lax.bitcast_convert_type``) so they come back exact."""

    @abc.abstractmethod
    def finalize(self, packed: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """Name -> ``[params, worlds]`` NumPy array, from `pack`'s array on the host (one chunk of worlds)."""


def check_reducer(reducer: Any) -> None:
    """Refuse what cannot be the program's static argument, naming the reducer (engine-internal)."""
    if not isinstance(reducer, Reducer):
        raise ConfigError(f"reducer must be a stressgen.engine.Reducer, got {type(reducer).__name__}")
    try:
        hash(reducer)
    except TypeError as exc:
        raise ConfigError(f"reducer {type(reducer).__name__} must be hashable (a frozen dataclass): {exc}") from exc

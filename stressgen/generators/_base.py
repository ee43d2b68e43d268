"""The generator protocol, the history context every fitted generator carries, and chunked sampling.

A generator family is a final subclass of `AbstractGenerator` with two methods:

* ``fit(market, *, key, config) -> fitted``: host-side estimation; `fitted` is a frozen pytree of arrays
  plus static metadata (the config, the history context and a digest of the fitted values);
* ``sample(fitted, *, key, n_worlds, horizon, condition=None, first_world=0) -> Scenarios``: pure and
  jitted. World i is drawn from ``rng.world_keys(key, i)`` alone, so it does not depend on `n_worlds`,
  `first_world` of the chunk it falls in, or the device count.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import hashlib
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ConfigError, ModelFileError, UnsavableGeneratorError
# check_sizes is shared with the engine, so it lives in the neutral numerics module; re-exported for the
# generator modules that import it from here
from ..numerics import check_sizes as check_sizes
from ..types import MarketData, Provenance, Scenarios

__all__ = ["AbstractGenerator", "HistoryContext", "history_context", "digest", "iter_chunks", "check_sizes",
           "export_context", "restore_context", "config_to_dict", "config_from_dict", "take_arrays",
           "check_digest", "world_bucket", "first_worlds"]


@struct.dataclass
class HistoryContext:
    """The real history that sampled worlds continue from (the `Scenarios.history` prefix)."""

    history: jax.Array  # [time, assets] float32 log returns, the last `history_days` of the fit data
    anchor_prices: jax.Array  # [assets] last real prices
    assets: tuple[str, ...] = struct.field(pytree_node=False, default=())
    freq: str = struct.field(pytree_node=False, default="B")
    history_end: str = struct.field(pytree_node=False, default="")

    @property
    def asset_names(self) -> tuple[str, ...]:
        """The assets' names; ``"0", "1", ...`` for a fit on unnamed columns (what conditions name them by)."""
        return self.assets or tuple(str(i) for i in range(self.anchor_prices.shape[0]))


def history_context(market: MarketData, days: int) -> HistoryContext:
    """Context from the last `days` log returns of `market` (all of them when shorter)."""
    r = market.log_returns[-days:] if days > 0 else market.log_returns[:0]
    return HistoryContext(
        history=jnp.asarray(r, dtype=jnp.float32),
        anchor_prices=jnp.asarray(market.prices[-1], dtype=jnp.float32),
        assets=market.assets,
        freq=market.freq,
        history_end=str(market.dates[-1].date()),
    )


def digest(config: Any, *arrays: Any) -> str:
    """Short SHA-256 of a config and fitted arrays, recorded in `Provenance.params_digest`."""
    h = hashlib.sha256(repr(config).encode())
    for leaf in jax.tree_util.tree_leaves(arrays):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


class AbstractGenerator(abc.ABC):
    """A generator family. Subclasses are final; they hold no state (fitted values live in `fitted`)."""

    name: ClassVar[str]
    config_type: ClassVar[type]
    # the stress conditions `sample` accepts (every other one is refused with a ConfigError naming the family);
    # run specs check a [[stress]] case against it before any fit
    conditions: ClassVar[tuple[type, ...]] = ()

    def regime_names(self, config: Any) -> tuple[str, ...]:
        """The regime labels an `InRegime` condition may name under `config` (empty: the family takes none);
        known from the config alone, so a run spec checks them before any fit."""
        del config
        return ()

    @property
    def can_reanchor(self) -> bool:
        """Whether the family implements `reanchor` (a start state or a rolling origin without refitting)."""
        return type(self).reanchor is not AbstractGenerator.reanchor

    @abc.abstractmethod
    def fit(self, market: MarketData, *, key: jax.Array, config: Any = None) -> Any:
        """Estimate the generator on `market`; returns a fitted pytree."""

    @abc.abstractmethod
    def sample(self, fitted: Any, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: Any = None, first_world: int = 0) -> Scenarios:
        """Draw worlds ``first_world .. first_world + n_worlds - 1`` of `horizon` periods."""

    def reanchor(self, fitted: Any, market: MarketData, *, key: jax.Array) -> Any | None:
        """`fitted` (estimated on an earlier part of `market`) made to continue from the end of `market`, or
        None when the family cannot (the caller refits). What the fit estimated is kept; everything that
        describes "now" (the history context, any state at its end) comes from `market`. Rolling-origin
        studies use it to refit only every k-th origin."""
        del fitted, market, key
        return None

    # --- persistence (stressgen.persist): JSON-able meta plus named arrays, never pickle -------------------

    def export_fitted(self, fitted: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Split `fitted` into JSON-able meta (config, context, digest...) and named host arrays.

        Families that can be saved override this and `restore_fitted`; structure is rebuilt from code on
        load, so only values are stored.
        """
        raise UnsavableGeneratorError(f"generator {self.name!r} cannot be saved: it does not implement "
                                      "export_fitted/restore_fitted")

    def restore_fitted(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        """Inverse of `export_fitted`: sampling the result with a key gives bit-identical worlds."""
        raise UnsavableGeneratorError(f"generator {self.name!r} cannot be loaded: it does not implement "
                                      "export_fitted/restore_fitted")

    def _config(self, config: Any) -> Any:
        if config is None:
            return self.config_type()
        if not isinstance(config, self.config_type):
            raise ConfigError(f"generator {self.name!r} takes a {self.config_type.__name__}, "
                              f"got {type(config).__name__}")
        return config

    def _check_condition(self, condition: Any) -> None:
        """Refuse, naming the family, a condition it does not declare in `conditions` (None always passes)."""
        if condition is not None and not isinstance(condition, self.conditions):
            raise ConfigError(f"generator {self.name!r} does not support a stress condition (got {condition!r})")

    def _scenarios(self, context: HistoryContext, log_returns: jax.Array, params_digest: str,
                   first_world: int) -> Scenarios:
        return Scenarios(
            log_returns=log_returns, history=context.history, anchor_prices=context.anchor_prices,
            weights=None, assets=context.assets, freq=context.freq, history_end=context.history_end,
            provenance=Provenance(self.name, params_digest, first_world=int(first_world)),
        )


def iter_chunks(generator: AbstractGenerator, fitted: Any, *, key: jax.Array, n_worlds: int, horizon: int,
                chunk_size: int, first_world: int = 0, condition: Any = None) -> Iterator[Scenarios]:
    """Yield worlds in chunks of at most `chunk_size`, so memory is bounded by the chunk, not `n_worlds`.

    Every full chunk has the same shape, so only the last (shorter) chunk can compile a second program.
    """
    check_sizes(n_worlds=n_worlds, horizon=horizon, chunk_size=chunk_size)
    for start in range(first_world, first_world + n_worlds, chunk_size):
        size = min(chunk_size, first_world + n_worlds - start)
        yield generator.sample(fitted, key=key, n_worlds=size, horizon=horizon, condition=condition,
                               first_world=start)



def world_bucket(n_worlds: int) -> int:
    """The number of worlds a sampler's program is compiled for when `n_worlds` are asked: the next power of
    two up to 1024, then the next multiple of 1024.

    Why: the classical samplers are compiled per world count, and every count a caller asks for (a chunk's
    remainder, a test's 5 or 7 worlds, a notebook's new size) compiled a program of its own, about a second
    each. World j depends only on the key and j, so the extra worlds change nothing and are dropped
    (`first_worlds`); they cost at most as many worlds again below 1024, and under 1024 worlds above it.
    """
    if n_worlds <= 1024:
        return 1 << (int(n_worlds) - 1).bit_length()
    return -(-int(n_worlds) // 1024) * 1024


def first_worlds(out: Any, n_worlds: int) -> Any:
    """The first `n_worlds` of every array in `out` (an array or a tuple of arrays led by worlds)."""
    if isinstance(out, tuple):
        return tuple(first_worlds(x, n_worlds) for x in out)
    return out if out.shape[0] == n_worlds else out[:n_worlds]


# ----------------------------------------------------------------------------------------- persistence

_CONTEXT_ARRAYS = ("context.history", "context.anchor_prices")


def export_context(context: HistoryContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`HistoryContext` as (JSON-able meta, arrays); array names are prefixed ``context.`` so that a family
    can merge them into its own arrays without clashes."""
    meta = {"assets": list(context.assets), "freq": context.freq, "history_end": context.history_end}
    arrays = {"context.history": np.asarray(context.history),
              "context.anchor_prices": np.asarray(context.anchor_prices)}
    return meta, arrays


def restore_context(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> HistoryContext:
    """Inverse of `export_context` (other arrays in `arrays` are ignored)."""
    history, anchor = take_arrays(arrays, _CONTEXT_ARRAYS)
    for name in ("assets", "freq", "history_end"):
        if name not in meta:
            raise ModelFileError(f"model meta has no context.{name}", expected="the meta written by export_context")
    assets = meta["assets"]
    if not (isinstance(assets, list) and all(isinstance(a, str) for a in assets)):
        raise ModelFileError(f"context.assets must be a list of names, got {assets!r}")
    if history.ndim != 2 or history.shape[1] != len(assets) or anchor.shape != (len(assets),):
        raise ModelFileError(f"context arrays have shapes {history.shape} and {anchor.shape}, which do not match "
                             f"{len(assets)} assets", expected="history [time, assets] and anchor_prices [assets]")
    return HistoryContext(history=jnp.asarray(history), anchor_prices=jnp.asarray(anchor), assets=tuple(assets),
                          freq=str(meta["freq"]), history_end=str(meta["history_end"]))


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of `choices` to `word`, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=3)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def check_digest(expected: Any, config: Any, *arrays: Any) -> str:
    """The stored fit digest, after checking that it matches the restored config and arrays."""
    actual = digest(config, *arrays)
    if expected != actual:
        raise ModelFileError(f"fit digest {expected!r} does not match the stored config and arrays ({actual!r})",
                             expected="arrays and model.json saved together by stressgen.persist.save_model")
    return actual


def take_arrays(arrays: Mapping[str, np.ndarray], names: tuple[str, ...] | list[str]) -> list[np.ndarray]:
    """The named arrays, in order; a missing one raises `ModelFileError` listing what is missing."""
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ModelFileError(f"model arrays are missing {missing}", expected=f"arrays {list(names)}")
    return [np.asarray(arrays[n]) for n in names]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-able dict (tuples become lists, nested dataclasses dicts)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config_to_dict takes a dataclass instance, got {type(config).__name__}")
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def config_from_dict(config_type: type, d: Mapping[str, Any], *, where: str = "config",
                     int_as_float: bool = False) -> Any:
    """Build `config_type` from a mapping, strictly.

    Unknown keys (with close matches suggested) and values of the wrong type raise `ConfigError` naming
    ``where.key``; the dataclass's own validation then checks values. Lists become tuples where the field
    is a tuple, mappings become nested dataclasses where the field is one; an int is accepted for a float
    (and kept an int, so a saved config round-trips, unless `int_as_float`: strategies need floats there,
    because a float field is a traced parameter and an int one is static).
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected a table of {config_type.__name__} options, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_type) if f.init}
    hints = typing.get_type_hints(config_type)
    values = {}
    for k, v in d.items():
        if k not in fields:
            raise ConfigError(f"{where}.{k}: unknown key{did_you_mean(k, fields)}; valid keys: {', '.join(fields)}")
        values[k] = _coerce(v, hints[k], f"{where}.{k}", int_as_float)
    try:
        return config_type(**values)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError; others come from untyped validation
        message = str(exc)
        # "field: problem" or "family.field problem" from a __post_init__ becomes "where.field: problem"
        match = re.match(r"(?:[\w-]+\.)?(\w+):? (.*)", message, flags=re.S)
        if match and match.group(1) in fields:
            raise ConfigError(f"{where}.{match.group(1)}: {match.group(2)}") from exc
        raise ConfigError(f"{where}: {message}") from exc


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, int_as_float: bool = False) -> Any:
    """`value` checked against the annotation `tp` (and converted: list -> tuple, dict -> dataclass)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, key, int_as_float)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{key}: expected None, got {value!r}")
        return None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]", int_as_float) for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]", int_as_float)
                     for i, (v, a) in enumerate(zip(args, value, strict=True)))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp) or (str, Any)
        return {_coerce(k, args[0], key): _coerce(v, args[1], f"{key}.{k}", int_as_float) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, where=key, int_as_float=int_as_float)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        return float(value) if int_as_float else value  # kept as given: repr(config), the digest, round-trips
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
        return value
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    return value  # an annotation we cannot check (a TypeVar, a callable): the dataclass validates it

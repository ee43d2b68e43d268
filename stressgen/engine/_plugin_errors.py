"""Plugin mistakes as typed errors: a `StrategyError` naming the strategy, the line of its code and the fix.

Why: the engine traces a strategy's Python code once (under jit and vmap) for every world, day and parameter
set. A mistake in that code then surfaces as a JAX tracing error (a Python ``if`` on a traced value, numpy or
pandas on a tracer) or as a TypeError deep inside the engine (``step`` returning None), which the CLI would
report as an internal error pointing at stressgen. Here such errors become `StrategyError`s (exit 1 in the
CLI) that say which strategy, which line of the user's file and what to write instead.

* `plugin_errors(strategy)` (a context manager) and `with_plugin_errors` (the same as a decorator of a
  function whose first argument is the strategy) translate exceptions raised while the strategy's own code
  runs: those whose traceback passes through a file that defines one of the strategy's classes.
  Exceptions raised by the engine alone (no such frame) and `StressgenError`s pass through unchanged,
  except the base class's NotImplementedError of a strategy that does not define init/step/weights.
* `step_result` and `check_output` refuse outputs of the wrong structure (None, weights alone instead of
  ``(state, weights)``, complex or bool weights) before the engine uses them. By then the strategy's frames
  are gone, so their errors (`output_error`, also the probe's NaN/inf and leverage errors in engine/_run.py)
  get the line where its ``step`` / ``weights`` is defined, added by `plugin_errors`.
* `NONFINITE_HINT` is the fix appended to the probe's NaN/inf message (engine/_run.py `_validate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import linecache
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import StrategyError, StressgenError
from ..strategy import (STEP_OBS, Rebalance, StepStrategy, VectorStrategy, is_static, strategy_name,
                        user_strategy)

__all__ = ["plugin_errors", "with_plugin_errors", "step_result", "check_output", "output_error",
           "NONFINITE_HINT"]

NONFINITE_HINT = ("; fix: guard divisions, logs and square roots (jnp.where(den > 0, num / den, 0.0)) and "
                  "return finite weights while a rolling window is still filling")

_WHERE = "use jnp.where(cond, a, b) (or lax.cond): the code is traced once for every world and day"
_HINTS: tuple[tuple[type[BaseException], str, str], ...] = (
    # (JAX error, what went wrong, the fix); subclasses before their bases
    (jax.errors.TracerBoolConversionError, "a Python `if`/`while`/`and`/`or` on a traced value", _WHERE),
    (jax.errors.TracerArrayConversionError, "numpy or pandas was called on a traced array",
     "use jax.numpy (jnp) only inside the strategy: numpy and pandas need concrete numbers, and the engine "
     "traces the strategy with abstract arrays"),
    (jax.errors.TracerIntegerConversionError, "a traced value was used as a Python int (range(), a list "
     "index, a shape)", "declare the field static if it sets a size or a loop count, or index with jnp "
     "(lax.dynamic_index_in_dim, jnp.take)"),
    (jax.errors.NonConcreteBooleanIndexError, "boolean-mask indexing (x[mask]) has a size that depends on "
     "the data", "use jnp.where(mask, x, 0.0)"),
    (jax.errors.ConcretizationTypeError, "a traced value was turned into a Python number (float(), int(), "
     ".item())", "keep it a jnp array (x.astype(jnp.float32)) and branch with jnp.where(cond, a, b)"),
    (jax.errors.UnexpectedTracerError, "a traced value escaped the step (kept on self, in a global or a "
     "closure)", "carry it in the state that init/step return"),
)
_SELF_FIELD = re.compile(r"\bself\.([A-Za-z_]\w*)")
_PACKAGE = str(Path(__file__).resolve().parents[1])  # stressgen/: the engine and Obs are not plugin code


_CODE = "code:"  # marks a method's code object in `_strategy_files` (classes without a source file)


def _strategy_files(strategy: Any) -> set[str]:
    """Source files of the classes of `strategy` and of the strategies nested in its fields (an overlay's
    inner strategy), stressgen's own files excepted."""
    files: set[str] = set()
    todo, seen = [strategy], set()
    while todo:
        obj = todo.pop()
        obj = user_strategy(obj)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        is_strategy = obj is strategy or isinstance(obj, (StepStrategy, VectorStrategy))
        classes = type(obj).__mro__ if is_strategy else ()
        for cls in classes:
            module = sys.modules.get(cls.__module__)
            file = getattr(module, "__file__", None)
            if file and os.path.realpath(file).startswith(_PACKAGE + os.sep) or cls.__module__ == "builtins":
                continue
            if file:
                files.add(os.path.realpath(file))
            # a class defined in a notebook, a REPL or exec'd code is not in its module's file: its methods'
            # own code objects mark it
            files.update(_CODE + str(id(v.__code__)) for v in vars(cls).values() if hasattr(v, "__code__"))
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            todo.extend(getattr(obj, f.name, None) for f in dataclasses.fields(obj))
    return files


def _site(exc: BaseException, files: set[str]) -> tuple[str, int, str, Any] | None:
    """``(file, line, source text, frame's self)`` of the innermost traceback frame in one of `files`."""
    site = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if os.path.realpath(code.co_filename) in files or _CODE + str(id(code)) in files:
            text = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            if "#" in text and not re.search(r"['\"]", text):  # a trailing comment (no string to misread)
                text = text[:text.index("#")].rstrip()
            site = (code.co_filename, tb.tb_lineno, text, tb.tb_frame.f_locals.get("self"))
        tb = tb.tb_next
    return site


def _static_hint(line: str, obj: Any) -> str | None:
    """"declare the field static (name: type = static(default))" for the traced fields `line` reads."""
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return None
    fields = {f.name: f for f in dataclasses.fields(obj) if not is_static(f)}
    named = [fields[n] for n in dict.fromkeys(_SELF_FIELD.findall(line)) if n in fields]
    if not named:
        return None

    def decl(f: dataclasses.Field) -> str:
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        default = "..." if f.default is dataclasses.MISSING else repr(f.default)
        return f"{f.name}: {kind} = static({default})"

    return f"declare the field static ({', '.join(decl(f) for f in named)}) or use jnp.where(cond, a, b)"


def _translate(exc: Exception, strategy: Any) -> StrategyError | None:
    site = _site(exc, _strategy_files(strategy))
    if site is None:
        return _missing_method(exc, strategy)
    file, line, text, obj = site
    where = f"{Path(file).name}:{line}" + (f" (`{text}`)" if text else "")
    for kind, what, fix in _HINTS:
        if isinstance(exc, kind):
            if kind in (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError,
                        jax.errors.TracerIntegerConversionError):
                fix = _static_hint(text, obj) or fix
            return StrategyError(strategy_name(strategy), f"{what} at {where}; fix: {fix}")
    message = " ".join(str(exc).split())[:300] or "(no message)"
    return StrategyError(strategy_name(strategy), f"raised {type(exc).__name__} at {where}: {message}")


def _missing_method(exc: Exception, strategy: Any) -> StrategyError | None:
    """A strategy that does not define init/step/weights runs the base class's, which raises
    NotImplementedError in stressgen/strategy.py: no frame of the plugin's own."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    method = tb.tb_frame.f_code.co_name if tb is not None else ""
    if not isinstance(exc, NotImplementedError) or method not in ("init", "step", "weights"):
        return None
    needs = "weights(self, log_returns)" if _method(strategy) == "weights" else \
        "init(self, n_assets) and step(self, state, obs)"
    return StrategyError(strategy_name(strategy), f"does not define {method}(); it needs {needs}")


@contextlib.contextmanager
def plugin_errors(strategy: Any) -> Iterator[None]:
    """Translate exceptions raised in `strategy`'s own code into `StrategyError` (see the module doc); the
    original exception is chained (``raise ... from``), so ``--debug`` still shows JAX's explanation."""
    try:
        yield
    except StrategyError as exc:
        if exc.strategy == STEP_OBS:  # raised by `Obs`, which does not know whose step reads it: name it
            site = _site(exc, _strategy_files(strategy))
            where = f" at {Path(site[0]).name}:{site[1]}" if site else ""
            raise StrategyError(strategy_name(strategy), f"{exc.problem}{where}") from exc
        # an `output_error` (step_result, check_output, the probe in _run): the strategy's frames are gone,
        # so name where the method that returned the output is defined
        if not isinstance(exc, _OutputError):
            raise
        method = exc.method or _method(strategy)
        where = _defined_at(strategy, method)
        if not where:
            raise
        raise StrategyError(exc.strategy, f"{exc.problem} ({method} is defined at {where})") from exc
    except StressgenError:
        raise
    except Exception as exc:
        error = _translate(exc, strategy)
        if error is None:
            raise
        raise error from exc


def _method(strategy: Any) -> str:
    return "weights" if isinstance(user_strategy(strategy), VectorStrategy) else "step"


def _defined_at(strategy: Any, method: str) -> str | None:
    """``file.py:line`` of the ``def`` of `strategy`'s `method` (None where the source is unknown)."""
    try:
        fn = getattr(type(user_strategy(strategy)), method)
        return f"{Path(inspect.getsourcefile(fn) or '?').name}:{inspect.getsourcelines(fn)[1]}"
    except (AttributeError, TypeError, OSError):
        return None


class _OutputError(StrategyError):
    """A `StrategyError` about what the strategy's `method` returned ("": its tier's, step or weights), to
    which `plugin_errors` adds where that method is defined (the strategy's frames are gone by then)."""

    def __init__(self, strategy: str, problem: str, method: str = "") -> None:
        super().__init__(strategy, problem)
        self.method = method


def output_error(name: str, problem: str, method: str = "") -> StrategyError:
    """An error about a strategy's output (see `_OutputError`)."""
    return _OutputError(name, problem, method)


def with_plugin_errors(fn: Callable) -> Callable:
    """`plugin_errors` around `fn`, whose first positional argument is the strategy (or a `ParamGrid`)."""
    @functools.wraps(fn)
    def wrapper(strategy: Any, *args: Any, **kwargs: Any) -> Any:
        with plugin_errors(strategy):
            return fn(strategy, *args, **kwargs)
    return wrapper


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else f"a {type(value).__name__}"


def step_result(ret: Any, name: str) -> tuple[Any, Any]:
    """``(state, out)`` of a ``step`` call, refused with `StrategyError` unless it is a pair.

    Why here: ``st, out = strategy.step(...)`` on None fails with "cannot unpack NoneType" inside the
    engine, and weights alone either fail to unpack or, with two assets, unpack silently into two scalars.
    """
    refuse = functools.partial(output_error, name, method="step")
    if ret is None:
        raise refuse("step returned None; it must end with `return state, weights` (the state from init, "
                     "updated) or `return state, Rebalance(weights, trade)`")
    if isinstance(ret, Rebalance) or not isinstance(ret, (tuple, list)) or len(ret) != 2:
        got = ("a Rebalance alone" if isinstance(ret, Rebalance)
               else f"a {type(ret).__name__} of {len(ret)} items" if isinstance(ret, (tuple, list))
               else _describe(ret))
        raise refuse(f"step returned {got}, not the pair (state, weights); return `state, weights` "
                     "(or `state, Rebalance(weights, trade)`)")
    return ret[0], ret[1]


def check_output(out: Any, n_assets: int, name: str, lead: tuple[int, ...] = ()) -> None:
    """Refuse, with `StrategyError`, weights that are None, not numeric arrays, complex or bool (a mask
    meant as weights), and a None trade flag: the strategy's output before `as_target` converts it to
    float32, which would drop an imaginary part and turn True into a 100% weight without a word.
    `lead` is `as_target`'s: () for a step's weights, ``(time,)`` for a vectorized strategy's."""
    method = "weights" if lead else "step"
    refuse = functools.partial(output_error, name, method=method)
    w, trade = (out.weights, out.trade) if isinstance(out, Rebalance) else (out, True)
    expected = f"a float array of shape {lead + (n_assets,)}"
    if w is None:
        raise refuse(f"{method} returned None for the weights; return {expected} (is a `return` missing?)")
    if trade is None:
        raise refuse(f"{method} returned Rebalance(weights, None); the trade flag must be a bool "
                     "(True: trade to the weights, False: keep the holdings)")
    try:
        dtype = jnp.asarray(w).dtype  # at trace time: no computation, only the abstract value
    except (TypeError, ValueError) as exc:
        pair = " (weights with a trade flag: return stressgen.strategy.Rebalance(weights, trade))" \
            if isinstance(w, tuple) and len(w) == 2 else ""
        raise refuse(f"{method} returned weights that are not an array ({_describe(w)}); return "
                     f"{expected}{pair}") from exc
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise refuse(f"{method} returned complex weights ({dtype}); weights must be real: fix the "
                     "computation (a sqrt or log of a negative number?) or take jnp.real(...)")
    if dtype == jnp.bool_:
        raise refuse(f"{method} returned bool weights (a mask); weights must be floats: "
                     "jnp.where(mask, weight, 0.0)")

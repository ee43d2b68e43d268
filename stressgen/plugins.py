"""Strategy plugin loading: ``path/to/file.py:ClassName``, ``module:attr``, a built-in name, or an entry
point of the ``stressgen.strategies`` group (another package's strategies).

Files are imported by path under a private module name, so two plugin files may share a class name.

Where: a top-level module, not the engine. The engine runs the strategy objects its caller passes in; what
names resolve to (our built-in `strategies` package, entry points, files) is the caller's business, so the
engine imports no plugin machinery (the import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .errors import PluginLoadError, UnknownNameError
from .strategy import StepStrategy, VectorStrategy

__all__ = ["ENTRY_POINT_GROUP", "available_strategies", "load_strategy"]

ENTRY_POINT_GROUP = "stressgen.strategies"


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_strategies() -> list[str]:
    """Names accepted by `load_strategy` without a ``:``: built-ins and installed entry points."""
    import strategies

    return sorted(set(strategies.BUILTIN) | set(_entry_points()))


def _import_file(path: Path, ref: str):
    if not path.is_file():
        raise PluginLoadError(f"strategy {ref!r}: file {str(path)!r} does not exist")
    name = "_stressgen_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"strategy {ref!r}: {str(path)!r} cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    # what error messages call its classes (`strategy_name`: file.py:Class): the private module name is a
    # hash, and the directory is noise in a one-line error
    module.__stressgen_ref__ = path.name
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginLoadError(f"strategy {ref!r}: importing {str(path)!r} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    return module


def _check(obj: Any, ref: str) -> Any:
    cls = obj if isinstance(obj, type) else type(obj)
    if not issubclass(cls, (StepStrategy, VectorStrategy)):
        raise PluginLoadError(f"strategy {ref!r} resolved to {cls.__module__}.{cls.__qualname__}, which is not "
                              "a stressgen.strategy.StepStrategy or VectorStrategy subclass")
    return obj


def load_strategy(ref: str) -> Any:
    """The strategy class (or object) named by `ref`.

    Accepted forms: ``path/to/file.py:ClassName``, ``package.module:attr`` (attr may be dotted), a
    built-in name (`strategies.BUILTIN`), or an entry-point name in the ``stressgen.strategies`` group.
    """
    if ":" in ref:
        where, _, attr = ref.rpartition(":")
        if not attr:
            raise PluginLoadError(f"strategy {ref!r}: nothing after ':'; expected file.py:ClassName or module:attr")
        if where.endswith(".py") or "/" in where or "\\" in where:
            module = _import_file(Path(where), ref)
        else:
            try:
                module = importlib.import_module(where)
            except ImportError as exc:
                raise PluginLoadError(f"strategy {ref!r}: cannot import module {where!r}: {exc}") from exc
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                public = sorted(n for n in dir(module) if not n.startswith("_"))
                raise PluginLoadError(f"strategy {ref!r}: {where!r} has no attribute {attr!r}; "
                                      f"it defines: {', '.join(public) or '(nothing public)'}")
            obj = getattr(obj, part)
        return _check(obj, ref)
    import strategies

    if ref in strategies.BUILTIN:
        return strategies.BUILTIN[ref]
    eps = _entry_points()
    if ref in eps:
        try:
            return _check(eps[ref].load(), ref)
        except PluginLoadError:
            raise
        except Exception as exc:
            raise PluginLoadError(f"strategy {ref!r}: entry point {eps[ref].value!r} failed to load: "
                                  f"{type(exc).__name__}: {exc}") from exc
    raise UnknownNameError("strategy", ref, sorted(set(strategies.BUILTIN) | set(eps)))

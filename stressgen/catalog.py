"""What ``stressgen list`` shows, read from the plugins' source files without importing them.

Why: importing a generator or strategy module imports JAX, Flax and arch (3-4 s), and a listing needs only
names, docstrings and dataclass fields. Each built-in is named here by module and class; `describe` finds
the module's file (`importlib.machinery.PathFinder`, which imports nothing) and reads the class with `ast`:
the first paragraph of its docstring and its annotated fields with their defaults, as written in the source.
Entry-point plugins of other packages are read the same way from their ``module:attr`` value; one that is not
a plain class in a source file is imported instead (slower, same answer).

The tables must name the same classes as the registries (`stressgen.generators.BUILTIN`,
`strategies.BUILTIN`); tests/test_catalog.py checks that, and that every description equals what the
imported class says. A shared kernel: it imports nothing from stressgen.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.machinery
import importlib.metadata
from pathlib import Path

__all__ = ["DATASETS", "GENERATORS", "STRATEGIES", "ClassInfo", "describe", "generators", "strategies"]

# Bundled data sets (stressgen/data/_files): name -> one-line description.
DATASETS = {
    "sp500-20": "daily prices of 20 large US stocks, 1990-01-02..2022-12-28 (8313 x 20; skfolio, BSD-3)",
    "sp500-index": "S&P 500 index, daily adjusted close, 1999-01-04..2018-12-31 (5031 x 1; arch)",
    "wti": "WTI crude oil spot, daily (FRED DCOILWTICO), 1986-01-02..2019-01-03 (8321 x 1; arch)",
}

# name -> (module, class) of the built-in generator families and strategies, in listing order
GENERATORS = {
    "bootstrap": ("stressgen.generators.bootstrap", "StationaryBootstrap"),
    "garch": ("stressgen.generators.garch", "GjrGarch"),
    "gan": ("stressgen.generators.gan", "Gan"),
    "vae": ("stressgen.generators.vae", "TemporalVae"),
    "regime": ("stressgen.generators.regime", "RegimeMixture"),
    "nar": ("stressgen.generators.nar", "NeuralAutoregressive"),
    "flow": ("stressgen.generators.flow", "NormalizingFlow"),
}
STRATEGIES = {
    "buy_and_hold": ("strategies._allocation", "BuyAndHold"),
    "equal_weight": ("strategies._allocation", "EqualWeight"),
    "inverse_volatility": ("strategies._allocation", "InverseVolatility"),
    "minimum_variance": ("strategies._allocation", "MinimumVariance"),
    "vol_target": ("strategies._signals", "VolTarget"),
    "ma_crossover": ("strategies._signals", "MACrossover"),
    "ts_momentum": ("strategies._signals", "TimeSeriesMomentum"),
    "cs_momentum": ("strategies._signals", "CrossSectionalMomentum"),
    "zscore_reversion": ("strategies._signals", "ZScoreReversion"),
    "stop_loss": ("strategies._overlays", "StopLoss"),
    "take_profit": ("strategies._overlays", "TakeProfit"),
    "trailing_stop": ("strategies._overlays", "TrailingStop"),
    "drawdown_stop": ("strategies._overlays", "DrawdownStop"),
}


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """Attributes: summary: the docstring's first paragraph on one line; fields: ``(name, type, default)`` of
    each constructor field in order (default ``""``: required), as the source writes them."""

    summary: str
    fields: tuple[tuple[str, str, str], ...]


def _module_file(module: str) -> Path | None:
    """The source file of a dotted module, found without importing it or its packages (None if not a file)."""
    spec, path = None, None
    for part in module.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part if spec is None else f"{spec.name}.{part}", path)
        if spec is None:
            return None
        path = spec.submodule_search_locations
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and origin.endswith(".py") else None


def _summary(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


_EMPTY = {"tuple": "()", "list": "[]", "dict": "{}"}


def _default(value: ast.expr | None, functions: dict[str, ast.FunctionDef]) -> str:
    if value is None:
        return ""
    called = getattr(value.func, "attr", getattr(value.func, "id", "")) if isinstance(value, ast.Call) else ""
    # stressgen.strategy.static(default) and business_days(default): the default is the first argument
    if called in ("static", "business_days") and value.args:
        return ast.unparse(value.args[0])
    if called in ("field", "static"):
        for kw in value.keywords:
            if kw.arg == "default":
                return ast.unparse(kw.value)
            if kw.arg == "default_factory":  # what the factory builds, as the source writes it
                return _factory(kw.value, functions)
        return ""
    return ast.unparse(value)


def _factory(node: ast.expr, functions: dict[str, ast.FunctionDef]) -> str:
    """``()`` for ``tuple``; for ``lambda: f()`` with a module function ``f`` that returns a call, that call
    (``EqualWeight()``); else the factory called."""
    text = ast.unparse(node)
    if text in _EMPTY:
        return _EMPTY[text]
    body = node.body if isinstance(node, ast.Lambda) else None
    if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id in functions:
        last = functions[body.func.id].body[-1]
        if isinstance(last, ast.Return) and isinstance(last.value, ast.Call):
            return ast.unparse(last.value)
    return f"({text})()"


def _fields(classes: dict[str, ast.ClassDef], node: ast.ClassDef,
            functions: dict[str, ast.FunctionDef]) -> list[tuple[str, str, str]]:
    """Annotated fields of `node` after those of its bases defined in the same module (dataclass order)."""
    out: dict[str, tuple[str, str, str]] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            out.update((f[0], f) for f in _fields(classes, classes[base.id], functions))
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            kind = ast.unparse(stmt.annotation)
            if kind.startswith(("ClassVar", "typing.ClassVar")) or stmt.target.id.startswith("_"):
                continue
            out[stmt.target.id] = (stmt.target.id, kind, _default(stmt.value, functions))
    return list(out.values())


def _from_source(module: str, name: str) -> ClassInfo | None:
    path = _module_file(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if name not in classes:
        return None
    return ClassInfo(_summary(ast.get_docstring(classes[name])),
                     tuple(_fields(classes, classes[name], functions)))


def _imported(module: str, name: str) -> ClassInfo:
    from .terminal import strategy_parameters  # the listing's reading of an imported class (fallback only)

    obj = getattr(importlib.import_module(module), name)
    return ClassInfo(_summary(obj.__doc__), tuple(strategy_parameters(obj)))


def describe(module: str, name: str) -> ClassInfo:
    """The docstring summary and fields of class `name` in `module`, from its source when it has one."""
    return _from_source(module, name) or _imported(module, name)


def _entry_points(group: str, builtin: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    out = {}
    for ep in importlib.metadata.entry_points(group=group):
        if ep.name not in builtin:  # built-ins cannot be shadowed by an installed package
            out[ep.name] = (ep.module, ep.attr)
    return out


def generators() -> dict[str, ClassInfo]:
    """Every registered generator family (built-ins, then the ``stressgen.generators`` entry points)."""
    table = {**GENERATORS, **_entry_points("stressgen.generators", GENERATORS)}
    return {name: describe(*where) for name, where in table.items()}


def strategies() -> dict[str, ClassInfo]:
    """Every strategy a spec may name without a path (built-ins, then ``stressgen.strategies`` entry points),
    sorted by name as `stressgen.plugins.available_strategies` sorts them."""
    table = {**STRATEGIES, **_entry_points("stressgen.strategies", STRATEGIES)}
    return {name: describe(*table[name]) for name in sorted(table)}

"""Run specs: frozen dataclasses and the strict TOML loader behind ``stressgen run SPEC``.

A spec has these sections (see ``scenarios/*.toml``)::

    [data]        dataset = "sp500-20" | file = "prices.csv"; start, end, assets,
                  suspects = "report" | "repair"; for a file also the loader's options: layout,
                  date_column, asset_column, price_column, gaps, edges, min_obs, date_format, delimiter
    [generator]   family = "garch" plus that family's config fields, or model = "dir" of a saved model
    [simulation]  worlds, horizon, seed, chunk_size
    [[strategies]] plugin = name | "file.py:Class" | "module:attr"; name, params = {...}, grid = {f = [...]}
    [costs]       fee_bps, slippage_bps, lag, max_gross, long_only, rf, warmup (`engine.BacktestConfig`)
    [report]      out, worst_worlds, sample_paths, goal, drawdown_thresholds, n_boot, strict
    [[stress]]    (optional) name plus one of replay, shock, regime, tilt, and/or start, views
                  (`stressgen.spec_stress`): stressed cases reported beside the base case
    [reverse]     (optional) loss, strategies, method, k, tilt_z, worlds (`stressgen.spec_reverse`)
    [evaluate]    (optional, for ``stressgen evaluate``) generators = [...] or "all", split_at or split_fraction,
                  n_paths, n_seeds, interval, warmup, chunk_size, floors, floor_generator, allow_few_paths
    [evaluate.calibration]  (optional: run the rolling-origin calibration too) every_months, start, end,
                  horizon, n_worlds, chunk_size, refit_every, min_history, bins, strategies = [names of
                  [[strategies]] entries] (default: all), cache_dir

The loader is strict: an unknown key (with close matches suggested), a value of the wrong type or an invalid
value raises `ConfigError` naming the file, the dotted key and the valid choices, before any compute.

Every relative path in a spec (``[data] file``, ``[generator] model``, ``[[strategies]] plugin = "x.py:C"``,
``[report] out``, ``[evaluate.calibration] cache_dir``) resolves relative to the directory of the spec file,
never the current directory; when ``[report] out`` is absent, results go to ``results/<spec name>`` next to
the spec file, by the same rule. Only the command line's ``--out`` is relative to the current directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import generators
from .engine import BacktestConfig
from .errors import ConfigError, StressgenError
from .generators._base import config_from_dict, config_to_dict, did_you_mean
from .metrics import AggregateConfig
from .metrics.fidelity import EvaluateConfig
from .plugins import available_strategies, load_strategy
from .spec_data import DataSpec, parse_data, resolve_path
from .spec_reverse import ReverseSpec, parse_reverse
from .spec_stress import StressSpec, parse_stress
from .strategy import ParamGrid, grid
from .studies.calibration import CalibrationConfig
from .terminal import demangle

__all__ = ["DataSpec", "GeneratorSpec", "SimulationSpec", "StrategySpec", "ReportSpec", "StressSpec",
           "EvaluateSpec", "ReverseSpec", "RunSpec", "load_spec", "parse_spec"]

SECTIONS = ("data", "generator", "simulation", "strategies", "costs", "report", "stress", "evaluate", "reverse")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneratorSpec:
    """A family and its config (the family's own frozen config dataclass), or a saved `model` directory."""

    family: str | None = None
    config: Any = None
    model: str | None = None

    def describe(self) -> dict[str, Any]:
        if self.model is not None:
            return {"model": self.model}
        return {"family": self.family, "config": config_to_dict(self.config)}


# 100 years of 252 trading days. Why a cap at all: compounding a fitted model over centuries gives numbers
# (a median total return of 1e25 at 100,000 days) that mean nothing, after minutes of compute.
MAX_HORIZON = 25_200


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimulationSpec:
    """How many worlds of how many periods, the root seed, and the chunk of worlds held in memory at once."""

    worlds: int = 1000
    horizon: int = 252
    seed: int = 0
    chunk_size: int = 1000

    def __post_init__(self) -> None:
        for name in ("worlds", "horizon", "chunk_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        # a report compares worlds with each other (quantiles, intervals, diversity) and days within a world
        if self.worlds < 2:
            raise ConfigError(f"worlds: a stress run needs at least 2 worlds to compare, got {self.worlds}; "
                              "set [simulation] worlds (1,000 or more for stable tails)")
        if self.horizon < 2:
            raise ConfigError(f"horizon: a world needs at least 2 periods, got {self.horizon}")
        if self.horizon > MAX_HORIZON:
            raise ConfigError(f"horizon: {self.horizon:,} periods is more than a century of trading days; "
                              f"stressgen draws at most {MAX_HORIZON:,} (a generator fitted on decades of "
                              "history says nothing about returns centuries ahead)")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed: must be in [0, 2**32), got {self.seed}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategySpec:
    """One ``[[strategies]]`` entry: the plugin as users read it, a unique display name, parameter values
    and an optional grid ``field -> values`` (run as one vmapped program).

    `plugin` is a built-in or entry-point name, ``module:attr``, or for a file ``file.py:Class`` (the file's
    name only: it is what the report, summary and errors show); `file` is then that file's absolute path,
    and `ref` the reference the loader is given.
    """

    plugin: str
    name: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    file: str | None = None

    @property
    def ref(self) -> str:
        """What `stressgen.plugins.load_strategy` loads: `plugin`, with the absolute `file` for a file plugin."""
        return f"{self.file}:{self.plugin.rpartition(':')[2]}" if self.file is not None else self.plugin

    def build(self) -> Any:
        """The strategy instance, or a `ParamGrid` when `grid` is set."""
        obj = load_strategy(self.ref)
        strategy = obj(**self.params) if isinstance(obj, type) else dataclasses.replace(obj, **self.params)
        return grid(strategy, **{k: list(v) for k, v in self.grid.items()}) if self.grid else strategy

    def parameter_sets(self, built: Any) -> list[tuple[str, dict[str, Any]]]:
        """``(display name, params)`` of each parameter set, in the engine's order."""
        if not isinstance(built, ParamGrid):
            return [(self.name, dict(self.params))]
        out = []
        for p in range(built.size):
            values = {k: v[p].item() for k, v in built.values.items()}
            label = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
            out.append((f"{self.name}[{label}]", {**self.params, **values}))
        return out


def _costs(raw: dict[str, Any], where: str) -> BacktestConfig:
    """``[costs]`` is a `BacktestConfig` (the one costs type); its periods per year come from the data."""
    if "periods_per_year" in raw:
        raise ConfigError(f"{where}.periods_per_year: set by the data's frequency ([data]), not here")
    return config_from_dict(BacktestConfig, raw, where=where)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportSpec:
    """Where results go and what the report shows.

    Attributes:
        out: results directory (absolute once loaded; None: ``results/<spec name>`` in the current directory).
        worst_worlds: k worst worlds (by terminal return) whose paths and equity the report shows.
        sample_paths: k synthetic worlds (the first k) and k real windows shown side by side.
        goal: g of P(total return > g).
        drawdown_thresholds: x of P(max drawdown > x).
        n_boot: bootstrap replicates of the confidence intervals (0: none).
        strict: a failed plausibility check (`stressgen.metrics.plausibility`) stops the run with
            `ImplausibleWorldsError` before any output is written, instead of a red warning in the report.
        min_ess: a ``[[stress]]`` case whose Kish effective number of worlds falls below this is flagged in
            the report and on the terminal (its tail numbers rest on few worlds).
        stress_level: confidence level of the stress cases' VaR and ES.
    """

    out: str | None = None
    worst_worlds: int = 5
    sample_paths: int = 8
    goal: float = 0.1
    drawdown_thresholds: tuple[float, ...] = (0.1, 0.2, 0.3)
    n_boot: int = 200
    strict: bool = False
    min_ess: int = 200
    stress_level: float = 0.95

    def __post_init__(self) -> None:
        if not 0.5 <= self.stress_level < 1.0:
            raise ConfigError(f"stress_level: a confidence level in [0.5, 1), got {self.stress_level!r}")
        for name in ("worst_worlds", "sample_paths", "n_boot", "min_ess"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not all(0 < x < 1 for x in self.drawdown_thresholds):
            raise ConfigError(f"drawdown_thresholds: drawdown depths in (0, 1), got {list(self.drawdown_thresholds)}")

    def aggregate_config(self) -> AggregateConfig:
        return AggregateConfig(goal=float(self.goal), drawdown_thresholds=self.drawdown_thresholds,
                               n_boot=self.n_boot)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateSpec:
    """What ``stressgen evaluate`` scores (`stressgen.metrics.fidelity`).

    Attributes:
        generators: registry names to score; empty means the spec's own [generator] family. The spec's
            family keeps its configured options; the others run with their defaults.
        protocol: the out-of-sample protocol (split, paths, replicates, floors).
        calibration: the rolling-origin calibration (``[evaluate.calibration]``), or None not to run it; its
            `strategies` are names of the spec's [[strategies]] entries.
        calibration_cache: directory of the calibration's per-origin cache (absolute once loaded; None:
            ``calibration-cache`` in the results directory).
    """

    generators: tuple[str, ...] = ()
    protocol: EvaluateConfig = EvaluateConfig()
    calibration: CalibrationConfig | None = None
    calibration_cache: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSpec:
    """A whole run spec; `source` is the file it was read from (for messages and relative paths).

    `horizon_default` is True when neither the spec nor an override set ``[simulation] horizon``, so that the
    worlds hold its default of 252 periods: a year of business days, which the run says it assumed when the
    data are weekly or monthly (`stressgen.pipeline`).
    """

    source: str
    data: DataSpec
    generator: GeneratorSpec
    simulation: SimulationSpec
    strategies: tuple[StrategySpec, ...]
    costs: BacktestConfig = BacktestConfig()
    report: ReportSpec = ReportSpec()
    evaluate: EvaluateSpec = EvaluateSpec()
    stress: tuple[StressSpec, ...] = ()
    reverse: ReverseSpec | None = None
    horizon_default: bool = False

    @property
    def out_dir(self) -> Path:
        """The results directory: ``[report] out``, by default ``results/<spec name>`` next to the spec file
        (both resolved against the spec's directory when the spec is loaded; ``--out`` against the shell's)."""
        if self.report.out is not None:
            return Path(self.report.out)
        return Path("results").absolute() / Path(self.source).stem

    def with_overrides(self, *, seed: int | None = None, worlds: int | None = None,
                       out: str | os.PathLike | None = None, horizon: int | None = None,
                       chunk_size: int | None = None) -> RunSpec:
        """The spec with the CLI's ``--seed``, ``--worlds`` and ``--out`` applied (validated like the file);
        `horizon` and `chunk_size` serve notebooks and tests that shrink a shipped scenario."""
        given = {"seed": seed, "worlds": worlds, "horizon": horizon, "chunk_size": chunk_size}
        sim = {k: v for k, v in given.items() if v is not None}
        simulation = self.simulation
        if sim:
            simulation = config_from_dict(SimulationSpec, {**dataclasses.asdict(self.simulation), **sim},
                                          where="command line: simulation")
        report = self.report if out is None else dataclasses.replace(self.report, out=os.path.abspath(out))
        stress = tuple(case.for_horizon(simulation.horizon, "command line: stress") for case in self.stress)
        return dataclasses.replace(self, simulation=simulation, report=report, stress=stress,
                                   horizon_default=self.horizon_default and horizon is None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able resolved spec (for the report header and summary.json)."""
        return {
            "source": self.source,
            "data": config_to_dict(self.data),
            "generator": self.generator.describe(),
            "simulation": config_to_dict(self.simulation),
            "strategies": [{"plugin": s.plugin, "name": s.name, "params": dict(s.params),
                            "grid": {k: list(v) for k, v in s.grid.items()},
                            **({"file": s.file} if s.file is not None else {})} for s in self.strategies],
            "costs": config_to_dict(self.costs),
            "report": {**config_to_dict(self.report), "out": str(self.out_dir)},
            "stress": [case.to_dict() for case in self.stress],
            **({"reverse": self.reverse.to_dict()} if self.reverse is not None else {}),
        }


# ------------------------------------------------------------------------------------------------ loading

def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table ([section] or {{...}}), got {type(value).__name__} {value!r}")
    return value


def _generator(raw: dict[str, Any], where: str, base: Path) -> GeneratorSpec:
    raw = dict(raw)
    model, family = raw.pop("model", None), raw.pop("family", None)
    if model is not None:
        if family is not None or raw:
            extra = ["family"] * (family is not None) + sorted(raw)
            raise ConfigError(f"{where}: model = {model!r} loads a saved generator; remove {', '.join(extra)} "
                              "(the saved model carries its own family and config)")
        if not isinstance(model, str):
            raise ConfigError(f"{where}.model: expected a directory path string, got {model!r}")
        path = resolve_path(model, base)
        if not Path(path).is_dir():
            raise ConfigError(f"{where}.model: {path} is not a directory (write one with `stressgen fit SPEC -o DIR`)")
        return GeneratorSpec(model=path)
    families = generators.available()
    if family is None:
        raise ConfigError(f"{where}: needs family = one of {', '.join(families)} (or model = \"dir\")")
    if not isinstance(family, str) or family not in families:
        raise ConfigError(f"{where}.family: unknown generator {family!r}{did_you_mean(family, families)}; "
                          f"valid choices: {', '.join(families)}")
    config = config_from_dict(families[family].config_type, raw, where=where)
    return GeneratorSpec(family=family, config=config)


def _calibration(raw: dict[str, Any], where: str, base: Path,
                 strategies: tuple[str, ...]) -> tuple[CalibrationConfig, str | None]:
    """``[evaluate.calibration]``: the study's settings and its cache directory (resolved against `base`);
    `strategies` names the spec's [[strategies]] entries, all of them when the key is absent."""
    raw = dict(raw)
    cache = raw.pop("cache_dir", None)
    if cache is not None and (not isinstance(cache, str) or not cache):
        raise ConfigError(f"{where}.cache_dir: expected a directory path string, got {cache!r}")
    for name in ("start", "end"):  # TOML dates arrive as date objects; the config keeps ISO strings
        if isinstance(raw.get(name), date | datetime):
            raw[name] = raw[name].isoformat()[:10]
    if isinstance(raw.get("strategies"), str):
        raw["strategies"] = [raw["strategies"]]
    raw.setdefault("strategies", list(strategies))
    config = config_from_dict(CalibrationConfig, raw, where=where)
    for name in config.strategies:
        if name not in strategies:
            raise ConfigError(f"{where}.strategies: {name!r} is not the name of a [[strategies]] entry"
                              f"{did_you_mean(name, strategies)}; names: {', '.join(strategies) or 'none'}")
    return config, (resolve_path(cache, base) if cache is not None else None)


def _evaluate(raw: dict[str, Any], where: str, base: Path = Path("."),
              strategies: tuple[str, ...] = ()) -> EvaluateSpec:
    raw = dict(raw)
    calibration, cache = None, None
    if "calibration" in raw:
        calibration, cache = _calibration(_table(raw.pop("calibration"), f"{where}.calibration"),
                                          f"{where}.calibration", base, strategies)
    names = raw.pop("generators", [])
    families = generators.available()
    if names == "all":
        names = list(families)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}.generators: expected a list of generator names or \"all\", got {names!r}")
    for n in names:
        if n not in families:
            raise ConfigError(f"{where}.generators: unknown generator {n!r}{did_you_mean(n, families)}; "
                              f"valid choices: {', '.join(families)}")
    if isinstance(raw.get("split_at"), date | datetime):
        raw["split_at"] = raw["split_at"].isoformat()[:10]
    if "score" in raw:
        raise ConfigError(f"{where}.score: metric settings are not read from a spec; use the library's ScoreConfig")
    return EvaluateSpec(generators=tuple(names), protocol=config_from_dict(EvaluateConfig, raw, where=where),
                        calibration=calibration, calibration_cache=cache)


def _strategy(raw: dict[str, Any], where: str, base: Path) -> StrategySpec:
    raw = dict(raw)
    allowed = ("plugin", "name", "params", "grid")
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key{did_you_mean(key, allowed)}; "
                              f"valid keys: {', '.join(allowed)}")
    plugin = raw.get("plugin")
    if not isinstance(plugin, str) or not plugin:
        raise ConfigError(f"{where}.plugin: expected a built-in name, \"file.py:Class\" or \"module:attr\", "
                          f"got {plugin!r}")
    where_file, sep, attr = plugin.rpartition(":")
    file = None
    if sep and (where_file.endswith(".py") or "/" in where_file or "\\" in where_file):
        file = resolve_path(where_file, base)
        plugin = f"{Path(file).name}:{attr}"  # what users read; `file` keeps the absolute path for loading
    try:
        obj = load_strategy(f"{file}:{attr}" if file is not None else plugin)
    except StressgenError as exc:  # UnknownNameError lists the built-ins; PluginLoadError says what failed
        hint = did_you_mean(plugin, available_strategies()) if not sep else ""
        raise ConfigError(demangle(f"{where}.plugin: {exc}{hint}")) from exc
    cls = obj if isinstance(obj, type) else type(obj)
    params = raw.get("params", {})
    _table(params, f"{where}.params")
    # built through the class's own fields, so unknown parameters and wrong types name the key
    built = config_from_dict(cls, params, where=f"{where}.params", int_as_float=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {k: getattr(built, k) for k in params}
    grid_raw = _table(raw.get("grid", {}), f"{where}.grid")
    gridded: dict[str, tuple[Any, ...]] = {}
    for field, options in grid_raw.items():
        key = f"{where}.grid.{field}"
        if field not in fields:
            raise ConfigError(f"{key}: {cls.__name__} has no field {field!r}{did_you_mean(field, fields)}; "
                              f"fields: {', '.join(fields)}")
        if field in params:
            raise ConfigError(f"{key}: {field!r} is both in params and in grid; keep one")
        if not isinstance(options, list) or not options:
            raise ConfigError(f"{key}: expected a non-empty list of values, got {options!r}")
        checked = [getattr(config_from_dict(cls, {field: v}, where=f"{key}[{i}]", int_as_float=True), field)
                   for i, v in enumerate(options)]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in checked):
            raise ConfigError(f"{key}: only numeric fields can be gridded (one vmapped program), got {options!r}")
        gridded[field] = tuple(checked)
    name = raw.get("name", plugin.rpartition(":")[2] if sep else plugin)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: expected a non-empty string, got {name!r}")
    return StrategySpec(plugin=plugin, name=name, params=values, grid=gridded, file=file)


def parse_spec(doc: Mapping[str, Any], *, source: str = "<spec>", base: str | os.PathLike | None = None) -> RunSpec:
    """A `RunSpec` from an already-parsed TOML document; relative paths resolve against `base`."""
    base_dir = Path(base) if base is not None else Path.cwd()
    for key in doc:
        if key not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{key}]{did_you_mean(key, SECTIONS)}; "
                              f"valid sections: {', '.join(SECTIONS)}")
    for key in ("data", "generator", "strategies"):
        if key not in doc:
            raise ConfigError(f"{source}: missing section [{key}]" + (" (write it as [[strategies]])"
                                                                      if key == "strategies" else ""))
    raw_strategies = doc["strategies"]
    if not isinstance(raw_strategies, list) or not raw_strategies:
        raise ConfigError(f"{source}: strategies: expected one or more [[strategies]] tables")
    strategies = tuple(_strategy(_table(s, f"{source}: strategies[{i}]"), f"{source}: strategies[{i}]", base_dir)
                       for i, s in enumerate(raw_strategies))
    names = [s.name for s in strategies]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: strategies: the name {dupes[0]!r} is used twice; give each entry a "
                          "unique name = \"...\"")
    report = config_from_dict(ReportSpec, _table(doc.get("report", {}), f"{source}: report"),
                              where=f"{source}: report")
    # One rule for every path in a spec, the default results directory included: relative to the spec file.
    out = report.out if report.out is not None else os.path.join("results", Path(source).stem)
    report = dataclasses.replace(report, out=resolve_path(out, base_dir))
    sim_table = _table(doc.get("simulation", {}), f"{source}: simulation")
    simulation = config_from_dict(SimulationSpec, sim_table, where=f"{source}: simulation")
    return RunSpec(
        source=source,
        data=parse_data(_table(doc["data"], f"{source}: data"), f"{source}: data", base_dir),
        generator=_generator(_table(doc["generator"], f"{source}: generator"), f"{source}: generator", base_dir),
        simulation=simulation,
        strategies=strategies,
        costs=_costs(_table(doc.get("costs", {}), f"{source}: costs"), f"{source}: costs"),
        report=report,
        evaluate=_evaluate(_table(doc.get("evaluate", {}), f"{source}: evaluate"), f"{source}: evaluate",
                           base_dir, tuple(names)),
        stress=parse_stress(doc.get("stress", []), f"{source}: stress", simulation.horizon),
        reverse=None if "reverse" not in doc else parse_reverse(doc["reverse"], f"{source}: reverse", strategies,
                                                                doc["generator"].get("family")),
        horizon_default="horizon" not in sim_table,
    )


def load_spec(path: str | os.PathLike) -> RunSpec:
    """Read and validate a TOML run spec; every problem is a `ConfigError` naming the file and key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: spec file not found" + ("" if p.suffix == ".toml" else " (specs are .toml files)"))
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file; expected a TOML run spec") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return parse_spec(doc, source=str(p), base=p.parent)

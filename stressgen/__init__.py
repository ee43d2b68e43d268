"""stressgen: the distribution of strategy P&L and risk over many plausible synthetic market histories.

Subpackages: `stressgen.data` (market history), `stressgen.generators` (synthetic worlds),
`stressgen.engine` (the backtest engine), `stressgen.metrics` (risk and fidelity). Core types, the seed-to-key
rule and the backtest entry points (`stressgen.backtesting`) are re-exported here:

    >>> import stressgen as sg
    >>> res = sg.backtest(strategy, scenarios, sg.BacktestConfig(fee_bps=5))
    >>> res.to_pandas().summary

The re-exports are resolved on first use (PEP 562), so that ``import stressgen`` (and ``stressgen --help``)
does not pay for importing JAX, Flax and arch until a name that needs them is read. The table below is the
whole public surface; a type checker reads the same names from the ``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__ as __version__

# Importing the package changes nothing global: JAX's CPU device count is set only by an explicit
# `stressgen.devices.use_cpu_cores()` call, which the CLI and `pipeline.run` make (see stressgen/devices.py).

# public name -> (module, attribute); attribute None: the module itself
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "data": ("stressgen.data", None),
    "engine": ("stressgen.engine", None),
    "generators": ("stressgen.generators", None),
    "metrics": ("stressgen.metrics", None),
    "rng": ("stressgen.rng", None),
    "backtest": ("stressgen.backtesting", "backtest"),
    "backtest_prices": ("stressgen.backtesting", "backtest_prices"),
    "price_scenarios": ("stressgen.backtesting", "price_scenarios"),
    "world_metrics": ("stressgen.backtesting", "world_metrics"),
    "BacktestConfig": ("stressgen.engine", "BacktestConfig"),
    "BacktestResult": ("stressgen.engine", "BacktestResult"),
    "ConfigError": ("stressgen.errors", "ConfigError"),
    "StressgenError": ("stressgen.errors", "StressgenError"),
    "UnknownNameError": ("stressgen.errors", "UnknownNameError"),
    "RiskConfig": ("stressgen.metrics", "RiskConfig"),
    "grid": ("stressgen.strategy", "grid"),
    # the run and its report, for notebooks: sg.write_outputs(sg.run(sg.load_spec("my.toml")), "out")
    "load_spec": ("stressgen.spec", "load_spec"),
    "run": ("stressgen.pipeline", "run"),
    "write_outputs": ("stressgen.report", "write_outputs"),
    "load_results": ("stressgen.report", "load_results"),
    "render_html": ("stressgen.report", "render_html"),
    "MarketData": ("stressgen.types", "MarketData"),
    "Provenance": ("stressgen.types", "Provenance"),
    "Repair": ("stressgen.types", "Repair"),
    "Suspect": ("stressgen.types", "Suspect"),
    "Scenarios": ("stressgen.types", "Scenarios"),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'stressgen' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value  # resolved once; later reads do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from . import data as data
    from . import engine as engine
    from . import generators as generators
    from . import metrics as metrics
    from . import rng as rng
    from .backtesting import backtest as backtest
    from .backtesting import backtest_prices as backtest_prices
    from .backtesting import price_scenarios as price_scenarios
    from .backtesting import world_metrics as world_metrics
    from .engine import BacktestConfig as BacktestConfig
    from .engine import BacktestResult as BacktestResult
    from .errors import ConfigError as ConfigError
    from .errors import StressgenError as StressgenError
    from .errors import UnknownNameError as UnknownNameError
    from .metrics import RiskConfig as RiskConfig
    from .pipeline import run as run
    from .report import load_results as load_results
    from .report import render_html as render_html
    from .report import write_outputs as write_outputs
    from .spec import load_spec as load_spec
    from .strategy import grid as grid
    from .types import MarketData as MarketData
    from .types import Provenance as Provenance
    from .types import Repair as Repair
    from .types import Scenarios as Scenarios
    from .types import Suspect as Suspect

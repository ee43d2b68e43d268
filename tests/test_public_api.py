"""The top-level names resolve (lazily: importing stressgen imports no JAX) to the objects they re-export."""

from __future__ import annotations

import subprocess
import sys

import stressgen as sg
from stressgen import backtesting, engine, metrics, pipeline, report, spec, strategy, types


def test_every_public_name_is_the_object_it_names():
    expected = {
        "backtest": backtesting.backtest, "world_metrics": backtesting.world_metrics,
        "backtest_prices": backtesting.backtest_prices, "BacktestConfig": engine.BacktestConfig,
        "BacktestResult": engine.BacktestResult, "RiskConfig": metrics.RiskConfig, "grid": strategy.grid,
        "Scenarios": types.Scenarios, "MarketData": types.MarketData, "load_spec": spec.load_spec,
        "run": pipeline.run, "write_outputs": report.write_outputs, "load_results": report.load_results,
        "render_html": report.render_html,
    }
    for name, obj in expected.items():
        assert getattr(sg, name) is obj, name
        assert name in sg.__all__ and name in dir(sg)


def test_import_is_light_and_unknown_names_fail_plainly():
    code = "import sys, stressgen; print('jax' in sys.modules, stressgen.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = out.stdout.split()
    assert out[0] == "False"
    try:
        sg.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")

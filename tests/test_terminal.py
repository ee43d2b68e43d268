"""stressgen.terminal: the run summary table, strategy parameters and plugin display names."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd

from strategies import MACrossover
from stressgen.metrics import Aggregate
from stressgen.plugins import load_strategy
from stressgen.terminal import (
    demangle,
    format_parameters,
    format_summary,
    plugin_label,
    strategy_parameters,
    summary_frame,
)

PLUGIN = ("import dataclasses\nimport jax.numpy as jnp\nfrom stressgen.strategy import StepStrategy\n"
          "@dataclasses.dataclass(frozen=True)\nclass AllIn(StepStrategy):\n    level: float = 1.0\n"
          "    def init(self, n_assets):\n        return ()\n"
          "    def step(self, state, obs):\n        return state, jnp.full(obs.log_return.shape, self.level)\n")


def test_plugin_label_keeps_only_the_file_name():
    assert plugin_label("/home/me/strats/all_in.py:AllIn") == "all_in.py:AllIn"
    assert plugin_label("equal_weight") == "equal_weight"
    assert plugin_label("mypkg.strats:Thing") == "mypkg.strats:Thing"


def test_demangle_names_the_file(tmp_path):
    (tmp_path / "all_in.py").write_text(PLUGIN)
    cls = load_strategy(f"{tmp_path / 'all_in.py'}:AllIn")
    assert cls.__module__.startswith("_stressgen_plugin_")  # what the loader names it
    text = f"strategy {cls.__module__}.{cls.__qualname__}: step returned NaN"
    assert demangle(text) == "strategy all_in.py:AllIn: step returned NaN"
    assert demangle("_stressgen_plugin_0123456789ab.Gone failed") == "<plugin file>:Gone failed"
    assert demangle("nothing to change") == "nothing to change"


def test_strategy_parameters_and_defaults():
    params = strategy_parameters(MACrossover)
    assert ("fast", "int", "10") in params and ("slow", "int", "50") in params
    assert format_parameters(params).startswith("fast=10, slow=50")
    assert format_parameters([("assets", "tuple", "")]) == "assets (required)"
    assert strategy_parameters(MACrossover(fast=3))[0] == ("fast", "int", "3")  # an instance: its values


def _strategy(name, plugin, ret, real_rank):
    summary = pd.DataFrame({"value": [ret, ret / 2, 0.12]}, index=pd.MultiIndex.from_tuples(
        [("total_return", "mean"), ("total_return", "q50"), ("max_drawdown", "q50")]))
    tails = pd.DataFrame({"value": [0.095, 0.1025]}, index=pd.MultiIndex.from_tuples(
        [("total_return", "var_95"), ("total_return", "es_95")]))
    probs = pd.DataFrame({"value": [0.42]}, index=pd.Index(["P(total_return < 0)"], name="event"))
    return SimpleNamespace(name=name, plugin=plugin, real_rank=real_rank,
                           aggregate=Aggregate(summary=summary, tails=tails, probabilities=probs))


def test_summary_frame_and_table():
    result = SimpleNamespace(strategies=[_strategy("equal_weight", "equal_weight", 0.05, {"total_return": 20.0}),
                                         _strategy("AllIn", "/x/y/all_in.py:AllIn", -0.02, {})])
    frame = summary_frame(result)
    assert list(frame.index) == ["equal_weight", "AllIn"]
    assert frame.loc["AllIn", "plugin"] == "all_in.py:AllIn"
    assert frame.loc["equal_weight", "var_95"] == 0.095 and frame.loc["equal_weight", "real_rank"] == 20.0
    assert math.isnan(frame.loc["AllIn", "real_rank"])
    text = format_summary(result)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["strategy", "plugin"] and "VaR 95%" in lines[0]
    assert lines[2].split() == ["equal_weight", "equal_weight", "5.0%", "2.5%", "9.5%", "10.2%", "12.0%",
                                "42.0%", "20"]
    assert lines[3].split()[:2] == ["AllIn", "all_in.py:AllIn"] and lines[3].split()[-1] == "-"
    assert "_stressgen_plugin_" not in text and "/x/y" not in text


def test_summary_table_drops_a_plugin_column_that_repeats_the_names():
    text = format_summary(SimpleNamespace(strategies=[_strategy("equal_weight", "equal_weight", 0.0, {})]))
    assert "plugin" not in text.splitlines()[0]

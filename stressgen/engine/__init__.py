"""Backtest engine: one jitted, fused time-major program over worlds (x parameter sets).

Conventions: 252 periods a year by default; weights decided at close t earn r_{t+1} at the earliest
(``BacktestConfig.lag`` adds delay); costs in bps of traded notional (trades include the drift of weights
between rebalances); equity compounds simple returns (``expm1`` of log returns); cash earns ``rf``.

The engine computes no metric of its own: per-world summaries come from a `Reducer` the caller passes in
(`stressgen.backtest` passes the risk metrics of `stressgen.metrics.running`).
"""

# the indicators live in the neutral stressgen.indicators (shared with stressgen.strategy without a cycle);
# `from stressgen.engine import indicators` keeps working for strategy code written against it
from .. import indicators as indicators
from ._config import BacktestConfig as BacktestConfig
from ._reducer import Day as Day
from ._reducer import Reducer as Reducer
from ._result import BacktestFrames as BacktestFrames
from ._result import BacktestResult as BacktestResult
from ._run import backtest as backtest
from ._run import check_causality as check_causality
from ._run import trace_world as trace_world
from ._run import world_metrics as world_metrics
from ._vbt import to_vectorbt as to_vectorbt
from ._vbt import vectorbt_orders as vectorbt_orders

__all__ = ["indicators", "check_causality", "BacktestConfig", "BacktestResult", "BacktestFrames", "Reducer", "Day",
           "backtest", "world_metrics", "trace_world", "to_vectorbt", "vectorbt_orders"]


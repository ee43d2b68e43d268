"""Per-world risk and performance metrics: the definitions live in the neutral `stressgen.risk` (the engine,
one layer below metrics, computes them too); re-exported here under their documented name."""

from ..risk import RiskConfig as RiskConfig
from ..risk import per_world_metrics as per_world_metrics
from ..risk import rf_per_period as rf_per_period
from ..risk import total_return as total_return
from ..risk import cagr as cagr
from ..risk import volatility as volatility
from ..risk import sharpe_ratio as sharpe_ratio
from ..risk import sortino_ratio as sortino_ratio
from ..risk import calmar_ratio as calmar_ratio
from ..risk import drawdown_path as drawdown_path
from ..risk import max_drawdown as max_drawdown
from ..risk import max_drawdown_duration as max_drawdown_duration
from ..risk import value_at_risk as value_at_risk
from ..risk import expected_shortfall as expected_shortfall
from ..risk import worst_day as worst_day
from ..risk import hit_rate as hit_rate
from ..risk import mean_turnover as mean_turnover
from ..risk import cost_drag as cost_drag
from ..risk import level_name as level_name
from ..risk import tail_count as tail_count

__all__ = [
    "RiskConfig", "per_world_metrics", "rf_per_period", "total_return", "cagr", "volatility",
    "sharpe_ratio", "sortino_ratio", "calmar_ratio", "drawdown_path", "max_drawdown",
    "max_drawdown_duration", "value_at_risk", "expected_shortfall", "worst_day", "hit_rate",
    "mean_turnover", "cost_drag", "level_name", "tail_count",
]

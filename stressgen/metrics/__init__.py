"""Risk and fidelity metrics: pure functions per world and across worlds."""

from .aggregate import Aggregate as Aggregate
from .aggregate import AggregateConfig as AggregateConfig
from .aggregate import aggregate_metrics as aggregate_metrics
from .aggregate import beat_matrix as beat_matrix
from .aggregate import bootstrap as bootstrap
from .aggregate import cross_world_stats as cross_world_stats
from .aggregate import head_to_head as head_to_head
from .aggregate import rank_real_history as rank_real_history
from .diversity import diversity as diversity
from .overfit import ChanceShare as ChanceShare
from .overfit import DSRResult as DSRResult
from .overfit import PBOResult as PBOResult
from .overfit import PSRResult as PSRResult
from .overfit import WinnerRank as WinnerRank
from .overfit import chance_share as chance_share
from .overfit import deflated_sharpe as deflated_sharpe
from .overfit import min_track_record_length as min_track_record_length
from .overfit import pbo_cscv as pbo_cscv
from .overfit import probabilistic_sharpe as probabilistic_sharpe
from .overfit import winner_rank_across_worlds as winner_rank_across_worlds
from .overfit_grid import GridOverfit as GridOverfit
from .overfit_grid import check_grid_overfit as check_grid_overfit
from .overfit_grid import demean_log_returns as demean_log_returns
from .overfit_grid import grid_overfit as grid_overfit
from .quantile import percentile_rank as percentile_rank
from .quantile import tail_risk as tail_risk
from .quantile import weighted_mean as weighted_mean
from .quantile import weighted_quantile as weighted_quantile
from .risk import RiskConfig as RiskConfig
from .running import RunningRisk as RunningRisk
from .running import risk_reducer as risk_reducer
from .risk import per_world_metrics as per_world_metrics
from .risk import rf_per_period as rf_per_period
from .stylized import acf as acf
from .stylized import annualised_volatility as annualised_volatility
from .stylized import excess_kurtosis as excess_kurtosis
from .stylized import mean_pairwise_correlation as mean_pairwise_correlation

# The single-metric functions (risk.sharpe_ratio, risk.max_drawdown, ...) stay in their modules:
# stylized.annualised_volatility
# (NumPy, log returns) would be confused with risk.volatility (JAX, simple returns).
__all__ = [
    "diversity",
    "acf", "annualised_volatility", "excess_kurtosis", "mean_pairwise_correlation",
    "RiskConfig", "per_world_metrics", "rf_per_period", "RunningRisk", "risk_reducer",
    "weighted_quantile", "weighted_mean", "tail_risk", "percentile_rank",
    "Aggregate", "AggregateConfig", "aggregate_metrics", "cross_world_stats", "bootstrap", "beat_matrix", "head_to_head",
    "rank_real_history",
    "probabilistic_sharpe", "deflated_sharpe", "min_track_record_length", "pbo_cscv",
    "winner_rank_across_worlds", "chance_share",
    "PSRResult", "DSRResult", "PBOResult", "WinnerRank", "ChanceShare",
    "GridOverfit", "grid_overfit", "check_grid_overfit", "demean_log_returns",
]

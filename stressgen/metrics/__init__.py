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
from .pooling import Posterior as Posterior
from .pooling import PoolConfig as PoolConfig
from .pooling import ViewFit as ViewFit
from .pooling import entropy_pool as entropy_pool
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
from .views import InfeasibleViewsError as InfeasibleViewsError
from .views import MeanView as MeanView
from .views import PoolingSolveError as PoolingSolveError
from .views import ProbabilityView as ProbabilityView
from .views import RankingView as RankingView
from .views import ViewError as ViewError
from .views import VolatilityView as VolatilityView
from .weighted import EffectiveSize as EffectiveSize
from .weighted import Estimate as Estimate
from .weighted import TailEstimate as TailEstimate
from .weighted import drawdown_event as drawdown_event
from .weighted import effective_size as effective_size
from .weighted import entropy_ess as entropy_ess
from .weighted import kish_ess as kish_ess
from .weighted import loss_event as loss_event
from .weighted import weighted_mean_estimate as weighted_mean_estimate
from .weighted import weighted_probability as weighted_probability
from .weighted import weighted_quantile_estimate as weighted_quantile_estimate
from .weighted import weighted_tail_risk as weighted_tail_risk

# The single-metric functions (risk.sharpe_ratio, risk.max_drawdown, ...) stay in their modules:
# stylized.annualised_volatility
# (NumPy, log returns) would be confused with risk.volatility (JAX, simple returns).
__all__ = [
    "diversity",
    "acf", "annualised_volatility", "excess_kurtosis", "mean_pairwise_correlation",
    "RiskConfig", "per_world_metrics", "rf_per_period", "RunningRisk", "risk_reducer",
    "weighted_quantile", "weighted_mean", "tail_risk", "percentile_rank",
    "Aggregate", "AggregateConfig", "aggregate_metrics", "cross_world_stats", "bootstrap", "beat_matrix",
    "head_to_head",
    "rank_real_history",
    "probabilistic_sharpe", "deflated_sharpe", "min_track_record_length", "pbo_cscv",
    "winner_rank_across_worlds", "chance_share",
    "PSRResult", "DSRResult", "PBOResult", "WinnerRank", "ChanceShare",
    "GridOverfit", "grid_overfit", "check_grid_overfit", "demean_log_returns",
    # views and entropy pooling; weighted statistics with effective sample sizes
    "ProbabilityView", "MeanView", "VolatilityView", "RankingView", "ViewError", "InfeasibleViewsError",
    "PoolingSolveError", "PoolConfig", "ViewFit", "Posterior", "entropy_pool",
    "EffectiveSize", "Estimate", "TailEstimate", "effective_size", "kish_ess", "entropy_ess",
    "weighted_probability", "weighted_mean_estimate", "weighted_quantile_estimate", "weighted_tail_risk",
    "loss_event", "drawdown_event",
]

"""Risk and fidelity metrics: pure functions per world and across worlds."""

from .stylized import acf as acf
from .stylized import annualised_volatility as annualised_volatility
from .stylized import excess_kurtosis as excess_kurtosis
from .stylized import mean_pairwise_correlation as mean_pairwise_correlation

__all__ = ["acf", "annualised_volatility", "excess_kurtosis", "mean_pairwise_correlation"]

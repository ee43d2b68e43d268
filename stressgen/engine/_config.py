"""Backtest configuration: execution lag, costs, exposure limits, cash rate, warm-up length.

Conventions: 252 periods a year by default; weights decided at close t earn r_{t+1} at the earliest and
``lag`` closes later when ``lag > 0``; fees and slippage are bps of traded notional, where the trade is
``|target - drifted weights|`` summed over assets; cash (``1 - sum(weights) - cost``, which is negative when
a fully invested portfolio pays its costs, and grows with short proceeds) earns ``rf`` (annual) converted
per period as ``(1 + rf) ** (1 / periods_per_year) - 1``.
"""

from __future__ import annotations

import dataclasses

from ..errors import ConfigError

__all__ = ["BacktestConfig"]


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """How orders are executed and charged.

    Attributes:
        lag: extra closes between a decision and its execution (0: decided at close t, traded at close t,
            earns r_{t+1}).
        fee_bps: proportional fee, bps of traded notional.
        slippage_bps: slippage, bps of traded notional (charged like a fee).
        max_gross: cap on ``sum(|weights|)``; the validation probe refuses strategies that exceed it, and the
            run scales any excess down to it.
        long_only: refuse (probe) and clip (run) negative weights.
        rf: annual risk-free rate earned by cash (negative cash pays it).
        periods_per_year: used for the per-period rf and annualised Sharpe.
        warmup: history days the strategy warms up on before the synthetic horizon (None: all of it).
    """

    lag: int = 0
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    max_gross: float = 1.0
    long_only: bool = True
    rf: float = 0.0
    periods_per_year: int = 252
    warmup: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.lag, int) or self.lag < 0:
            raise ConfigError(f"BacktestConfig.lag must be an int >= 0, got {self.lag!r}")
        for name in ("fee_bps", "slippage_bps"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"BacktestConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.max_gross > 0:
            raise ConfigError(f"BacktestConfig.max_gross must be > 0, got {self.max_gross!r}")
        if not self.rf > -1:
            raise ConfigError(f"BacktestConfig.rf must be > -1 (annual rate), got {self.rf!r}")
        if not isinstance(self.periods_per_year, int) or self.periods_per_year <= 0:
            raise ConfigError(f"BacktestConfig.periods_per_year must be a positive int, got {self.periods_per_year!r}")
        if self.warmup is not None and (not isinstance(self.warmup, int) or self.warmup < 0):
            raise ConfigError(f"BacktestConfig.warmup must be None or an int >= 0, got {self.warmup!r}")

    @property
    def cost_rate(self) -> float:
        """Fraction of traded notional paid (fees + slippage)."""
        return (self.fee_bps + self.slippage_bps) * 1e-4

    @property
    def rf_per_period(self) -> float:
        return (1.0 + self.rf) ** (1.0 / self.periods_per_year) - 1.0

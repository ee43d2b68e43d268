"""Backtest configuration: execution lag, costs, exposure limits, cash rate, warm-up length.

Conventions: 252 periods a year by default; weights decided at close t earn r_{t+1} at the earliest and
``lag`` closes later when ``lag > 0``; fees and slippage are bps of traded notional, where the trade is
``|target - drifted weights|`` summed over assets; cash (``1 - sum(weights) - cost``, which is negative when
a fully invested portfolio pays its costs, and grows with short proceeds) earns ``rf`` (annual) converted
per period as ``(1 + rf) ** (1 / periods_per_year) - 1``.
"""

from __future__ import annotations

import dataclasses
import numpy as np

from ..errors import ConfigError

__all__ = ["BacktestConfig"]


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """How orders are executed and charged.

    Attributes:
        lag: extra closes between a decision and its execution (0: decided at close t, traded at close t,
            earns r_{t+1}).
        fee_bps: proportional fee, bps of traded notional: one number, or one per asset (a sequence in the
            scenarios' asset order).
        slippage_bps: slippage, bps of traded notional (charged like a fee); one number or one per asset.
        max_gross: cap on ``sum(|weights|)``; the validation probe refuses strategies that exceed it, and the
            run scales any excess down to it.
        long_only: refuse (probe) and clip (run) negative weights.
        rf: annual risk-free rate earned by cash (negative cash pays it).
        periods_per_year: used for the per-period rf and annualised Sharpe.
        warmup: history days the strategy warms up on before the synthetic horizon (None: all of it).
    """

    lag: int = 0
    fee_bps: float | tuple[float, ...] = 0.0
    slippage_bps: float | tuple[float, ...] = 0.0
    max_gross: float = 1.0
    long_only: bool = True
    rf: float = 0.0
    periods_per_year: int = 252
    warmup: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.lag, int) or self.lag < 0:
            raise ConfigError(f"BacktestConfig.lag must be an int >= 0, got {self.lag!r}")
        for name in ("fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if isinstance(value, (list, np.ndarray)):  # frozen and hashable: keep a tuple
                value = tuple(float(v) for v in value)
                object.__setattr__(self, name, value)
            values = np.asarray(value, np.float64)
            if values.ndim > 1 or values.size == 0 or not np.all(values >= 0):
                raise ConfigError(f"BacktestConfig.{name} must be a number >= 0 or one number >= 0 per asset, "
                                  f"got {value!r}")
        if not self.max_gross > 0:
            raise ConfigError(f"BacktestConfig.max_gross must be > 0, got {self.max_gross!r}")
        if not self.rf > -1:
            raise ConfigError(f"BacktestConfig.rf must be > -1 (annual rate), got {self.rf!r}")
        if not isinstance(self.periods_per_year, int) or self.periods_per_year <= 0:
            raise ConfigError(f"BacktestConfig.periods_per_year must be a positive int, got {self.periods_per_year!r}")
        if self.warmup is not None and (not isinstance(self.warmup, int) or self.warmup < 0):
            raise ConfigError(f"BacktestConfig.warmup must be None or an int >= 0, got {self.warmup!r}")

    @property
    def per_asset_costs(self) -> bool:
        return isinstance(self.fee_bps, tuple) or isinstance(self.slippage_bps, tuple)

    @property
    def cost_rate(self) -> float:
        """Fraction of traded notional paid (fees + slippage), when it is the same for every asset."""
        if self.per_asset_costs:
            raise ConfigError("BacktestConfig.cost_rate: fees or slippage are per asset; use cost_rates(n_assets)")
        return (self.fee_bps + self.slippage_bps) * 1e-4

    def cost_rates(self, n_assets: int) -> np.ndarray | None:
        """``[assets]`` float32 fractions of traded notional paid per asset, or None when every asset pays
        `cost_rate` (the engine then keeps its one-rate arithmetic, to the last bit)."""
        if not self.per_asset_costs:
            return None
        rates = []
        for name in ("fee_bps", "slippage_bps"):
            value = np.asarray(getattr(self, name), np.float64)
            if value.ndim == 1 and value.shape[0] != n_assets:
                raise ConfigError(f"BacktestConfig.{name} has {value.shape[0]} per-asset values; the scenarios "
                                  f"have {n_assets} assets")
            rates.append(np.broadcast_to(value, (n_assets,)))
        return ((rates[0] + rates[1]) * 1e-4).astype(np.float32)

    @property
    def rf_per_period(self) -> float:
        return (1.0 + self.rf) ** (1.0 / self.periods_per_year) - 1.0

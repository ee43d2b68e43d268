"""Per-world risk and performance metrics of daily simple portfolio returns ``pnl[worlds, time]``.

Every function is pure ``jax.numpy``, vectorised over worlds and jittable, and returns a ``[worlds]`` array.
`per_world_metrics` computes them all in one jitted call. Exact definitions are in docs/conventions.md;
the short version:

* ``pnl`` are simple returns of the portfolio, net of costs, as fractions of equity; ``turnover`` and
  ``costs`` are fractions of equity too (costs are reported, never subtracted again).
* equity is compounded from 1.0; drawdowns are measured from the running peak *including* the starting
  equity 1.0; drawdown depths and VaR/ES are positive numbers (a loss of 12% is 0.12).
* the annual risk-free rate ``rf`` becomes ``(1 + rf)**(1 / periods_per_year) - 1`` per period.
* standard deviations use ddof=1; Sortino's downside deviation is taken over *all* periods with target 0
  on excess returns (empyrical / quantstats convention), not over the negative periods only.
* VaR/ES are historical, with the inverted-CDF quantile of `stressgen.metrics.quantile`
  (the same float32 slack, `stressgen.numerics.CDF_SLACK`).

Undefined ratios follow IEEE arithmetic and are not patched: x / 0 is +-inf and 0 / 0 is NaN (a world that
stays in cash has NaN Sharpe). Cross-world aggregation drops NaN worlds per metric and says how many.

Where: the metrics layer owns these definitions. The engine (one layer below) computes no metric of
its own: it runs a reducer that metrics passes in (`stressgen.metrics.running`, the same definitions in
running form inside the time loop; tests check that both agree).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..numerics import CDF_SLACK as _CDF_SLACK

__all__ = [
    "RiskConfig", "per_world_metrics", "rf_per_period",
    "total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "calmar_ratio",
    "drawdown_path", "max_drawdown", "max_drawdown_duration", "value_at_risk", "expected_shortfall",
    "worst_day", "hit_rate", "mean_turnover", "cost_drag", "level_name", "tail_count",
]


@dataclasses.dataclass(frozen=True)
class RiskConfig:
    """Conventions of the per-world metrics (hashable: it is a static argument of the jitted functions).

    Attributes:
        periods_per_year: annualisation factor (252 for business days).
        rf: annual risk-free rate, compounded: ``(1 + rf)**(1 / periods_per_year) - 1`` per period.
        var_levels: confidence levels of the daily VaR/ES, e.g. ``(0.95, 0.99)``; keys ``var_95``, ``es_99``.
    """

    periods_per_year: int = 252
    rf: float = 0.0
    var_levels: tuple[float, ...] = (0.95, 0.99)

    def __post_init__(self) -> None:
        if isinstance(self.periods_per_year, bool) or not isinstance(self.periods_per_year, int) \
                or self.periods_per_year <= 0:
            raise ConfigError(f"RiskConfig.periods_per_year must be a positive int, "
                              f"got {self.periods_per_year!r}")
        if not -1.0 < float(self.rf) < 1.0:
            raise ConfigError(f"RiskConfig.rf is an annual rate and must be in (-1, 1), got {self.rf!r}")
        levels = tuple(float(v) for v in self.var_levels)
        if not all(0.5 <= v < 1.0 for v in levels):
            raise ConfigError(f"RiskConfig.var_levels must be confidence levels in [0.5, 1), "
                              f"got {self.var_levels!r}")
        names = [level_name(v) for v in levels]
        if len(set(names)) != len(names):
            raise ConfigError(f"RiskConfig.var_levels {self.var_levels!r} give duplicate names {names}")
        object.__setattr__(self, "rf", float(self.rf))
        object.__setattr__(self, "var_levels", levels)


def level_name(level: float) -> str:
    """``0.95 -> "95"``, ``0.975 -> "97.5"``: the suffix of ``var_*`` / ``es_*`` keys."""
    return f"{100 * level:.10g}"


def rf_per_period(rf: float, periods_per_year: int) -> float:
    """Per-period rate equivalent to the annual rate `rf` under compounding (quantstats' deannualisation)."""
    return (1.0 + rf) ** (1.0 / periods_per_year) - 1.0


# --- returns ---------------------------------------------------------------------------------------------


def total_return(pnl: jax.Array) -> jax.Array:
    """``prod(1 + r_t) - 1``."""
    return jnp.prod(1.0 + pnl, axis=-1) - 1.0


def cagr(pnl: jax.Array, periods_per_year: int = 252) -> jax.Array:
    """``(1 + total_return)**(periods_per_year / T) - 1`` (NaN if equity ends below 0)."""
    return (1.0 + total_return(pnl)) ** (periods_per_year / pnl.shape[-1]) - 1.0


def volatility(pnl: jax.Array, periods_per_year: int = 252) -> jax.Array:
    """Annualised volatility: ``std(r, ddof=1) * sqrt(periods_per_year)``."""
    return jnp.std(pnl, axis=-1, ddof=1) * jnp.sqrt(periods_per_year)


def sharpe_ratio(pnl: jax.Array, periods_per_year: int = 252, rf: float = 0.0) -> jax.Array:
    """``mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(periods_per_year)``, rf_p the per-period rate."""
    excess = pnl - rf_per_period(rf, periods_per_year)
    # std of excess equals std of pnl; taking it from pnl keeps the running form bit-close (no shift rounding)
    return jnp.mean(excess, axis=-1) / jnp.std(pnl, axis=-1, ddof=1) * jnp.sqrt(periods_per_year)


def sortino_ratio(pnl: jax.Array, periods_per_year: int = 252, rf: float = 0.0) -> jax.Array:
    """``mean(e) / sqrt(mean(min(e, 0)**2)) * sqrt(periods_per_year)``, ``e = r - rf_p``, over ALL periods.

    The mean of squares divides by T (every period, positive ones contributing 0), as empyrical,
    quantstats and vectorbt do; this is not the standard deviation of the negative returns.
    """
    excess = pnl - rf_per_period(rf, periods_per_year)
    downside = jnp.sqrt(jnp.mean(jnp.minimum(excess, 0.0) ** 2, axis=-1))
    return jnp.mean(excess, axis=-1) / downside * jnp.sqrt(periods_per_year)


def calmar_ratio(pnl: jax.Array, periods_per_year: int = 252) -> jax.Array:
    """``cagr / max_drawdown`` (max drawdown as a positive depth; +-inf or NaN when there is no drawdown)."""
    return cagr(pnl, periods_per_year) / max_drawdown(pnl)


# --- drawdowns -------------------------------------------------------------------------------------------


def drawdown_path(pnl: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(equity, drawdown)``, each ``[worlds, time]``.

    ``equity_t = prod_{s<=t}(1 + r_s)`` from 1.0; ``drawdown_t = 1 - equity_t / max(1, max_{s<=t} equity_s)``,
    a positive depth. The peak includes the starting equity, so a first-day loss is a drawdown.
    """
    equity = jnp.cumprod(1.0 + pnl, axis=-1)
    peak = jnp.maximum(jax.lax.cummax(equity, axis=equity.ndim - 1), 1.0)
    return equity, 1.0 - equity / peak


def max_drawdown(pnl: jax.Array) -> jax.Array:
    """Deepest drawdown ``max_t drawdown_t`` in [0, 1] (see `drawdown_path`)."""
    return jnp.max(drawdown_path(pnl)[1], axis=-1)


def _underwater(pnl: jax.Array) -> jax.Array:
    equity = jnp.cumprod(1.0 + pnl, axis=-1)
    peak = jnp.maximum(jax.lax.cummax(equity, axis=equity.ndim - 1), 1.0)
    return equity < peak


def max_drawdown_duration(pnl: jax.Array) -> jax.Array:
    """Longest run of consecutive periods with equity strictly below its running peak (int32).

    A drawdown from a peak at period p that recovers at period q (first period with equity >= the peak)
    lasts ``q - p - 1`` periods; one still open at the end lasts ``T - p`` (counted to the end). Period 0 is
    the starting equity 1.0. This is vectorbt's ``Drawdowns.duration`` on the equity curve including 1.0.
    """
    under = _underwater(pnl)
    t = jnp.arange(1, pnl.shape[-1] + 1, dtype=jnp.int32)
    # index of the last period at or above the peak (0 = the start): the run length is the distance to it
    last_dry = jax.lax.cummax(jnp.where(under, 0, t), axis=under.ndim - 1)
    return jnp.max(jnp.where(under, t - last_dry, 0), axis=-1)


# --- tails and trading -----------------------------------------------------------------------------------


def tail_count(level: float, n: int) -> int:
    """k of the historical VaR at `level` over n periods: Q is the k-th lowest return, k = ceil((1 - level) n).

    With the slack of `stressgen.numerics.CDF_SLACK`, so that (1 - 0.95) * 100 = 5.0000000000000044 gives k = 5, not 6.
    """
    return max(1, math.ceil((1.0 - level) * n * (1.0 - _CDF_SLACK)))


def _sorted_tail(pnl: jax.Array, level: float) -> tuple[jax.Array, jax.Array]:
    """``(Q, ES)`` in return space: Q the ceil(a*T)-th lowest return, a = 1 - level (inverted CDF)."""
    k = tail_count(level, pnl.shape[-1])
    q = jnp.sort(pnl, axis=-1)[..., k - 1]
    tail = pnl <= q[..., None]
    es = jnp.sum(jnp.where(tail, pnl, 0.0), axis=-1) / jnp.sum(tail, axis=-1)
    return q, es


def value_at_risk(pnl: jax.Array, level: float = 0.95) -> jax.Array:
    """Historical one-period VaR: ``-Q(1 - level)``, Q the inverted-CDF quantile (``ceil((1-level) T)``-th
    lowest return); positive = loss."""
    return -_sorted_tail(pnl, level)[0]


def expected_shortfall(pnl: jax.Array, level: float = 0.95) -> jax.Array:
    """Historical ES: minus the mean of the returns at or below ``Q(1 - level)`` (ties included); >= VaR."""
    return -_sorted_tail(pnl, level)[1]


def worst_day(pnl: jax.Array) -> jax.Array:
    """Lowest one-period return (a return, so negative when the worst day lost money)."""
    return jnp.min(pnl, axis=-1)


def hit_rate(pnl: jax.Array) -> jax.Array:
    """Share of periods with ``r > 0`` among those with ``r != 0`` (flat ones excluded; NaN if all flat)."""
    return jnp.sum(pnl > 0, axis=-1) / jnp.sum(pnl != 0, axis=-1)


def mean_turnover(turnover: jax.Array) -> jax.Array:
    """Mean one-period turnover (traded notional / equity); times periods_per_year for the annual figure."""
    return jnp.mean(turnover, axis=-1)


def cost_drag(costs: jax.Array, periods_per_year: int = 252) -> jax.Array:
    """Annualised cost: ``sum_t costs_t * periods_per_year / T`` (a simple, not compounded, rate)."""
    return jnp.sum(costs, axis=-1) * (periods_per_year / costs.shape[-1])


# --- all at once -----------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("config",))
def per_world_metrics(pnl: jax.Array, turnover: jax.Array | None = None, costs: jax.Array | None = None,
                      *, config: RiskConfig = RiskConfig()) -> dict[str, jax.Array]:
    """Every per-world metric in one jitted call; each value is ``[worlds]``.

    Args:
        pnl: ``[worlds, time]`` simple returns net of costs (a 1-D series is treated as one world).
        turnover, costs: ``[worlds, time]`` fractions of equity, or None to leave out the trading metrics.
        config: periods per year, annual risk-free rate, VaR levels.

    Keys: total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown, max_drawdown_duration,
    var_<level>, es_<level> for each level, worst_day, hit_rate and, when given, turnover,
    turnover_annual, cost_drag.
    """
    pnl = jnp.atleast_2d(pnl)
    ppy, rf = config.periods_per_year, config.rf
    out = {
        "total_return": total_return(pnl),
        "cagr": cagr(pnl, ppy),
        "volatility": volatility(pnl, ppy),
        "sharpe": sharpe_ratio(pnl, ppy, rf),
        "sortino": sortino_ratio(pnl, ppy, rf),
        "calmar": calmar_ratio(pnl, ppy),
        "max_drawdown": max_drawdown(pnl),
        "max_drawdown_duration": max_drawdown_duration(pnl),
    }
    for level in config.var_levels:
        q, es = _sorted_tail(pnl, level)
        out[f"var_{level_name(level)}"] = -q
        out[f"es_{level_name(level)}"] = -es
    out["worst_day"] = worst_day(pnl)
    out["hit_rate"] = hit_rate(pnl)
    if turnover is not None:
        out["turnover"] = mean_turnover(jnp.atleast_2d(turnover))
        out["turnover_annual"] = out["turnover"] * ppy
    if costs is not None:
        out["cost_drag"] = cost_drag(jnp.atleast_2d(costs), ppy)
    return out

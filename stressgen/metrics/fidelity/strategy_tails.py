"""Strategy tails (the Tail-GAN criterion): VaR and ES of built-in strategies' 20-day P&L, synthetic
against held-out real.

Each strategy runs through `stressgen.engine.backtest` twice with the same warm-up history (the real days
before the scored period): once on the synthetic paths, once on the real held-out period as a one-world
`Scenarios`. The h-day P&L is the compounded daily P&L over every window of h consecutive days (overlapping,
one a day), pooled over paths for the synthetic side, so both sides use one definition.

    RE = mean over strategies and alpha of (|VaR_syn - VaR_real| / |VaR_real| + |ES_syn - ES_real| / |ES_real|) / 2

A strategy whose real VaR is zero (it never traded in the held-out period) has no relative error and is
left out of the mean (reported as NaN in the per-strategy breakdown).

`pnl_error` is the criterion on daily P&L that is already at hand: the in-run scorecard
(`stressgen.stage_series.fidelity_summary`) gives it the run's own strategies' P&L on the real history (its tear
sheet) and on the first worlds, instead of backtesting reference strategies again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from ...engine import BacktestConfig, backtest
from ...plugins import load_strategy
from ...types import Provenance, Scenarios
from .marginal import var_es

__all__ = ["resolve_strategy", "strategy_label", "real_scenarios", "window_pnl", "strategy_pnl", "pnl_error",
           "strategy_errors"]

_EPS = 1e-10  # a real VaR or ES below this (in return units) means "no risk taken": no relative error


def resolve_strategy(ref: Any) -> Any:
    """A strategy instance from a registry name / plugin reference (defaults) or an instance as is."""
    obj = load_strategy(ref) if isinstance(ref, str) else ref
    return obj() if isinstance(obj, type) else obj


def strategy_label(ref: Any) -> str:
    return ref if isinstance(ref, str) else type(ref).__name__


def real_scenarios(returns: np.ndarray, history: np.ndarray, assets: Sequence[str], freq: str = "B",
                   history_end: str = "") -> Scenarios:
    """A one-world `Scenarios` holding a real ``[time, assets]`` stretch after its real warm-up `history`."""
    return Scenarios(log_returns=jnp.asarray(returns, jnp.float32)[None], history=jnp.asarray(history, jnp.float32),
                     anchor_prices=jnp.ones((returns.shape[-1],), jnp.float32), assets=tuple(assets), freq=freq,
                     history_end=history_end, provenance=Provenance("real", ""))


def window_pnl(pnl: np.ndarray, h: int) -> np.ndarray:
    """Compounded P&L ``prod(1 + pnl) - 1`` of every window of h consecutive days of ``pnl[worlds, time]``,
    pooled: ``[worlds * (time - h + 1)]``."""
    growth = np.log1p(np.asarray(pnl, dtype=np.float64))
    c = np.concatenate([np.zeros((growth.shape[0], 1)), np.cumsum(growth, axis=1)], axis=1)
    return np.expm1(c[:, h:] - c[:, :-h]).ravel()


def strategy_pnl(strategy: Any, scenarios: Scenarios, h: int, config: BacktestConfig) -> np.ndarray:
    """Pooled h-day P&L of `strategy` over every world of `scenarios`."""
    result = backtest(strategy, scenarios, config)
    return window_pnl(np.asarray(result.pnl), h)


def pnl_error(real_pnl: np.ndarray, syn_pnl: np.ndarray, h: int, alphas: Sequence[float] = (0.01, 0.05)) -> float:
    """Relative VaR/ES error of one strategy's h-day P&L, mean over `alphas` of the VaR and ES errors (module
    doc): `real_pnl` ``[time]`` and `syn_pnl` ``[worlds, time]`` are daily P&L. NaN when the real VaR or ES
    is zero at some level (no risk taken: no relative error)."""
    pr = window_pnl(np.asarray(real_pnl)[None], h)[:, None]
    ps = window_pnl(syn_pnl, h)[:, None]
    errs = []
    for a in alphas:
        (vr,), (er,) = var_es(pr, a)
        (vs,), (es,) = var_es(ps, a)
        if abs(vr) < _EPS or abs(er) < _EPS:
            errs.append(np.nan)
            continue
        errs.append(0.5 * (abs(vs - vr) / abs(vr) + abs(es - er) / abs(er)))
    return float(np.mean(errs))


def strategy_errors(real: np.ndarray, syn: np.ndarray, history: np.ndarray, assets: Sequence[str], *,
                    strategies: Sequence[Any], h: int = 20, alphas: Sequence[float] = (0.01, 0.05),
                    config: BacktestConfig = BacktestConfig(), freq: str = "B",
                    syn_scenarios: Scenarios | None = None) -> dict[str, float]:
    """Relative VaR/ES error of each strategy's h-day P&L (mean over `alphas` of the VaR and ES errors).

    Args:
        real: ``[time, assets]`` held-out real log returns.
        syn: ``[paths, time, assets]`` synthetic log returns (ignored when `syn_scenarios` is given).
        history: ``[warmup, assets]`` real log returns before the scored period; the real side warms up on
            it, and so do the synthetic paths unless `syn_scenarios` (which carry their own history) is given.
        syn_scenarios: the generator's `Scenarios`, used as they are instead of `syn`.
        strategies: registry names, plugin references or strategy instances.
        h: P&L horizon in days.
    Returns:
        strategy label -> relative error (NaN when the real VaR or ES is zero).
    """
    real_sc = real_scenarios(real, history, assets, freq)
    # The generator's own Scenarios keep their own warm-up (in-sample report); bare paths get `history`.
    syn_sc = syn_scenarios if syn_scenarios is not None else real_sc.replace(
        log_returns=jnp.asarray(syn, jnp.float32))
    out = {}
    for ref in strategies:
        strategy = resolve_strategy(ref)
        pnl = [np.asarray(backtest(strategy, sc, config).pnl) for sc in (real_sc, syn_sc)]
        out[strategy_label(ref)] = pnl_error(pnl[0][0], pnl[1], h, alphas)
    return out

"""Every fidelity metric of one real period against one set of synthetic paths, by metric name.

`metric_names` names each column of the scorecard with its family and a one-line definition (the docs expand
them). All are "lower is better". Univariate metrics are computed per asset and summarised by their mean
over assets; the cross-asset metrics are NaN with a single asset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from ...devices import parallel_map
from ...engine import BacktestConfig
from ...types import Scenarios
from . import calibration, cross, discriminative, marginal, memorisation, paths, strategy_tails, temporal

__all__ = ["ScoreConfig", "metric_names", "score", "plot_data"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """What is scored and with which windows (the defaults are the documented scorecard).

    Attributes:
        horizons: h of the W1n(h) marginal scores (h-day aggregated returns).
        tail_levels: tail probabilities of the VaR/ES errors and the Kupiec test.
        tail_horizons: h of the relative VaR/ES errors.
        hill_fraction: share of the sample in the Hill estimator's tail.
        acf_lags: lags 1..S of the ACF scores (cut to a third of the scored period when that is shorter).
        leverage_lags: lags 1..K of the leverage score.
        coexceed_level: joint-tail level of the co-exceedance error.
        drawdown_window, drawdown_step: rolling windows of the drawdown W1.
        strategies: strategies of the strategy-tail error (registry names or instances); () skips it.
        pnl_horizon: days of the strategy P&L.
        backtest: execution settings of those backtests.
        copy_window, copy_max_windows: window length and number of synthetic windows of the copy rate.
        disc_window, disc_step, disc_folds: windows and folds of the discriminative score.
        kupiec_horizon: h of the Kupiec test's h-day returns.
    """

    horizons: tuple[int, ...] = (1, 5, 20, 60)
    tail_levels: tuple[float, ...] = (0.01, 0.05)
    tail_horizons: tuple[int, ...] = (1, 20)
    hill_fraction: float = 0.05
    acf_lags: int = 100
    leverage_lags: int = 20
    coexceed_level: float = 0.05
    drawdown_window: int = 252
    drawdown_step: int = 21
    strategies: tuple[Any, ...] = ("buy_and_hold", "equal_weight", "inverse_volatility", "ma_crossover",
                                   "ts_momentum", "zscore_reversion")
    pnl_horizon: int = 20
    backtest: BacktestConfig = BacktestConfig()
    copy_window: int = 20
    copy_max_windows: int = 5000
    disc_window: int = 20
    disc_step: int = 5
    disc_folds: int = 5
    kupiec_horizon: int = 1


def _pct(a: float) -> str:
    return f"{a * 100:g}pct"


def metric_names(config: ScoreConfig) -> dict[str, tuple[str, str]]:
    """Metric name -> (family, one-line definition), in table order."""
    m: dict[str, tuple[str, str]] = {}
    for h in config.horizons:
        m[f"w1n_{h}d"] = ("marginal", f"W1 of {h}-day returns / real std")
    for h in config.tail_horizons:
        for a in config.tail_levels:
            m[f"rel_var_{_pct(a)}_{h}d"] = ("marginal", f"|VaR{a:.0%} syn - real| / |real|, {h}-day returns")
            m[f"rel_es_{_pct(a)}_{h}d"] = ("marginal", f"|ES{a:.0%} syn - real| / |real|, {h}-day returns")
    m["hill_gap"] = ("marginal", "|Hill left-tail index syn - real|")
    for f, what in (("r", "r"), ("abs", "|r|"), ("sq", "r^2")):
        m[f"acf_{f}"] = ("temporal", f"L2 over lags of ACF({what}) syn - real")
    m["leverage"] = ("temporal", "L2 over lags of corr(r_t, r^2_t+k) syn - real")
    m["corr_err"] = ("cross", "RMS over pairs of the correlation difference")
    m["coexceed_err"] = ("cross", f"mean over pairs of |joint {config.coexceed_level:.0%}-tail co-exceedance| error")
    m["dd_w1n"] = ("paths", f"W1 of rolling {config.drawdown_window}-day max drawdowns / real std")
    if config.strategies:
        m["strategy_re"] = ("strategy", f"mean rel. VaR/ES error of strategies' {config.pnl_horizon}-day P&L")
    for a in config.tail_levels:
        m[f"kupiec_reject_{_pct(a)}"] = ("calibration", f"share of assets where Kupiec rejects VaR{a:.0%} (5% size)")
        m[f"kupiec_cov_err_{_pct(a)}"] = ("calibration", f"|violation rate / {a:.0%} - 1| of synthetic VaR")
    m["copy_rate"] = ("memorisation", "share of synthetic windows nearer to train than the real 1% nearest")
    m["disc_score"] = ("discriminative", "|accuracy - 0.5| of a classifier of real vs synthetic windows")
    return m


def required_days(config: ScoreConfig) -> dict[str, int]:
    """Metric -> the fewest periods a world must have for it (h-day windows need h + 1 days); the metrics
    not listed work on any length. `score` gives NaN for a metric whose worlds are shorter."""
    need = {f"w1n_{h}d": h + 1 for h in config.horizons}
    need |= {f"rel_{s}_{_pct(a)}_{h}d": h + 1 for h in config.tail_horizons for a in config.tail_levels
             for s in ("var", "es")}
    if config.strategies:
        need["strategy_re"] = config.pnl_horizon + 1
    need["disc_score"] = config.disc_window
    return need


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def score(real: np.ndarray, syn: np.ndarray, *, train: np.ndarray, history: np.ndarray, assets: Sequence[str],
          config: ScoreConfig, key: jax.Array, freq: str = "B", memorisation_check: bool = True,
          syn_scenarios: Scenarios | None = None, cache: dict | None = None,
          strategy_pnl: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
          ) -> tuple[dict[str, float], dict[str, float]]:
    """All metrics of `syn` ``[paths, time, assets]`` against `real` ``[time, assets]``.

    Args:
        train: ``[time, assets]`` the returns the generator was fitted on (copy rate, standardisation).
        history: ``[warmup, assets]`` real returns just before `real` (strategy warm-up).
        memorisation_check: False scores the copy rate as NaN (for "synthetic" data that is itself
            training data, where it is 1 by construction).
        syn_scenarios: the generator's own `Scenarios` for the backtests (else built from `syn`).
        cache: a dict that belongs to this `syn` (the caller's): the synthetic ACF and leverage curves are
            kept in it, so that `plot_data` given the same dict does not compute them again.
        strategy_pnl: label -> (real ``[time]``, synthetic ``[paths, time]``) daily P&L of strategies the
            caller has already backtested (`strategy_tails.pnl_error`); given, the strategy-tail error is
            theirs and ``config.strategies`` is not backtested (the in-run scorecard passes the run's own).
    Returns:
        (metric -> value, strategy label -> relative error).
    """
    real = np.asarray(real, dtype=np.float64)
    syn = np.asarray(syn)
    t = min(real.shape[0], syn.shape[1])
    cache = {} if cache is None else cache
    out: dict[str, float] = dict.fromkeys(metric_names(config), float("nan"))  # table order, whatever fills first
    # Five independent groups of metrics, run in threads (`devices.parallel_map`: their NumPy sorts, FFTs
    # and JAX calls leave the GIL, so a second core takes its share); each writes its own keys of `out`.
    # Each horizon's pooled synthetic returns are sorted once (marginal.sorted_pooled) and serve every
    # marginal and calibration metric of that horizon; one horizon's sorted copy is alive at a time.
    need = sorted({h for h in config.horizons if h < t} | {h for h in config.tail_horizons if h < t}
                  | {1, config.kupiec_horizon})
    kupiec: dict[float, list] = {}
    per_strategy: dict[str, float] = {}
    k_copy, k_disc = jax.random.split(key)

    def marginals() -> None:
        for h in need:
            ss = marginal.sorted_pooled(syn, h)
            if h in config.horizons and h < t:
                out[f"w1n_{h}d"] = _mean(marginal.w1_normalised(real, syn, h, syn_sorted=ss))
            if h in config.tail_horizons and h < t:
                for a in config.tail_levels:
                    v, e = marginal.tail_errors(real, syn, a, h, syn_sorted=ss)
                    out[f"rel_var_{_pct(a)}_{h}d"], out[f"rel_es_{_pct(a)}_{h}d"] = _mean(v), _mean(e)
            if h == 1:
                out["hill_gap"] = _mean(marginal.hill_gap(real, syn, config.hill_fraction, syn_sorted=ss))
            if h == config.kupiec_horizon:
                kupiec.update({a: calibration.kupiec_test(real, syn, a, h, syn_sorted=ss)
                               for a in config.tail_levels})
            del ss

    def temporals() -> None:
        lags = max(1, min(config.acf_lags, t // 3))
        for f in ("r", "abs", "sq"):
            out[f"acf_{f}"] = _mean(temporal.acf_score(real, syn, f, lags, cache=cache))
        out["leverage"] = _mean(temporal.leverage_score(real, syn, max(1, min(config.leverage_lags, t // 3)),
                                                        cache=cache))

    def cross_and_paths() -> None:
        out["corr_err"] = cross.corr_error(real, syn)
        out["coexceed_err"] = cross.coexceed_error(real, syn, config.coexceed_level)
        out["dd_w1n"] = _mean(paths.drawdown_w1n(real, syn, config.drawdown_window, config.drawdown_step))

    def strategies() -> None:
        if strategy_pnl is not None and config.strategies and config.pnl_horizon < t:
            per_strategy.update({label: strategy_tails.pnl_error(r, s, config.pnl_horizon)
                                 for label, (r, s) in strategy_pnl.items()})
            out["strategy_re"] = _mean(np.array(list(per_strategy.values())))
        elif config.strategies and config.pnl_horizon < t:  # shorter worlds have no h-day P&L window: NaN
            per_strategy.update(strategy_tails.strategy_errors(
                real, syn, history, assets, strategies=config.strategies, h=config.pnl_horizon,
                config=config.backtest, freq=freq, syn_scenarios=syn_scenarios))
            out["strategy_re"] = _mean(np.array(list(per_strategy.values())))

    def memorisation_and_classifier() -> None:
        out["copy_rate"] = memorisation.copy_rate(
            train, real, syn, key=k_copy, length=config.copy_window,
            max_windows=config.copy_max_windows) if memorisation_check else float("nan")
        # worlds shorter than the classifier's window have no window to classify: NaN (the table shows n/a)
        out["disc_score"] = discriminative.discriminative_score(
            train, real, syn, key=k_disc, length=config.disc_window, step=config.disc_step,
            folds=config.disc_folds) if config.disc_window <= t else float("nan")

    parallel_map(lambda group: group(), [marginals, temporals, cross_and_paths, strategies,
                                         memorisation_and_classifier])
    for a in config.tail_levels:
        tests = kupiec[a]
        out[f"kupiec_reject_{_pct(a)}"] = float(np.mean([k.rejects(0.05) for k in tests]))
        out[f"kupiec_cov_err_{_pct(a)}"] = float(np.mean([abs(k.rate / a - 1.0) for k in tests]))
    return out, per_strategy


def plot_data(real: np.ndarray, syn: np.ndarray, config: ScoreConfig, n_quantiles: int = 199, *,
              cache: dict | None = None) -> dict[str, Any]:
    """Arrays the evaluate page draws (averaged over assets where they are per asset).

    ``acf_<f>``: (real, synthetic) ACF curves; ``leverage``: the same for the leverage curve; ``qq``:
    (real, synthetic) quantiles of daily returns divided by the real std, pooled over assets, at
    ``n_quantiles`` levels; ``corr``: (real, synthetic) correlation matrices; ``drawdowns``: (real,
    synthetic) window drawdowns pooled over assets (synthetic thinned to at most 20,000 values).
    `cache`: as in `score` (the same dict for the same `syn` reuses its synthetic curves).
    """
    real = np.asarray(real, dtype=np.float64)
    syn = np.asarray(syn, dtype=np.float64)
    t = min(real.shape[0], syn.shape[1])
    lags = max(1, min(config.acf_lags, t // 3))
    out: dict[str, Any] = {}
    for f in ("r", "abs", "sq"):
        a, b = temporal.acf_curves(real, syn, f, lags, cache=cache)
        out[f"acf_{f}"] = (np.nanmean(a, axis=0), np.nanmean(b, axis=0))
    a, b = temporal.leverage_curves(real, syn, max(1, min(config.leverage_lags, t // 3)), cache=cache)
    out["leverage"] = (np.nanmean(a, axis=0), np.nanmean(b, axis=0))
    sd = real.std(axis=0, ddof=1)
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    out["qq"] = (np.quantile((real / sd).ravel(), levels), np.quantile((marginal.pooled(syn) / sd).ravel(), levels))
    out["corr"] = cross.correlation(real, syn) if real.shape[1] > 1 else (np.ones((1, 1)), np.ones((1, 1)))
    window = min(config.drawdown_window, t)
    dr = paths.window_drawdowns(real, window, config.drawdown_step).ravel()
    ds = paths.window_drawdowns(syn, window, config.drawdown_step).ravel()
    out["drawdowns"] = (dr, ds[:: max(1, ds.size // 20000)])
    return out

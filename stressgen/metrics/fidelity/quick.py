"""`quick_scorecard`: the fidelity summary of one stress run, without refitting (in-sample).

The real side is the history the run's generator was fitted on; the synthetic side is (at most
`max_paths` of) the run's worlds. Because the generator saw this history, every number is in-sample and
optimistic: the table says so (``meta["in_sample"]``), and the out-of-sample protocol (`evaluate`) is the
one to trust. The copy rate needs held-out data and is NaN here. The real side leaves out the first
``min(len(worlds' history), half the history)`` real days, on which reference strategies warm up.

The strategy-tail error (`strategy_re`) is a run's own: given `strategy_pnl`, it compares the daily P&L of
the run's strategies (every parameter set) on the real history after the worlds' warm-up (the tear sheet's
run, with the run's costs) with their P&L on the scored worlds, so it reads "do the run's strategies see
tails like the history's"; the run has backtested them already, or does so on programs it compiled for its
worst worlds, instead of compiling a backtest per reference strategy. Without it (a caller with no
strategies), the reference strategies of `ScoreConfig.strategies` are backtested, as in `evaluate`.
``meta["strategy_source"]`` says which.

ACF and leverage curves depend on the length of the series they are estimated on (demeaning over a year
removes slow volatility swings that thirty years keep), so the real curves here are averaged over
non-overlapping real windows as long as the worlds.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
import pandas as pd

from ...types import MarketData, Scenarios
from . import temporal
from .protocol import Scorecard, summarise
from .score import ScoreConfig, metric_names, plot_data, required_days, score
from .thresholds import check

__all__ = ["quick_scorecard"]


def _windowed(real: np.ndarray, length: int) -> np.ndarray:
    n = real.shape[0] // length
    return real[real.shape[0] - n * length:].reshape(n, length, real.shape[1])


def quick_scorecard(market: MarketData, scenarios: Scenarios, *, key: jax.Array,
                    config: ScoreConfig = ScoreConfig(), max_paths: int = 1000,
                    strategy_pnl: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Scorecard:
    """In-sample scorecard of `scenarios` against `market` (the history the generator was fitted on).

    `strategy_pnl`: label -> (real ``[time]``, synthetic ``[worlds, time]``) daily P&L of the run's strategies
    (module doc; empty when the history has no tear sheet: the metric is NaN and noted in ``skipped``).
    Returns a `Scorecard` with one generator (the worlds' generator name), no floors and one replicate;
    ``meta["failures"]`` lists the thresholds it fails (`check`).
    """
    real = market.log_returns
    scen = scenarios.first(max_paths)
    syn = np.asarray(scen.log_returns)
    horizon = syn.shape[1]
    families = metric_names(config)
    warm = min(scen.history.shape[0], real.shape[0] // 2)
    cache: dict = {}  # the synthetic ACF and leverage curves: computed once for score, windows and plots
    values, per = score(real[warm:], syn, train=real, history=real[:warm], assets=market.assets, config=config,
                        key=key, freq=market.freq, memorisation_check=False, syn_scenarios=scen, cache=cache,
                        strategy_pnl=strategy_pnl)
    if real.shape[0] >= 2 * horizon:  # real curves from windows as long as the worlds (module doc)
        windows = _windowed(real, horizon)
        lags = max(1, min(config.acf_lags, horizon // 3))
        for f in ("r", "abs", "sq"):
            a = np.nanmean(temporal.acf_fft(temporal.TRANSFORMS[f](np.moveaxis(windows, -1, -2)), lags), axis=0)
            b = temporal.acf_curves(real, syn, f, lags, cache=cache)[1]
            values[f"acf_{f}"] = float(np.nanmean(np.sqrt(np.sum((b - a) ** 2, axis=-1))))
        k = max(1, min(config.leverage_lags, horizon // 3))
        a = np.nanmean(temporal.leverage_curve(np.moveaxis(windows, -1, -2), k), axis=0)
        b = temporal.leverage_curves(real, syn, k, cache=cache)[1]
        values["leverage"] = float(np.nanmean(np.sqrt(np.sum((b - a) ** 2, axis=-1))))
    name = scenarios.provenance.generator
    raw = pd.DataFrame([dict(generator=name, kind="generator", replicate=0, metric=m, value=values.get(m, np.nan))
                        for m in families])
    table = summarise(raw, families, 0.9)
    # metrics that need longer worlds are NaN in the table; say why, once each, rather than leave a bare gap
    skipped = [f"{m}: needs worlds of {d} periods, these have {horizon}"
               for m, d in required_days(config).items() if d > horizon and m in families]
    if strategy_pnl is not None and not strategy_pnl and "strategy_re" in families:
        skipped.append("strategy_re: the history is too short for a real run after the worlds' warm-up")
    if strategy_pnl is not None and "strategy_re" in families:  # the definition names whose strategies
        families["strategy_re"] = ("strategy", f"mean rel. VaR/ES error of the run's strategies' "
                                               f"{config.pnl_horizon}-day P&L (real: the tear sheet's run)")
    meta = dict(source=market.source, assets=list(market.assets), freq=market.freq,
                train=[str(market.dates[0].date()), str(market.dates[-1].date())], test=None,
                n_train=int(real.shape[0]), n_test=0, n_paths=int(syn.shape[0]), n_seeds=1, interval=0.9,
                in_sample=True, generators=[name], failures=check(table), skipped=skipped,
                strategy_source="reference" if strategy_pnl is None else "run",
                metrics={m: {"family": f, "definition": d} for m, (f, d) in families.items()})
    strategies = pd.DataFrame([dict(generator=name, replicate=0, strategy=s, value=v) for s, v in per.items()],
                              columns=["generator", "replicate", "strategy", "value"])
    return Scorecard(table=table, raw=raw, strategies=strategies,
                     plots={name: plot_data(real, syn, config, cache=cache)}, meta=meta)

"""A small but realistic `RunResult`, built by hand from real market data and the real metric functions.

Synthetic worlds are day-level bootstrap draws of four real stocks (NumPy, seeded), strategies are simple
weight rules backtested here with a NumPy loop; per-world metrics, aggregation, ranks and the head-to-head
matrix come from `stressgen.metrics`, exactly as the pipeline produces them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from stressgen import data, rng
from stressgen.metrics import (AggregateConfig, acf, aggregate_metrics, excess_kurtosis, head_to_head,
                               per_world_metrics, rank_real_history)
from stressgen.metrics.fidelity import THRESHOLDS, ScoreConfig, metric_names
from stressgen.metrics.run_summary import FidelitySummary
from stressgen.results import DatasetInfo, GeneratorInfo, RealHistory, RunResult, StrategyResult

N_WORLDS, HORIZON, K_PATHS, N_WORST = 64, 40, 6, 3
COST = 0.001  # per unit of traded notional


def backtest(log_returns: np.ndarray, weights: np.ndarray):
    """``(pnl, turnover, costs)`` of fixed target weights ``[assets]`` rebalanced every period.

    ``log_returns`` is ``[..., time, assets]``. Weights drift with returns between rebalances; the turnover of
    each period is the notional traded to return to the target (the first period buys in from cash).
    """
    simple = np.expm1(log_returns.astype(np.float64))
    pnl_gross = simple @ weights
    drifted = weights * (1.0 + simple) / (1.0 + pnl_gross)[..., None]
    held = np.concatenate([np.zeros_like(drifted[..., :1, :]), drifted[..., :-1, :]], axis=-2)  # before trading
    turnover = np.abs(weights - held).sum(-1)
    costs = COST * turnover
    return (pnl_gross - costs).astype(np.float32), turnover.astype(np.float32), costs.astype(np.float32)


def _equity(pnl: np.ndarray) -> np.ndarray:
    eq = np.cumprod(1.0 + pnl.astype(np.float64), axis=-1)
    return np.concatenate([np.ones(eq.shape[:-1] + (1,)), eq], axis=-1)


def _ew_equity(log_returns: np.ndarray) -> np.ndarray:
    return _equity(np.expm1(log_returns.astype(np.float64)).mean(-1))


def scorecard(failing: tuple[str, ...] = ()) -> pd.DataFrame:
    """A table shaped like `quick_scorecard(...).table` (one generator, one replicate): every metric at half
    its threshold (or 0.1 without one), the copy rate NaN (in-sample), and each of `failing` at 1.5 times its
    threshold."""
    rows = []
    for metric, (family, _) in metric_names(ScoreConfig()).items():
        t = THRESHOLDS.get(metric)
        value = (0.5 * t.limit if t else 0.1) if metric not in failing else 1.5 * t.limit
        if metric == "copy_rate":
            value = float("nan")
        rows.append(dict(generator="iid_bootstrap", kind="generator", family=family, metric=metric, mean=value,
                         lo=float("nan"), hi=float("nan"), n=int(np.isfinite(value)), rank=1.0))
    return pd.DataFrame(rows)


def build_result(*, failures=(), n_worlds: int = N_WORLDS) -> RunResult:
    market = data.load("sp500-20", start="2019-01-01", assets=["AAPL", "JPM", "XOM", "WMT"])
    hist = np.asarray(market.log_returns, np.float32)
    gen = np.random.default_rng(7)
    worlds = hist[gen.integers(0, len(hist), size=(n_worlds, HORIZON))]          # [worlds, time, assets]
    starts = np.arange(0, len(hist) - HORIZON, 21)
    real_windows = np.stack([hist[s:s + HORIZON] for s in starts])              # [k, time, assets]
    real_last = hist[-HORIZON:]
    key = rng.root(0)
    n_assets = hist.shape[1]
    plans = [("equal_weight", "equal_weight", {}, np.full(n_assets, 1.0 / n_assets)),
             ("single[asset=AAPL]", "single", {"asset": "AAPL", "leverage": 1.0}, np.eye(n_assets)[0]),
             ("tilt[w=0.7]", "tests/report/tilt.py:Tilt", {"w": 0.7},
              np.array([0.7, 0.1, 0.1, 0.1]))]
    strategies, per_world = [], {}
    for name, plugin, params, w in plans:
        pnl, turnover, costs = backtest(worlds, w)
        m = {k: np.asarray(v) for k, v in per_world_metrics(pnl, turnover, costs).items()}
        per_world[name] = m
        rp, rt, rc = backtest(real_last[None], w)
        real = {k: float(np.asarray(v)[0]) for k, v in per_world_metrics(rp, rt, rc).items()}
        agg = aggregate_metrics(m, key=key, config=AggregateConfig(n_boot=20))
        rank = rank_real_history(m, real)
        worst = [int(i) for i in np.argsort(m["total_return"], kind="stable")[:N_WORST]]
        strategies.append(StrategyResult(
            name=name, plugin=plugin, params=params,
            metrics=pd.DataFrame(m, index=pd.Index(np.arange(n_worlds), name="world")),
            aggregate=agg, real=real, real_rank={k: float(v) for k, v in rank.items()},
            worst_worlds=tuple(worst), worst_equity=_equity(pnl[worst]).astype(np.float32),
            real_equity=_equity(backtest(hist[None], w)[0])[0]))
    h2h = head_to_head(per_world)
    ew = _ew_equity(worlds)
    fan = {f"q{int(q * 100):02d}": np.quantile(ew, q, axis=0).astype(np.float32)
           for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
    fan["real"] = _ew_equity(real_last).astype(np.float32)
    worst_ids = sorted({w for s in strategies for w in s.worst_worlds})
    flat = worlds.reshape(-1, n_assets)
    lags = np.arange(1, 11)
    moments = pd.DataFrame({
        "mean_real": hist.mean(0) * 252, "mean_syn": flat.mean(0) * 252,
        "vol_real": hist.std(0, ddof=1) * np.sqrt(252), "vol_syn": flat.std(0, ddof=1) * np.sqrt(252),
        "kurt_real": excess_kurtosis(hist.T), "kurt_syn": excess_kurtosis(flat.T),
    }, index=pd.Index(market.assets, name="asset"))
    acf_abs = pd.DataFrame({"real": acf(np.abs(hist.T), lags).mean(0),
                            "synthetic": acf(np.abs(worlds.transpose(0, 2, 1)), lags).mean((0, 1))},
                           index=pd.Index(lags, name="lag"))
    return RunResult(
        spec={"data": {"dataset": "sp500-20", "assets": list(market.assets)},
              "generator": {"family": "iid_bootstrap"}, "simulation": {"worlds": n_worlds, "horizon": HORIZON,
                                                                      "seed": 0}},
        data=DatasetInfo(source="sp500-20", assets=tuple(market.assets), start=str(market.dates[0])[:10],
                         end=str(market.dates[-1])[:10], n_obs=int(market.n_obs), freq=str(market.freq)),
        generator=GeneratorInfo(name="iid_bootstrap", config={"block": 1}, params_digest="0123abcd",
                                fit_seconds=0.01),
        seed=0, n_worlds=n_worlds, horizon=HORIZON, assets=tuple(market.assets),
        conventions={"periods per year": "252", "risk-free rate": "0 (annual)",
                     "execution": "weights decided at close t earn the return of t+1",
                     "costs": f"{COST:g} x traded notional"},
        versions={"stressgen": "0.1.0", "numpy": np.__version__, "pandas": pd.__version__},
        real_paths=real_windows[:K_PATHS], sample_paths=worlds[:K_PATHS], fan=fan,
        worst_paths={w: worlds[w] for w in worst_ids}, strategies=tuple(strategies), head_to_head=h2h,
        fidelity=FidelitySummary(moments=moments, acf_abs=acf_abs, corr_real=np.corrcoef(hist, rowvar=False),
                                 corr_syn=np.corrcoef(flat, rowvar=False), failures=tuple(failures),
                                 scorecard=scorecard()),
        timings={"fit": 0.01, "sample+backtest": 0.2, "aggregate": 0.5},
        # the tear sheet: the strategies on the whole (short) history, with no warm-up
        real_history=RealHistory(dates=tuple(d.date().isoformat() for d in market.dates), warmup=0,
                                 benchmark=_ew_equity(hist)))


@pytest.fixture(scope="session")
def run_result() -> RunResult:
    return build_result()


def with_failures(run_result: RunResult) -> RunResult:
    """`run_result` whose scorecard fails two thresholds (acf_abs and corr_err), listed in its failures."""
    fid = dataclasses.replace(run_result.fidelity, scorecard=scorecard(("acf_abs", "corr_err")),
                              failures=("iid_bootstrap: acf_abs = 1.35 exceeds 0.9 (volatility clustering "
                                        "(ACF of |r|) is not reproduced)",
                                        "iid_bootstrap: corr_err = 0.3 exceeds 0.2 (cross-asset correlations "
                                        "are off by more than 0.2 on average)"))
    return dataclasses.replace(run_result, fidelity=fid)


@pytest.fixture(scope="session")
def failing_result(run_result) -> RunResult:
    return with_failures(run_result)

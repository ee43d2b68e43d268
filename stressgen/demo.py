"""`make run` until the stress report exists: fit both baselines on sp500-20, sample, and summarise.

Run as ``python -m stressgen.demo [--worlds N] [--horizon T] [--seed S]``. It prints, for the real history
and for each generator's worlds, the stylized facts a quant checks first (volatility, fat tails,
volatility clustering, cross-asset correlation) and the distribution of a one-year equal-weight
portfolio return, so that real and synthetic can be compared at a glance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from . import data, generators, rng
from .metrics import acf, annualised_volatility, excess_kurtosis, mean_pairwise_correlation
from .types import MarketData, Scenarios

__all__ = ["summarise_real", "summarise_worlds", "main"]

_LAGS = np.arange(1, 21)


def _facts(r: np.ndarray, periods_per_year: int) -> dict[str, float]:
    """Facts of one ``[time, assets]`` block of log returns, averaged over assets."""
    return {
        "ann. vol": float(annualised_volatility(r.T, periods_per_year).mean()),
        "excess kurtosis": float(excess_kurtosis(r.T).mean()),
        "ACF |r| lags 1-20": float(acf(np.abs(r.T), _LAGS).mean()),
        "ACF r lag 1": float(acf(r.T, [1]).mean()),
        "mean corr.": mean_pairwise_correlation(r),
    }


def _equal_weight_annual_returns(r: np.ndarray) -> np.ndarray:
    """Simple return of a daily-rebalanced equal-weight portfolio over each window ``r[..., horizon, assets]``."""
    daily = np.expm1(r).mean(axis=-1)
    return np.expm1(np.log1p(daily).sum(axis=-1))


def _summary(blocks: np.ndarray, periods_per_year: int) -> dict[str, float]:
    """Facts averaged over ``blocks[n, horizon, assets]`` (at most 500 of them), and EW return quantiles."""
    facts = [_facts(b, periods_per_year) for b in blocks[:500]]
    mean_facts = {k: float(np.nanmean([f[k] for f in facts])) for k in facts[0]}
    return {**mean_facts, **_quantiles(_equal_weight_annual_returns(blocks))}


def summarise_real(market: MarketData, horizon: int) -> dict[str, float]:
    """The same statistics as `summarise_worlds`, over real windows of `horizon` days (one a month).

    Facts of a 30-year series and of one-year worlds are not comparable (kurtosis and the ACF of |r| grow
    with the sample span), so the real history is cut into windows as long as the worlds.
    """
    windows = np.lib.stride_tricks.sliding_window_view(market.log_returns, horizon, axis=0)[::21]
    return _summary(np.moveaxis(windows, -1, 1), market.periods_per_year)


def summarise_worlds(scenarios: Scenarios, periods_per_year: int) -> dict[str, float]:
    return _summary(np.asarray(scenarios.log_returns, dtype=np.float64), periods_per_year)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    q = np.quantile(x, [0.05, 0.5, 0.95])
    return {"EW 1y ret. q05": q[0], "EW 1y ret. median": q[1], "EW 1y ret. q95": q[2]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stressgen.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=5000)
    parser.add_argument("--horizon", type=int, default=252)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    market = data.load("sp500-20")
    print(f"data: {market!r}")
    root = rng.root(args.seed)
    columns = {"real windows": summarise_real(market, args.horizon)}
    for name in ("bootstrap", "garch"):
        gen = generators.get(name)
        t0 = time.perf_counter()
        fitted = gen.fit(market, key=rng.stream(root, rng.FIT))
        t1 = time.perf_counter()
        scenarios = gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=args.worlds, horizon=args.horizon)
        scenarios.log_returns.block_until_ready()
        t2 = time.perf_counter()
        print(f"{name}: fit {t1 - t0:.1f} s, {args.worlds} worlds x {args.horizon} days x {market.n_assets} "
              f"assets sampled in {t2 - t1:.2f} s (incl. compilation)")
        columns[f"{name} worlds"] = summarise_worlds(scenarios, market.periods_per_year)
    table = pd.DataFrame(columns)
    print()
    print(f"Real {args.horizon}-day windows (one a month) against synthetic worlds of the same length;")
    print("facts are averaged over assets and windows or worlds; EW = daily-rebalanced equal-weight portfolio.")
    print(table.to_string(float_format=lambda v: f"{v:9.3f}"))


if __name__ == "__main__":
    main()

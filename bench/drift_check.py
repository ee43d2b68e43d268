"""The worlds' drift against the history's mean log return, per asset, in standard errors of that mean.

    nice .venv/bin/python bench/drift_check.py [--data sp500-20 | sp500-index | wti | ff3-monthly]
        [--generators garch garch:drift=likelihood bootstrap ...] [--horizon 504] [--worlds 1000]

Every generator is fitted (default config; ``name:field=value`` sets a config field) on the whole data set,
and draws `--worlds` worlds of `--horizon` periods from the end of the history. Printed per asset: the
worlds' mean log return less the history's, divided by the standard error of the history's mean
(``sd / sqrt(T)``), over the whole horizon and over its second half (further from the start state), and the
ratio of the worlds' standard deviation to the history's; for GARCH also its fitted ``mu`` in the same units,
and as a yearly drift against the history's. A drift the history did not earn shows as a
gap of several standard errors; the worlds' own noise is about ``sqrt(T / (worlds * horizon))`` of one.

``ff3-monthly`` is the Fama-French market, size and value factors, monthly 1926-2018 (arch's copy of Ken
French's data), as prices compounded from the factor returns: a data set no generator's defaults were chosen
on, and another frequency.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
import pandas as pd

from dependence_check import generator_spec  # bench/ is on the path of a script run from it
from stressgen import data, rng
from stressgen.types import MarketData


def ff3_monthly() -> MarketData:
    from arch.data import frenchdata

    raw = frenchdata.load()
    months = pd.PeriodIndex([f"{int(v) // 100}-{int(v) % 100:02d}" for v in raw.index.astype("int64")],
                            freq="M").to_timestamp("M")
    r = raw[["Mkt-RF", "SMB", "HML"]].to_numpy() / 100.0
    prices = 100.0 * np.vstack([np.ones((1, 3)), np.cumprod(1.0 + r, axis=0)])
    dates = months.insert(0, months[0] - pd.offsets.MonthEnd(1))
    return data.from_frame(pd.DataFrame(prices, index=dates, columns=["Mkt-RF", "SMB", "HML"]),
                           source="ff3-monthly")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="sp500-20")
    ap.add_argument("--generators", nargs="+", default=["garch", "garch:drift=likelihood", "bootstrap", "vae"])
    ap.add_argument("--horizon", type=int, default=504)
    ap.add_argument("--worlds", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    market = ff3_monthly() if args.data == "ff3-monthly" else data.load(args.data)
    r = market.log_returns.astype(np.float64)
    mean, sd = r.mean(axis=0), r.std(axis=0, ddof=1)
    se = sd / np.sqrt(r.shape[0])
    h = args.horizon
    print(f"{args.data}: {r.shape[0]} returns x {market.n_assets} assets, {args.worlds} worlds x {h} periods; "
          f"history's mean a period {np.array2string(mean, precision=5)}, its standard error "
          f"{np.array2string(se, precision=5)}")
    root = rng.root(args.seed)
    for spec in args.generators:
        gen, config = generator_spec(spec)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fits' notes are the generators' own business here
            fitted = gen.fit(market, key=rng.stream(root, rng.FIT), config=config)
        x = np.asarray(gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=args.worlds,
                                  horizon=h).log_returns, np.float64)
        gap, late = (x.mean(axis=(0, 1)) - mean) / se, (x[:, h // 2:].mean(axis=(0, 1)) - mean) / se
        if hasattr(fitted, "mu"):  # GARCH: its constant mean (percent units) against the history's mean
            mu = (np.asarray(fitted.mu, np.float64) / 100.0 - mean) / se
            print(f"{spec:26s} fitted mu - mean, / SE {np.array2string(mu, precision=1)}; a year "
                  f"{np.array2string(np.asarray(fitted.mu) / 100.0 * market.periods_per_year, precision=3)} "
                  f"against {np.array2string(mean * market.periods_per_year, precision=3)}")
        print(f"{spec:26s} {time.perf_counter() - t0:5.0f} s  drift gap / SE {np.array2string(gap, precision=1)}"
              f"  second half {np.array2string(late, precision=1)}  sd ratio "
              f"{np.array2string(x.std(axis=(0, 1)) / sd, precision=2)}", flush=True)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

"""Optimised reverse stress test: 64 starts x 200 gradient steps on 20 assets x 252 days, against sampled worlds.

    python bench/bench_reverse.py                         # GARCH (default config) on sp500-20, equal weight
    python bench/bench_reverse.py --starts 16 --steps 100 --loss 0.3 --every 21

GJR-GARCH fitted on the bundled sp500-20 (all 20 stocks, from 2010 on); the strategy is `EqualWeight` rebalanced
every `--every` closes (a schedule: the search holds its decisions fixed under differentiation, see
stressgen.studies._reverse_loss). Printed: the search's compile and run times, peak resident memory
(resource.getrusage, the process's maximum so far), the best paths' loss (searched and re-measured exactly),
log-likelihood percentile and Mahalanobis distance, and the baseline: plain worlds sampled and backtested per
second on the same machine (the empirical method's cost), with the ratio "worlds the search's run time buys".
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np

from stressgen import backtest, data, devices, rng
from stressgen.generators import GjrGarch
from stressgen.generators.garch import GarchFitWarning
from stressgen.studies.reverse_opt import garch_noise_model, most_likely_paths, noise_plausibility, strategy_loss
from strategies import EqualWeight

HORIZON = 252


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--loss", type=float, default=0.30, help="target loss l (1 - final equity)")
    ap.add_argument("--every", type=int, default=21, help="EqualWeight rebalancing period")
    ap.add_argument("--worlds", type=int, default=10_000, help="plain worlds of the baseline")
    args = ap.parse_args()
    n_cpu = devices.use_cpu_cores()
    market = data.load("sp500-20", start="2010-01-01")
    gen = GjrGarch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT))
    strategy = EqualWeight(every=args.every)
    model = garch_noise_model(fitted, HORIZON)
    template = gen.sample(fitted, key=rng.root(1), n_worlds=1, horizon=HORIZON)
    loss = strategy_loss(strategy, template)
    print(f"{market.n_assets} assets x {HORIZON} days, {args.starts} starts x {args.steps} steps, target loss "
          f"{args.loss}, EqualWeight(every={args.every}); {n_cpu} CPU devices")

    t0 = time.perf_counter()
    res = most_likely_paths(model, loss, args.loss, key=rng.root(2), starts=args.starts, steps=args.steps)
    total = time.perf_counter() - t0
    print(f"search: compile {res.compile_s:.2f} s, run {res.run_s:.2f} s, total with exact re-measure {total:.2f} s;"
          f" peak RSS {peak_mb():.0f} MB")
    print(f"  met {int(res.met.sum())}/{args.starts}; best: loss {res.loss[0]:.4f} (exact {res.exact_loss[0]:.4f}), "
          f"Mahalanobis |z| {res.mahalanobis[0]:.3f}, log-lik percentile {res.percentile[0]:.4f}, "
          f"kkt {res.kkt[0]:.2e}, gap {res.gap[0]:+.2e}")
    spread = res.mahalanobis[res.met]
    if spread.size:
        print(f"  |z| over met starts: min {spread.min():.3f} median {np.median(spread):.3f} max {spread.max():.3f}")

    # baseline: plain worlds sampled and backtested (the empirical method); one warm-up call compiles
    gen.sample(fitted, key=rng.root(3), n_worlds=256, horizon=HORIZON)
    backtest(strategy, gen.sample(fitted, key=rng.root(3), n_worlds=256, horizon=HORIZON), metrics_only=True)
    t0 = time.perf_counter()
    worlds = gen.sample(fitted, key=rng.root(4), n_worlds=args.worlds, horizon=HORIZON)
    worlds.log_returns.block_until_ready()
    t1 = time.perf_counter()
    equity = np.asarray(backtest(strategy, worlds).equity)[:, -1]
    t2 = time.perf_counter()
    rate = args.worlds / (t2 - t0)
    print(f"baseline: {args.worlds} plain worlds sampled in {t1 - t0:.2f} s and backtested in {t2 - t1:.2f} s: "
          f"{rate:,.0f} worlds/s; peak RSS {peak_mb():.0f} MB")
    hit = (1.0 - equity) >= args.loss
    print(f"  plain worlds with loss >= {args.loss}: {int(hit.sum())} of {args.worlds}")
    if hit.any():
        plaus = noise_plausibility(model, np.asarray(worlds.log_returns)[hit])
        print(f"  their noise under the search's law: min |z| {plaus['mahalanobis'].min():.3f}, best log-lik "
              f"percentile {plaus['percentile'].max():.4f} (the search's best: |z| {res.mahalanobis[0]:.3f})")
    print(f"ratio: the search's run time ({res.run_s:.2f} s) samples and backtests {rate * res.run_s:,.0f} plain "
          f"worlds; with compile ({res.compile_s + res.run_s:.2f} s) {rate * (res.compile_s + res.run_s):,.0f}")


if __name__ == "__main__":
    main()

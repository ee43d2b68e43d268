"""The plausibility bars of every generator on a bundled data set, at the run's size (docs/fidelity.md,
"Plausible tails").

    .venv/bin/python bench/plausibility_table.py [--data sp500-20] [--worlds 10000] [--horizon 252]
        [--generators bootstrap garch:fhs garch:fhs+none garch:fhs+state garch:gaussian-copula garch:t-copula vae
                      vae:window gan]

For each generator: fit on the whole data set (default presets), draw the worlds of a quickstart run, and
print the statistics behind `stressgen.metrics.plausibility`'s checks, with the bound of each: the share of
worlds with a daily |log r| > 0.5, the smallest margin of the Hill tail index over its bound, the largest
ratio of the 99.9% world volatility to the highest real one, the 99.9% quantile of the equal-weight return,
and the deepest equal-weight day against history's. Fit and sampling seconds are printed too. ``garch:fhs`` is
the default config (year-matched rows); ``garch:fhs+MATCHING`` sets `GarchConfig.fhs_matching`.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from stressgen import data, generators, rng
from stressgen.metrics import plausibility


def _config(spec: str):
    name, _, innovations = spec.partition(":")
    gen = generators.get(name)
    for matching in ("none", "state", "year"):  # garch:fhs+none (i.i.d. rows), garch:fhs+state, garch:fhs+year
        if innovations.endswith(f"+{matching}"):
            return gen, gen.config_type(innovations=innovations.removesuffix(f"+{matching}"), fhs_matching=matching)
    if name == "vae" and innovations == "window":  # vae:window: `VaeConfig.daily_scale = false`
        return gen, gen.config_type(daily_scale=False)
    if innovations:
        return gen, gen.config_type(innovations=innovations)
    return gen, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sp500-20")
    parser.add_argument("--worlds", type=int, default=10_000)
    parser.add_argument("--horizon", type=int, default=252)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generators", nargs="+",
                        default=["bootstrap", "garch:fhs", "garch:gaussian-copula", "garch:t-copula", "vae", "gan"])
    args = parser.parse_args()
    market = data.load(args.data)
    real = market.log_returns
    ew_real = np.expm1(real).mean(axis=1)
    root = rng.root(args.seed)
    print(f"{args.data}: {market.n_obs} dates x {market.n_assets} assets; {args.worlds} worlds x {args.horizon} days")
    head = (f"{'generator':24s} {'fit s':>6s} {'draw s':>6s} {'|r|>0.5':>8s} {'bound':>6s} {'Hill margin':>12s} "
            f"{'vol ratio':>10s} {'EW q99.9':>9s} {'bound':>6s} {'worst EW day':>12s} {'real':>7s} failed")
    print(head)
    for spec in args.generators:
        gen, config = _config(spec)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = gen.fit(market, key=rng.stream(root, rng.FIT), config=config)
        t1 = time.perf_counter()
        chunks = generators.iter_chunks(gen, fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=args.worlds,
                                        horizon=args.horizon, chunk_size=2_000)
        state = plausibility.init(real, market.assets, args.horizon, market.periods_per_year, n_worlds=args.worlds)
        worst = 0.0
        for chunk in chunks:
            y = np.asarray(chunk.log_returns)
            state = plausibility.update(state, y, chunk.provenance.first_world)
            worst = min(worst, float(np.expm1(y.astype(np.float64)).mean(axis=2).min()))
        t2 = time.perf_counter()
        report = plausibility.finalize(state)
        by = {}
        for c in report.checks:
            by.setdefault(c.check, []).append(c)
        big = by["big_moves"][0]
        hill = min(by["hill_index"], key=lambda c: c.value - c.bound)
        vol = max(by.get("volatility", []), key=lambda c: c.value / c.bound)
        ew = by["ew_return"][0]
        failed = ", ".join(f"{c.check} {c.asset or ''}".strip() for c in report.failures) or "-"
        print(f"{spec:24s} {t1 - t0:6.1f} {t2 - t1:6.1f} {100 * big.value:7.2f}% {100 * big.bound:5.2f}% "
              f"{hill.value - hill.bound:+7.2f} {hill.asset:>4s} {vol.value / vol.bound * 2.5:5.2f} {vol.asset:>4s} "
              f"{100 * ew.value:8.0f}% {100 * ew.bound:5.0f}% {100 * worst:11.1f}% {100 * ew_real.min():6.1f}% "
              f"{failed}")


if __name__ == "__main__":
    main()

"""Do the worlds co-move as the history did? Mean pairwise correlation and the equal-weight portfolio, per origin.

    nice .venv/bin/python bench/dependence_check.py [--data sp500-20] [--origins 2000-12-29 2007-12-31 2014-12-31]
        [--generators garch vae vae:correlation=none bootstrap] [--worlds 1000]

At each origin every generator (default config) is fitted on the data up to it, with the FIT stream of root
0, and draws one-year worlds from the SAMPLE stream (``name:field=value`` sets one text field of the config,
as ``vae:correlation=none``, the VAE with independent innovations). Printed, for the history up to the origin: the mean
pairwise correlation of daily log returns over all of it, over its first 85% (the part a neural fit trains on;
the rest is its validation stretch) and over its last five years, the volatility of the daily-rebalanced
equal-weight portfolio and the mean asset volatility. For the worlds: the mean over worlds of each one-year
world's mean pairwise correlation, the equal-weight portfolio's volatility, its one-year simple return (mean
and median) and the median of its maximum drawdown. A generator whose worlds co-move less than history makes
every diversified portfolio look safer than it is (docs/fidelity.md, "Plausible tails", item 9).
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np

from stressgen import data, generators, rng
from stressgen.metrics.fidelity.paths import max_drawdown
from stressgen.metrics.stylized import equal_weight_equity, mean_pairwise_correlation

YEAR = 252


def generator_spec(spec: str):
    """``(generator, config or None)`` of ``name`` or ``name:field=value``."""
    name, _, setting = spec.partition(":")
    gen = generators.get(name)
    if not setting:
        return gen, None
    field, _, value = setting.partition("=")
    return gen, gen.config_type(**{field: value})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sp500-20")
    ap.add_argument("--origins", nargs="*", default=["2000-12-29", "2007-12-31", "2014-12-31"])
    ap.add_argument("--generators", nargs="*", default=["garch", "vae", "vae:correlation=none", "bootstrap"])
    ap.add_argument("--worlds", type=int, default=1000)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    for origin in args.origins:
        market = data.load(args.data, end=origin)
        r = market.log_returns
        if r.shape[1] < 2:
            raise SystemExit(f"{args.data} has one asset: there is no dependence to check")
        train = r[:int(0.85 * r.shape[0])]
        ew = np.expm1(r).mean(axis=-1)  # the daily-rebalanced equal-weight portfolio's simple returns
        print(f"{origin}: history correlation {mean_pairwise_correlation(r):.3f} (first 85% "
              f"{mean_pairwise_correlation(train):.3f}, last 5 years {mean_pairwise_correlation(r[-5 * YEAR:]):.3f}); "
              f"equal-weight volatility {ew.std() * np.sqrt(YEAR):.3f} (last 5 years "
              f"{ew[-5 * YEAR:].std() * np.sqrt(YEAR):.3f}); asset volatility "
              f"{r.std(axis=0).mean() * np.sqrt(YEAR):.3f}", flush=True)
        for name in args.generators:
            gen, config = generator_spec(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fit diagnostics are not what this measures
                fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
            y = np.asarray(gen.sample(fitted, key=rng.stream(rng.root(0), rng.SAMPLE), n_worlds=args.worlds,
                                      horizon=YEAR).log_returns, np.float64)
            ew = np.expm1(y).mean(axis=-1)
            one_year = equal_weight_equity(y)[:, -1] - 1.0
            corr = np.mean([mean_pairwise_correlation(w) for w in y])
            print(f"  {name:10s} correlation {corr:.3f}; equal-weight volatility "
                  f"{ew.std(axis=-1).mean() * np.sqrt(YEAR):.3f}, one-year return mean {one_year.mean():+.3f} "
                  f"median {np.median(one_year):+.3f}, median max drawdown "
                  f"{np.median(max_drawdown(np.log1p(ew))):.3f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{time.perf_counter() - t0:.0f} s; peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()

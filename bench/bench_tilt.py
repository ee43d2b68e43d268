"""Tail tilting: the tilted 99.5% ES of a GARCH equal-weight 1-year loss against the plain ES from 10x more worlds.

    python bench/bench_tilt.py                         # 10,000 tilted worlds vs 100,000 plain, 5 stocks
    python bench/bench_tilt.py --worlds 5000 --ratio 10 --z 1.0 --assets AAPL JPM XOM

GJR-GARCH-t with FHS innovations (the default config, year-matched rows; `--innovations` for a copula,
`--matching none` for i.i.d. rows) fitted on bundled sp500-20 stocks from 2010 on.
Tilted worlds are drawn with ``Tilt.for_tail(z, 252)`` toward equal-weight losses; plain ones with no
condition, from an independent key. Both ES (and VaR) come from `stressgen.metrics.weighted_tail_risk`
(weighted bootstrap, 95% percentile intervals; the tilted estimate is self-normalised over all its worlds).
Printed: both estimates with intervals, whether each point lies in the other's interval, the effective
sample sizes (Kish and entropy over all worlds; Kish over the tail worlds), the variance-reduction factor
``(se_plain^2 n_plain) / (se_tilt^2 n_tilt)`` (how many plain worlds one tilted world is worth for this
ES), the mean likelihood ratio with its standard error, the share of worlds holding a day with |log r| above
the plausibility gate's bound (tilted, raw and weighted, and plain) and any non-finite world, and run times.
Figures: docs/stress.md.
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import numpy as np

from stressgen import data, rng
from stressgen.generators import GarchConfig, GjrGarch, Tilt, iter_chunks
from stressgen.generators.garch import GarchFitWarning
from stressgen.metrics.plausibility import PlausibilityConfig
from stressgen.metrics.weighted import effective_size, weighted_tail_risk

HORIZON = 252
CHUNK = 10_000


def ew_total(gen: GjrGarch, fitted, *, key, n_worlds: int,
             tilt: Tilt | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``[worlds]`` total simple return of the daily rebalanced equal-weight portfolio, the raw weights, and
    ``[worlds]`` each world's largest daily |log r| (inf where a value is not finite)."""
    totals, weights, largest = [], [], []
    for s in iter_chunks(gen, fitted, key=key, n_worlds=n_worlds, horizon=HORIZON, chunk_size=CHUNK,
                         condition=tilt):
        y = np.asarray(s.log_returns, np.float64)
        daily = np.expm1(y).mean(axis=2)
        totals.append(np.expm1(np.log1p(daily).sum(axis=1)))
        largest.append(np.where(np.isfinite(y).all(axis=(1, 2)), np.abs(y).max(axis=(1, 2)), np.inf))
        if s.weights is not None:
            weights.append(np.asarray(s.weights, np.float64))
    return np.concatenate(totals), (np.concatenate(weights) if weights else None), np.concatenate(largest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=10_000, help="tilted worlds")
    parser.add_argument("--ratio", type=int, default=10, help="plain worlds per tilted world")
    parser.add_argument("--z", type=float, default=1.5, help="tilt: shift of the 1-year EW innovation sum, in sd")
    parser.add_argument("--confidence", type=float, default=0.995)
    parser.add_argument("--assets", nargs="+", default=["AAPL", "JPM", "XOM", "WMT", "MSFT"])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--innovations", default="fhs", choices=["fhs", "gaussian-copula", "t-copula"])
    parser.add_argument("--matching", default=None, choices=["none", "year"],
                        help="garch.fhs_matching (default: the generator's default)")
    args = parser.parse_args()

    market = data.load("sp500-20", start="2010-01-01", assets=args.assets)
    gen = GjrGarch()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GarchFitWarning)
        config = GarchConfig(innovations=args.innovations, **({} if args.matching is None else
                                                              {"fhs_matching": args.matching}))
        fitted = gen.fit(market, key=rng.root(args.seed), config=config)
    t_fit = time.perf_counter() - t0
    tilt = Tilt.for_tail(args.z, HORIZON)
    # tilted and plain worlds from independent sub-keys: the two estimates must not share worlds
    sample_key = rng.stream(rng.root(args.seed), rng.SAMPLE)

    t0 = time.perf_counter()
    r_tilt, w, big_tilt = ew_total(gen, fitted, key=jax.random.fold_in(sample_key, 1), n_worlds=args.worlds,
                                   tilt=tilt)
    t_tilt = time.perf_counter() - t0
    n_plain = args.ratio * args.worlds
    t0 = time.perf_counter()
    r_plain, _, big_plain = ew_total(gen, fitted, key=jax.random.fold_in(sample_key, 2), n_worlds=n_plain, tilt=None)
    t_plain = time.perf_counter() - t0

    t0 = time.perf_counter()
    boot_key = rng.stream(rng.root(args.seed), rng.BOOTSTRAP)
    est_tilt = weighted_tail_risk(r_tilt, args.confidence, w, key=boot_key, n_boot=args.n_boot)
    est_plain = weighted_tail_risk(r_plain, args.confidence, None, key=boot_key, n_boot=args.n_boot)
    t_stats = time.perf_counter() - t0

    size = effective_size(w)
    q = -est_tilt.var.value
    tail = r_tilt <= q
    wt = w[tail]
    tail_kish = wt.sum() ** 2 / (wt * wt).sum() if tail.any() else 0.0
    mean_w, se_w = w.mean(), w.std(ddof=1) / np.sqrt(w.size)
    print(f"market: sp500-20 {', '.join(args.assets)} from 2010 ({market.n_obs} days); "
          f"GJR-GARCH-t, {args.innovations} ({config.fhs_matching}-matched rows); "
          f"horizon {HORIZON} days; {args.confidence:.1%} ES of the equal-weight 1-year loss")
    print(f"tilt: Tilt.for_tail({args.z}, {HORIZON}) -> theta = {tilt.theta:.4f} per day")
    for name, est, n in (("tilted", est_tilt, args.worlds), ("plain", est_plain, n_plain)):
        print(f"{name:>6}: {n:>7,} worlds  ES {est.es.value:.4f} [{est.es.lo:.4f}, {est.es.hi:.4f}] se {est.es.se:.4f}"
              f"   VaR {est.var.value:.4f} [{est.var.lo:.4f}, {est.var.hi:.4f}] se {est.var.se:.4f}")
    print(f"tilted ES inside the plain interval: {est_plain.es.lo <= est_tilt.es.value <= est_plain.es.hi}; "
          f"plain ES inside the tilted interval: {est_tilt.es.lo <= est_plain.es.value <= est_tilt.es.hi}")
    vrf_es = (est_plain.es.se**2 * n_plain) / (est_tilt.es.se**2 * args.worlds)
    vrf_var = (est_plain.var.se**2 * n_plain) / (est_tilt.var.se**2 * args.worlds)
    print(f"variance-reduction factor per world: ES {vrf_es:.1f}, VaR {vrf_var:.1f} "
          f"(se ratio at {args.ratio}x fewer worlds: ES {est_plain.es.se / est_tilt.es.se:.2f})")
    print(f"effective sample size: Kish {size.kish:,.0f} ({size.kish_share:.1%}), entropy {size.entropy:,.0f} of "
          f"{size.n:,}; tail worlds {int(tail.sum()):,} (Kish {tail_kish:,.0f}); plain tail worlds "
          f"{int((r_plain <= -est_plain.var.value).sum()):,}")
    print(f"likelihood ratios: mean {mean_w:.4f} (se {se_w:.4f}), max {w.max():.3g}, min {w.min():.3g}")
    bound = PlausibilityConfig().big_move
    flagged = big_tilt > bound
    print(f"worlds with a daily |log r| > {bound}: tilted {flagged.mean():.2%} (weighted "
          f"{(w * flagged).sum() / w.sum():.2%}), plain {(big_plain > bound).mean():.2%}; non-finite worlds: "
          f"tilted {int(np.isinf(big_tilt).sum())}, plain {int(np.isinf(big_plain).sum())}")
    print(f"times: fit {t_fit:.1f}s, tilted sample {t_tilt:.1f}s, plain sample {t_plain:.1f}s, "
          f"ES/VaR with {args.n_boot} bootstrap replicates (both) {t_stats:.1f}s")


if __name__ == "__main__":
    main()

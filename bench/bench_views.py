"""Entropy pooling: `stressgen.metrics.entropy_pool` against the entropy-pooling package, same views, same run.

    python bench/bench_views.py                       # 10,000 and 100,000 worlds, 4 views
    python bench/bench_views.py --worlds 10000 --repeats 5

Worlds are synthetic per-world quantities (no generator, so that only the solvers are timed): a fat-tailed
equal-weight 1-year return and a max drawdown that grows with the loss, under a non-uniform prior. Views:
P(ew_return <= -0.3) = 5%, sd(ew_return) >= 30% with the mean fixed at the prior mean (two rows),
P(max_drawdown > 0.3) <= 15%, E[max_drawdown] >= 0.2. The package gets the same linear rows (Meucci's
linearisation of the volatility view), sum-to-one as its first equality, and its default method (TNC) as
well as L-BFGS-B. Printed per size: the best wall time of `--repeats` calls of each, the ratio, peak Python
heap during one call (tracemalloc, which NumPy reports its arrays to), each solver's worst view residual,
and the largest relative difference between the posteriors. Figures: docs/views.md.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from entropy_pooling import ep

from stressgen.metrics import MeanView, ProbabilityView, VolatilityView, entropy_pool


def worlds(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    g = np.random.default_rng(seed)
    ew = 0.06 + 0.17 * g.standard_t(4, n) / np.sqrt(2.0)
    mdd = np.clip(0.12 + 0.5 * np.maximum(-ew, 0.0) + 0.05 * np.abs(g.normal(size=n)), 0.0, 1.0)
    prior = g.uniform(0.5, 1.5, n)
    return {"ew_return": ew, "max_drawdown": mdd}, prior / prior.sum()


VIEWS = (ProbabilityView("ew_return", -0.3, 0.05), VolatilityView("ew_return", 0.3, ">="),
         ProbabilityView("max_drawdown", 0.3, 0.15, event=">", relation="<="), MeanView("max_drawdown", 0.2, ">="))


def package_rows(q: dict[str, np.ndarray], prior: np.ndarray):
    """The same constraints as VIEWS in the package's form: A p = b (sum first), G p <= h."""
    ew, mdd = q["ew_return"], q["max_drawdown"]
    mu = float(prior @ ew)
    a = np.vstack([np.ones(ew.size), (ew <= -0.3) * 1.0, ew])
    b = np.array([[1.0], [0.05], [mu]])
    g = np.vstack([-(ew - mu) ** 2, (mdd > 0.3) * 1.0, -mdd])
    h = np.array([[-0.09], [0.15], [-0.2]])
    return a, b, g, h


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'worlds':>8} {'solver':<22} {'seconds':>8} {'ratio':>7} {'peak MiB':>9} {'residual':>9} "
          f"{'max rel diff':>12}")
    for n in args.worlds:
        q, prior = worlds(n)
        a, b, g, h = package_rows(q, prior)

        def ours():
            return entropy_pool(prior, VIEWS, q).probabilities

        t_ours, p_ours = best_of(ours, args.repeats)
        resid = max(np.abs(a @ p_ours - b[:, 0]).max(), (g @ p_ours - h[:, 0]).max())
        print(f"{n:>8} {'stressgen entropy_pool':<22} {t_ours:>8.3f} {1.0:>7.2f} {peak_mib(ours):>9.1f} "
              f"{resid:>9.1e} {0.0:>12.1e}")
        for method in ("TNC", "L-BFGS-B"):
            def ref(method=method):
                return ep(prior[:, None], a, b, g, h, method=method)[:, 0]

            t_ref, p_ref = best_of(ref, args.repeats)
            resid = max(np.abs(a @ p_ref - b[:, 0]).max(), (g @ p_ref - h[:, 0]).max())
            diff = float(np.max(np.abs(p_ref / p_ours - 1.0)))
            print(f"{n:>8} {'entropy-pooling ' + method:<22} {t_ref:>8.3f} {t_ref / t_ours:>7.2f} "
                  f"{peak_mib(ref):>9.1f} {resid:>9.1e} {diff:>12.1e}")
    print("ratio = package seconds / stressgen seconds (above 1: stressgen faster); residual: worst |A p - b| "
          "or violation of G p <= h")


if __name__ == "__main__":
    main()

"""The regime mixture: fit time against hmmlearn on the same data, and sampling speed.

    nice .venv/bin/python bench/bench_regime.py            # sp500-20 (8,312 days x 20 assets), 10,000 worlds
    nice .venv/bin/python bench/bench_regime.py --quick    # 2,000 worlds, for a smoke check

Fit: our EM (float64 JAX, Gaussian and Student-t emissions, 3 regimes, default tolerance), timed on a
second fit so that XLA's compilation is reported separately, against hmmlearn's GaussianHMM
(covariance_type="full", 3 components, on percent returns because its priors are in the data's units, the
same number of iterations as our Gaussian fit and tol=0 so that it runs them all: the same work, not the
same stopping rule), and the log-likelihood each reaches (hmmlearn's brought back to log-return units). Sampling: worlds
x 252 days x 20 assets with the default (t) model, in chunks of 2,000 worlds as a stress run draws them,
after one compiling call; paths per second is worlds / seconds. Prints one table; 2-core CPU figures are
in docs/regime.md.
"""

from __future__ import annotations

import argparse
import time
import warnings

HORIZON = 252


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 worlds instead of 10,000")
    parser.add_argument("--worlds", type=int, default=None)
    args = parser.parse_args()
    worlds = args.worlds or (2_000 if args.quick else 10_000)

    import jax
    import numpy as np
    from hmmlearn import hmm

    from stressgen import data, devices, generators, rng
    from stressgen.generators import RegimeConfig

    devices.use_cpu_cores()
    market = data.load("sp500-20")
    r = market.log_returns
    gen = generators.get("regime")
    rows = []
    fits = {}
    for emissions in ("gaussian", "student-t"):
        config = RegimeConfig(n_regimes=3, emissions=emissions)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            gen.fit(market, key=rng.root(0), config=config)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            fitted = gen.fit(market, key=rng.root(0), config=config)
            second = time.perf_counter() - t0
        fits[emissions] = fitted
        rows.append((f"stressgen regime fit ({emissions})", f"{second:.2f} s",
                     f"{fitted.info.n_iter} iterations, loglik {fitted.info.loglik:,.1f}, "
                     f"first call {first:.2f} s (compilation included)"))
    n_iter = fits["gaussian"].info.n_iter
    # hmmlearn's covariance priors are in the data's units (min_covar 1e-3, covars_prior 1e-2: far above daily
    # variances of ~4e-4), so it fits percent returns; its log-likelihood is brought back by + T N log(100)
    peer = hmm.GaussianHMM(n_components=3, covariance_type="full", n_iter=n_iter, tol=0.0, random_state=0,
                           min_covar=1e-8)
    t0 = time.perf_counter()
    peer.fit(100 * r)
    peer_s = time.perf_counter() - t0
    peer_ll = peer.score(100 * r) + r.size * np.log(100.0)
    rows.append(("hmmlearn GaussianHMM fit (peer)", f"{peer_s:.2f} s",
                 f"{n_iter} iterations (k-means start), loglik {peer_ll:,.1f}"))

    fitted = fits["student-t"]
    key = rng.stream(rng.root(0), rng.SAMPLE)
    chunk = min(2_000, worlds)
    jax.block_until_ready(gen.sample(fitted, key=key, n_worlds=chunk, horizon=HORIZON).log_returns)  # compile
    t0 = time.perf_counter()
    for scen in generators.iter_chunks(gen, fitted, key=key, n_worlds=worlds, horizon=HORIZON, chunk_size=chunk):
        jax.block_until_ready(scen.log_returns)
    sample_s = time.perf_counter() - t0
    rows.append((f"sample {worlds:,} x {HORIZON} x {market.n_assets} (student-t)", f"{sample_s:.2f} s",
                 f"{worlds / sample_s:,.0f} paths/s, chunks of {chunk:,}"))
    width = max(len(a) for a, _, _ in rows)
    print(f"sp500-20: {r.shape[0]:,} days x {r.shape[1]} assets; {jax.device_count()} CPU device(s)")
    for what, secs, note in rows:
        print(f"{what:<{width}}  {secs:>9}  {note}")
    labels = fitted.labels
    print("student-t fit: stationary shares " + ", ".join(f"{n} {p:.0%}" for n, p in zip(labels, fitted.stationary))
          + "; mean durations " + ", ".join(f"{n} {d:.0f} d" for n, d in zip(labels, fitted.expected_duration))
          + "; dof " + ", ".join(f"{n} {float(v):.1f}" for n, v in zip(labels, np.asarray(fitted.dof)))
          + "; annualised equal-weight vol " + ", ".join(
              f"{n} {np.sqrt(c.sum() / market.n_assets**2 * 252):.0%}" for n, c in zip(labels, fitted.covariance)))


if __name__ == "__main__":
    main()

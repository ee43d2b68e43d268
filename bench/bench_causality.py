"""What the look-ahead proof costs, against the run it guards, measured in one process.

The proof (`stressgen.engine._causality.prove_causal`) recomputes a vectorized strategy's weights once per
traded close (horizon + lag cuts) for every parameter set, on the run's own input (warm-up history + world
0). Cases, each a 10,000-world metrics-only run (`--worlds`) of 252 days:
  ma1      MA(10, 50) crossover on price, 1 asset, 300 history days (bench_engine's vectorized case)
  mom20    softmax of 20-day momentum, 20 assets, 2,520 history days (the quickstart's shape)
  grid20   mom20 on a fifth of the worlds as a grid of 4 parameter sets (one program; the proof covers all 4)
Times are medians of `--repeats` calls after a first (compiling) call; "first" columns include compilation.
The proof's cache is cleared before every timed proof, so every call proves in full.

Usage: python bench/bench_causality.py [--worlds 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time

import jax.numpy as jnp
import numpy as np

from stressgen import devices
from stressgen.engine import BacktestConfig, backtest, check_causality
from stressgen.engine import _causality
from stressgen.metrics.running import risk_reducer
from stressgen.strategy import VectorStrategy, grid, static
from stressgen.types import Scenarios

# the engine bench's vectorized MA crossover (same directory: python bench/bench_causality.py)
from bench_engine import _vector_strategies  # noqa: E402

T = 252


@dataclasses.dataclass(frozen=True)
class SoftMomentum(VectorStrategy):
    lookback: int = static(20)  # a shape: part of the program
    temp: float = 20.0

    def weights(self, x):
        lp = jnp.cumsum(x, axis=0)
        past = jnp.concatenate([jnp.zeros((self.lookback, x.shape[1]), x.dtype), lp[:-self.lookback]], axis=0)
        e = jnp.exp(self.temp * (lp - past))
        return 0.9 * e / e.sum(-1, keepdims=True)


def _scenarios(worlds: int, hist: int, assets: int) -> Scenarios:
    rng = np.random.default_rng(0)  # benchmark data only
    return Scenarios(log_returns=jnp.asarray(rng.normal(3e-4, 0.012, (worlds, T, assets)), jnp.float32),
                     history=jnp.asarray(rng.normal(3e-4, 0.012, (hist, assets)), jnp.float32),
                     anchor_prices=jnp.ones(assets), history_end="2020-01-02")


def _median(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    devices.use_cpu_cores()
    config = BacktestConfig(fee_bps=10)
    reducer = risk_reducer(config)
    cases = {
        "ma1": (_vector_strategies()[0](), _scenarios(args.worlds, 300, 1)),
        "mom20": (SoftMomentum(), _scenarios(args.worlds, 2520, 20)),
        "grid20": (grid(SoftMomentum(), temp=[5.0, 10.0, 20.0, 40.0]),
                   _scenarios(args.worlds // 5, 2520, 20)),
    }
    print(f"{'case':8s} {'run s':>8s} {'proof s':>8s} {'proof/run':>9s} {'run first':>10s} {'proof first':>11s}")
    for name, (strategy, scen) in cases.items():
        def run():
            backtest(strategy, scen, config, reducer=reducer, metrics_only=True, check=False)

        def proof():
            _causality._PROVEN.clear()
            check_causality(strategy, scen)

        run_first, run_s = _median(run, args.repeats)
        proof_first, proof_s = _median(proof, args.repeats)
        print(f"{name:8s} {run_s:8.3f} {proof_s:8.3f} {proof_s / run_s:9.1%} {run_first:10.2f} {proof_first:11.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()

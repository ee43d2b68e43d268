"""Time of the in-run fidelity scorecard (`quick_scorecard`) on sp500-20, 1,000 GARCH worlds x 252 days.

Prints the cold call (first in the process: XLA compiles the reference strategies' backtests) and the
warm call, a per-part breakdown of one extra call (cProfile cumulative times of the parts), and peak RSS.
Optionally writes the scorecard's raw values and per-strategy errors to JSON (`--dump`) so that two
versions of the code can be compared number by number (`--compare`).

Usage: python bench/bench_scorecard.py [--worlds 1000] [--horizon 252] [--profile] [--dump out.json]
       [--compare before.json] [--warm-engine]

`--warm-engine` first backtests the reference strategies on worlds of another shape, so the "cold" call
sees a warm engine process. `--as-run` instead does what `make run` does before its fidelity stage: one
JAX CPU device per core (`devices.use_cpu_cores`), the quickstart spec's strategies backtested on the
worlds (metrics only, with the risk reducer) and on the real history (`stage_series.backtest_real`, full daily
series: the same program shape as the scorecard's real side). Either way the cold call is the first
scorecard in the process.

`--compile-cache DIR` turns on JAX's persistent compilation cache for this process (what the CLI could do;
the library does not): run twice, and the second run's cold call loads the compiled programs from disk.

Peak RSS is the process's (`resource.getrusage`), fit and sampling included.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import sys
import time

import numpy as np

PARTS = [  # (label, module file fragment, function name) for the breakdown
    ("strategy tails", "strategy_tails.py", "strategy_errors"),
    ("discriminative", "discriminative.py", "discriminative_score"),
    ("sorted pooled", "marginal.py", "sorted_pooled"),
    ("w1 (marginal)", "marginal.py", "w1_normalised"),
    ("tail errors", "marginal.py", "tail_errors"),
    ("hill", "marginal.py", "hill_gap"),
    ("acf curves", "temporal.py", "acf_curves"),
    ("leverage curves", "temporal.py", "leverage_curves"),
    ("leverage curve", "temporal.py", "leverage_curve"),
    ("corr/coexceed", "cross.py", "corr_error"),
    ("coexceed", "cross.py", "coexceed_error"),
    ("drawdown w1", "paths.py", "drawdown_w1n"),
    ("kupiec", "calibration.py", "kupiec_test"),
    ("plot data", "score.py", "plot_data"),
    ("score()", "score.py", "score"),
    ("quick_scorecard", "quick.py", "quick_scorecard"),
]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _flat_plots(card) -> dict[str, np.ndarray]:
    out = {}
    for gen, plots in card.plots.items():
        for k, v in plots.items():
            for i, a in enumerate(v):
                out[f"{gen}.{k}.{i}"] = np.asarray(a, dtype=np.float64)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worlds", type=int, default=1000)
    p.add_argument("--horizon", type=int, default=252)
    p.add_argument("--profile", action="store_true", help="profile the cold call instead of an extra call")
    p.add_argument("--dump", default="")
    p.add_argument("--compare", default="")
    p.add_argument("--warm-engine", action="store_true")
    p.add_argument("--as-run", action="store_true")
    p.add_argument("--spec", default="scenarios/quickstart.toml")
    p.add_argument("--compile-cache", default="", help="a JAX persistent compilation cache directory (run "
                   "twice: the second process shows the cold call with the compiled programs on disk)")
    args = p.parse_args()

    if args.compile_cache:  # the bench's own choice; the library sets no JAX configuration
        import jax
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

    if args.as_run:
        from stressgen import devices
        devices.use_cpu_cores()

    import stressgen
    from stressgen import data, generators, rng
    from stressgen.metrics import fidelity

    market = data.load("sp500-20")
    gen = generators.get("garch")
    t0 = time.perf_counter()
    fitted = gen.fit(market, key=rng.root(0))
    scen = gen.sample(fitted, key=rng.root(1), n_worlds=args.worlds, horizon=args.horizon)
    np.asarray(scen.log_returns)
    print(f"fit + sample: {time.perf_counter() - t0:.1f} s  ({args.worlds} worlds x {args.horizon} days, "
          f"{len(market.assets)} assets, {market.log_returns.shape[0]} real days)")

    if args.warm_engine:
        from stressgen.engine import backtest
        from stressgen.metrics.fidelity.strategy_tails import resolve_strategy
        other = scen.replace(log_returns=scen.log_returns[:64, :126])
        t0 = time.perf_counter()
        for ref in fidelity.ScoreConfig().strategies:
            np.asarray(backtest(resolve_strategy(ref), other, fidelity.ScoreConfig().backtest).pnl)
        print(f"engine warm-up on another shape (64 x 126): {time.perf_counter() - t0:.1f} s")

    if args.as_run:
        import dataclasses

        from stressgen import backtesting, stage_series, stages
        from stressgen.metrics import RiskConfig
        from stressgen.spec import load_spec
        spec = load_spec(args.spec)
        plans = stages.build_strategies(spec)
        bt = dataclasses.replace(spec.costs, periods_per_year=market.periods_per_year)
        risk = RiskConfig(periods_per_year=market.periods_per_year, rf=bt.rf)
        t0 = time.perf_counter()
        for plan in plans:
            backtesting.world_metrics(plan.built, scen, bt, risk=risk)
        t1 = time.perf_counter()
        stage_series.backtest_real(market, plans, scen, bt, risk)
        print(f"as in the run: {len(plans)} strategies on the worlds (metrics) {t1 - t0:.1f} s, on the real "
              f"history {time.perf_counter() - t1:.1f} s")

    def call():
        return fidelity.quick_scorecard(market, scen, key=rng.root(2))

    prof = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    card = call()
    if prof:
        prof.disable()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    card2 = call()
    warm = time.perf_counter() - t0
    print(f"quick_scorecard cold: {cold:.2f} s{' (under cProfile)' if prof else ''}")
    print(f"quick_scorecard warm: {warm:.2f} s")
    if prof is None:
        prof = cProfile.Profile()
        prof.enable()
        call()
        prof.disable()
        label = "warm, under cProfile"
    else:
        label = "cold, under cProfile"
    stats = pstats.Stats(prof).stats
    print(f"breakdown ({label}; cumulative s, parts nest):")
    for name, frag, fn in PARTS:
        tot = sum(v[3] for (f, _, n), v in stats.items() if n == fn and f.endswith(frag))
        calls = sum(v[1] for (f, _, n), v in stats.items() if n == fn and f.endswith(frag))
        if calls:
            print(f"  {name:<18} {tot:7.2f} s  ({calls} call{'s' if calls > 1 else ''})")
    # the strategy tails once more on their own, unprofiled (their warm cost is the engine's, not Python's)
    from stressgen.metrics.fidelity import strategy_tails
    cfg = fidelity.ScoreConfig()
    real = market.log_returns
    warm_days = min(scen.history.shape[0], real.shape[0] // 2)
    t0 = time.perf_counter()
    strategy_tails.strategy_errors(np.asarray(real[warm_days:], np.float64), None, real[:warm_days], market.assets,
                                   strategies=cfg.strategies, h=cfg.pnl_horizon, config=cfg.backtest,
                                   freq=market.freq, syn_scenarios=scen)
    print(f"  strategy tails alone (warm, outside the profiler): "
          f"{time.perf_counter() - t0:.2f} s")
    print(f"peak RSS: {_rss_mb():.0f} MB")

    raw = {r.metric: float(r.value) for r in card.raw.itertuples()}
    per = {r.strategy: float(r.value) for r in card.strategies.itertuples()}
    same = all(np.isclose(raw[m], float(v), rtol=0, atol=0, equal_nan=True)
               for m, v in ((r.metric, r.value) for r in card2.raw.itertuples()))
    print(f"cold and warm calls give identical values: {same}")
    if args.dump:
        with open(args.dump, "w") as fh:
            json.dump({"raw": raw, "strategies": per}, fh, indent=1)
        np.savez(args.dump + ".plots.npz", **_flat_plots(card))
    if args.compare:
        with open(args.compare) as fh:
            ref = json.load(fh)
        worst = 0.0
        for group, mine in (("raw", raw), ("strategies", per)):
            for m, v in ref[group].items():
                w = mine.get(m, float("nan"))
                if np.isnan(v) and np.isnan(w):
                    continue
                rel = abs(w - v) / max(abs(v), 1e-300)
                worst = max(worst, rel)
                if rel > 1e-9:
                    print(f"  DIFF {group}.{m}: {v!r} -> {w!r} (rel {rel:.2e})")
        print(f"largest relative difference to {args.compare}: {worst:.2e}")
        old = np.load(args.compare + ".plots.npz")
        new = _flat_plots(card)
        pw = max(float(np.max(np.abs(new[k] - old[k]) / np.maximum(np.abs(old[k]), 1e-12), initial=0.0))
                 for k in old.files)
        print(f"largest relative difference of the plot arrays: {pw:.2e}")
    print(f"stressgen {getattr(stressgen, '__version__', '')} python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()

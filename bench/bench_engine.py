"""Engine throughput against vectorbt (numba engine) and a hand-written numba loop, measured in one run.

Cases (each in a fresh subprocess so peak RSS is its own; compile/first call reported separately; rates
are medians of at least `--repeats` calls after the first, spanning at least `--min-seconds`; every case
runs once per round, right after its peer, `--rounds` rounds, and ratios are medians over rounds of the
ratio within a round):
  ma      MA(10,50) crossover, 1 asset, 252 days, fees 10 bps: stressgen step tier (metrics_only, every
          per-world metric) on every core (one JAX CPU device per core, the default) and on one device
          ("stressgen-1dev"), the same strategy in the vectorized tier written with the stressgen.indicators
          helpers ("stressgen-vec") and in numpy idiom (jnp.cumsum, slices; "stressgen-vec-np"), vectorbt
          MA.run + crossed_above/below + from_signals and then the same per-world metrics that vectorbt has
          (total return, CAGR, volatility, Sharpe, Sortino, Calmar, max drawdown and its duration, VaR/ES
          95/99, worst day, hit rate: the identical workload; they add about 7% to vectorbt's time), and a
          numba prange hand loop (same MA-on-price signal, total return only).
  invvol  20 assets, inverse volatility (63-day std of log returns), rebalanced every 21 days, 252 days:
          stressgen step tier and vectorized tier (rolling_std_array, "stressgen-vec") vs vectorbt
          from_orders (targetpercent, group_by + cash_sharing, call_seq auto) on weights computed with numpy.
          vectorbt runs `--vbt-worlds` worlds; rates are per world-day.

Usage: python bench/bench_engine.py [--worlds 10000 100000] [--vbt-worlds 1000] [--repeats 3] [--rounds 5]
       [--min-seconds 2]
Units: world-days/s = worlds x 252 / seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

T, HIST = 252, 300


def _data(worlds, assets, seed=0):
    rng = np.random.default_rng(seed)  # benchmark data only
    return (rng.normal(0.0003, 0.012, (worlds, T, assets)).astype(np.float32),
            rng.normal(0.0003, 0.012, (HIST, assets)).astype(np.float32))


MIN_SECONDS = 2.0  # see --min-seconds


def _timeit(fn, repeats):
    """First call, then the median of at least `repeats` calls spanning at least MIN_SECONDS: a 25 ms case
    timed 5 times would sample 0.1 s of a machine whose speed drifts, against seconds for its peer."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    while len(times) < repeats or sum(times) < MIN_SECONDS:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def case_stressgen(kind, worlds, repeats):
    import jax
    import jax.numpy as jnp

    import strategies
    from stressgen import BacktestConfig, backtest
    from stressgen.types import Scenarios

    assets = 1 if kind == "ma" else 20
    r, h = _data(worlds, assets)
    sc = Scenarios(log_returns=jnp.asarray(r), history=jnp.asarray(h), anchor_prices=jnp.ones(assets))
    strat = strategies.MACrossover(fast=10, slow=50) if kind == "ma" else strategies.InverseVolatility()
    cfg = BacktestConfig(fee_bps=10)
    return _timeit(lambda: jax.block_until_ready(backtest(strat, sc, cfg, metrics_only=True).summary), repeats)


def _vector_strategies():
    """The vectorized-tier cases: helper-written (stressgen.indicators scans) and numpy-idiom (jnp.cumsum,
    slices and concatenation, as a user porting pandas code writes them)."""
    import dataclasses

    import jax.numpy as jnp

    from stressgen.engine import indicators as ind
    from stressgen.strategy import Rebalance, VectorStrategy

    @dataclasses.dataclass(frozen=True)
    class VectorMA(VectorStrategy):
        fast: int = 10
        slow: int = 50

        def weights(self, x):
            p = jnp.exp(ind.cumsum_array(x))
            up = ind.rolling_mean_array(p, self.fast) > ind.rolling_mean_array(p, self.slow)
            ready = (jnp.arange(x.shape[0]) >= self.slow - 1)[:, None]
            return jnp.where(up & ready, 1.0, 0.0) / x.shape[1]

    @dataclasses.dataclass(frozen=True)
    class NumpyMA(VectorStrategy):
        def weights(self, x):  # windows as Python constants: numpy slicing needs static sizes
            p = jnp.exp(jnp.cumsum(x, axis=0))
            c = jnp.concatenate([jnp.zeros_like(p[:1]), jnp.cumsum(p, axis=0)], axis=0)
            fast, slow = (c[10:] - c[:-10]) / 10, (c[50:] - c[:-50]) / 50  # rows 9.. and 49..
            up = (fast[40:] > slow).astype(x.dtype)
            return jnp.concatenate([jnp.zeros((49, x.shape[1]), x.dtype), up], axis=0) / x.shape[1]

    @dataclasses.dataclass(frozen=True)
    class VectorInvVol(VectorStrategy):
        window: int = 63

        def weights(self, x):
            inv = 1.0 / jnp.maximum(ind.rolling_std_array(x, self.window), 1e-8)
            t = jnp.arange(x.shape[0])
            return Rebalance(inv / inv.sum(axis=1, keepdims=True), (t >= self.window) & (t % 21 == 0))

    return VectorMA, NumpyMA, VectorInvVol


def case_stressgen_vector(kind, worlds, repeats, numpy_idiom=False):
    """The same strategies written for the vectorized tier (whole-array indicators)."""
    import jax
    import jax.numpy as jnp

    from stressgen import BacktestConfig, backtest
    from stressgen.types import Scenarios

    vector_ma, numpy_ma, vector_invvol = _vector_strategies()
    assets = 1 if kind == "ma" else 20
    strat = (numpy_ma() if numpy_idiom else vector_ma()) if kind == "ma" else vector_invvol()
    r, h = _data(worlds, assets)
    sc = Scenarios(log_returns=jnp.asarray(r), history=jnp.asarray(h), anchor_prices=jnp.ones(assets))
    cfg = BacktestConfig(fee_bps=10)
    return _timeit(lambda: jax.block_until_ready(backtest(strat, sc, cfg, metrics_only=True).summary), repeats)


def case_stressgen_vector_np(kind, worlds, repeats):
    return case_stressgen_vector(kind, worlds, repeats, numpy_idiom=True)


def case_vbt(kind, worlds, repeats):
    import pandas as pd
    import vectorbt as vbt

    assets = 1 if kind == "ma" else 20
    r, h = _data(worlds, assets)
    if kind == "ma":
        full = np.concatenate([np.broadcast_to(h[None], (worlds,) + h.shape), r], axis=1)[:, :, 0]
        close = pd.DataFrame(np.exp(np.cumsum(full.astype(np.float64), axis=1)).T)

        def run():
            fast = vbt.MA.run(close, 10)
            slow = vbt.MA.run(close, 50)
            pf = vbt.Portfolio.from_signals(close.iloc[HIST - 1:], fast.ma_crossed_above(slow).iloc[HIST - 1:],
                                            fast.ma_crossed_below(slow).iloc[HIST - 1:], fees=0.001, freq="1D")
            kw = {"year_freq": "252 days"}
            rets = pf.returns()
            return (pf.total_return(), pf.annualized_return(**kw), pf.annualized_volatility(**kw),
                    pf.sharpe_ratio(**kw), pf.sortino_ratio(**kw), pf.calmar_ratio(**kw), pf.max_drawdown(),
                    pf.drawdowns.max_duration(), pf.value_at_risk(cutoff=0.05), pf.cond_value_at_risk(cutoff=0.05),
                    pf.value_at_risk(cutoff=0.01), pf.cond_value_at_risk(cutoff=0.01), rets.min(),
                    (rets > 0).sum() / (rets != 0).sum())
    else:
        full = np.concatenate([np.broadcast_to(h[None], (worlds,) + h.shape), r], axis=1).astype(np.float64)

        def run():
            # 63-day std (ddof=1) of closes 0..T-1 from windowed sums (float64), [worlds, T, assets]
            x = full[:, HIST - 63:HIST - 1 + T]
            c1 = np.concatenate([np.zeros((worlds, 1, assets)), np.cumsum(x, axis=1)], axis=1)
            c2 = np.concatenate([np.zeros((worlds, 1, assets)), np.cumsum(x * x, axis=1)], axis=1)
            s1, s2 = c1[:, 63:] - c1[:, :-63], c2[:, 63:] - c2[:, :-63]
            inv = 1.0 / np.sqrt((s2 - s1 * s1 / 63) / 62)
            w = inv / inv.sum(-1, keepdims=True)
            w[:, np.arange(T) % 21 != 0] = np.nan
            close = np.concatenate([np.ones((worlds, 1, assets)), np.exp(np.cumsum(full[:, HIST:], axis=1))], 1)
            size = np.concatenate([w, np.full((worlds, 1, assets), np.nan)], axis=1)
            cols = pd.MultiIndex.from_product([range(worlds), range(assets)])
            flat = lambda a: pd.DataFrame(a.transpose(1, 0, 2).reshape(T + 1, -1), columns=cols)  # noqa: E731
            pf = vbt.Portfolio.from_orders(flat(close), flat(size), size_type="targetpercent", fees=0.001,
                                           group_by=cols.get_level_values(0), cash_sharing=True,
                                           call_seq="auto", freq="1D")
            return pf.total_return()
    return _timeit(run, repeats)


def case_numba(kind, worlds, repeats):
    import numba

    r, h = _data(worlds, 1)
    full = np.concatenate([np.broadcast_to(h[None], (worlds,) + h.shape), r], axis=1)[:, :, 0].astype(np.float64)

    @numba.njit(parallel=True, cache=False)
    def loop(x, fast, slow, fee, start):
        n_w, n_t = x.shape
        out = np.empty(n_w)
        for i in numba.prange(n_w):
            lp, sf, ss, e, pos = 0.0, 0.0, 0.0, 1.0, 0.0
            p = np.empty(n_t)
            for t in range(n_t):
                lp += x[i, t]
                p[t] = np.exp(lp)
                if t >= start:  # day t's return on yesterday's position
                    e *= 1.0 + pos * (np.exp(x[i, t]) - 1.0)
                sf += p[t] - (p[t - fast] if t >= fast else 0.0)
                ss += p[t] - (p[t - slow] if t >= slow else 0.0)
                new = 1.0 if (t + 1 >= slow and sf / fast > ss / slow) else 0.0
                if t >= start - 1 and t < n_t - 1:
                    e *= 1.0 - fee * abs(new - pos)
                    pos = new
            out[i] = e - 1.0
        return out

    return _timeit(lambda: loop(full, 10, 50, 0.001, HIST), repeats)


CASES = {"stressgen": case_stressgen, "stressgen-1dev": case_stressgen, "stressgen-vec": case_stressgen_vector,
         "stressgen-vec-np": case_stressgen_vector_np, "vectorbt": case_vbt, "numba": case_numba}
ENV = {"stressgen-1dev": {"STRESSGEN_CPU_DEVICES": "1"}}


def child(args):
    if args.engine.startswith("stressgen"):
        # one JAX CPU device per core (or $STRESSGEN_CPU_DEVICES), as the CLI and pipeline.run ask for:
        # importing stressgen changes nothing, so a library caller, this bench included, asks itself
        from stressgen import devices
        devices.use_cpu_cores()
    first, median = CASES[args.engine](args.kind, args.worlds, args.repeats)
    import jax
    print(json.dumps({"engine": args.engine, "kind": args.kind, "worlds": args.worlds, "first_s": first,
                      "devices": jax.device_count() if args.engine.startswith("stressgen") else None,
                      "median_s": median, "world_days_per_s": args.worlds * T / median,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_case(engine, kind, worlds, repeats):
    cmd = [sys.executable, __file__, "--child", engine, "--kind", kind, "--worlds", str(worlds),
           "--repeats", str(repeats), "--min-seconds", str(MIN_SECONDS)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, **ENV.get(engine, {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_row(runs):
    """One row from the same case's runs: median rate, first call and peak RSS over the rounds."""
    row = dict(runs[0])
    for key in ("world_days_per_s", "first_s", "median_s", "peak_rss_mib"):
        row[key] = float(np.median([r[key] for r in runs]))
    row["rounds"] = runs
    return row


def main():
    global MIN_SECONDS
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--vbt-worlds", type=int, default=None,
                    help="cap on the worlds vectorbt runs (default: the same workload; rates are per world-day)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5,
                    help="every case runs once per round, in a fresh process, round after round; a ratio is the "
                         "median over rounds of the ratio within each round (this machine's speed drifts by tens "
                         "of percent between processes, and a case and its peer measured side by side share it)")
    ap.add_argument("--min-seconds", type=float, default=2.0,
                    help="time each case for at least this long (more calls than --repeats for fast cases)")
    ap.add_argument("--child")
    ap.add_argument("--kind", default="ma")
    args, _ = ap.parse_known_args()
    MIN_SECONDS = args.min_seconds
    if args.child:
        args.engine, args.worlds = args.child, args.worlds[0]
        return child(args)
    # each engine case right after its peer: the machine drifts over minutes, and a case and its peer
    # measured seconds apart share more of it (the headline case comes first)
    plan = []
    for w in args.worlds:
        plan += [("vectorbt", "ma", min(w, args.vbt_worlds or w)), ("stressgen", "ma", w), ("numba", "ma", w),
                 ("stressgen-vec", "ma", w), ("stressgen-vec-np", "ma", w), ("stressgen-1dev", "ma", w)]
    w = args.worlds[0]
    plan += [("vectorbt", "invvol", min(w, args.vbt_worlds or w)), ("stressgen", "invvol", w),
             ("stressgen-vec", "invvol", w)]
    runs = {case: [] for case in plan}
    for _ in range(args.rounds):
        for case in plan:
            runs[case].append(run_case(*case, args.repeats))
    rows = [_median_row(runs[case]) for case in plan]
    print(f"{'case':8} {'engine':14} {'devices':>7} {'worlds':>7} {'world-days/s':>13} {'first call s':>12} {'peak RSS MiB':>12}"
          f" {'x vectorbt':>10} {'(range)':>13} {'x numba':>8} {'RSS / vbt':>9}")
    # the peer of each row: vectorbt (and the numba hand loop) on the same case, nearest world count
    def peer(engine, r):
        cands = [p for p in rows if p["engine"] == engine and p["kind"] == r["kind"]]
        return min(cands, key=lambda p: abs(p["worlds"] - r["worlds"])) if cands else None

    def ratio(r, p):
        """Median and range over rounds of the rate ratio within each round."""
        each = [a["world_days_per_s"] / b["world_days_per_s"] for a, b in zip(r["rounds"], p["rounds"])]
        return float(np.median(each)), min(each), max(each)

    for r in rows:
        v, n = peer("vectorbt", r), peer("numba", r)
        x_v, lo, hi = ratio(r, v)
        x_n = f"{ratio(r, n)[0]:>8.2f}" if n else f"{'-':>8}"
        print(f"{r['kind']:8} {r['engine']:14} {r['devices'] or '-':>7} {r['worlds']:>7} {r['world_days_per_s']:>13.3g} "
              f"{r['first_s']:>12.2f} {r['peak_rss_mib']:>12.0f} {x_v:>10.1f} {f'({lo:.1f}-{hi:.1f})':>13}"
              f" {x_n} {r['peak_rss_mib'] / v['peak_rss_mib']:>9.2f}")


if __name__ == "__main__":
    main()

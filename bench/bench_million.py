"""A million worlds in bounded memory: the quickstart workload (20 assets x 252 days x 7 strategies) at
`--worlds` worlds, through chunk files, then the report; prints worlds/s, each stage's seconds and the peak RSS.

    .venv/bin/python bench/bench_million.py [--worlds 1000000] [--executor local|processes|ray]

What runs is `stressgen run` minus the terminal: `pipeline.run(spec, executor=..., chunks=DIR)` (each chunk's
per-world metrics go to Parquet as it finishes; the driver folds the files in order) and
`report.write_outputs`. Peak RSS is this process's (`resource.getrusage`), plus the largest RSS seen at any
progress event and the stage it was in; with `--executor processes` or `ray` the workers' memory is their own.

The peer a user would otherwise pick is vectorbt: its `from_orders` on the inverse-volatility case of
bench/bench_engine.py (20 assets, 252 days, one strategy, backtest and total return only) on `--vbt-worlds`
worlds, in its own process, in the same run. The ratio compares world-strategy backtests per second: stressgen
end to end (sampling, seven strategies with every per-world metric, aggregation, fidelity, report) against
vectorbt's backtest alone.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=1_000_000)
    parser.add_argument("--executor", default="local", choices=("local", "processes", "ray"))
    parser.add_argument("--vbt-worlds", type=int, default=1_000)
    parser.add_argument("--work", default=None, help="work directory (default: a new temporary one); a rerun "
                        "with the same one resumes from its chunk files, as `stressgen run` does")
    args = parser.parse_args()

    # the peer first, in its own process: a child's peak RSS on Linux starts from its parent's
    from bench_engine import run_case

    vbt = run_case("vectorbt", "invvol", args.vbt_worlds, 1)

    from stressgen import devices, pipeline, report
    from stressgen.executors import executor_for
    from stressgen.spec import load_spec

    devices.use_cpu_cores()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="million-"))
    spec = load_spec(ROOT / "scenarios" / "quickstart.toml").with_overrides(worlds=args.worlds, out=work / "out")
    peak = {"rss": 0.0, "stage": "", "resumed": 0}
    last = {"t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "resumed":
            peak["resumed"] = done
            print(f"  resumed: {done:,} of {total:,} chunks were written by an earlier run", flush=True)
        rss = _rss_mib()
        if rss > peak["rss"]:
            peak.update(rss=rss, stage=stage)
        now = time.perf_counter()
        if stage == "worlds" and now - last["t"] > 60:
            last["t"] = now
            print(f"  {done:,} / {total:,} worlds, RSS {rss:,.0f} MiB", flush=True)

    t0 = time.perf_counter()
    with executor_for(args.executor) as pool:
        result = pipeline.run(spec, progress=progress, executor=pool, chunks=work / "chunks")
    t_run = time.perf_counter() - t0
    t1 = time.perf_counter()
    report.write_outputs(result, spec.out_dir)
    t_write = time.perf_counter() - t1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_sets = len(result.strategies)

    print(f"\n{args.worlds:,} worlds x {result.horizon} days x {len(result.assets)} assets x {n_sets} strategies, "
          f"executor {args.executor}")
    for stage, seconds in result.timings.items():
        print(f"  {stage:<16} {seconds:8.1f} s")
    print(f"  {'write report':<16} {t_write:8.1f} s")
    total = t_run + t_write
    print(f"  {'total':<16} {total:8.1f} s")
    sb = result.timings["sample_backtest"]
    print(f"worlds/s: {args.worlds / total:,.0f} end to end, {args.worlds / sb:,.0f} in sampling + backtests"
          + (f" (NOT throughputs: {peak['resumed']:,} chunks were resumed, not computed)" if peak["resumed"] else ""))
    print(f"peak RSS: {peak_mib:,.0f} MiB (largest at a progress event: {peak['rss']:,.0f} MiB, stage "
          f"{peak['stage']!r})")
    sizes = {p.name: p.stat().st_size for p in spec.out_dir.iterdir() if p.is_symlink()}
    print("outputs: " + ", ".join(f"{k} {v / 2**20:,.1f} MiB" for k, v in sorted(
        (k, (spec.out_dir / k).stat().st_size) for k in sizes)))
    ours = args.worlds * n_sets / total
    theirs = args.vbt_worlds / vbt["median_s"]
    print(f"vectorbt from_orders (invvol, {args.vbt_worlds:,} worlds, backtest and total return only): "
          f"{theirs:,.0f} world-strategies/s, peak RSS {vbt['peak_rss_mib']:,.0f} MiB")
    print(f"stressgen end to end: {ours:,.0f} world-strategies/s = {ours / theirs:.1f}x vectorbt's backtest alone")


if __name__ == "__main__":
    main()

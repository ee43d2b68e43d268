"""Where the time of a stress run goes: every stage of `stressgen.pipeline.run`, and the engine's share.

    .venv/bin/python bench/bench_pipeline.py [SPEC] [--worlds N]

Runs `pipeline.run` (which times each of its stages, `RunResult.timings`), then renders and writes the report
into a temporary directory, and prints one line per stage with its seconds and share of the whole, plus the
engine's own time: the backtests of the worlds, measured from the stage's progress
events (each strategy's backtest lies between two ``"strategies"`` events), so it includes the engine's
compilation for the chunk's shape. Peak RSS comes from `resource.getrusage`. Import time of stressgen and
the CLI's own start-up are not included (`make run` adds them: about 3 s here).

The peer a user would otherwise pick for a whole stress run does not exist; `bench/bench_engine.py` measures
the engine against vectorbt, and this script says how much of a run the engine is.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "scenarios" / "quickstart.toml"))
    parser.add_argument("--worlds", type=int, default=None, help="override [simulation] worlds")
    args = parser.parse_args()

    t_import = time.perf_counter()
    from stressgen import pipeline, report
    from stressgen.spec import load_spec
    t_import = time.perf_counter() - t_import

    spec = load_spec(args.spec).with_overrides(worlds=args.worlds)
    sim = spec.simulation
    engine_s, marks = 0.0, {}

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal engine_s
        now = time.perf_counter()
        if stage == "strategies":
            if done > 0 and "strategies" in marks:
                engine_s += now - marks["strategies"]
            marks["strategies"] = now

    result = pipeline.run(spec, progress=progress)
    times = dict(result.timings)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        report.write_outputs(result, out)
        times["report"] = time.perf_counter() - t0

    total = sum(times.values())
    n_runs = len(result.strategies)
    print(f"{Path(args.spec).name}: {sim.worlds:,} worlds x {sim.horizon} periods x "
          f"{len(result.assets)} assets, {n_runs} strategy runs, chunks of {sim.chunk_size:,}")
    print(f"{'stage':<26}{'seconds':>9}{'share':>8}")
    for name, s in times.items():
        print(f"{name:<26}{s:>9.2f}{s / total:>8.1%}")
    print(f"{'total (stages)':<26}{total:>9.2f}")
    print(f"{'engine (in sample+bt)':<26}{engine_s:>9.2f}{engine_s / total:>8.1%}   "
          f"{sim.worlds * sim.horizon * n_runs / engine_s / 1e6:.1f} M world-days/s")
    print(f"import of stressgen {t_import:.2f} s (not in the total); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    sys.exit(main())

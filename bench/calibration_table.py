"""Rolling-origin calibration table of generators on sp500-20 (`stressgen.studies.calibrate`).

    nice .venv/bin/python bench/calibration_table.py [--data sp500-20] [--generators garch bootstrap] [--every 6]
        [--matching state|year|none] [--drift sample|likelihood] [--min-history 504]
        [--start 1995-01-01] [--end 2021-12-31] [--horizon 252] [--worlds 1000] [--strategies NAME ...]
        [--refit-every 1] [--cache bench/out/calibration/cache] [--out bench/out/calibration]

Origins every `--every` months from `--start` to `--end` (an origin is the last trading day at or before
each grid date); at each one the generator (default config) is fitted on the data up to it, M worlds of h
days continue from it, and the PIT of the real outcome of the next h days among them is taken for the
equal-weight (daily rebalanced) total return and maximum drawdown, and for each `--strategies` entry
(built-in names, default parameters, no costs). Per-origin results are cached under `--cache`, so an
interrupted run resumes where it stopped and a rerun only prints. It prints, per generator and outcome,
the share of PITs outside the 5-95 % and 1-99 % bands, the KS distance and p-value and the mean CRPS, the
headline check (equal-weight outcomes: at most 15 % outside 5-95 % and KS p >= 0.05), and the compute time
per origin of each generator; it writes calibration.csv / calibration.json under `--out`.

At full size (54 origins, M = 1,000, h = 252, 20 assets) this is CPU-hours: run it niced, or on fewer
origins first (``--start 1995-01-01 --end 1995-07-01`` is two).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from stressgen import data, generators, rng
from stressgen.studies import CalibrationConfig, calibrate
from drift_check import ff3_monthly  # bench/ is on the path of a script run from it

HEADLINE = ("ew:total_return", "ew:max_drawdown")
MAX_OUTSIDE_5_95, MIN_PVALUE = 0.15, 0.05


def _bar(stage: str, done: int, total: int) -> None:
    if stage.endswith("worlds"):
        return  # one line per origin is enough on a terminal
    print(f"  {stage}: {done}/{total} origins", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generators", nargs="+", default=["garch", "bootstrap"],
                    help='registry names, or "all" (default: garch, the default generator, and bootstrap)')
    ap.add_argument("--data", default="sp500-20",
                    help="bundled data set, or ff3-monthly (the Fama-French factors: bench/drift_check.py)")
    ap.add_argument("--matching", choices=("state", "year", "none"), default=None,
                    help="garch.fhs_matching to compare (default: the generator's default)")
    ap.add_argument("--drift", choices=("sample", "likelihood"), default=None,
                    help="garch.drift to compare (default: the generator's default)")
    ap.add_argument("--every", type=int, default=6, help="months between origins")
    ap.add_argument("--start", default="1995-01-01")
    ap.add_argument("--end", default="2021-12-31")
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--worlds", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=500, help="worlds drawn at once")
    ap.add_argument("--refit-every", type=int, default=1)
    ap.add_argument("--min-history", type=int, default=504, help="returns an origin needs before it")
    ap.add_argument("--strategies", nargs="*", default=[], help="built-in strategy names (default: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="bench/out/calibration/cache")
    ap.add_argument("--out", default="bench/out/calibration")
    args = ap.parse_args(argv)
    names = list(generators.available()) if args.generators == ["all"] else args.generators
    config = CalibrationConfig(every_months=args.every, start=args.start, end=args.end, horizon=args.horizon,
                               n_worlds=args.worlds, chunk_size=min(args.chunk, args.worlds),
                               refit_every=args.refit_every, strategies=tuple(args.strategies),
                               min_history=args.min_history)
    market = ff3_monthly() if args.data == "ff3-monthly" else data.load(args.data)
    gens = {n: (generators.get(n), None) for n in names}
    if "garch" in gens and (args.matching is not None or args.drift is not None):
        chosen = {k: v for k, v in (("fhs_matching", args.matching), ("drift", args.drift)) if v is not None}
        gens["garch"] = (generators.get("garch"), generators.GarchConfig(**chosen))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics repeat at every origin
        res = calibrate(market, gens, config, key=rng.root(args.seed), progress=_bar, cache_dir=args.cache)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res.table().to_csv(out / "calibration.csv", index=False)
    (out / "calibration.json").write_text(json.dumps(res.to_json(), indent=1, allow_nan=False), encoding="utf-8")

    plan = res.schedule
    print(f"\n{args.data}: {len(plan.origins)} origins every {args.every} months, {plan.origins[0]}..{plan.origins[-1]}"
          f" ({len(plan.skipped)} skipped), h = {args.horizon}, M = {args.worlds}, refit every {args.refit_every}, "
          f"seed {args.seed}; {seconds:.0f} s\n")
    table = res.table()
    header = f"{'generator':<11} {'outcome':<28} {'n':>3} {'out5-95':>8} {'out1-99':>8} {'KS':>6} {'p':>7} {'CRPS':>8}"
    print(header)
    print("-" * len(header))
    for r in table.itertuples(index=False):
        print(f"{r.generator:<11} {r.outcome:<28} {r.n:>3} {r.outside_5_95:>8.3f} {r.outside_1_99:>8.3f} "
              f"{r.ks:>6.3f} {r.ks_pvalue:>7.3f} {r.crps:>8.4f}")
    print("\n(calibrated: 0.10 outside 5-95 %, 0.02 outside 1-99 %; the p-value assumes independent PITs, which "
          "overlapping horizons are not)")
    for g in res.generators:
        ok = all(res.summary(g, o).outside_5_95 <= MAX_OUTSIDE_5_95 and res.summary(g, o).ks_pvalue >= MIN_PVALUE
                 for o in HEADLINE)
        computed = [o.seconds for o in res.per_origin if o.generator == g and not o.cached]
        timing = (f"{np.mean(computed):.1f} s per origin over {len(computed)} computed origins "
                  f"(min {np.min(computed):.1f}, max {np.max(computed):.1f})" if computed else "all origins cached")
        print(f"{g}: headline {'PASS' if ok else 'FAIL'} (equal-weight return and drawdown: <= "
              f"{MAX_OUTSIDE_5_95:.0%} outside 5-95 % and KS p >= {MIN_PVALUE}); {timing}")
    print(f"\nwrote {out / 'calibration.csv'} and {out / 'calibration.json'}; cache {args.cache}")


if __name__ == "__main__":
    main()

"""Regenerate the headline tables of docs/fidelity.md (the ONE command for them).

    nice .venv/bin/python bench/fidelity_table.py [--paths 500] [--seeds 3] [--out bench/out/fidelity]
        [--only calibration|scorecard]

First, the calibration headline that opens docs/fidelity.md: every registered generator, rolling origins
every 6 months 1995-2021 on sp500-20, h = 252, M = 1,000 (`bench/calibration_table.py`, whose per-origin
cache under bench/out/calibration/cache it shares, so either command resumes the other's work). The best
calibrated generator is the one with the lowest mean KS distance of the equal-weight return and maximum
drawdown; the sentence under the table says by how much. Each generator's summary is kept in the tracked
bench/calibration_headline.json: `--only calibration --generators NAME ...` recomputes those generators' rows
(after a change to their family) and reads every other registered generator's from the file.

Then the out-of-sample scorecard:
For the bundled sp500-20 (20 stocks), sp500-index (S&P 500) and wti (crude oil) data sets, all cut to
2009-05-01..2018-12-31 (wti is kept out of every choice of every generator's defaults; sp500-index was kept out
of the later ones, and each change says so),
every generator in `stressgen.generators.available()` (default config) is fitted on 2009-05-01..2016-02-01
and scored on 2016-02-02..2018-12-31 by `stressgen.studies.evaluate` (M paths x S replicates,
root seed 0), beside the real-vs-real and known-DGP floors. It writes fidelity.json / .parquet / .html per
data set under --out and replaces the table between the markers in docs/fidelity.md. It prints the time
each generator took and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

from stressgen import data, generators, rng
from stressgen.atomic import atomic_write
from stressgen.metrics import fidelity as F
from stressgen.report import write_scorecard
from stressgen.studies import evaluate

DATASETS = ("sp500-20", "sp500-index", "wti")
START, END, SPLIT = "2009-05-01", "2018-12-31", "2016-02-01"
BEGIN, FINISH = "<!-- fidelity-table:start -->", "<!-- fidelity-table:end -->"
CAL_BEGIN, CAL_FINISH = "<!-- calibration-table:start -->", "<!-- calibration-table:end -->"
# the columns of the headline table (the full table is in the JSON/Parquet/HTML outputs)
HEADLINE = ("w1n_1d", "w1n_20d", "rel_var_1pct_1d", "rel_es_1pct_1d", "rel_es_1pct_20d", "hill_gap", "acf_abs",
            "acf_sq", "leverage", "corr_err", "coexceed_err", "dd_w1n", "strategy_re", "kupiec_reject_1pct",
            "copy_rate", "disc_score")


def _cell(mean: float, lo: float, hi: float, rank: float) -> str:
    if not math.isfinite(mean):
        return "–"
    s = f"{mean:.3f}"
    if math.isfinite(lo):
        s += f" [{lo:.3f}, {hi:.3f}]"
    if math.isfinite(rank):
        s = f"**{s}**" if rank == 1 else s
    return s


def markdown(card: F.Scorecard, name: str, seconds: float) -> str:
    t = card.table.set_index(["generator", "metric"])
    m = card.meta
    metrics = [c for c in HEADLINE if c in set(card.table["metric"])]
    lines = [f"### {name}: fit {m['train'][0]}..{m['train'][1]} ({m['n_train']} returns), "
             f"score {m['test'][0]}..{m['test'][1]} ({m['n_test']} returns)", "",
             f"{len(m['assets'])} asset(s), M = {m['n_paths']} paths x {m['n_seeds']} replicates, "
             f"mean [90% interval]; bold = rank 1 among generators; {seconds:.0f} s.", "",
             "| metric | " + " | ".join(dict.fromkeys(card.table["generator"])) + " |",
             "|---|" + "---|" * card.table["generator"].nunique()]
    for metric in metrics:
        cells = []
        for g in dict.fromkeys(card.table["generator"]):
            r = t.loc[(g, metric)]
            cells.append(_cell(r["mean"], r["lo"], r["hi"], r["rank"]))
        lines.append(f"| `{metric}` | " + " | ".join(cells) + " |")
    ranking = card.ranking()
    lines += ["", "Mean rank over all " + str(card.table["metric"].nunique()) + " metrics: "
              + ", ".join(f"{g} {v:.2f}" for g, v in ranking.items()) + "."]
    failures = F.check(card.table)
    lines += ["", "Threshold failures: " + ("; ".join(failures) if failures else "none") + "."]
    return "\n".join(lines)


def update_docs(doc: Path, block: str, begin: str = BEGIN, finish: str = FINISH) -> None:
    text = doc.read_text(encoding="utf-8")
    if begin not in text or finish not in text:
        sys.exit(f"{doc}: the markers {begin} and {finish} are missing; add them where the table goes")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(finish, 1)
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{begin}\n{block}\n{finish}{tail}", encoding="utf-8")
    tmp.replace(doc)


# Refit every k-th origin (re-anchored to each origin in between, `studies.reanchor`): only where a refit at
# every one of 54 origins costs hours on 2 cores (the GAN trains for about 3 minutes; the neural
# autoregression about 40 s, so it refits every third origin: 18 fits, each re-anchored to the two after it).
REFIT_EVERY = {"gan": 9, "nar": 3, "flow": 3}
# Returns a generator needs before an origin, where its fit refuses fewer than the first origin holds (1,264
# at 1994-12-30): the regime mixture asks for two returns per parameter (3 regimes over 20 assets: 701
# parameters), so it skips the origins before 1996 and is scored on the rest; the table says so. (The neural
# autoregression's default needs 837, `_neural.min_history`; the VAE's 104.)
MIN_HISTORY = {"regime": 1402}


OUTCOMES = (("ew:total_return", "1-year return"), ("ew:max_drawdown", "max drawdown"))
SUMMARY = ("outside_5_95", "outside_1_99", "ks", "ks_pvalue", "crps")
# The headline's per-generator summaries, tracked: the per-origin cache (bench/out) does not travel with the
# repository, and a fresh calibration of every family takes hours (the VAE refits at 54 origins), so a change
# to one family regenerates its own rows (`--generators NAME`) and the others are read from here.
HEADLINE_FILE = Path(__file__).with_name("calibration_headline.json")


def _ordinal(k: int) -> str:
    """3 -> "3rd", 9 -> "9th", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def headline_entry(res, name: str) -> dict:
    """One generator's headline summary from its `CalibrationResult`: its origins, schedule and the
    `SUMMARY` fields of the two equal-weight outcomes."""
    plan = res.schedule
    entry = {"n": len(plan.origins), "first": plan.origins[0], "last": plan.origins[-1],
             "n_worlds": res.config.n_worlds, "horizon": res.config.horizon,
             "refit_every": res.config.refit_every, "min_history": res.config.min_history}
    for outcome, _ in OUTCOMES:
        s = res.summary(name, outcome)
        entry[outcome] = {k: float(getattr(s, k)) for k in SUMMARY}
    return entry


def load_headline(path: Path = HEADLINE_FILE) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save_headline(entries: dict, path: Path = HEADLINE_FILE) -> None:
    """Written whole, then renamed (`stressgen.atomic`): a kill leaves the old file or the new."""
    atomic_write(path, json.dumps(entries, indent=1, sort_keys=True) + "\n")


def calibration_block(entries: dict, names: list[str], seconds: float) -> str:
    """The calibration headline of `names` (in order) from their `headline_entry`: the two equal-weight
    outcomes per generator, and who is best calibrated by how much."""
    base = entries[names[0]]
    later = "".join(f"; {g} needs {entries[g]['min_history']:,} returns before an origin, so it is scored on the "
                    f"{entries[g]['n']} from {entries[g]['first']}" for g in names
                    if entries[g]["first"] != base["first"])
    lines = [f"Rolling origins on sp500-20: {base['n']} origins every 6 months, {base['first']}..{base['last']}; "
             f"at each the generator (default config) is fitted on the data up to it and {base['n_worlds']} "
             f"worlds of {base['horizon']} days continue from it"
             + "".join(f"; {g} is refitted every {_ordinal(entries[g]['refit_every'])} origin and re-anchored to the "
                       "others" for g in names if entries[g]["refit_every"] > 1)
             + later
             + ". Calibrated: 10% of real outcomes outside the worlds' 5-95% band, 2% outside 1-99%, KS p-value "
             "large. The bar: at most 15% outside 5-95% and KS p >= 0.05 for both outcomes (the p-value takes "
             "the PITs as independent; overlapping one-year horizons make it too small).", "",
             "| generator | outcome | outside 5-95% | outside 1-99% | KS | KS p | CRPS | bar |",
             "|---|---|---|---|---|---|---|---|"]
    mean_ks = {}
    for g in names:
        ks = []
        for outcome, label in OUTCOMES:
            s = entries[g][outcome]
            ok = s["outside_5_95"] <= 0.15 and s["ks_pvalue"] >= 0.05
            ks.append(s["ks"])
            lines.append(f"| {g} | {label} | {s['outside_5_95']:.1%} | {s['outside_1_99']:.1%} | {s['ks']:.3f} | "
                         f"{s['ks_pvalue']:.3f} | {s['crps']:.4g} | {'pass' if ok else '**fail**'} |")
        mean_ks[g] = sum(ks) / len(ks)
    ranked = sorted(mean_ks, key=mean_ks.get)
    best, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    lines += ["", f"Best calibrated: **{best}**, mean KS distance of the two outcomes {mean_ks[best]:.3f}"
              + (f" against {mean_ks[second]:.3f} for the next, {second}." if second else ".")
              + f" Computed in {seconds:.0f} s (cached origins are not recomputed; rows not recomputed by this "
              f"run are read from bench/{HEADLINE_FILE.name})."]
    return "\n".join(lines)


def calibration(doc: Path, names: list[str]) -> None:
    """Run (or resume) the calibration of the generators `names`, store their summaries in `HEADLINE_FILE`
    and write the headline of every registered generator into `doc` (the others' rows read from the file)."""
    import warnings

    from stressgen.studies import CalibrationConfig, calibrate

    registered = list(generators.available())
    unknown = sorted(set(names) - set(registered))
    if unknown:
        sys.exit(f"not registered generators: {unknown}; registered: {registered}")
    entries = {g: e for g, e in load_headline().items() if g in registered}
    missing = [g for g in registered if g not in entries and g not in names]
    if missing:
        sys.exit(f"bench/{HEADLINE_FILE.name} has no rows for {missing}: run with --generators {' '.join(missing)}")
    market = data.load("sp500-20")
    t0 = time.perf_counter()
    for name in names:
        config = CalibrationConfig(every_months=6, start="1995-01-01", end="2021-12-31", horizon=252,
                                   n_worlds=1000, chunk_size=500, refit_every=REFIT_EVERY.get(name, 1),
                                   min_history=MIN_HISTORY.get(name, 504))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit diagnostics repeat at every origin
            res = calibrate(market, {name: (generators.get(name), None)}, config, key=rng.root(0),
                            cache_dir="bench/out/calibration/cache",
                            progress=lambda stage, done, total: None if stage.endswith("worlds") else print(
                                f"  {stage}: {done}/{total}", flush=True))
        entries[name] = headline_entry(res, name)
        save_headline(entries)  # each generator's rows are kept as soon as they are computed
    block = calibration_block(entries, registered, time.perf_counter() - t0)
    print(block)
    update_docs(doc, block, CAL_BEGIN, CAL_FINISH)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="bench/out/fidelity")
    ap.add_argument("--doc", default="docs/fidelity.md")
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--only", choices=("calibration", "scorecard"), default=None)
    ap.add_argument("--generators", nargs="*", default=list(generators.available()),
                    help="generators whose calibration headline rows are recomputed (default: every registered "
                         "one; the others are read from bench/calibration_headline.json)")
    args = ap.parse_args(argv)
    if args.only != "scorecard":
        calibration(Path(args.doc), args.generators)
    if args.only == "calibration":
        return
    config = F.EvaluateConfig(split_at=SPLIT, n_paths=args.paths, n_seeds=args.seeds,
                              allow_few_paths=args.paths < F.protocol.MIN_PATHS)
    gens = {name: (cls(), None) for name, cls in generators.available().items()}
    blocks, total = [], time.perf_counter()
    for name in args.datasets:
        market = data.load(name, start=START, end=END)
        t0 = time.perf_counter()
        card = evaluate(market, gens, config, key=rng.root(0))
        seconds = time.perf_counter() - t0
        write_scorecard(card, Path(args.out) / name)
        blocks.append(markdown(card, name, seconds))
        fastest = min(card.meta["timings"].values())
        timing = ", ".join(f"{k} {v:.1f} s ({v / fastest:.1f}x the fastest)" for k, v in card.meta["timings"].items())
        print(f"{name}: {seconds:.1f} s ({timing})")
        print(card.wide().T.to_string(float_format=lambda v: f"{v:.3f}"))
        print("failures:", F.check(card.table) or "none", flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    footer = (f"Regenerated by `nice .venv/bin/python bench/fidelity_table.py` (M = {args.paths}, "
              f"{args.seeds} replicates, root seed 0) in {time.perf_counter() - total:.0f} s on this machine; "
              f"peak memory {peak_mib:.0f} MiB. Generators: {', '.join(gens)}.")
    if args.paths >= F.protocol.MIN_PATHS:
        update_docs(Path(args.doc), "\n\n".join(blocks + [footer]))
    print(footer)


if __name__ == "__main__":
    main()

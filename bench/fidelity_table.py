"""Regenerate the headline fidelity table of docs/fidelity.md (the ONE command for it).

    nice .venv/bin/python bench/fidelity_table.py [--paths 500] [--seeds 3] [--out bench/out/fidelity]

For the bundled sp500-20 (20 stocks) and sp500-index (S&P 500) data sets, both cut to 2009-05-01..2018-12-31,
every generator in `stressgen.generators.available()` (default config) is fitted on 2009-05-01..2016-02-01
and scored on 2016-02-02..2018-12-31 by `stressgen.metrics.fidelity.evaluate` (M paths x S replicates,
root seed 0), beside the real-vs-real and known-DGP floors. It writes fidelity.json / .parquet / .html per
data set under --out and replaces the table between the markers in docs/fidelity.md. It prints the time
each generator took and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

from stressgen import data, generators, rng
from stressgen.metrics import fidelity as F

DATASETS = ("sp500-20", "sp500-index")
START, END, SPLIT = "2009-05-01", "2018-12-31", "2016-02-01"
BEGIN, FINISH = "<!-- fidelity-table:start -->", "<!-- fidelity-table:end -->"
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


def update_docs(doc: Path, block: str) -> None:
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or FINISH not in text:
        sys.exit(f"{doc}: the markers {BEGIN} and {FINISH} are missing; add them where the table goes")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(FINISH, 1)
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{BEGIN}\n{block}\n{FINISH}{tail}", encoding="utf-8")
    tmp.replace(doc)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="bench/out/fidelity")
    ap.add_argument("--doc", default="docs/fidelity.md")
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = ap.parse_args(argv)
    config = F.EvaluateConfig(split_at=SPLIT, n_paths=args.paths, n_seeds=args.seeds,
                              allow_few_paths=args.paths < F.protocol.MIN_PATHS)
    gens = {name: (cls(), None) for name, cls in generators.available().items()}
    blocks, total = [], time.perf_counter()
    for name in args.datasets:
        market = data.load(name, start=START, end=END)
        t0 = time.perf_counter()
        card = F.evaluate(market, gens, config, key=rng.root(0))
        seconds = time.perf_counter() - t0
        F.write_scorecard(card, Path(args.out) / name)
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

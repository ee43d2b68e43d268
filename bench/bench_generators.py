"""Baseline generators against arch, measured in the same run: 100,000 worlds x 252 days x 20 assets.

    python bench/bench_generators.py            # full run (a few minutes on 2 cores)
    python bench/bench_generators.py --quick    # 10x fewer worlds, for a smoke check

Every case runs in a fresh subprocess so that its peak RSS (ru_maxrss, imports included) is its own. The
JAX cases stream chunks of worlds and keep only each world's terminal log return, as a stress run that
keeps per-world metrics would, so their peak memory is set by the chunk size, not the number of worlds.
Timings exclude compilation, which is reported separately. arch's per-path loops are too slow to run for
100,000 worlds; they run on a subset and their rate is extrapolated (the table says so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

HORIZON, BURN = 252, 500


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _market():
    from stressgen import data

    return data.load("sp500-20")


def _jax_case(kind: str, worlds: int, chunk: int) -> dict:
    import jax
    import jax.numpy as jnp

    from stressgen import generators, rng
    from stressgen.generators import GarchConfig

    market = _market()
    gen_name, config = {
        "bootstrap": ("bootstrap", None),
        "garch-fhs": ("garch", GarchConfig(innovations="fhs")),  # the default: year-matched rows
        "garch-fhs-iid": ("garch", GarchConfig(innovations="fhs", fhs_matching="none")),
        "garch-t-copula": ("garch", GarchConfig(innovations="t-copula")),
        "garch-gaussian-copula": ("garch", GarchConfig(innovations="gaussian-copula")),
        "garch-t-copula-burn500": ("garch", GarchConfig(innovations="t-copula", start="unconditional", burn=BURN)),
    }[kind]
    gen = generators.get(gen_name)
    root = rng.root(0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # persistence guards may fire on some stocks; the tests cover them
        fitted = gen.fit(market, key=rng.stream(root, rng.FIT), config=config)
    fit_s = time.perf_counter() - t0
    key = rng.stream(root, rng.SAMPLE)
    terminal = jax.jit(lambda r: jnp.sum(r, axis=1))  # per-world reduction: [worlds, assets]

    t0 = time.perf_counter()
    first = gen.sample(fitted, key=key, n_worlds=chunk, horizon=HORIZON)
    terminal(first.log_returns).block_until_ready()
    compile_s = time.perf_counter() - t0

    kept = []
    t0 = time.perf_counter()
    for scen in generators.iter_chunks(gen, fitted, key=key, n_worlds=worlds, horizon=HORIZON, chunk_size=chunk):
        kept.append(terminal(scen.log_returns))
    jax.block_until_ready(kept)
    seconds = time.perf_counter() - t0
    return {"case": "jax-" + kind, "worlds": worlds, "seconds": seconds, "paths_per_s": worlds / seconds,
            "compile_s": compile_s, "fit_s": fit_s, "chunk": chunk, "peak_mib": _peak_mib(), "extrapolated": False}


def _arch_fits():
    from arch import arch_model

    market = _market()
    r = 100 * market.log_returns
    fits = []
    for a in range(r.shape[1]):
        model = arch_model(r[:, a], mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t")
        fits.append(model.fit(disp="off"))
    return fits


def _arch_simulate_loop(worlds: int) -> dict:
    """A user's loop: one `simulate` call per asset per world (arch draws one path per call)."""
    fits = _arch_fits()
    t0 = time.perf_counter()
    for _ in range(worlds):
        for res in fits:
            res.model.simulate(res.params, HORIZON, burn=BURN)
    seconds = time.perf_counter() - t0
    return {"case": "arch-simulate-loop", "worlds": worlds, "seconds": seconds, "paths_per_s": worlds / seconds,
            "peak_mib": _peak_mib(), "extrapolated": True}


def _arch_forecast(worlds: int) -> dict:
    """arch's vectorised path simulation from the end-of-sample state, one call per asset."""
    fits = _arch_fits()
    t0 = time.perf_counter()
    for res in fits:
        fc = res.forecast(horizon=HORIZON, method="simulation", simulations=worlds, reindex=False)
        fc.simulations.values[-1].sum(axis=1)  # the same per-world reduction as the JAX cases
        del fc
    seconds = time.perf_counter() - t0
    return {"case": "arch-forecast-simulation", "worlds": worlds, "seconds": seconds,
            "paths_per_s": worlds / seconds, "peak_mib": _peak_mib(), "extrapolated": False}


def _arch_bootstrap(worlds: int, chopped: bool) -> dict:
    """arch's StationaryBootstrap with our default block length; one draw per world, or chopped draws."""
    import numpy as np
    from arch.bootstrap import StationaryBootstrap

    from stressgen.generators.bootstrap import default_block_length

    market = _market()
    r = market.log_returns
    bs = StationaryBootstrap(default_block_length(r), r, seed=np.random.default_rng(0))
    t0 = time.perf_counter()
    made = 0
    while made < worlds:
        bs.update_indices()
        sample = r[bs.index]
        if chopped:  # one full-length draw cut into len(r) // HORIZON worlds
            n = sample.shape[0] // HORIZON
            sample[: n * HORIZON].reshape(n, HORIZON, -1).sum(axis=1)
            made += n
        else:
            sample[:HORIZON].sum(axis=0)
            made += 1
    seconds = time.perf_counter() - t0
    return {"case": "arch-bootstrap-" + ("chopped" if chopped else "per-path"), "worlds": made,
            "seconds": seconds, "paths_per_s": made / seconds, "peak_mib": _peak_mib(), "extrapolated": True}


def run_case(case: str, worlds: int, chunk: int) -> dict:
    if case.startswith("jax-"):
        return _jax_case(case.removeprefix("jax-"), worlds, chunk)
    if case == "arch-simulate-loop":
        return _arch_simulate_loop(worlds)
    if case == "arch-forecast-simulation":
        return _arch_forecast(worlds)
    if case.startswith("arch-bootstrap-"):
        return _arch_bootstrap(worlds, chopped=case.endswith("chopped"))
    raise SystemExit(f"unknown case {case!r}")


def _spawn(case: str, worlds: int, chunk: int) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--worlds", str(worlds), "--chunk", str(chunk)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case")
    p.add_argument("--worlds", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=10_000)
    p.add_argument("--quick", action="store_true", help="10x fewer worlds everywhere")
    p.add_argument("--out", default="bench/out/generators.json")
    args = p.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.worlds, args.chunk)))
        return

    scale = 10 if args.quick else 1
    w = args.worlds // scale
    plan = [
        ("jax-bootstrap", w, args.chunk), ("arch-bootstrap-per-path", 2000 // scale, 0),
        ("arch-bootstrap-chopped", 20_000 // scale, 0),
        ("jax-garch-fhs", w, args.chunk), ("jax-garch-fhs-iid", w, args.chunk),
        ("jax-garch-gaussian-copula", w, args.chunk),
        ("jax-garch-t-copula", w, args.chunk), ("jax-garch-t-copula-burn500", w, args.chunk),
        ("jax-garch-t-copula", w // 5, args.chunk),  # same chunk, 5x fewer worlds: peak memory should match
        ("arch-simulate-loop", max(2, 40 // scale), 0), ("arch-forecast-simulation", w, 0),
    ]
    rows = []
    for case, worlds, chunk in plan:
        print(f"running {case} ({worlds} worlds)...", file=sys.stderr, flush=True)
        rows.append(_spawn(case, worlds, chunk))
    by = {(r["case"], r["worlds"]): r for r in rows}
    rate = {r["case"]: r["paths_per_s"] for r in rows if r["worlds"] == w or r["extrapolated"]}

    print(f"\n{w} worlds x {HORIZON} days x 20 assets (sp500-20); paths/s = worlds per second; "
          "JAX timings exclude compilation")
    print(f"{'case':34s} {'worlds':>8s} {'seconds':>9s} {'paths/s':>10s} {'compile s':>9s} {'peak MiB':>9s}")
    for r in rows:
        note = "  (subset; rate extrapolated)" if r["extrapolated"] else ""
        comp = f"{r['compile_s']:9.2f}" if "compile_s" in r else f"{'':9s}"
        print(f"{r['case']:34s} {r['worlds']:8d} {r['seconds']:9.2f} {r['paths_per_s']:10.0f} {comp} "
              f"{r['peak_mib']:9.0f}{note}")
    print("\nratios (JAX paths/s over the peer's paths/s, same run):")
    ratios = {
        "bootstrap / arch StationaryBootstrap per path": rate["jax-bootstrap"] / rate["arch-bootstrap-per-path"],
        "bootstrap / arch StationaryBootstrap chopped": rate["jax-bootstrap"] / rate["arch-bootstrap-chopped"],
        # arch's simulate always burns in (500 days here); our conditional start needs no burn-in, so the
        # first three lines compare what a user runs, the fourth compares the same amount of work
        "garch fhs, conditional / arch simulate loop": rate["jax-garch-fhs"] / rate["arch-simulate-loop"],
        "garch fhs i.i.d. rows, conditional / arch simulate loop":
            rate["jax-garch-fhs-iid"] / rate["arch-simulate-loop"],
        "garch gaussian copula, conditional / arch simulate loop":
            rate["jax-garch-gaussian-copula"] / rate["arch-simulate-loop"],
        "garch t-copula, conditional / arch simulate loop": rate["jax-garch-t-copula"] / rate["arch-simulate-loop"],
        "garch t-copula burn 500 / arch simulate loop (burn 500)":
            rate["jax-garch-t-copula-burn500"] / rate["arch-simulate-loop"],
        "garch gaussian copula / arch forecast simulation":
            rate["jax-garch-gaussian-copula"] / rate["arch-forecast-simulation"],
        "garch t-copula / arch forecast simulation": rate["jax-garch-t-copula"] / rate["arch-forecast-simulation"],
        "garch fhs / arch forecast simulation": rate["jax-garch-fhs"] / rate["arch-forecast-simulation"],
        "garch fhs i.i.d. rows / arch forecast simulation":
            rate["jax-garch-fhs-iid"] / rate["arch-forecast-simulation"],
    }
    for label, value in ratios.items():
        print(f"  {label:58s} {value:8.1f}x")
    small, big = by[("jax-garch-t-copula", w // 5)], by[("jax-garch-t-copula", w)]
    print(f"\npeak memory, GARCH t-copula, chunk {args.chunk}: {w // 5} worlds {small['peak_mib']:.0f} MiB, "
          f"{w} worlds {big['peak_mib']:.0f} MiB")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"rows": rows, "ratios": ratios}, fh, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()

"""Neural generators: training steps/s, time to the default stopping point, sampling throughput.

    python bench/bench_neural.py                 # VAE, default config, 10,000 worlds x 252 days x 20 assets
    python bench/bench_neural.py --quick         # 2,000 worlds, 300 training steps: a smoke check
    python bench/bench_neural.py --preset gpu    # the larger preset (on a GPU)

Every case runs in a fresh subprocess so that its peak RSS (ru_maxrss, imports included) is its own.
Peers measured in the same run: training steps scanned inside one jitted call (the shared loop) against
one jitted call per step; sampling against the GARCH (FHS) and bootstrap samplers on the same worlds.
Timings exclude compilation, which is reported separately. `measure_training`, `measure_sampling` and
`run_bench` take any generator family whose step function follows `_training.train`'s contract
(bench/bench_gan.py uses them for the GAN).
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

HORIZON, ASSETS = 252, 20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> float:
    return os.getloadavg()[0]


def measure_training(step_fn, carry, *, steps_per_call: int, calls: int = 10) -> dict:
    """Steady-state steps/s of `step_fn` scanned `steps_per_call` times per jitted call, and per-step calls.

    `step_fn(carry, key) -> (carry, metrics)` as in `stressgen.generators._training.train`.
    """
    import jax
    import jax.numpy as jnp

    from stressgen.generators._training import _run_steps

    key = jax.random.key(0)
    t0 = time.perf_counter()
    c, m, _ = _run_steps(carry, key, jnp.uint32(1), step_fn=step_fn, length=steps_per_call)
    jax.block_until_ready(m)
    compile_scan = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(calls):
        c, m, _ = _run_steps(c, key, jnp.uint32(1 + i * steps_per_call), step_fn=step_fn, length=steps_per_call)
    jax.block_until_ready(m)
    scanned = calls * steps_per_call / (time.perf_counter() - t0)
    single = jax.jit(step_fn)  # the peer: one dispatch (and one host round trip of metrics) per step
    t0 = time.perf_counter()
    c1, m1 = single(carry, key)
    jax.block_until_ready(m1)
    compile_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(calls * steps_per_call // 2):
        c1, m1 = single(c1, jax.random.fold_in(key, i))
        float(m1["loss"])  # a loop that logs its loss every step syncs every step
    per_step = (calls * steps_per_call // 2) / (time.perf_counter() - t0)
    return {"steps_per_s_scan": scanned, "steps_per_s_per_step": per_step, "compile_scan_s": compile_scan,
            "compile_single_s": compile_single}


def measure_sampling(gen, fitted, *, n_worlds: int, horizon: int = HORIZON, chunk: int = 2048) -> dict:
    """Worlds/s and world-days/s drawing `n_worlds` in chunks (first chunk's compile reported apart)."""
    import jax

    from stressgen import rng
    from stressgen.generators import iter_chunks

    key = rng.stream(rng.root(0), rng.SAMPLE)
    t0 = time.perf_counter()
    jax.block_until_ready(gen.sample(fitted, key=key, n_worlds=chunk, horizon=horizon).log_returns)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in iter_chunks(gen, fitted, key=key, n_worlds=n_worlds, horizon=horizon, chunk_size=chunk):
        jax.block_until_ready(s.log_returns)
    seconds = time.perf_counter() - t0
    return {"worlds": n_worlds, "horizon": horizon, "sample_s": seconds, "first_call_s": warm,
            "worlds_per_s": n_worlds / seconds, "world_days_per_s": n_worlds * horizon / seconds}


def bench_config(config_cls, preset: str, steps: int | None):
    """The family's preset, with `steps` training steps when given and no progress bar."""
    import dataclasses

    config = config_cls.preset(preset)
    train = dataclasses.replace(config.train, progress=False, **({} if steps is None else {"steps": steps}))
    return dataclasses.replace(config, train=train)


def _vae_case(preset: str, steps: int | None, worlds: int) -> dict:
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from stressgen import data, rng
    from stressgen.generators import vae as V
    from stressgen.generators._neural import optimizer
    from stressgen.generators._vae_prior import fit_variance_prior
    from stressgen.metrics.diversity import diversity

    market = data.load("sp500-20")
    config = bench_config(V.VaeConfig, preset, steps)
    load0 = _load()
    # steady-state training speed, on the fit's own step function
    r = market.log_returns
    prior = fit_variance_prior(r / r.std(axis=0), V.nn.ewma_decays(config.half_lives),
                               max_persistence=config.max_persistence, assets=tuple(market.assets))
    prepared = V.prepare(r, r.std(axis=0), config, prior, np.zeros(market.n_assets))
    graphdef, state = nnx.split(V._build_net(config, market.n_assets, rng.root(1)))
    opt = optimizer(config.train)
    step = V._step(graphdef, opt, config)
    carry = (state, opt.init(state), prepared, jnp.arange(config.context, r.shape[0] - config.window))
    train = measure_training(step, carry, steps_per_call=config.train.steps_per_call)
    # the whole default fit: time to the stopping point (compilation and validation included)
    gen = V.TemporalVae()
    t0 = time.perf_counter()
    fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
    fit_s = time.perf_counter() - t0
    h = fitted.history
    sampling = measure_sampling(gen, fitted, n_worlds=worlds)
    x = np.asarray(gen.sample(fitted, key=rng.root(2), n_worlds=500, horizon=HORIZON).log_returns)
    div = diversity(x, r)
    return {"case": f"vae-{preset}", **train, "fit_s": fit_s, "stop_step": int(h.step[-1]) if h.step.size else 0,
            "best_step": h.best_step, "stop_reason": h.stop_reason, "best_val": h.best_score, **sampling,
            "diversity_ratio": div.ratio, "load_before": load0, "load_after": _load(), "peak_mib": _peak_mib()}


def _peer_case(kind: str, worlds: int) -> dict:
    import warnings as w

    from stressgen import data, generators, rng
    from stressgen.generators import GarchConfig

    market = data.load("sp500-20")
    gen = generators.get("garch" if kind == "garch-fhs" else "bootstrap")
    with w.catch_warnings():
        w.simplefilter("ignore")
        fitted = gen.fit(market, key=rng.root(0), config=GarchConfig(innovations="fhs") if kind == "garch-fhs"
                         else None)
    return {"case": kind, **measure_sampling(gen, fitted, n_worlds=worlds), "peak_mib": _peak_mib()}


def _spawn(script: str, case: str, args: argparse.Namespace, steps: int | None) -> dict:
    cmd = [sys.executable, script, "--case", case, "--preset", args.preset, "--worlds", str(args.worlds)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_bench(label: str, model_case, *, script: str, doc: str, default_out: str, quick_steps: int,
              step_note: str = "") -> None:
    """The command line of a neural-generator bench: one subprocess per case (the model, then the GARCH-FHS
    and bootstrap peers), a printed summary with the ratios, and the rows written atomically as JSON.

    `model_case(preset, steps, worlds) -> dict` measures the model; `script` is the calling file (re-run
    with ``--case`` for each subprocess).
    """
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--case", default=None, help="run one case in this process and print its JSON")
    p.add_argument("--preset", default="default")
    p.add_argument("--worlds", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=None, help="override the preset's maximum training steps")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=default_out)
    args = p.parse_args()
    model = label.lower()
    if args.case:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = model_case(args.preset, args.steps, args.worlds) if args.case == model else \
                _peer_case(args.case, args.worlds)
            print(json.dumps(row))
        return
    steps = quick_steps if args.quick else args.steps
    if args.quick:
        args.worlds = 2000
    rows = [_spawn(script, c, args, steps) for c in (model, "garch-fhs", "bootstrap")]
    m, garch, boot = rows
    print(f"{label} ({args.preset}), load average {m['load_before']:.1f} -> {m['load_after']:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"  training: {m['steps_per_s_scan']:.2f} steps/s scanned{step_note} "
          f"({m['steps_per_s_scan'] / m['steps_per_s_per_step']:.2f}x one call per step: "
          f"{m['steps_per_s_per_step']:.2f}); compile {m['compile_scan_s']:.1f} s")
    print(f"  fit to the stopping point: {m['fit_s']:.1f} s, {m['stop_reason']} at step {m['stop_step']} "
          f"(best {m['best_step']}, validation score {m['best_val']:.4f})")
    for row in rows:
        print(f"  sample {row['case']:>11}: {row['worlds']} worlds x {HORIZON} days x {ASSETS} assets in "
              f"{row['sample_s']:.2f} s = {row['world_days_per_s'] / 1e6:.3f} M world-days/s "
              f"(first call {row['first_call_s']:.1f} s; peak RSS {row['peak_mib']:.0f} MiB)")
    print(f"  {label} sampling / GARCH-FHS: {m['worlds_per_s'] / garch['worlds_per_s']:.3f}x; "
          f"/ bootstrap: {m['worlds_per_s'] / boot['worlds_per_s']:.3f}x")
    print(f"  diversity ratio (worlds vs real 252-day windows): {m['diversity_ratio']:.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"rows": rows}, fh, indent=1)
    os.replace(tmp, args.out)


def main() -> None:
    run_bench("VAE", _vae_case, script=__file__, doc=__doc__, default_out="bench/out/neural.json", quick_steps=300)


if __name__ == "__main__":
    main()

"""GAN generator: training steps/s, time to the default stopping point, sampling throughput, diversity.

    python bench/bench_gan.py                 # default config, 10,000 worlds x 252 days x 20 assets
    python bench/bench_gan.py --quick         # 2,000 worlds, 100 training steps: a smoke check
    python bench/bench_gan.py --preset gpu    # the larger preset (on a GPU)

Every case runs in a fresh subprocess so that its peak RSS (ru_maxrss, imports included) is its own.
Peers measured in the same run: training steps scanned inside one jitted call (the shared loop) against
one jitted call per step; sampling against the GARCH (FHS) and bootstrap samplers on the same worlds
(`bench_neural.measure_*`, shared with the VAE bench). Timings exclude compilation, reported separately.
The machine's load average is printed with the figures: on a shared 2-core machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

from bench_neural import ASSETS, HORIZON, _load, _peak_mib, _peer_case, measure_sampling, measure_training


def _gan_case(preset: str, steps: int | None, worlds: int) -> dict:
    import dataclasses

    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from stressgen import data, rng
    from stressgen.generators import gan as G
    from stressgen.generators import _tails
    from stressgen.generators._gan_nn import Critic
    from stressgen.metrics.diversity import diversity

    market = data.load("sp500-20")
    config = G.GanConfig.preset(preset)
    if steps is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, progress=False))
    load0 = _load()
    # steady-state training speed on the fit's own step function (random initial networks)
    r = market.log_returns
    n = market.n_assets
    g_def, g_state = G._build_generator(config, n, rng.root(1))
    c_def, c_state = nnx.split(Critic(n, config.width, config.levels, rngs=nnx.Rngs(params=rng.root(2))))
    opt = G._optimizer(config.train)
    nets = G._Nets(g_def, c_def, opt, opt, config, G._noise_dim(config, n))
    u = _tails.forward(_tails.fit(r), jnp.asarray(r, jnp.float32))
    carry = {"g": g_state, "c": c_state, "og": opt.init(g_state), "oc": opt.init(c_state), "data": u}
    train = measure_training(G._Step(nets), carry, steps_per_call=config.train.steps_per_call, calls=3)
    # the whole default fit: time to the stopping point (tail fit, compilation and validation included)
    gen = G.Gan()
    t0 = time.perf_counter()
    fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
    fit_s = time.perf_counter() - t0
    h = fitted.history
    sampling = measure_sampling(gen, fitted, n_worlds=worlds, chunk=min(config.sample_block, 2048))
    x = np.asarray(gen.sample(fitted, key=rng.root(2), n_worlds=500, horizon=HORIZON).log_returns)
    div = diversity(x, r)
    return {"case": f"gan-{preset}", **train, "fit_s": fit_s, "stop_step": int(h.step[-1]) if h.step.size else 0,
            "best_step": h.best_step, "stop_reason": h.stop_reason, "best_val": h.best_score,
            "val_scores": h.val_score.tolist(), **sampling, "diversity_ratio": div.ratio,
            "load_before": load0, "load_after": _load(), "peak_mib": _peak_mib()}


def run_case(case: str, preset: str, steps: int | None, worlds: int) -> dict:
    if case == "gan":
        return _gan_case(preset, steps, worlds)
    return _peer_case(case, worlds)


def _spawn(case: str, args: argparse.Namespace, steps: int | None) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--preset", args.preset, "--worlds", str(args.worlds)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default=None, help="run one case in this process and print its JSON")
    p.add_argument("--preset", default="default")
    p.add_argument("--worlds", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=None, help="override the preset's maximum training steps")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="bench/out/gan.json")
    args = p.parse_args()
    if args.case:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(json.dumps(run_case(args.case, args.preset, args.steps, args.worlds)))
        return
    steps = 100 if args.quick else args.steps
    if args.quick:
        args.worlds = 2000
    rows = [_spawn(c, args, steps) for c in ("gan", "garch-fhs", "bootstrap")]
    gan, garch, boot = rows
    print(f"GAN ({args.preset}), load average {gan['load_before']:.1f} -> {gan['load_after']:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"  training: {gan['steps_per_s_scan']:.2f} steps/s scanned (1 step = n_critic critic + 1 generator "
          f"update; {gan['steps_per_s_scan'] / gan['steps_per_s_per_step']:.2f}x one call per step: "
          f"{gan['steps_per_s_per_step']:.2f}); compile {gan['compile_scan_s']:.1f} s")
    print(f"  fit to the stopping point: {gan['fit_s']:.1f} s, {gan['stop_reason']} at step {gan['stop_step']} "
          f"(best {gan['best_step']}, validation score {gan['best_val']:.4f})")
    for row in rows:
        print(f"  sample {row['case']:>11}: {row['worlds']} worlds x {HORIZON} days x {ASSETS} assets in "
              f"{row['sample_s']:.2f} s = {row['world_days_per_s'] / 1e6:.3f} M world-days/s "
              f"(first call {row['first_call_s']:.1f} s; peak RSS {row['peak_mib']:.0f} MiB)")
    print(f"  GAN sampling / GARCH-FHS: {gan['worlds_per_s'] / garch['worlds_per_s']:.3f}x; "
          f"/ bootstrap: {gan['worlds_per_s'] / boot['worlds_per_s']:.3f}x")
    print(f"  diversity ratio (worlds vs real 252-day windows): {gan['diversity_ratio']:.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"rows": rows}, fh, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()

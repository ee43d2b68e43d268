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

import time

from bench_neural import HORIZON, _load, _peak_mib, bench_config, measure_sampling, measure_training, run_bench


def _gan_case(preset: str, steps: int | None, worlds: int) -> dict:
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from stressgen import data, rng
    from stressgen.generators import gan as G
    from stressgen.generators import _gan_train, _tails
    from stressgen.generators._gan_nn import Critic
    from stressgen.metrics.diversity import diversity

    market = data.load("sp500-20")
    config = bench_config(G.GanConfig, preset, steps)
    load0 = _load()
    # steady-state training speed on the fit's own step function (random initial networks)
    r = market.log_returns
    n = market.n_assets
    g_def, g_state = G._build_generator(config, n, rng.root(1))
    c_def, c_state = nnx.split(Critic(n, config.width, config.levels, rngs=nnx.Rngs(params=rng.root(2))))
    opt = _gan_train.optimizer(config.train)
    nets = _gan_train.Nets(g_def, c_def, opt, config, G._noise_dim(config, n))
    u = _tails.forward(_tails.fit(r), jnp.asarray(r, jnp.float32))
    carry = {"g": g_state, "c": c_state, "og": opt.init(g_state), "oc": opt.init(c_state), "data": u}
    train = measure_training(_gan_train.Step(nets), carry, steps_per_call=config.train.steps_per_call, calls=3)
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


def main() -> None:
    run_bench("GAN", _gan_case, script=__file__, doc=__doc__, default_out="bench/out/gan.json", quick_steps=100,
              step_note=" (1 step = n_critic critic + 1 generator update)")


if __name__ == "__main__":
    main()

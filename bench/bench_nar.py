"""Neural autoregressive generator ("nar"): training speed, time to the default stopping point, sampling
throughput and the stylised facts of its worlds beside GARCH's and the bootstrap's.

    python bench/bench_nar.py                 # default preset, 10,000 worlds x 252 days x 20 assets
    python bench/bench_nar.py --quick         # 2,000 worlds, 100 training steps: a smoke check
    python bench/bench_nar.py --preset gpu    # the larger preset (on a GPU)

Every case runs in a fresh subprocess so that its peak RSS is its own, and the peers are measured in the same
run (`bench_neural.run_bench`: training steps scanned in one jitted call against one call per step; sampling
against the GARCH-FHS and bootstrap samplers). The stylised facts are computed on 1,000 worlds x 252 days of
each generator's defaults (fitted on the whole sp500-20 history) and on the real history's 252-day windows
starting every 21 days, each per window then averaged: the ACF of |r| at lag 1 and the leverage correlation
corr(r_t, |r_t+1|) (means over assets), the share of worlds (windows) with a daily |log r| > 0.5 and the
mean pairwise correlation of daily returns. Measure training time on the 2-core CI machine with `nice`; the
default preset's budget is 5 minutes there.
"""

from __future__ import annotations

import json
import time
from functools import partial

import numpy as np
from bench_neural import HORIZON, _load, _peak_mib, bench_config, measure_sampling, measure_training, run_bench

FACT_WORLDS = 1000
FACTS = (("acf_abs_lag1", "ACF |r| lag 1"), ("leverage", "leverage corr(r_t, |r_t+1|)"),
         ("big_day_share", "share with a daily |log r| > 0.5"), ("pairwise_corr", "mean pairwise correlation"))


def _lag1(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of a[t] with b[t+1] along the days axis (-2), per window and asset, then averaged."""
    x, y = a[..., :-1, :], b[..., 1:, :]
    x = x - x.mean(axis=-2, keepdims=True)
    y = y - y.mean(axis=-2, keepdims=True)
    return float(np.nanmean((x * y).sum(axis=-2) / np.sqrt((x * x).sum(axis=-2) * (y * y).sum(axis=-2))))


def _pairwise(r: np.ndarray) -> float:
    """Mean off-diagonal correlation of each window ``[days, A]``, averaged (NaN for one asset)."""
    if r.shape[-1] < 2:
        return float("nan")
    out = [np.corrcoef(w, rowvar=False)[~np.eye(r.shape[-1], dtype=bool)].mean() for w in r]
    return float(np.mean(out))


def stylised_facts(r: np.ndarray) -> dict:
    """The `FACTS` of windows ``r [windows, days, assets]`` (log returns)."""
    return {"acf_abs_lag1": _lag1(np.abs(r), np.abs(r)), "leverage": _lag1(r, np.abs(r)),
            "big_day_share": float((np.abs(r) > 0.5).any(axis=(-2, -1)).mean()), "pairwise_corr": _pairwise(r)}


def _facts_of(name: str, market, fitted=None) -> dict:
    from stressgen import generators, rng

    gen = generators.get(name)
    if fitted is None:
        fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT))
    y = gen.sample(fitted, key=rng.stream(rng.root(0), rng.SAMPLE), n_worlds=FACT_WORLDS, horizon=HORIZON)
    return stylised_facts(np.asarray(y.log_returns, np.float64))


def family_case(name: str, preset: str, steps: int | None, worlds: int, peers: tuple[str, ...]) -> dict:
    """The bench of an autoregressive family (`nar`, `flow`): training speed, the fit, sampling, diversity
    and the stylised facts of its worlds beside the `peers`' defaults and the history's."""
    import jax.numpy as jnp
    from flax import nnx

    from stressgen import data, generators, rng
    from stressgen.generators import _autoreg as AR
    from stressgen.generators._neural import fit_scale, optimizer, split_history
    from stressgen.metrics.diversity import diversity

    market = data.load("sp500-20")
    gen = generators.get(name)
    config = bench_config(gen.config_type, preset, steps)
    load0 = _load()
    # steady-state training speed on the fit's own step function (a random initial network)
    r = market.log_returns
    cut, train_starts, _ = split_history(market, window=config.window, lead=config.warmup,
                                         val_fraction=config.val_fraction, what=name, lead_name="warmup")
    prepared = AR.prepare(r, fit_scale(market, cut), config)
    graphdef, state = nnx.split(gen.build_net(config, market.n_assets, rng.root(1)))
    opt = optimizer(config.train)
    carry = (state, opt.init(state), prepared, jnp.asarray(train_starts))
    train = measure_training(AR.train_step(graphdef, opt, config), carry, steps_per_call=config.train.steps_per_call,
                             calls=3)
    # the whole fit: time to the stopping point (compilation and validation included)
    t0 = time.perf_counter()
    fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
    fit_s = time.perf_counter() - t0
    h = fitted.history
    sampling = measure_sampling(gen, fitted, n_worlds=worlds, chunk=min(config.sample_block * 16, 2048))
    x = np.asarray(gen.sample(fitted, key=rng.root(2), n_worlds=500, horizon=HORIZON).log_returns)
    real = r.astype(np.float64)
    windows = np.stack([real[i:i + HORIZON] for i in range(0, real.shape[0] - HORIZON + 1, 21)])
    facts = {"real": stylised_facts(windows), name: _facts_of(name, market, fitted),
             **{peer: _facts_of(peer, market) for peer in peers}}
    return {"case": f"{name}-{preset}", **train, "fit_s": fit_s, "stop_step": int(h.step[-1]) if h.step.size else 0,
            "best_step": h.best_step, "stop_reason": h.stop_reason, "best_val": h.best_score, "nu": fitted.nu,
            **sampling, "diversity_ratio": diversity(x, r).ratio, "facts": facts, "load_before": load0,
            "load_after": _load(), "peak_mib": _peak_mib()}


def print_facts(out: str, names: tuple[str, ...]) -> None:
    """The stylised-facts table of a bench's JSON rows (`names`: the columns, "real" last)."""
    with open(out) as fh:
        facts = json.load(fh)["rows"][0]["facts"]
    print(f"  stylised facts, {FACT_WORLDS} worlds x {HORIZON} days (real: the history's windows every 21 days)")
    print(f"  {'':<34}" + "".join(f"{n:>11}" for n in names))
    for key, label in FACTS:
        print(f"  {label:<34}" + "".join(f"{facts[n][key]:>11.4f}" for n in names))


def main() -> None:
    import sys

    out = "bench/out/nar.json"
    run_bench("NAR", partial(family_case, "nar", peers=("garch", "bootstrap")), script=__file__, doc=__doc__,
              default_out=out, quick_steps=100)
    if "--case" in sys.argv:
        return
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    print_facts(out, ("nar", "garch", "bootstrap", "real"))


if __name__ == "__main__":
    main()

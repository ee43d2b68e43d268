"""Plausibility of default-GAN worlds on sp500-20 (1990..2003-12-31 and full), the measurement behind docs/fidelity.md, "The GAN's tails".

    nice .venv/bin/python bench/gan_tails_check.py --cut 2003 --tag after [--worlds 2000] [--load]
        [--no-calibration]

Fits the default GanConfig with the bench's keys (fit: rng.stream(root(0), FIT); sample: rng.stream(root(0),
SAMPLE)), saves the model to bench/out/gan_models/<cut>-<tag> (--load reuses it), draws worlds x 252 days and
prints every plausibility statistic with its bound, the share of worlds with |log r| > 1, the deepest
equal-weight day against history's, the fit's warnings and the tail parameters.
"""
import argparse, time, warnings
import numpy as np
from stressgen import data, generators, persist, rng
from stressgen.generators import _tails
from stressgen.metrics import plausibility

p = argparse.ArgumentParser()
p.add_argument("--cut", choices=["2003", "full"], required=True)
p.add_argument("--tag", default="run")
p.add_argument("--worlds", type=int, default=2000)
p.add_argument("--horizon", type=int, default=252)
p.add_argument("--load", action="store_true")
p.add_argument("--no-calibration", action="store_true",
               help="ablation: sample the loaded model with the identity as the generator's output law (cap only)")
a = p.parse_args()
market = data.load("sp500-20", end="2003-12-31") if a.cut == "2003" else data.load("sp500-20")
real = market.log_returns
root = rng.root(0)
path = f"bench/out/gan_models/{a.cut}-{a.tag}"
gen = generators.get("gan")
t0 = time.perf_counter()
if a.load:
    gen, fitted = persist.load_model(path)
else:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = gen.fit(market, key=rng.stream(root, rng.FIT))
    for w in caught:
        print(f"WARNING {w.category.__name__}: {w.message}")
    persist.save_model(path, gen, fitted)
if a.no_calibration:
    import jax.numpy as jnp
    n = market.n_assets
    ident = _tails.TailTransform(jnp.zeros(n), jnp.ones(n), jnp.zeros(n), jnp.zeros(n))
    fitted = fitted.replace(output_tails=ident)
    a.tag += " (no calibration: tail cap only)"
t1 = time.perf_counter()
h = fitted.history
if h is not None:
    print(f"fit {t1 - t0:.0f}s, stop {h.stop_reason} at step {int(h.step[-1])}, best step {h.best_step}")
tl = fitted.tails.as_dict()
print("delta_left ", " ".join(f"{x}:{v:.3f}" for x, v in zip(market.assets, tl["delta_left"])))
print("delta_right", " ".join(f"{x}:{v:.3f}" for x, v in zip(market.assets, tl["delta_right"])))
out = getattr(fitted, "output_tails", None)
if out is not None:  # the generator's own output law (after the fix)
    for k, v in out.as_dict().items():
        print(f"generator-output {k}", " ".join(f"{x}:{float(s):.3f}" for x, s in zip(market.assets, v)))
state = plausibility.init(real, market.assets, a.horizon, market.periods_per_year, n_worlds=a.worlds)
worst_ew, n_gt1, max_abs, max_at = 0.0, 0, 0.0, ""
for chunk in generators.iter_chunks(gen, fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=a.worlds,
                                    horizon=a.horizon, chunk_size=1000):
    y = np.asarray(chunk.log_returns)
    state = plausibility.update(state, y, chunk.provenance.first_world)
    with np.errstate(all="ignore"):
        worst_ew = min(worst_ew, float(np.nanmin(np.expm1(y.astype(np.float64)).mean(axis=2))))
        ay = np.abs(y)
        n_gt1 += int((np.nan_to_num(ay, nan=np.inf) > 1).any(axis=(1, 2)).sum())
        j = np.unravel_index(np.nanargmax(ay), ay.shape)
        if ay[j] > max_abs:
            max_abs, max_at = float(ay[j]), market.assets[j[2]]
t2 = time.perf_counter()
rep = plausibility.finalize(state)
ew_real = np.expm1(real).mean(axis=1)
by = {}
for c in rep.checks:
    by.setdefault(c.check, []).append(c)
print(f"== {a.cut} {a.tag}: {market.n_obs} days x {market.n_assets} assets; {a.worlds} worlds x {a.horizon} days; "
      f"sampling {t2 - t1:.0f}s")
print(f"non_finite: {by['non_finite'][0].value:g}")
b = by["big_moves"][0]
print(f"big_moves (|log r|>0.5): {100 * b.value:.2f}% of worlds, bound {100 * b.bound:.2f}% (1.5 x real) "
      f"passed={b.passed}; most often {b.asset}")
print(f"worlds with |log r| > 1: {100 * n_gt1 / a.worlds:.2f}%; largest |log r| {max_abs:.3g} ({max_at})")
hill = min(by["hill_index"], key=lambda c: c.value - c.bound)
print(f"hill: smallest margin {hill.value - hill.bound:+.2f} ({hill.asset}: {hill.value:.2f} vs {hill.bound:.2f}); "
      f"failed: {[c.asset for c in by['hill_index'] if not c.passed]}")
vol = max(by["volatility"], key=lambda c: c.value / c.bound)
print(f"vol q99.9 / highest real: max {vol.value / vol.bound * 2.5:.2f}x ({vol.asset}), bound 2.5x; "
      f"failed: {[c.asset for c in by['volatility'] if not c.passed]}")
e = by["ew_return"][0]
print(f"ew_return q99.9: {100 * e.value:+.0f}%, bound {100 * e.bound:+.0f}% passed={e.passed}")
print(f"deepest EW day: {100 * worst_ew:.1f}% (history's worst {100 * ew_real.min():.1f}%, "
      f"1-in-1000 {100 * np.quantile(ew_real, 0.001):.1f}%)")
print(rep.summary_line(8))

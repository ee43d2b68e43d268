"""Where a generator's strategy error (the scorecard's `strategy_re`) comes from, on the scorecard's split.

    nice .venv/bin/python bench/strategy_error_check.py [--data sp500-20 | sp500-index | wti]
        [--generators bootstrap vae vae:level=fixed flow garch ...] [--strategies zscore_reversion ...]
        [--worlds 500]

Every generator is fitted (default config; ``name:field=value`` sets a config field) on the fit years of
bench/fidelity_table.py's split, with the keys of the scorecard's first replicate, and draws `--worlds`
worlds over the held-out days, which start after the same 504 real warm-up days. For each strategy it
prints the 20-day P&L's 1% VaR, 1% ES, 5% ES and SD (losses positive), and the scorecard's relative
VaR/ES error (`strategy_tails.pnl_error`), for the held-out history and for each generator's worlds.

Two properties of the worlds follow, because they move a buy-the-dip rule's losses:
- the mean pairwise correlation, the equal-weight portfolio's daily SD and the assets' mean yearly
  volatility;
- the rebound after a dip: after a day in an asset's 5% left tail, the sum of the next five days, in units
  of that asset's SD in that world (standardised per world and asset, so that the level drops out). Printed
  are its mean and SD, for the fit years, for the held-out years and for the worlds.

These are one replicate's figures. The scorecard's three-replicate means are in
bench/out/fidelity/<data>/fidelity.json, key ``strategies``.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from dependence_check import generator_spec  # bench/ is on the path of a script run from it
from fidelity_table import END, SPLIT, START
from stressgen import data, rng
from stressgen.engine import BacktestConfig, backtest
from stressgen.metrics.fidelity import strategy_tails as st
from stressgen.metrics.fidelity.marginal import var_es
from stressgen.metrics.stylized import mean_pairwise_correlation

H = 20  # the scorecard's P&L horizon (`ScoreConfig.pnl_horizon`)
WARMUP = 504  # the scorecard's warm-up days (`EvaluateConfig.warmup`)


def pnl_tails(pnl: np.ndarray) -> tuple[float, float, float, float]:
    """(1% VaR, 1% ES, 5% ES, SD) of the pooled 20-day P&L of ``pnl[worlds, time]``, losses positive."""
    p = st.window_pnl(pnl, H)[:, None]
    (v1,), (e1,) = var_es(p, 0.01)
    _, (e5,) = var_es(p, 0.05)
    return float(v1), float(e1), float(e5), float(p.std())


def rebound(y: np.ndarray) -> tuple[float, float]:
    """(mean, SD) over dips of the next five days' sum, per world and asset standardised ``y[worlds, time,
    assets]``; a dip is a day below the pooled 5% quantile."""
    z = (y - y.mean(axis=1, keepdims=True)) / y.std(axis=1, keepdims=True)
    dip = z[:, :-5] < np.quantile(z, 0.05)
    ahead = sum(z[:, 1 + j:z.shape[1] - 4 + j] for j in range(5))
    return float(ahead[dip].mean()), float(ahead[dip].std())


def co_movement(y: np.ndarray) -> tuple[float, float, float]:
    """(mean pairwise correlation over up to 50 worlds, equal-weight daily SD, assets' mean yearly vol)."""
    corr = float(np.mean([mean_pairwise_correlation(w) for w in y[:50]])) if y.shape[2] > 1 else float("nan")
    ew = np.log(np.exp(y).mean(axis=2))
    return corr, float(ew.std()), float(y.std(axis=1).mean() * np.sqrt(252))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sp500-20")
    ap.add_argument("--generators", nargs="*", default=["bootstrap", "vae", "vae:level=fixed", "flow", "garch"])
    ap.add_argument("--strategies", nargs="*", default=["zscore_reversion", "equal_weight"])
    ap.add_argument("--worlds", type=int, default=500)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    market = data.load(args.data, start=START, end=END)
    train, _ = data.split(market, at=SPLIT)
    r = market.log_returns
    r_train, r_test = r[:train.n_obs - 1], r[train.n_obs - 1:]
    real = st.real_scenarios(r_test, r_train[-WARMUP:], market.assets, market.freq)
    strategies = {name: st.resolve_strategy(name) for name in args.strategies}
    real_pnl = {name: np.asarray(backtest(s, real, BacktestConfig()).pnl) for name, s in strategies.items()}
    key = jax.random.fold_in(rng.root(0), 0)  # the scorecard's first replicate (`studies.evaluate`)

    print(f"{args.data}: fit {train.dates[0].date()}..{train.dates[-1].date()} ({r_train.shape[0]} returns), "
          f"held out {r_test.shape[0]} returns; {args.worlds} worlds; 20-day P&L, losses positive")
    print(f"{'':24s} {'strategy':18s} {'VaR 1%':>7s} {'ES 1%':>7s} {'ES 5%':>7s} {'SD':>7s} {'error':>6s}")
    for name, pnl in real_pnl.items():
        print(f"{'held-out history':24s} {name:18s}" + "".join(f" {v:7.4f}" for v in pnl_tails(pnl)))
    # the worlds' properties are kept, not the worlds: one generator's worlds are in memory at a time
    rows = {"fit years": co_movement(r_train[None]) + rebound(r_train[None]),
            "held-out years": co_movement(r_test[None]) + rebound(r_test[None])}
    for spec in args.generators:
        gen, config = generator_spec(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit diagnostics are each family's own tests' business
            fitted = gen.fit(train, key=rng.stream(key, rng.FIT), config=config)
        y = np.asarray(gen.sample(fitted, key=rng.stream(key, rng.SAMPLE), n_worlds=args.worlds,
                                  horizon=r_test.shape[0]).log_returns, np.float64)
        worlds = real.replace(log_returns=jnp.asarray(y, jnp.float32))
        for name, strategy in strategies.items():
            pnl = np.asarray(backtest(strategy, worlds, BacktestConfig()).pnl)
            error = st.pnl_error(real_pnl[name][0], pnl, H)
            print(f"{spec:24s} {name:18s}" + "".join(f" {v:7.4f}" for v in pnl_tails(pnl)) + f" {error:6.3f}")
        rows[spec] = co_movement(y) + rebound(y)
    print(f"\n{'':24s} {'corr':>6s} {'EW SD':>7s} {'vol':>6s} {'rebound':>8s} {'its SD':>7s}")
    for label, (corr, ew_sd, vol, mean, sd) in rows.items():
        print(f"{label:24s} {corr:6.3f} {ew_sd:7.4f} {vol:6.3f} {mean:+8.3f} {sd:7.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{time.perf_counter() - t0:.1f} s, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()

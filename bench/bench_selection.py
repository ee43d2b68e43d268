"""Strategy selection across worlds at a realistic size (issue 18, point 3), on two generators.

    python bench/bench_selection.py                 # 8 stocks 2005-2022, 1,000 worlds per generator
    python bench/bench_selection.py --worlds 200    # a quicker look

Candidates: 12 honest strategies (the built-ins, a few parameter sets) and 7 fabricated ones
(tests/studies/fabricated.py): four date-keyed oracles that know the next day's best asset on 12-21% of the
real closes, two return-sign pattern lookups mined on the whole real sample (1 and 2 days of signs), and the
MA crossover whose (fast, slow) is the best of a 5 x 5 grid on the whole real sample. For each generator
(`bootstrap`, default configuration: state-matched blocks; `garch`, default GJR-GARCH-t with filtered
historical simulation), worlds as long as the real history after the generator's warm-up are drawn, every
candidate is backtested on them and on the real history (5 bps fee + 2 bps slippage), and the script prints
how many fabricated strategies each method keeps in its top k (real-history Sharpe ratio, deflated Sharpe
ratio with N = 19 trials, median Sharpe ratio across worlds), each candidate's numbers, and the overfitting
statistics of the MA grid itself (`stressgen.metrics.grid_overfit`). Figures: docs/overfitting.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "studies"))

import strategies as builtin  # noqa: E402
from fabricated import close_dates, date_oracle, pattern_memo  # noqa: E402

import stressgen as sg  # noqa: E402
from stressgen import data, devices, engine, generators, rng  # noqa: E402
from stressgen.metrics import grid_overfit  # noqa: E402
from stressgen.metrics.overfit import per_period_sharpe  # noqa: E402
from stressgen.studies import edge_removed, real_scenarios, select  # noqa: E402

ASSETS = ["AAPL", "MSFT", "JPM", "XOM", "JNJ", "PG", "WMT", "KO"]
COSTS = engine.BacktestConfig(fee_bps=5, slippage_bps=2)
FAST, SLOW = [5, 10, 20, 30, 50], [60, 100, 150, 200, 250]  # itertools.product order: set p = (p // 5, p % 5)


def honest() -> dict:
    b = builtin
    return {"equal_weight_21": b.EqualWeight(), "equal_weight_1": b.EqualWeight(every=1),
            "inverse_vol": b.InverseVolatility(), "min_variance": b.MinimumVariance(),
            "buy_and_hold": b.BuyAndHold(), "ma_10_50": b.MACrossover(), "ma_20_100": b.MACrossover(fast=20, slow=100),
            "ma_50_200": b.MACrossover(fast=50, slow=200), "ts_momentum_252": b.TimeSeriesMomentum(),
            "ts_momentum_126": b.TimeSeriesMomentum(lookback=126), "cs_momentum": b.CrossSectionalMomentum(),
            "zscore": b.ZScoreReversion()}


def ma_grid_real(market, like) -> tuple[np.ndarray, list[str]]:
    """``[T, 25]`` daily returns of the MA grid on the real history (one world), and the sets' names."""
    grid = sg.grid(builtin.MACrossover(), fast=FAST, slow=SLOW)
    real = real_scenarios(market, like)
    one = real.replace(log_returns=real.log_returns[:1])
    pnl = np.asarray(engine.backtest(grid, one, COSTS).pnl, np.float64)[:, 0]  # [25, T]
    return pnl.T, [f"ma_{f}_{s}" for f in FAST for s in SLOW]


def run(name: str, market, n_worlds: int, k: int) -> None:
    t0 = time.perf_counter()
    root = rng.root(2026)
    gen = generators.get(name)
    fitted = gen.fit(market, key=rng.stream(root, rng.FIT))
    warm = int(fitted.context.history.shape[0])
    horizon = market.log_returns.shape[0] - warm
    worlds = gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=n_worlds, horizon=horizon)
    real = real_scenarios(market, worlds)
    r = np.asarray(market.log_returns)
    traded = r[warm:warm + horizon]
    dates = close_dates(real.history_end, real.freq, horizon)
    grid_r, grid_names = ma_grid_real(market, worlds)
    picked = int(np.argmax(per_period_sharpe(grid_r)))
    f, s = FAST[picked // len(SLOW)], SLOW[picked % len(SLOW)]
    fakes = {f"date_oracle_{x:.2f}": date_oracle(traded, dates, x, seed=i)
             for i, x in enumerate((0.12, 0.15, 0.18, 0.21))}
    fakes |= {f"pattern_memo_{lags}": pattern_memo(traded, lags, history=r[:warm]) for lags in (1, 2)}
    fakes[f"ma_picked_{f}_{s}"] = builtin.MACrossover(fast=f, slow=s)
    candidates = {**honest(), **fakes}
    null = edge_removed(worlds)
    sel = select(candidates, real, worlds, COSTS, null_worlds=null)
    seconds_select = time.perf_counter() - t0

    print(f"\n## {name}: {n_worlds:,} worlds x {horizon:,} days x {len(ASSETS)} assets "
          f"(warm-up {warm} real days; real sample {market.dates[warm].date()} to {market.dates[-1].date()})")
    n = len(sel.names)
    for kk in sorted({5, k}):
        counts = {m: sel.count_in_top(fakes, m, kk) for m in ("real_sharpe", "dsr", "median_world_sharpe")}
        print(f"fabricated in the top {kk} of {n} ({len(fakes)} fabricated): " +
              ", ".join(f"{m} {c}" for m, c in counts.items()))
    ranks = {m: sel.ranking(m) for m in ("real_sharpe", "median_world_sharpe")}
    print("| candidate | fabricated | real Sharpe | rank | DSR | median Sharpe across worlds | rank | chance share |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for i in np.argsort(-sel.real_sharpe, kind="stable"):
        nm = sel.names[i]
        print(f"| {nm} | {'yes' if nm in fakes else ''} | {sel.real_sharpe[i]:.2f} | "
              f"{ranks['real_sharpe'].index(nm) + 1} | {sel.dsr[i]:.3f} | {sel.median_world_sharpe[i]:.2f} | "
              f"{ranks['median_world_sharpe'].index(nm) + 1} | {sel.chance[i]:.3f} |")

    # the MA grid's own overfitting statistics: the winner on the real history is the ma_picked candidate
    world_sr = np.asarray(sg.world_metrics(sg.grid(builtin.MACrossover(), fast=FAST, slow=SLOW), worlds,
                                           COSTS)["sharpe"])

    def null_sharpes(winner: int) -> np.ndarray:
        pnl = np.asarray(engine.backtest(builtin.MACrossover(fast=FAST[winner // len(SLOW)],
                                                             slow=SLOW[winner % len(SLOW)]), null, COSTS).pnl)
        return per_period_sharpe(pnl.astype(np.float64), axis=1)

    g = grid_overfit("ma_crossover", grid_r, world_sr, null_sharpes)
    a = np.sqrt(252)
    print(f"MA grid (25 sets): winner {grid_names[g.winner]}, real Sharpe {g.real_sharpe[g.winner] * a:.2f}, "
          f"DSR {g.dsr.dsr:.3f} (SR* {g.dsr.benchmark_sr * a:.2f}), PSR {g.psr.psr:.3f}, PBO {g.pbo.pbo:.3f} "
          f"(S = {g.pbo.n_splits}), P(below median) {g.rank.p_below_median:.3f} +- {g.rank.p_below_median_se:.3f}, "
          f"P(best) {g.rank.p_best:.3f}, median rank {g.rank.median_rank:g}, chance share {g.chance.share:.3f} "
          f"+- {g.chance.se:.3f} (median no-edge Sharpe {g.null_sharpe_median * a:.2f})")
    print(f"seconds: {time.perf_counter() - t0:.0f} (selection {seconds_select:.0f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=1000)
    ap.add_argument("--start", default="2005-01-01")
    ap.add_argument("--generators", nargs="+", default=["bootstrap", "garch"])
    args = ap.parse_args()
    devices.use_cpu_cores()
    market = data.load("sp500-20", start=args.start, assets=ASSETS)
    for name in args.generators:
        run(name, market, args.worlds, k=7)


if __name__ == "__main__":
    main()

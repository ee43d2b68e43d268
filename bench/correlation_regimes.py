"""Do the GARCH worlds' years differ as the history's do? Correlation and variance regimes, i.i.d. against
year-matched FHS rows (docs/fidelity.md, "The start state drives the spread").

    nice .venv/bin/python bench/correlation_regimes.py [--data sp500-20] [--worlds 2000]

Fitted on the whole data set from the unconditional start (every year of the history may be drawn), with
`fhs_matching` "none" (i.i.d. rows) and "year" (the default). For the history's one-year windows (a month
apart) and for the worlds' one-year paths it prints the 5 / 50 / 95% quantiles of the mean pairwise
correlation of the assets, the standard deviation of the log variance of the equal-weight portfolio, the
variance of the yearly level (mean over assets of log(realised variance / sample variance)) that
`_garch_level` matches, the correlation of a year's equal-weight log return with its log variance (wild years
lean down: the leverage effect at the scale of years), and the mean and spread of that return. It also prints
what the per-asset GARCH(1,1)s leave in their residuals across assets: the autocorrelation of the squared
equal-weight mean residual at lags 1-10 (standard error 1/sqrt(n)) and its Politis-White block length (arch's
`optimal_block_length`), the trace of a market-wide volatility component; and the one-year means of the
equal-weight residual, which year-matched rows keep: their variance against what i.i.d. rows give (var / k),
and their correlation with the year's level over all windows and over non-overlapping years.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from arch.bootstrap import optimal_block_length

from stressgen import data, generators, rng
from stressgen.generators import _levels as lv


def _mean_corr(x: np.ndarray) -> float:
    c = np.corrcoef(x.T)
    return float(c[np.triu_indices_from(c, 1)].mean())


def _summary(years: list[np.ndarray], variance: np.ndarray) -> str:
    if years[0].shape[1] > 1:
        corr = np.quantile([_mean_corr(y) for y in years], [0.05, 0.5, 0.95])
        corr_text = f"correlation {corr[0]:.2f} / {corr[1]:.2f} / {corr[2]:.2f}"
    else:
        corr_text = "correlation n/a (one asset)"
    ew_log = [np.log(np.expm1(y).mean(axis=1) + 1.0) for y in years]
    ew = np.array([np.log(np.var(r)) for r in ew_log])
    level = np.array([np.mean(np.log(np.var(y, axis=0) / variance)) for y in years])
    ret = np.array([r.sum() for r in ew_log])
    lean = np.corrcoef(ret, ew)[0, 1]
    return (f"{corr_text}   sd log EW variance {ew.std():.3f}   "
            f"var of yearly level {level.var():.3f}   corr(EW return, log EW variance) {lean:+.2f}   "
            f"EW log return mean {ret.mean():+.3f} sd {ret.std():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sp500-20")
    ap.add_argument("--worlds", type=int, default=2000)
    args = ap.parse_args()
    market = data.load(args.data)
    y = market.log_returns
    variance = np.var(y, axis=0)
    year = market.periods_per_year
    print(f"{args.data}: {market.n_obs} dates x {market.n_assets} assets; {args.worlds} worlds x {year} days")
    print(f"{'history':12s} {_summary([y[s:s + year] for s in lv.window_starts(len(y), year)], variance)}")
    gen = generators.get("garch")
    for matching in ("none", "year"):
        config = generators.GarchConfig(fhs_matching=matching, start="unconditional")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
        w = np.asarray(gen.sample(fitted, key=rng.stream(rng.root(0), rng.SAMPLE), n_worlds=args.worlds,
                                  horizon=year).log_returns, np.float64)
        print(f"{matching:12s} {_summary(list(w), variance)}")
    # the residuals are the same whatever the matching (it changes only which rows the worlds replay)
    x = np.asarray(fitted.resid, np.float64).mean(axis=1) ** 2
    x = x - x.mean()
    acf = [float(np.dot(x[:-j], x[j:]) / np.dot(x, x)) for j in range(1, 11)]
    block = float(optimal_block_length(x)["stationary"].iloc[0])
    print(f"squared mean residual: ACF lags 1-10 {np.round(acf, 3).tolist()} (SE {1 / np.sqrt(len(x)):.3f}); "
          f"Politis-White block length {block:.0f} days")
    ew = np.asarray(fitted.resid, np.float64).mean(axis=1)
    starts = lv.window_starts(len(ew), year)
    windows = ew[starts[:, None] + np.arange(year)]  # [windows, year] the EW residual of each one-year window
    drift = windows.mean(axis=1)  # each window's mean residual
    noise = float(np.var(windows, axis=1).mean()) / year
    level = lv.yearly_levels(100.0 * y, np.var(100.0 * y, axis=0), year, starts)
    step = int(starts[1] - starts[0]) if starts.size > 1 else year
    apart = np.arange(0, starts.size, -(-year // step))  # windows a whole year apart
    print(f"one-year mean of the EW residual: variance {np.var(drift) / noise:.2f}x i.i.d. noise; correlation with "
          f"the year's level {np.corrcoef(drift, level)[0, 1]:+.2f} over {starts.size} windows, "
          f"{np.corrcoef(drift[apart], level[apart])[0, 1]:+.2f} over {apart.size} non-overlapping years")


if __name__ == "__main__":
    main()

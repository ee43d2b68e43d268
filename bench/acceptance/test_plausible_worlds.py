"""Every registered family, and every GARCH innovation type, gives plausible worlds on the bundled 20 stocks.

The checks are `stressgen.metrics.plausibility`'s (the run's own gate): no non-finite value; the share of
worlds with a daily |log r| > 0.5 at most 1.5 x the real share of one-year windows with one; per asset a
Hill tail index (largest 1% of |r|) of at least 2 and at least the real one minus 1; the 99.9% quantile of a
world's annualised volatility at most 2.5 x the asset's highest real one-year volatility; the 99.9% quantile
of the one-year equal-weight return at most 1.5 x the best real one. Tolerances are the checks' own,
derived from standard errors (family-wise 99%). At 1,000 worlds the 99.9% quantiles are loosely bounded,
so the test also holds the worlds to history's worst days: crashes a stress test needs must still be there.
Neural families train their "tiny" preset here; docs/fidelity.md has the figures at 10,000 worlds. The last test
holds a tiny GAN to the same checks on a market with a stale-price asset (the tail floor's case). An acceptance
run (see conftest.py): thirteen fits, twelve of them on the full bundled history, about 155 s of a CPU core.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from stressgen import data, generators, rng
from stressgen.generators import GarchConfig
from stressgen.generators.gan import Gan, GanConfig, GanFitWarning
from stressgen.metrics import plausibility
from stressgen.types import MarketData

CASES = [(name, None) for name in sorted(generators.available()) if name != "garch"] + [
    ("garch", GarchConfig(innovations=kind)) for kind in ("fhs", "gaussian-copula", "t-copula")] + [
    ("garch", GarchConfig(fhs_matching=m)) for m in ("state", "none")]  # "fhs" above is the default, year-matched
# The VAE's tiny preset drew no such day while its innovations were independent across assets: its decoder
# carried none of the co-movement, and equal-weight days were a quarter as volatile as history's. Its
# correlated innovations (`_vae_copula`) hold it to the same bar as every other family.


@pytest.fixture(scope="module")
def market():
    return data.load("sp500-20")


def _case_id(name: str, config) -> str:
    if config is None:
        return name
    # FHS rows are matched ("year" by default, "none": i.i.d.); the copulas do not read the matching
    return f"{name}-{config.innovations}" + (f"-{config.fhs_matching}" if config.innovations == "fhs" else "")


@pytest.mark.parametrize("name,config", CASES, ids=[_case_id(n, c) for n, c in CASES])
def test_worlds_are_plausible(name, config, market):
    gen = generators.get(name)
    preset = getattr(gen.config_type, "preset", None)
    case = _case_id(name, config)
    config = config or (preset("tiny") if preset is not None else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit diagnostics are tested with each family
        fitted = gen.fit(market, key=rng.stream(rng.root(0), rng.FIT), config=config)
    worlds = np.asarray(gen.sample(fitted, key=rng.stream(rng.root(0), rng.SAMPLE), n_worlds=1000,
                                   horizon=252).log_returns)
    report = plausibility.check_worlds(worlds, market.log_returns, market.assets, periods_per_year=252)
    assert not report.failures, "\n".join(c.message for c in report.failures)
    # an equal-weight day as deep as history's 1-in-1000 day is still drawn in 252,000 world-days
    ew_real = np.expm1(market.log_returns).mean(axis=1)
    ew_syn = np.expm1(worlds.astype(np.float64)).mean(axis=2)
    assert ew_syn.min() < np.quantile(ew_real, 0.001), (case, ew_syn.min(), np.quantile(ew_real, 0.001))


# ------------------------------------------------------------- a GAN on a stale-price asset (its tail floor)

def _stale_market(n=1500, seed=0):
    """Two active stocks (Student t) and one with stale prices, as RRC's early 1990s: a third of the closes
    unchanged (zero returns), ordinary 2% moves otherwise, and on 1% of days a jump of 10% to 35%."""
    g = np.random.default_rng(seed)
    active = 0.01 * g.standard_t(5, size=(n, 2)) / np.sqrt(5 / 3)
    stale = np.where(g.random(n) < 0.35, 0.0, 0.02 * g.standard_normal(n))
    jumps = g.random(n) < 0.01
    stale[jumps] = g.choice([-1, 1], jumps.sum()) * g.uniform(0.1, 0.35, jumps.sum())
    y = np.column_stack([active, stale])
    prices = 50.0 * np.exp(np.vstack([np.zeros((1, 3)), np.cumsum(y, axis=0)]))
    return MarketData(prices=prices, dates=pd.bdate_range("2000-01-03", periods=n + 1), assets=("A", "B", "STALE"))


@pytest.fixture(scope="module")
def stale_fit():
    market = _stale_market()
    with pytest.warns(GanFitWarning, match=r"STALE \(left and right tail parameter capped at 0.25") as caught:
        fitted = Gan().fit(market, key=rng.root(0), config=GanConfig.preset("tiny"))
    return market, fitted, caught


def test_stale_prices_give_plausible_worlds(stale_fit):
    # Before the tail floor the stale asset's delta sat at the 0.45 cap: 2.1% of these worlds held a daily
    # |log r| > 1 and 8.7% one > 0.5 (history has none above 0.35), the largest was 9.1, and the volatility
    # and equal-weight return checks failed. Now its delta is capped at 0.25 (tail index 4).
    market, fitted, caught = stale_fit
    assert len([w for w in caught if issubclass(w.category, GanFitWarning)]) == 1  # one aggregated warning
    assert float(fitted.tails.delta_left[2]) == pytest.approx(0.25)
    assert float(fitted.tails.delta_right[2]) == pytest.approx(0.25)
    x = np.asarray(Gan().sample(fitted, key=rng.root(1), n_worlds=1000, horizon=252).log_returns)
    report = plausibility.check_worlds(x, market.log_returns, market.assets, periods_per_year=252)
    assert not report.failures, "\n".join(c.message for c in report.failures)
    assert (np.abs(x) > 0.5).any(axis=(1, 2)).mean() < 0.01
    # the tails are bounded, not cut: the stale asset still moves as far as its largest real jump
    assert np.abs(x[..., 2]).max() > np.abs(market.log_returns[:, 2]).max()

"""Every family continues from the state at the end of its history: a crisis start and a calm start give
visibly different spreads (here: the equal-weight volatility of the worlds' first month).

Ten stocks of sp500-20 cut at 2008-11-28 (realised equal-weight volatility of the last month about 70%) and at
2017-12-29 (about 7%). The test asks that the worlds' median first-month volatility after the crisis end is
at least twice that after the calm end, beyond sampling error (a one-sided z-test on the mean log
volatility, worlds independent). Each family is fitted once, on the crisis cut, and re-anchored to the calm
end (`reanchor`, as the calibration study moves a fit to a later origin): the parameters are the same, so
the difference is the start state's alone. The neural families train their "tiny" preset. The GAN is left to
tests/generators/test_gan.py, which gives a tiny GAN known ARCH-like weights: a GAN trained for seconds
learns no volatility dynamics to continue (its best step is often step 0, sigma = 1), so a calm and a
crisis start cannot differ there; trained with its default preset it gives 12% vs 27% (docs/fidelity.md).
An acceptance run (see conftest.py): seven fits on the ten stocks' history to 2008, about 75 s of a CPU core.
"""

import warnings

import numpy as np
import pytest

from stressgen import data, generators, rng

ENDS = {"crisis": "2008-11-28", "calm": "2017-12-29"}
# Per-family floors on the ratio where a family is known to fall short (none now). The regime mixture, whose
# calmest regime averages history's calm spells, measured 1.8x on all twenty stocks (docs/regime.md, "Limits")
# and passes 2x on these ten.
FACTOR = {}


# Ten of the twenty stocks, across sectors: the crisis and the calm spell are market-wide, and half the assets
# halve the fits (the VAE's and GARCH's were most of this module's time).
ASSETS = ["AAPL", "BAC", "CVX", "GE", "HD", "JNJ", "JPM", "KO", "MSFT", "WMT"]


@pytest.fixture(scope="module")
def market():
    return data.load("sp500-20", assets=ASSETS)


@pytest.mark.parametrize("name", sorted(set(generators.available()) - {"gan"}))
def test_crisis_start_spreads_wider_than_calm_start(name, market):
    gen = generators.get(name)
    preset = getattr(gen.config_type, "preset", None)
    config = preset("tiny") if preset is not None else None
    log_vol = {}
    key = rng.stream(rng.root(0), rng.FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crisis = gen.fit(data.select(market, end=ENDS["crisis"]), key=key, config=config)
        calm = gen.reanchor(crisis, data.select(market, end=ENDS["calm"]), key=key)
    assert calm is not None, f"{name} cannot be re-anchored"
    for label, fitted in {"crisis": crisis, "calm": calm}.items():
        y = np.asarray(gen.sample(fitted, key=rng.stream(rng.root(1), rng.SAMPLE), n_worlds=400,
                                  horizon=21).log_returns, np.float64)
        ew = np.expm1(y).mean(axis=2)
        log_vol[label] = np.log(ew.std(axis=1, ddof=1) * np.sqrt(252))
    diff = log_vol["crisis"].mean() - log_vol["calm"].mean()
    se = np.sqrt(log_vol["crisis"].var(ddof=1) / 400 + log_vol["calm"].var(ddof=1) / 400)
    factor = FACTOR.get(name, 2.0)
    assert diff - np.log(factor) > -3.0 * se, (name, np.exp(diff), se)
    assert np.median(log_vol["crisis"]) > np.median(log_vol["calm"]) + np.log(factor), name

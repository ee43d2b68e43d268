"""What a fitted normalizing flow learns that the neural autoregressive model cannot: a dependence between
assets that moves with the day (B follows A on A's down days only), in held-out log-likelihood and in the
flow's worlds.

An acceptance run (see conftest.py): both models train for up to 400 steps on 2,500 days of a known law.
"""

import warnings

import numpy as np
import pandas as pd

from stressgen import generators, rng
from stressgen.generators import _autoreg as ar
from stressgen.generators import _nar_nn as nn
from stressgen.generators._training import TrainConfig
from stressgen.generators.flow import FlowConfig
from stressgen.generators.nar import NarConfig
from stressgen.types import MarketData


def _asymmetric_market(n: int, seed: int) -> np.ndarray:
    """Three assets whose dependence a constant correlation cannot describe: B and C move with A (correlation
    0.85) on A's down days and are independent of it on its up days."""
    r = np.random.default_rng(seed)
    z = r.standard_t(8, size=(n, 3)) / np.sqrt(8 / 6)
    rho = np.where(z[:, 0] < 0, 0.85, 0.0)
    other = rho[:, None] * z[:, :1] + np.sqrt(1 - rho[:, None] ** 2) * z[:, 1:]
    return 0.01 * np.concatenate([z[:, :1], other], axis=1)


def test_the_flow_learns_a_dependence_that_moves_with_the_day_and_nar_cannot():
    x = _asymmetric_market(2500, 0)
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, 3)), np.cumsum(x, axis=0)]))
    market = MarketData(prices=prices, dates=pd.bdate_range("2000-01-03", periods=x.shape[0] + 1),
                        assets=("A", "B", "C"))
    tc = TrainConfig(steps=400, batch_size=32, learning_rate=3e-3, eval_every=20, steps_per_call=20, patience=4,
                     progress=False)
    common = dict(hidden=8, window=32, warmup=16, half_lives=(5, 21), sample_block=16, train=tc)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, config in (("nar", NarConfig(**common)), ("flow", FlowConfig(**common, couplings=2,
                                                                                 coupling_width=16))):
            fits[name] = generators.get(name).fit(market, key=rng.root(0), config=config)
    # held-out days of the same law: the flow's log-likelihood is higher, by many standard errors
    test = _asymmetric_market(3000, 1)
    nll = {}
    for name, f in fits.items():
        d = ar.prepare(test, np.asarray(f.scale, np.float64), f.config)
        nll[name] = np.asarray(nn.sequence_nll(f.net(), d.x[None], d.log_v[None], 0), np.float64)[:, 0]
    diff = nll["nar"] - nll["flow"]
    assert diff.mean() > 5.0 * diff.std() / np.sqrt(diff.size), (diff.mean(), diff.std())
    # and the flow's worlds show it: B follows A more on A's down days than on its up days
    y = np.asarray(generators.get("flow").sample(fits["flow"], key=rng.root(1), n_worlds=400, horizon=50)
                   .log_returns, np.float64).reshape(-1, 3)
    down, up = y[:, 0] < 0, y[:, 0] > 0
    c_down, c_up = np.corrcoef(y[down, 0], y[down, 1])[0, 1], np.corrcoef(y[up, 0], y[up, 1])[0, 1]
    se = 2.0 / np.sqrt(down.sum())  # generous: the correlation's standard error is below 1 / sqrt(n)
    assert c_down - c_up > 5.0 * se, (c_down, c_up)

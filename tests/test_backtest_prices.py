"""`stressgen.backtest_prices`: a strategy on a real price DataFrame, dated results, typed input errors."""

import numpy as np
import pandas as pd
import pytest

import stressgen as sg
import strategies
from stressgen.errors import (ConfigError, DateError, InsufficientHistoryError, MissingPriceError,
                              NonPositivePriceError)


def _prices(rows=40, seed=0):
    rng = np.random.default_rng(seed)  # test data only
    r = rng.normal(0.0004, 0.015, (rows - 1, 3))
    p = 50.0 * np.exp(np.vstack([np.zeros((1, 3)), np.cumsum(r, axis=0)]))
    return pd.DataFrame(p, index=pd.bdate_range("2023-03-01", periods=rows), columns=["AAA", "BBB", "CCC"])


def test_buy_and_hold_total_return_is_the_closed_form():
    prices = _prices()
    warmup = 10
    res = sg.backtest_prices(strategies.BuyAndHold(), prices, warmup=warmup)
    p = prices.to_numpy()
    # equal weights bought at the close prices.index[warmup], never traded: the mean growth of the assets
    want = np.mean(p[-1] / p[warmup]) - 1.0
    # float32 compounding over ~30 days: equity to a few ulps, so total return to ~1e-6 absolute
    np.testing.assert_allclose(res.summary["total_return"][0], want, atol=1e-6)
    frames = res.to_pandas()
    assert (frames.equity.index == prices.index[warmup + 1:]).all()
    curve = np.mean(p[warmup + 1:] / p[warmup], axis=1)
    np.testing.assert_allclose(frames.equity[0].to_numpy(), curve, rtol=5e-6)
    assert res.dates[0] == prices.index[warmup] and len(res.dates) == len(prices) - warmup


def test_warmup_is_the_history_and_the_rest_one_world():
    prices = _prices(rows=30)
    scen = sg.price_scenarios(prices, warmup=12)
    assert scen.n_worlds == 1 and scen.horizon == 30 - 1 - 12 and scen.history.shape == (12, 3)
    r = np.diff(np.log(prices.to_numpy()), axis=0)
    np.testing.assert_allclose(np.asarray(scen.history), r[:12], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(scen.log_returns[0]), r[12:], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(scen.anchor_prices), prices.to_numpy()[12], rtol=1e-6)
    assert scen.assets == ("AAA", "BBB", "CCC") and scen.history_end == prices.index[12].date().isoformat()


def test_vectorbt_portfolio_is_dated():
    pytest.importorskip("vectorbt")
    prices = _prices()
    strategy = strategies.EqualWeight(every=5)
    res = sg.backtest_prices(strategy, prices, sg.BacktestConfig(fee_bps=5), warmup=8)
    pf = sg.engine.to_vectorbt(res, sg.price_scenarios(prices, warmup=8), world=0, strategy=strategy)
    value = pf.value()
    assert (value.index == prices.index[8:]).all()
    # vectorbt's last bar (no order) is the engine's final equity, as in the undated parity test
    np.testing.assert_allclose(value.iloc[-1], float(res.equity[0, -1]), rtol=1e-5)
    np.testing.assert_allclose(pf.close.to_numpy(), prices.to_numpy()[8:], rtol=1e-5)
    # explicit dates win; a wrong count is refused
    closes = pd.date_range("2030-01-01", periods=len(prices) - 8)
    assert (sg.engine.to_vectorbt(res, sg.price_scenarios(prices, warmup=8), world=0, strategy=strategy,
                                  dates=closes).value().index == closes).all()
    with pytest.raises(ConfigError, match="closes"):
        sg.engine.to_vectorbt(res, sg.price_scenarios(prices, warmup=8), world=0, strategy=strategy,
                              dates=closes[1:])


def test_bad_price_frames_get_typed_errors():
    prices = _prices(rows=20)
    with pytest.raises(DateError, match="DatetimeIndex"):
        sg.backtest_prices(strategies.BuyAndHold(), prices.reset_index(drop=True))
    with pytest.raises(MissingPriceError, match="column 'BBB'.*data row 7"):
        sg.backtest_prices(strategies.BuyAndHold(), prices.mask(
            (prices.index == prices.index[6])[:, None] & (prices.columns == "BBB")[None, :]))
    bad = prices.copy()
    bad.iloc[4, 2] = -3.0
    with pytest.raises(NonPositivePriceError, match="column 'CCC'.*data row 5"):
        sg.backtest_prices(strategies.BuyAndHold(), bad)
    with pytest.raises(InsufficientHistoryError, match="warmup=19"):
        sg.backtest_prices(strategies.BuyAndHold(), prices, warmup=19)
    with pytest.raises(ConfigError, match="warmup"):
        sg.backtest_prices(strategies.BuyAndHold(), prices, warmup=-1)
    with pytest.raises(ConfigError, match="DataFrame"):
        sg.backtest_prices(strategies.BuyAndHold(), prices.to_numpy())

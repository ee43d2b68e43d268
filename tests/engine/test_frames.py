"""`BacktestResult.to_pandas()`: typed DataFrames that hold exactly the result's arrays."""

import numpy as np
import pandas as pd
import pytest

from stressgen import BacktestConfig, backtest, grid
from stressgen.engine import BacktestFrames

from enginekit import Constant, SoftMomentum, make_scenarios


@pytest.fixture(scope="module")
def scen():
    return make_scenarios(n_worlds=5, horizon=30, n_assets=3, n_hist=20, seed=1)


def test_frames_hold_the_arrays(scen):
    res = backtest(SoftMomentum(), scen, BacktestConfig(fee_bps=5))
    frames = res.to_pandas()
    assert isinstance(frames, BacktestFrames)
    s = frames.summary
    assert list(s.index) == list(range(scen.n_worlds)) and s.index.name == "world"
    assert list(s.columns) == list(res.summary)
    for k, v in res.summary.items():
        np.testing.assert_array_equal(s[k].to_numpy(), v, err_msg=k)
    assert s["max_drawdown_duration"].dtype == np.int32 and s["sharpe"].dtype == np.float32
    for key in ("pnl", "equity", "turnover", "costs"):
        f = getattr(frames, key)
        assert f.shape == (scen.horizon, scen.n_worlds) and f.index.name == "day"
        assert f.index[0] == 1 and f.index[-1] == scen.horizon  # day t ends at close t
        np.testing.assert_array_equal(f.to_numpy().T, np.asarray(getattr(res, key)), err_msg=key)
    # the summary agrees with the frames it summarises
    np.testing.assert_allclose(s["total_return"], frames.equity.iloc[-1] - 1.0, rtol=1e-6)


def test_grid_frames_are_labelled_by_the_gridded_fields(scen):
    g = grid(Constant(), level=[0.2, 0.5, 0.8])
    res = backtest(g, scen)
    frames = res.to_pandas()
    s = frames.summary
    assert s.index.names == ["level", "world"] and len(s) == 3 * scen.n_worlds
    for p, level in enumerate(np.asarray(g.values["level"]).tolist()):
        np.testing.assert_array_equal(s.loc[level, "total_return"].to_numpy(), res.summary["total_return"][p])
        np.testing.assert_array_equal(frames.pnl[level].to_numpy().T, np.asarray(res.pnl[p]))
    assert frames.equity.columns.names == ["level", "world"]


def test_metrics_only_frames_have_no_series(scen):
    frames = backtest(Constant(), scen, metrics_only=True).to_pandas()
    assert frames.pnl is None and frames.equity is None and frames.turnover is None and frames.costs is None
    assert frames.summary.shape[0] == scen.n_worlds


def test_dates_index_the_days(scen):
    res = backtest(Constant(), scen)
    closes = pd.bdate_range("2024-01-02", periods=scen.horizon + 1)
    dated = res.replace(dates=tuple(closes)).to_pandas()
    assert isinstance(dated.pnl.index, pd.DatetimeIndex) and dated.pnl.index.name == "date"
    assert (dated.pnl.index == closes[1:]).all()  # close 0 opens the first day; no P&L is dated there
    assert dated.summary.index.name == "world"

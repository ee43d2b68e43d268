"""select, split, log_returns, Standardizer."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stressgen.data
from stressgen import data
from stressgen import errors as E


@pytest.fixture(scope="module")
def market():
    return data.load("sp500-20", start="2020-01-01", assets=["AAPL", "JPM", "XOM"])


@pytest.fixture
def filled(write_csv):
    path = write_csv("gaps.csv", "date,A,B\n2020-01-02,1,10\n2020-01-03,,11\n2020-01-06,3,12\n"
                                 "2020-01-07,4,\n2020-01-08,5,14\n")
    return data.read_prices(path, gaps="ffill")


def test_select_inclusive_and_ordered(market):
    m = data.select(market, start="2021-03-01", end="2021-03-31", assets=["XOM", "AAPL"])
    assert m.dates[0] == pd.Timestamp("2021-03-01") and m.dates[-1] == pd.Timestamp("2021-03-31")
    assert m.assets == ("XOM", "AAPL")
    np.testing.assert_array_equal(m.prices[:, 1], market.prices[market.dates.isin(m.dates), 0])
    assert data.select(market, assets="JPM").assets == ("JPM",)
    with pytest.raises(E.UnknownAssetError):
        data.select(market, assets=["MSFT"])
    with pytest.raises(E.InsufficientHistoryError):
        data.select(market, start="2021-03-06", end="2021-03-07")  # a weekend


def test_select_cuts_repairs(filled):
    assert [r.column for r in filled.repairs] == ["A", "B"]
    later = data.select(filled, start="2020-01-06")
    assert [(r.column, r.dates) for r in later.repairs] == [("B", ("2020-01-07",))]
    assert data.select(filled, assets=["A"]).repairs == filled.repairs[:1]


def test_split_by_date(market):
    train, test = data.split(market, at="2021-06-30")
    assert train.dates[-1] == pd.Timestamp("2021-06-30") and test.dates[0] > train.dates[-1]
    assert train.n_obs + test.n_obs == market.n_obs
    np.testing.assert_array_equal(np.vstack([train.prices, test.prices]), market.prices)
    weekend_train, _ = data.split(market, at="2021-07-04")  # a Sunday: the last Friday ends train
    assert weekend_train.dates[-1] == pd.Timestamp("2021-07-02")


def test_split_by_fraction(market):
    train, test = data.split(market, fraction=0.75)
    assert train.n_obs == int(np.floor(0.75 * market.n_obs))
    assert test.dates[0] > train.dates[-1] and train.n_obs + test.n_obs == market.n_obs
    assert train.assets == test.assets == market.assets and train.freq == test.freq == "B"


def test_split_repairs_follow_their_dates(filled):
    train, test = data.split(filled, at="2020-01-06")
    assert [(r.column, r.dates) for r in train.repairs] == [("A", ("2020-01-03",))]
    assert [(r.column, r.dates) for r in test.repairs] == [("B", ("2020-01-07",))]


@pytest.mark.parametrize("kwargs", [{}, {"at": "2021-01-04", "fraction": 0.5}, {"fraction": 0.0},
                                    {"fraction": 1.0}, {"fraction": 1e-9}, {"at": "1999-01-01"},
                                    {"at": "2030-01-01"}])
def test_split_errors(market, kwargs):
    with pytest.raises(E.SplitError) as info:
        data.split(market, **kwargs)
    assert "sp500-20" in str(info.value)


def test_log_returns(market):
    r = data.log_returns(market)
    assert r.shape == (market.n_obs - 1, market.n_assets)
    np.testing.assert_allclose(r, np.log(market.prices[1:] / market.prices[:-1]), rtol=0, atol=1e-14)


def test_standardizer_round_trip():
    rng = np.random.default_rng(0)
    x = rng.normal(0.001, 0.02, size=(500, 4)) * np.array([1.0, 3.0, 0.5, 10.0])
    s = data.Standardizer.fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0, ddof=1), 1, atol=1e-12)
    np.testing.assert_allclose(s.inverse(z), x, rtol=0, atol=1e-12)
    worlds = rng.normal(size=(3, 20, 4))  # any leading shape: [worlds, time, assets]
    np.testing.assert_allclose(s.inverse(s.transform(worlds)), worlds, rtol=0, atol=1e-12)
    with pytest.raises(AttributeError):
        s.mean = np.zeros(4)
    with pytest.raises(E.DataError):
        s.transform(np.zeros((5, 3)))


def test_standardizer_refuses_constant_columns():
    x = np.column_stack([np.linspace(0, 1, 10), np.full(10, 2.5)])
    with pytest.raises(E.ZeroVarianceError) as info:
        data.Standardizer.fit(x)
    assert info.value.column == "1" and "variance is zero" in str(info.value)


def test_package_rules():
    """Explicit re-exports, no global NumPy randomness, no pickle."""
    assert sorted(stressgen.data.__all__) == sorted(
        ["datasets", "load", "read_prices", "from_frame", "select", "split", "log_returns", "Standardizer",
         "find_suspects", "QualityConfig", "repair_suspects"])
    for path in Path(stressgen.data.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "np.random" not in source and "pickle" not in source, path.name
        assert not re.search(r"import \*", source), path.name
        assert len(source.splitlines()) <= 400, path.name

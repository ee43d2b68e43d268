"""Bundled data sets: offline, validated like user files, cached, selectable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stressgen import data
from stressgen import errors as E


def test_datasets_lists_all_with_one_line_descriptions():
    sets = data.datasets()
    assert set(sets) == {"sp500-20", "sp500-index", "wti"}
    assert all(isinstance(d, str) and d and "\n" not in d for d in sets.values())


def test_sp500_20():
    m = data.load("sp500-20")
    assert m.prices.shape == (8313, 20)
    assert m.dates[0] == pd.Timestamp("1990-01-02") and m.dates[-1] == pd.Timestamp("2022-12-28")
    assert m.freq == "B" and m.repairs == () and m.source == "sp500-20"
    assert m.assets[:3] == ("AAPL", "AMD", "BAC") and len(set(m.assets)) == 20
    assert m.prices[0, 0] == pytest.approx(0.264) and m.prices[-1, 0] == pytest.approx(125.674)
    # The 2001 closure (Monday 10 Sep -> Monday 17 Sep) is a business-daily gap, not a hole.
    assert pd.Timestamp("2001-09-17") in m.dates and pd.Timestamp("2001-09-11") not in m.dates


def test_sp500_index_matches_arch():
    from arch.data import sp500

    m = data.load("sp500-index")
    ref = sp500.load()["Adj Close"]
    assert m.prices.shape == (5031, 1) and m.assets == ("SP500",)
    assert m.freq == "B" and m.repairs == ()
    assert m.dates[0] == pd.Timestamp("1999-01-04") and m.dates[-1] == pd.Timestamp("2018-12-31")
    np.testing.assert_array_equal(m.prices[:, 0], ref.to_numpy())
    assert m.dates.equals(pd.DatetimeIndex(ref.index))


def test_wti_matches_arch_without_the_days_fred_marks_missing():
    from arch.data import wti

    m = data.load("wti")
    ref = wti.load()["DCOILWTICO"]
    kept = ref.dropna()
    assert ref.isna().sum() == 290 and m.prices.shape == (kept.size, 1) == (8321, 1) and m.assets == ("WTI",)
    assert m.freq == "B" and m.repairs == ()
    np.testing.assert_array_equal(m.prices[:, 0], kept.to_numpy())
    assert m.dates.equals(pd.DatetimeIndex(kept.index))
    # the one suspect is 17 January 1991, the first day of the Gulf War air campaign: a real -33% day
    assert [(s.kind, s.date) for s in m.suspects] == [("split", "1991-01-17")]


def test_load_is_cached_and_immutable():
    a, b = data.load("sp500-20"), data.load("sp500-20")
    assert a is b
    with pytest.raises(ValueError):
        a.prices[0, 0] = 1.0


def test_load_selects_dates_and_assets():
    m = data.load("sp500-20", start="2020-01-01", end=pd.Timestamp("2020-12-31"), assets=["XOM", "AAPL"])
    assert m.assets == ("XOM", "AAPL")
    assert m.dates[0] == pd.Timestamp("2020-01-02") and m.dates[-1] == pd.Timestamp("2020-12-31")
    full = data.load("sp500-20")
    rows = (full.dates >= "2020-01-01") & (full.dates <= "2020-12-31")
    np.testing.assert_array_equal(m.prices, full.prices[rows][:, [full.assets.index("XOM"), 0]])


def test_unknown_dataset():
    with pytest.raises(E.UnknownNameError) as info:
        data.load("sp500-30")
    assert isinstance(info.value, KeyError)
    assert info.value.choices == ("sp500-20", "sp500-index", "wti")
    assert "sp500-20, sp500-index, wti" in str(info.value)


def test_unknown_asset_lists_valid_ones():
    with pytest.raises(E.UnknownAssetError) as info:
        data.load("sp500-20", assets=["AAPL", "TSLA"])
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, E.DataError)
    assert "'TSLA'" in str(err) and "AAPL, AMD" in str(err) and "sp500-20" in str(err)
    assert "MSFT" in err.choices


def test_empty_window_is_insufficient_history():
    with pytest.raises(E.InsufficientHistoryError) as info:
        data.load("sp500-index", start="2019-06-01")
    assert "got 0" in str(info.value) and "1999-01-04..2018-12-31" in str(info.value)

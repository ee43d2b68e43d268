"""read_prices and from_frame on well-formed and repairable files: layouts, formats, repairs, frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stressgen import data
from stressgen import errors as E
from stressgen.types import Repair


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2021-03-01", periods=40, name="date")
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(40, 3)), axis=0))
    return pd.DataFrame(prices, index=dates, columns=["AAA", "BBB", "CCC"])


def _same(m, frame):
    np.testing.assert_array_equal(m.prices, frame.to_numpy())
    assert m.dates.equals(pd.DatetimeIndex(frame.index))
    assert m.assets == tuple(frame.columns)
    assert m.freq == "B" and m.repairs == ()


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_wide_and_long_round_trips(tmp_path, frame, fmt):
    long = frame.reset_index().melt(id_vars="date", var_name="asset", value_name="price")
    wide_path, long_path = tmp_path / f"wide.{fmt}", tmp_path / f"long.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(wide_path)
        long.to_parquet(long_path, index=False)
    else:
        frame.to_csv(wide_path)
        long.to_csv(long_path, index=False)
    wide_m, long_m = data.read_prices(wide_path), data.read_prices(long_path)
    _same(wide_m, frame)
    _same(long_m, frame)
    assert data.read_prices(long_path, layout="long").assets == long_m.assets


def test_long_rows_in_any_order(tmp_path, frame):
    long = frame.reset_index().melt(id_vars="date", var_name="ticker", value_name="close")
    long.sample(frac=1.0, random_state=3).to_csv(tmp_path / "shuffled.csv", index=False)
    m = data.read_prices(tmp_path / "shuffled.csv")
    _same(data.select(m, assets=list(frame.columns)), frame)


def test_long_with_extra_columns_needs_named_columns(tmp_path, frame):
    long = frame.reset_index().melt(id_vars="date", var_name="sym", value_name="px")
    long["volume"] = 1000
    long.to_csv(tmp_path / "ohlcv.csv", index=False)
    with pytest.raises(E.LayoutError) as info:
        data.read_prices(tmp_path / "ohlcv.csv", layout="long")
    assert "asset_column=" in str(info.value) and "ohlcv.csv" in str(info.value)
    m = data.read_prices(tmp_path / "ohlcv.csv", asset_column="sym", price_column="px")
    _same(m, frame)


def test_market_data_to_frame_round_trip(tmp_path):
    m = data.load("sp500-20", start="2022-01-01", assets=["AAPL", "KO"])
    m.to_frame().to_csv(tmp_path / "out.csv")
    back = data.read_prices(tmp_path / "out.csv")
    np.testing.assert_array_equal(back.prices, m.prices)
    assert back.dates.equals(m.dates) and back.assets == m.assets


def test_date_column_detection_and_override(write_csv):
    path = write_csv("mid.csv", "AAPL,Timestamp,MSFT\n1.0,2020-01-02,2.0\n1.1,2020-01-03,2.1\n")
    assert data.read_prices(path).assets == ("AAPL", "MSFT")
    path = write_csv("named.csv", "when,AAPL\n2020-01-02,1.0\n2020-01-03,1.1\n")
    assert data.read_prices(path, date_column="when").assets == ("AAPL",)


def test_delimiters_bom_and_date_formats(write_csv):
    for name, text, kwargs in [
        ("semi.csv", "date;A;B\n2020-01-02;1;2\n2020-01-03;2;3\n", {}),
        ("tab.csv", "date\tA\tB\n2020-01-02\t1\t2\n2020-01-03\t2\t3\n", {}),
        ("bom.csv", "\ufeffdate,A,B\n2020-01-02,1,2\n2020-01-03,2,3\n", {}),
        ("us.csv", "date,A,B\n01/02/2020,1,2\n01/03/2020,2,3\n", {}),
        ("eu.csv", "date,A,B\n02/01/2020,1,2\n03/01/2020,2,3\n", {"date_format": "%d/%m/%Y"}),
    ]:
        m = data.read_prices(write_csv(name, text), **kwargs)
        assert list(m.dates) == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")], name
        np.testing.assert_array_equal(m.prices, [[1, 2], [2, 3]])


def test_delimiter_and_date_format_guesses_are_listed_in_repairs(write_csv):
    semi = write_csv("semi.csv", "date;A;B\n2020-01-02;1;2\n2020-01-03;2;3\n")
    (guess,) = data.read_prices(semi).repairs
    assert guess.kind == "guess_delimiter" and "';'" in guess.detail and "delimiter=';'" in guess.detail
    assert data.read_prices(semi, delimiter=";").repairs == ()  # stated, so nothing was guessed
    tab = write_csv("tab.csv", "date\tA\n2020-01-02\t1\n2020-01-03\t2\n")
    assert [r.kind for r in data.read_prices(tab).repairs] == ["guess_delimiter"]
    assert data.read_prices(write_csv("comma.csv", "date,A\n2020-01-02,1\n2020-01-03,2\n")).repairs == ()
    eu = write_csv("eu.csv", "date,A\n31/01/2020,1\n03/02/2020,2\n04/02/2020,3\n")
    (guess,) = data.read_prices(eu).repairs
    assert guess.kind == "guess_date_format" and guess.column == "date"
    assert "'%d/%m/%Y'" in guess.detail and "'31/01/2020'" in guess.detail
    assert data.read_prices(eu, date_format="%d/%m/%Y").repairs == ()
    # the guesses survive a cut, in the loader and afterwards
    assert [r.kind for r in data.read_prices(eu, start="2020-02-01").repairs] == ["guess_date_format"]
    assert [r.kind for r in data.select(data.read_prices(eu), start="2020-02-01").repairs] == ["guess_date_format"]


def test_ambiguous_delimiter_is_refused(write_csv):
    path = write_csv("tie.csv", "date;A,B\n2020-01-02;1,2\n2020-01-03;2,3\n")
    with pytest.raises(E.MalformedFileError, match="delimiter is ambiguous") as info:
        data.read_prices(path)
    assert info.value.line == 1 and "delimiter=" in str(info.value)
    with pytest.raises(E.ConfigError, match="delimiter='ab' is not valid"):
        data.read_prices(path, delimiter="ab")


def test_forward_fill_reports_every_filled_date(write_csv):
    path = write_csv("gaps.csv", "date,A,B\n2020-01-02,1,10\n2020-01-03,,11\n2020-01-06,,12\n"
                                 "2020-01-07,4,NA\n2020-01-08,5,14\n")
    m = data.read_prices(path, gaps="ffill")
    np.testing.assert_array_equal(m.prices, [[1, 10], [1, 11], [1, 12], [4, 12], [5, 14]])
    assert m.repairs == (
        Repair("forward_fill", "A", ("2020-01-03", "2020-01-06"), m.repairs[0].detail),
        Repair("forward_fill", "B", ("2020-01-07",), m.repairs[1].detail),
    )
    assert "'A'" in m.repairs[0].detail


def test_trim_reports_removed_dates(write_csv):
    path = write_csv("edges.csv", "date,OLD,NEW,GONE\n2020-01-02,1,,5\n2020-01-03,2,,6\n2020-01-06,3,7,8\n"
                                  "2020-01-07,4,8,9\n2020-01-08,5,9,\n")
    with pytest.raises(E.EdgeGapError):
        data.read_prices(path)
    m = data.read_prices(path, edges="trim")
    assert list(m.dates) == [pd.Timestamp("2020-01-06"), pd.Timestamp("2020-01-07")]
    np.testing.assert_array_equal(m.prices, [[3, 7, 8], [4, 8, 9]])
    lead, trail = m.repairs
    assert (lead.kind, lead.column, lead.dates) == ("trim_leading", "NEW", ("2020-01-02", "2020-01-03"))
    assert (trail.kind, trail.column, trail.dates) == ("trim_trailing", "GONE", ("2020-01-08",))


def test_trim_then_fill_in_long_layout(write_csv):
    # LATE is listed on 2020-01-06 and has no row on 2020-01-08: a trim and a fill, both reported.
    rows = ["date,asset,price"]
    for d in ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08", "2020-01-09"]:
        rows.append(f"{d},EARLY,10")
    for d in ["2020-01-06", "2020-01-07", "2020-01-09"]:
        rows.append(f"{d},LATE,20")
    path = write_csv("long_gaps.csv", "\n".join(rows) + "\n")
    with pytest.raises(E.InteriorGapError) as info:
        data.read_prices(path, edges="trim")
    assert info.value.column == "LATE" and info.value.date == "2020-01-08"
    m = data.read_prices(path, edges="trim", gaps="ffill")
    assert [r.kind for r in m.repairs] == ["trim_leading", "forward_fill"]
    assert m.repairs[0].dates == ("2020-01-02", "2020-01-03")
    assert m.repairs[1] == Repair("forward_fill", "LATE", ("2020-01-08",), m.repairs[1].detail)
    assert m.n_obs == 4


def test_gaps_outside_the_selected_window_do_not_matter(write_csv):
    path = write_csv("old_gap.csv", "date,A\n2020-01-02,1\n2020-01-03,\n2020-01-06,3\n2020-01-07,4\n")
    m = data.read_prices(path, start="2020-01-06")
    assert m.n_obs == 2 and m.repairs == ()


def test_frequencies(write_csv):
    def freq(text):
        return data.read_prices(write_csv("f.csv", "date,A\n" + text)).freq

    weekly = pd.date_range("2020-01-03", periods=10, freq="W-FRI")
    monthly = pd.date_range("2020-01-31", periods=10, freq="BME")
    calendar = pd.date_range("2020-01-01", periods=30, freq="D")
    rows = lambda ds: "".join(f"{d.date()},{k + 1}\n" for k, d in enumerate(ds))  # noqa: E731
    assert freq(rows(weekly)) == "W"
    assert freq(rows(monthly)) == "M"
    assert freq(rows(calendar)) == "D"
    assert freq(rows(pd.bdate_range("2020-01-02", periods=30))) == "B"


def test_from_frame(frame):
    _same(data.from_frame(frame), frame)
    bad = frame.copy()
    bad.iloc[5, 1] = -1.0
    with pytest.raises(E.NonPositivePriceError) as info:
        data.from_frame(bad, source="my prices")
    assert info.value.row == 6 and info.value.column == "BBB" and "my prices" in str(info.value)


@pytest.mark.parametrize("kwargs", [{"gaps": "drop"}, {"edges": "fill"}, {"layout": "tall"}, {"min_obs": 1},
                                    {"start": "not a date"}, {"start": "2021-05-01", "end": "2021-04-01"},
                                    {"assets": []}, {"assets": ["AAA", "AAA"]},
                                    {"layout": "wide", "asset_column": "AAA"}])
def test_invalid_arguments_are_config_errors(tmp_path, frame, kwargs):
    frame.to_csv(tmp_path / "ok.csv")
    with pytest.raises(E.ConfigError):
        data.read_prices(tmp_path / "ok.csv", **kwargs)

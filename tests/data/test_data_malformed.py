"""The malformed-input corpus: every file raises its typed error, naming the file and the column/row."""

from __future__ import annotations

import pytest

from stressgen import data
from stressgen import errors as E
from stressgen.errors import DataError, StressgenError

# (file in tests/data/malformed, read_prices kwargs, error class, column, line, fragments in the message)
CSV_CASES = [
    ("all_nan_column.csv", {}, E.EmptyColumnError, "GOOG", None, ["no price at all"]),
    ("bad_date.csv", {}, E.DateParseError, "date", 4, ["'2020-13-45'"]),
    ("corrupt.csv.gz", {}, E.MalformedFileError, None, None, ["gzip"]),
    ("day_first_dates.csv", {}, E.DateParseError, "date", 5, ["'13/01/2020'", "date_format"]),
    ("decimal_comma.csv", {}, E.NonNumericPriceError, "AAPL", 3, ["'74,36'", "decimal comma"]),
    ("duplicate_columns.csv", {}, E.DuplicateColumnError, "AAPL", 1, ["columns 2 and 4"]),
    ("duplicate_dates.csv", {}, E.DuplicateDateError, "date", 4, ["2020-01-03", "line 3"]),
    ("empty.csv", {}, E.EmptyFileError, None, None, ["empty"]),
    ("empty_date.csv", {}, E.DateParseError, "date", 3, ["empty"]),
    ("header_only.csv", {}, E.EmptyFileError, None, None, ["no data rows"]),
    ("hole_in_daily.csv", {}, E.FrequencyError, "date", 17, ["40 days", "2020-03-02"]),
    ("infinite_price.csv", {}, E.InfinitePriceError, "AAPL", 3, ["'inf'"]),
    ("interior_gap.csv", {}, E.InteriorGapError, "MSFT", 4, ["2020-01-06", "gaps='ffill'"]),
    ("intraday.csv", {}, E.FrequencyError, "date", 3, ["intraday"]),
    ("latin1.csv", {}, E.MalformedFileError, None, 1, ["UTF-8", "0xe9"]),
    ("leading_nan.csv", {}, E.EdgeGapError, "UBER", 2, ["before 2020-01-06", "edges='trim'"]),
    ("long_duplicate.csv", {}, E.DuplicateDateError, "date", 6, ["'AAPL'", "lines 2, 6"]),
    ("long_missing_asset.csv", {}, E.MissingValueError, "ticker", 3, ["asset name is empty"]),
    ("long_non_numeric.csv", {}, E.NonNumericPriceError, "close", 5, ["'n.a.'", "'MSFT'"]),
    ("mixed_frequency.csv", {}, E.MixedFrequencyError, "date", 32,
     ["2020-03-31", "business-daily", "monthly"]),
    ("negative_price.csv", {}, E.NonPositivePriceError, "AAPL", 4, ["'-74.95'"]),
    ("newest_first.csv", {}, E.UnsortedDatesError, "date", 3, ["2020-01-06", "newest-first"]),
    ("non_numeric.csv", {}, E.NonNumericPriceError, "MSFT", 4, ["'abc'", "2020-01-06"]),
    ("only_date_column.csv", {}, E.LayoutError, "date", None, ["only a date column"]),
    ("prices.txt", {}, E.UnsupportedFormatError, None, None, ["'.txt'", ".parquet"]),
    ("quarterly.csv", {}, E.FrequencyError, "date", 3, ["92 days"]),
    ("ragged_row.csv", {}, E.MalformedFileError, None, 3, ["4 fields", "header has 3"]),
    ("too_short.csv", {}, E.InsufficientHistoryError, None, None, ["at least 2", "got 1"]),
    ("trailing_nan.csv", {}, E.EdgeGapError, "TWTR", 4, ["after 2020-01-03", "delisted"]),
    ("unnamed_column.csv", {}, E.ColumnError, None, 1, ["column 3 has no name"]),
    ("unsorted_dates.csv", {}, E.UnsortedDatesError, "date", 4, ["2020-01-03", "line 3"]),
    ("zero_price.csv", {}, E.NonPositivePriceError, "MSFT", 3, ["'0'"]),
    # Well-formed files with arguments that do not fit them.
    ("non_numeric.csv", {"date_column": "When"}, E.MissingColumnError, "When", None,
     ["'date', 'AAPL', 'MSFT'"]),
    ("interior_gap.csv", {"assets": ["AAPL", "GOOG"]}, E.UnknownAssetError, None, None,
     ["'GOOG'", "AAPL, MSFT"]),
    ("interior_gap.csv", {"min_obs": 10}, E.InsufficientHistoryError, None, None, ["at least 10", "got 5"]),
    ("interior_gap.csv", {"start": "2020-01-07", "end": "2020-01-07"}, E.InsufficientHistoryError, None, None,
     ["from 2020-01-07 to 2020-01-07", "got 1"]),
    ("trailing_nan.csv", {"edges": "trim", "min_obs": 3}, E.InsufficientHistoryError, None, None,
     ["after trimming", "got 2"]),
]

# (file written by the malformed_parquet fixture, error class, column, data row, fragments)
PARQUET_CASES = [
    ("non_numeric.parquet", E.NonNumericPriceError, "MSFT", 3, ["'x'"]),
    ("negative.parquet", E.NonPositivePriceError, "MSFT", 3, ["-3.0"]),
    ("infinite.parquet", E.InfinitePriceError, "AAPL", 2, ["inf"]),
    ("duplicate_dates.parquet", E.DuplicateDateError, "date", 4, ["data row 3"]),
    ("all_nan.parquet", E.EmptyColumnError, "MSFT", None, []),
    ("empty.parquet", E.EmptyFileError, None, None, ["no rows"]),
    ("bad_date.parquet", E.DateParseError, "date", 3, ["'someday'"]),
    ("corrupt.parquet", E.MalformedFileError, None, None, ["Parquet"]),
]


def _check_common(err: DataError, path) -> str:
    message = str(err)
    assert isinstance(err, DataError) and isinstance(err, StressgenError) and isinstance(err, ValueError)
    assert err.path == str(path)
    assert path.name in message
    return message


def test_corpus_is_large_and_fully_covered(malformed):
    files = {p.name for p in malformed.iterdir()}
    covered = {name for name, *_ in CSV_CASES}
    assert len(files) >= 14
    assert files == covered, f"no case for {files - covered}; no file for {covered - files}"


@pytest.mark.parametrize(("name", "kwargs", "error", "column", "line", "fragments"), CSV_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1]) or 'default'}" for c in CSV_CASES])
def test_malformed_csv(malformed, name, kwargs, error, column, line, fragments):
    path = malformed / name
    with pytest.raises(error) as info:
        data.read_prices(path, **kwargs)
    err = info.value
    message = _check_common(err, path)
    if column is not None:
        assert err.column == column
        assert f"column {column!r}" in message
    if line is not None:
        assert err.line == line
        assert f"line {line}" in message
        assert err.row == (line - 1 if line > 1 else None)  # the header is line 1, not a data row
    for fragment in fragments:
        assert fragment in message


def test_isolated_hole_is_not_called_a_change_of_frequency(malformed):
    with pytest.raises(E.FrequencyError) as info:
        data.read_prices(malformed / "hole_in_daily.csv")
    assert not isinstance(info.value, E.MixedFrequencyError)


@pytest.mark.parametrize(("name", "error", "column", "row", "fragments"), PARQUET_CASES,
                         ids=[c[0] for c in PARQUET_CASES])
def test_malformed_parquet(malformed_parquet, name, error, column, row, fragments):
    path = malformed_parquet / name
    with pytest.raises(error) as info:
        data.read_prices(path)
    err = info.value
    message = _check_common(err, path)
    assert err.line is None  # Parquet has no lines: rows are reported as data rows
    if column is not None:
        assert err.column == column and f"column {column!r}" in message
    if row is not None:
        assert err.row == row and f"data row {row}" in message
    for fragment in fragments:
        assert fragment in message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(E.DataFileNotFoundError) as info:
        data.read_prices(path)
    assert isinstance(info.value, FileNotFoundError)  # `except OSError` keeps working
    _check_common(info.value, path)


def test_blank_lines_do_not_shift_line_numbers(write_csv):
    path = write_csv("blank.csv", "date,A\n2020-01-02,1.0\n\n2020-01-03,2.0\n\n2020-01-06,oops\n")
    with pytest.raises(E.NonNumericPriceError) as info:
        data.read_prices(path)
    assert info.value.line == 6 and info.value.row == 3


def test_no_raw_pandas_exception_escapes(write_csv):
    """Odd files fail with a DataError, never a pandas or numpy exception."""
    odd = {
        "quotes.csv": 'date,A\n"2020-01-02,1.0\n2020-01-03,2.0\n',
        "only_commas.csv": ",,\n,,\n",
        "spaces.csv": "   \n   \n",
        "bool.csv": "date,A\n2020-01-02,true\n2020-01-03,false\n",
        "dates_only_garbage.csv": "date,A\nfoo,1\nbar,2\n",
    }
    for name, text in odd.items():
        with pytest.raises(DataError):
            data.read_prices(write_csv(name, text))

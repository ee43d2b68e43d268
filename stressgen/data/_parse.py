"""From raw cells to a `Table`: which column holds dates, wide or long layout, dates and prices parsed.

Cells are parsed here, while the file row of each cell is still known, so that a bad date or price is
reported at its line. Missing prices (empty cells, NA, NaN, ...) become NaN; what to do about them is
decided later by the validation policy (`gaps`, `edges`), never here.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype
from pandas.tseries.api import guess_datetime_format

from ..errors import (
    ColumnError,
    ConfigError,
    DateParseError,
    DuplicateColumnError,
    DuplicateDateError,
    LayoutError,
    MissingColumnError,
    MissingValueError,
)
from ..types import Repair
from ._read import RawTable
from ._table import Table, iso
from ._validate import check_cells

__all__ = ["to_table", "LAYOUTS"]

LAYOUTS = ("auto", "wide", "long")
# Cell texts read as "no value" (compared case-insensitively): what spreadsheets and pandas write for NaN.
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "#na", "<na>", "nat"})
_DATE_NAMES = ("date", "datetime", "timestamp", "time", "day")
_ASSET_NAMES = ("asset", "ticker", "symbol", "name", "security", "instrument", "code", "id")
_PRICE_NAMES = ("price", "close", "adj close", "adj_close", "adjclose", "adjusted", "value", "px_last")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")


def to_table(raw: RawTable, *, layout: str = "auto", date_column: str | None = None,
             asset_column: str | None = None, price_column: str | None = None,
             date_format: str | None = None) -> Table:
    """Interpret `raw` as prices; explicit column names and layout override the detection."""
    if layout not in LAYOUTS:
        raise ConfigError(f"layout={layout!r} is not valid; expected one of {', '.join(LAYOUTS)}")
    if layout == "wide" and (asset_column is not None or price_column is not None):
        raise ConfigError("asset_column and price_column apply to layout='long' only; "
                          f"got layout='wide' with asset_column={asset_column!r}, "
                          f"price_column={price_column!r}")
    _check_header(raw)
    d = _find(raw, date_column, "date_column") if date_column is not None else _guess_date_column(raw)
    a = _find(raw, asset_column, "asset_column") if asset_column is not None else None
    p = _find(raw, price_column, "price_column") if price_column is not None else None
    if layout == "auto":
        layout = "long" if a is not None or p is not None or _looks_long(raw, d) else "wide"
    dates, guessed = _parse_dates(raw, d, date_format)
    table = _wide(raw, d, dates) if layout == "wide" else _long(raw, d, a, p, dates)
    notes = raw.notes
    if guessed is not None:  # a format guessed from one date is a guess about every date: say so
        notes += (Repair(kind="guess_date_format", column=raw.header[d], dates=(),
                         detail=f"dates read with format {guessed!r}, guessed from the first date "
                                f"{_first_text(raw, d)!r} (they are not ISO 8601); pass date_format="
                                f"{guessed!r} to state it"),)
    return dataclasses.replace(table, notes=notes) if notes else table


def _first_text(raw: RawTable, d: int) -> str:
    text = _text(raw.frame[d])
    present = text[~_missing(text)]
    return str(present.iloc[0]) if len(present) else ""


# --- columns ----------------------------------------------------------------------------------------------

def _check_header(raw: RawTable) -> None:
    seen: dict[str, int] = {}
    for k, name in enumerate(raw.header):
        if name and name in seen:
            raise DuplicateColumnError(
                f"the header names {name!r} twice (columns {seen[name] + 1} and {k + 1})", path=raw.path,
                column=name, line=1 if raw.lines is not None else None,
                expected="each column name once (one column per asset)")
        seen.setdefault(name, k)


def _find(raw: RawTable, name: str, role: str) -> int:
    stripped = str(name).strip()
    if stripped in raw.header:
        return raw.header.index(stripped)
    raise MissingColumnError(f"{role}={name!r} is not a column of this file", path=raw.path, column=name,
                             expected=f"one of {list(raw.header)}")


def _guess_date_column(raw: RawTable) -> int:
    for k, name in enumerate(raw.header):
        if name.lower() in _DATE_NAMES:
            return k
    return 0  # the usual place, and where DataFrame.to_csv writes the index


def _named(raw: RawTable, names: tuple[str, ...], skip: int) -> list[int]:
    return [k for k, n in enumerate(raw.header) if k != skip and n.lower() in names]


def _looks_long(raw: RawTable, d: int) -> bool:
    """Long layout: (date, asset, price) with one text column of names, or columns named like that."""
    others = [k for k in range(len(raw.header)) if k != d]
    if len(others) == 2:
        text = [k for k in others if _is_text(raw.frame[k])]
        if len(text) == 1:
            return True
    assets = [k for k in _named(raw, _ASSET_NAMES, d) if _is_text(raw.frame[k])]
    return len(assets) == 1 and len(_named(raw, _PRICE_NAMES, d)) == 1


def _is_text(col: pd.Series) -> bool:
    """True when the column has values and none of them is a number (a column of names, not prices)."""
    values, bad = _numbers(col)
    present = bad | ~np.isnan(values)
    return bool(present.any()) and bool(bad[present].all())


# --- cells ------------------------------------------------------------------------------------------------

def _text(col: pd.Series) -> pd.Series:
    return col.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)) \
        .str.strip()


def _missing(text: pd.Series) -> np.ndarray:
    return text.str.lower().isin(NA_TOKENS).to_numpy()


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(values, non_numeric)``: float64, NaN for missing cells; and a mask of cells that are not numbers."""
    if is_bool_dtype(col.dtype):
        return np.full(len(col), np.nan), col.notna().to_numpy()
    if is_numeric_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(col), dtype=bool)
    text = _text(col)
    missing = _missing(text)
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64,
                                                                                 na_value=np.nan)
    return values, ~missing & np.isnan(values)


def _shown(raw: RawTable, column: int):
    def show(i: int, j: int = 0) -> str:
        value = raw.frame.iat[i, column]
        # Text is quoted exactly as written (stripped); typed Parquet values are shown as plain numbers.
        return repr(value.strip()) if isinstance(value, str) else str(value)
    return show


def _price_hint(raw: RawTable, column: int):
    def hint(i: int) -> str | None:
        value = raw.frame.iat[i, column]
        if isinstance(value, str) and _DECIMAL_COMMA.match(value.strip()):
            return "It looks like a decimal comma: write prices with a '.' decimal point"
        return None
    return hint


def _parse_dates(raw: RawTable, d: int, date_format: str | None) -> tuple[pd.DatetimeIndex, str | None]:
    """The dates of column `d`, and the format guessed for them (None: ISO 8601, given, or typed cells)."""
    col = raw.frame[d]
    name = raw.header[d]
    if is_datetime64_any_dtype(col.dtype):
        parsed = pd.DatetimeIndex(col)
        missing = np.asarray(parsed.isna())
        bad = np.zeros(len(col), dtype=bool)
        used = None
    else:
        text = _text(col)
        missing = _missing(text)
        parsed, used = _to_datetime(text.where(~missing, None), date_format)
        bad = ~missing & np.asarray(parsed.isna())
    if missing.any() or bad.any():
        i = int(np.flatnonzero(missing | bad)[0])
        n_bad = int(bad.sum() + missing.sum())
        more = f" ({n_bad - 1} more bad date{'s' if n_bad > 2 else ''} in this column)" if n_bad > 1 else ""
        loc = dict(path=raw.path, column=name, row=raw.rows[i],
                   line=None if raw.lines is None else raw.lines[i])
        if missing[i]:
            raise DateParseError(f"the date is empty{more}", **loc, expected="a date on every data row")
        hint = None
        if used is not None:
            hint = (f"The dates above it were read with format {used!r}; pass date_format= "
                    "(e.g. '%d/%m/%Y'; in a run spec [data] date_format) if the file writes dates another way")
        raise DateParseError(f"cannot parse {_shown(raw, d)(i)} as a date{more}", **loc,
                             expected="a date such as 2020-01-31", hint=hint)
    if parsed.tz is not None:
        # Daily closes are calendar dates; keeping a time zone would make every comparison with a plain
        # date (start=, end=, split at=) fail, so the wall-clock time in the file's own zone is kept.
        parsed = parsed.tz_localize(None)
    return parsed.rename(None), (used if date_format is None else None)


def _to_datetime(text: pd.Series, date_format: str | None) -> tuple[pd.DatetimeIndex, str | None]:
    """Parse dates strictly: an explicit format, else ISO 8601, else the format of the first date."""
    if date_format is not None:
        return pd.DatetimeIndex(pd.to_datetime(text, format=date_format, errors="coerce")), date_format
    iso8601 = pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", errors="coerce"))
    n_present = int(text.notna().sum())
    if int(iso8601.notna().sum()) == n_present:
        return iso8601, None
    first = text.dropna()
    with warnings.catch_warnings():  # pandas warns about dayfirst; the guess is reported in repairs instead
        warnings.simplefilter("ignore")
        guessed = guess_datetime_format(first.iloc[0]) if len(first) else None
    if guessed is None:  # no recognisable format: pandas' per-cell fallback parser is too lenient to trust
        return iso8601, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = pd.DatetimeIndex(pd.to_datetime(text, format=guessed, errors="coerce"))
    if int(other.notna().sum()) > int(iso8601.notna().sum()):
        return other, guessed
    return iso8601, None


# --- layouts ----------------------------------------------------------------------------------------------

def _wide(raw: RawTable, d: int, dates: pd.DatetimeIndex) -> Table:
    cols = [k for k in range(len(raw.header)) if k != d]
    if not cols:
        raise LayoutError("the file has only a date column", path=raw.path, column=raw.header[d],
                          expected="one column per asset next to the date column (wide layout), or "
                                   "date, asset, price columns (long layout)")
    for k in cols:
        if not raw.header[k]:
            raise ColumnError(f"column {k + 1} has no name in the header", path=raw.path,
                              line=1 if raw.lines is not None else None,
                              expected="an asset name for every column")
    parsed = [_numbers(raw.frame[k]) for k in cols]
    values = np.column_stack([v for v, _ in parsed])
    bad = np.column_stack([b for _, b in parsed])
    assets = tuple(raw.header[k] for k in cols)
    table = Table(raw.path, values, dates, assets, raw.rows, raw.lines, raw.header[d])
    check_cells(values, bad, locate=table.where, shown=lambda i, j: _shown(raw, cols[j])(i),
                hint=lambda i, j: _price_hint(raw, cols[j])(i))
    return table


def _long(raw: RawTable, d: int, a: int | None, p: int | None, dates: pd.DatetimeIndex) -> Table:
    others = [k for k in range(len(raw.header)) if k != d]
    if a is None:
        named = [k for k in _named(raw, _ASSET_NAMES, d) if k != p]
        text = [k for k in others if k != p and _is_text(raw.frame[k])]
        a = named[0] if len(named) == 1 else text[0] if len(text) == 1 else None
    if p is None:
        named = [k for k in _named(raw, _PRICE_NAMES, d) if k != a]
        rest = [k for k in others if k != a]
        p = named[0] if len(named) == 1 else rest[0] if len(rest) == 1 else None
    if a is None or p is None or a == p:
        raise LayoutError(f"cannot tell which columns hold asset names and prices among {list(raw.header)}",
                          path=raw.path, expected="date, asset, price columns; "
                                                  "pass asset_column= and price_column= to name them")
    names = _text(raw.frame[a])
    empty = _missing(names)

    def loc(i: int) -> dict:
        return dict(path=raw.path, row=raw.rows[i], line=None if raw.lines is None else raw.lines[i])

    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise MissingValueError("the asset name is empty", column=raw.header[a], **loc(i), date=iso(dates[i]),
                                expected="an asset name on every row of a long file")
    prices, bad = _numbers(raw.frame[p])
    check_cells(prices[:, None], bad[:, None],
                locate=lambda i, j: dict(**loc(i), column=raw.header[p], date=iso(dates[i])),
                shown=lambda i, j: f"{_shown(raw, p)(i)} (asset {names.iat[i]!r})",
                hint=lambda i, j: _price_hint(raw, p)(i))
    keys = pd.DataFrame({"date": dates, "asset": names.to_numpy()})
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        same = np.flatnonzero(dup & (keys["date"] == keys["date"].iat[i]).to_numpy()
                              & (keys["asset"] == keys["asset"].iat[i]).to_numpy())
        where = "lines" if raw.lines is not None else "data rows"
        at = raw.lines if raw.lines is not None else raw.rows
        raise DuplicateDateError(
            f"asset {names.iat[i]!r} has {len(same)} rows for the same date ({where} "
            f"{', '.join(str(at[k]) for k in same)})", **loc(same[-1]), column=raw.header[d],
            date=iso(dates[i]), expected="one row per (date, asset)")
    # Long rows may come in any order (often grouped by asset); the pivot orders dates ascending and keeps
    # assets in order of first appearance. A (date, asset) pair without a row becomes a missing price.
    uniq = pd.DatetimeIndex(np.unique(dates.to_numpy()))
    d_codes = uniq.get_indexer(dates)
    a_codes, assets = pd.factorize(names, sort=False)
    values = np.full((len(uniq), len(assets)), np.nan)
    values[d_codes, a_codes] = prices
    return Table(raw.path, values, uniq, tuple(str(x) for x in assets), date_column=raw.header[d])

"""Reading a CSV (optionally gzip-compressed) or Parquet file into raw cells, with their file positions.

Nothing is interpreted here: CSV cells stay text so that the parser can quote a bad cell back to the user
exactly as it is written in the file, and every data row keeps its 1-based line number. Every failure of
pandas or pyarrow to read the file becomes a typed `DataFileError` naming the file.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    DataFileNotFoundError,
    EmptyFileError,
    MalformedFileError,
    UnsupportedFormatError,
)
from ..types import Repair

__all__ = ["RawTable", "read_raw", "raw_from_frame", "check_delimiter", "SUFFIXES"]

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
# Delimiters tried on the header line: spreadsheets in many locales export ';' and some tools '\t'.
_DELIMITERS = (",", ";", "\t")
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclasses.dataclass(frozen=True, eq=False)
class RawTable:
    """Cells of a file before interpretation.

    Attributes:
        path: the path as the user gave it (used in messages).
        header: column names, stripped of surrounding spaces; positions matter, names may repeat.
        frame: data cells with positional columns ``0..len(header)-1``; text for CSV, typed for Parquet.
        rows: 1-based data row of each frame row (the header is not counted).
        lines: 1-based line of each frame row in a text file (header = line 1), or None.
        notes: guesses made while reading (a delimiter other than ','), carried on to `MarketData.repairs`
            so that no guess about the file is silent.
    """

    path: str
    header: tuple[str, ...]
    frame: pd.DataFrame
    rows: np.ndarray
    lines: np.ndarray | None
    notes: tuple[Repair, ...] = ()


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return ""


def check_delimiter(delimiter: str | None) -> str | None:
    """`delimiter` when it is one character other than a quote or a line break (None: guess it)."""
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n"):
        raise ConfigError(f"delimiter={delimiter!r} is not valid; expected one character such as ',', ';' or "
                          "'\\t' (or leave it out to guess it from the header line)")
    return delimiter


def read_raw(path: str | os.PathLike, *, delimiter: str | None = None) -> RawTable:
    """Read `path` (.csv, .csv.gz, .parquet, .pq) into a `RawTable`; typed errors for unreadable files.

    `delimiter`: the CSV field separator; None guesses it from the header line (',' ';' or tab), and a guess
    other than ',' is recorded in `RawTable.notes` (an ambiguous header is refused instead).
    """
    check_delimiter(delimiter)
    shown = os.fspath(path)
    p = Path(path)
    suffix = _suffix(p)
    if not suffix:
        raise UnsupportedFormatError(f"cannot read files of type {''.join(p.suffixes) or '(no extension)'!r}",
                                     path=shown, expected="a file ending in " + ", ".join(SUFFIXES))
    if not p.exists():
        raise DataFileNotFoundError("no such file", path=shown,
                                    expected=f"an existing file (looked in {p.resolve().parent})")
    if p.is_dir():
        raise DataFileNotFoundError("is a directory, not a file", path=shown, expected="a file")
    if p.stat().st_size == 0:
        raise EmptyFileError("the file is empty (0 bytes)", path=shown,
                             expected="a header line followed by data rows")
    if suffix in (".parquet", ".pq"):
        return _read_parquet(p, shown)
    return _read_csv(p, shown, compressed=suffix == ".csv.gz", delimiter=delimiter)


def _not_text(p: Path, shown: str, compressed: bool, err: Exception) -> MalformedFileError:
    kind = "a gzip-compressed UTF-8 CSV file" if compressed else "a UTF-8 CSV file"
    if not isinstance(err, UnicodeDecodeError):
        return MalformedFileError(f"cannot be read as {kind}: {err}", path=shown, expected=kind)
    # Only on this error path: find the first line that is not UTF-8, so the user can look at it.
    opener = gzip.open if compressed else open
    with opener(p, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                snippet = line[max(0, bad.start - 10):bad.end + 10]
                return MalformedFileError(
                    f"the text is not UTF-8 (byte {line[bad.start]:#04x} in {snippet!r})", path=shown,
                    line=number, row=number - 1 if number > 1 else None, expected=kind,
                    hint="Save the file as UTF-8 (it may be Latin-1 or Windows-1252)")
    return MalformedFileError(f"the text is not UTF-8: {err}", path=shown, expected=kind)


def _first_line(p: Path, shown: str, compressed: bool) -> str:
    try:
        opener = gzip.open if compressed else open
        with opener(p, "rt", encoding="utf-8-sig", newline="") as fh:
            return fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise _not_text(p, shown, compressed, err) from err


def _guess_delimiter(first: str, shown: str) -> tuple[str, tuple[Repair, ...]]:
    """The delimiter the header line uses most, and a note when it is not ','; a tie is refused, because
    either reading would be a silent guess about what the columns are."""
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts.values())
    tied = [d for d, n in counts.items() if n == best]
    if best == 0:
        return ",", ()  # one column: no delimiter to guess (later checks say the file has too few columns)
    if len(tied) > 1:
        raise MalformedFileError(f"the header line has as many {' as '.join(map(repr, tied))} characters, so "
                                 "the delimiter is ambiguous", path=shown, line=1,
                                 expected="one delimiter",
                                 hint=f"Pass delimiter= (one of {', '.join(map(repr, tied))})")
    sep = tied[0]
    if sep == ",":
        return sep, ()
    note = Repair(kind="guess_delimiter", column="", dates=(),
                  detail=f"read with delimiter {sep!r}, guessed from the header line ({best} of them, "
                         f"{counts[',']} ','); pass delimiter={sep!r} to state it")
    return sep, (note,)


def _read_csv(p: Path, shown: str, *, compressed: bool, delimiter: str | None = None) -> RawTable:
    first = _first_line(p, shown, compressed)
    if not first.strip():
        raise EmptyFileError("the first line is empty", path=shown, line=1,
                             expected="a header line naming the columns (e.g. date,AAPL,MSFT)")
    sep, notes = (delimiter, ()) if delimiter is not None else _guess_delimiter(first, shown)
    try:
        # header=None and text cells: we check the header ourselves (pandas would rename duplicates to
        # 'A.1'), and blank lines are kept so that frame position + 1 is exactly the file line.
        cells = pd.read_csv(p, header=None, sep=sep, dtype=str, na_filter=False, skip_blank_lines=False,
                            encoding="utf-8-sig", compression="gzip" if compressed else None)
    except pd.errors.EmptyDataError as err:
        raise EmptyFileError("the file has no columns", path=shown,
                             expected="a header line followed by data rows") from err
    except pd.errors.ParserError as err:
        raise _ragged(err, shown, first.count(sep) + 1) from err
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise _not_text(p, shown, compressed, err) from err
    except ValueError as err:
        raise MalformedFileError(f"cannot be read as CSV: {err}", path=shown, expected="a CSV file") from err
    cells = cells.fillna("")  # short rows: pandas leaves the missing trailing fields as NaN
    header = tuple(str(c).strip() for c in cells.iloc[0])
    body = cells.iloc[1:]
    lines = np.arange(2, len(cells) + 1)
    blank = (body.apply(lambda col: col.str.strip()) == "").all(axis=1).to_numpy()
    # Blank lines carry no data; they are skipped, but the remaining rows keep their true line numbers.
    body, lines = body.loc[~blank], lines[~blank]
    if len(body) == 0:
        raise EmptyFileError("the file has a header line but no data rows", path=shown,
                             expected="at least one data row after the header")
    body = body.reset_index(drop=True)
    body.columns = range(body.shape[1])
    return RawTable(shown, header, body, np.arange(1, len(body) + 1), lines, notes)


def _ragged(err: Exception, shown: str, n_header: int) -> MalformedFileError:
    # pandas' C parser says 'Expected 3 fields in line 7, saw 4'; its line numbers are file lines.
    found = _RAGGED.search(str(err))
    if found is None:
        return MalformedFileError(f"not a well-formed CSV file: {str(err).strip()}", path=shown,
                                  expected="the same number of fields on every line as in the header")
    line, saw = int(found.group(2)), int(found.group(3))
    return MalformedFileError(f"the line has {saw} fields but the header has {n_header}", path=shown,
                              line=line, row=line - 1,
                              expected=f"{n_header} fields on every line "
                                       "(quote fields that contain the delimiter)")


def _read_parquet(p: Path, shown: str) -> RawTable:
    try:
        frame = pd.read_parquet(p)
    except Exception as err:  # pyarrow raises many unrelated types (ArrowInvalid, OSError, ...)
        raise MalformedFileError(f"cannot be read as Parquet: {err}", path=shown,
                                 expected="a Parquet file (e.g. written by DataFrame.to_parquet)") from err
    return raw_from_frame(frame, shown)


def raw_from_frame(frame: pd.DataFrame, shown: str) -> RawTable:
    """Raw cells of an in-memory frame (Parquet contents, a user's DataFrame); rows are 1-based positions."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        # A named or dated index (how DataFrame.to_parquet stores a DatetimeIndex) is a column of data.
        frame = frame.reset_index()
    if frame.shape[1] == 0:
        raise EmptyFileError("the data has no columns", path=shown,
                             expected="a date column and price columns")
    if frame.shape[0] == 0:
        raise EmptyFileError("the data has column names but no rows", path=shown,
                             expected="at least one data row")
    header = tuple("" if c is None else str(c).strip() for c in frame.columns)
    body = frame.copy()
    body.columns = range(body.shape[1])
    body = body.reset_index(drop=True)
    return RawTable(shown, header, body, np.arange(1, len(body) + 1), None)

"""Public entry points for user data: `read_prices` (CSV, CSV.gz, Parquet) and `from_frame` (a DataFrame).

Both go read -> parse -> validate through the same code as the bundled data sets, so a user's file is held
to exactly the same rules and produces exactly the same kind of errors and repairs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from ..types import MarketData
from ._parse import to_table
from ._read import raw_from_frame, read_raw
from ._select import DateLike
from ._validate import finish

__all__ = ["read_prices", "from_frame"]


def read_prices(path: str | os.PathLike, *, layout: str = "auto", date_column: str | None = None,
                asset_column: str | None = None, price_column: str | None = None, gaps: str = "raise",
                edges: str = "raise", min_obs: int = 2, start: DateLike | None = None,
                end: DateLike | None = None, assets: str | Sequence[str] | None = None,
                date_format: str | None = None, suspects: str = "report",
                delimiter: str | None = None) -> MarketData:
    """Read and validate a price file (.csv, .csv.gz, .parquet, .pq).

    Args:
        path: the file.
        layout: ``"wide"`` (a date column and one column per asset), ``"long"`` (date, asset, price rows,
            in any order), or ``"auto"``: long when `asset_column`/`price_column` is given, when there are
            exactly three columns of which one (besides the date) holds text, or when one text column is
            named like an asset (ticker, symbol, ...) and one like a price (close, price, ...); else wide.
        date_column: the date column; by default the first column named date/datetime/timestamp/time/day
            (any case), else the first column.
        asset_column, price_column: the long layout's asset-name and price columns.
        gaps: a missing price between an asset's first and last price: ``"raise"`` or ``"ffill"`` (carry
            the last price forward; each fill is reported in ``MarketData.repairs``).
        edges: missing prices before an asset's first / after its last price: ``"raise"`` or ``"trim"``
            (keep the dates where every asset has a price; reported in ``MarketData.repairs``).
        min_obs: fewest rows (dates) acceptable after selection and trimming; at least 2.
        start, end: inclusive date window (ISO strings, dates or Timestamps); clipped to the data.
        assets: asset names to keep, in this order (a single name is accepted).
        date_format: strptime format of the dates (e.g. ``"%d/%m/%Y"``) when they are not ISO 8601; without
            it such dates are read with the format guessed from the first date, and the guess is listed in
            ``MarketData.repairs`` (kind ``"guess_date_format"``).
        suspects: likely bad prints and unadjusted splits (checked on the selected window) are always
            listed in ``MarketData.suspects``. ``"report"`` leaves the prices as they are; ``"repair"``
            also fixes them (see `repair_suspects`), and each fix is listed in ``MarketData.repairs``.
        delimiter: the CSV field separator. None guesses it from the header line (',', ';' or tab); a guess
            other than ',' is listed in ``MarketData.repairs`` (kind ``"guess_delimiter"``), and a header
            with as many of two candidates is refused (MalformedFileError).

    Returns:
        `MarketData` with the frequency inferred from the dates (B, D, W or M).

    Raises:
        stressgen.errors.DataError subclasses naming the file, column, row/line and what was expected;
        ConfigError for invalid arguments.
    """
    raw = read_raw(path, delimiter=delimiter)
    table = to_table(raw, layout=layout, date_column=date_column, asset_column=asset_column,
                     price_column=price_column, date_format=date_format)
    return finish(table, gaps=gaps, edges=edges, min_obs=min_obs, start=start, end=end, assets=assets,
                  suspects=suspects)


def from_frame(frame: pd.DataFrame, *, source: str = "<DataFrame>", gaps: str = "raise", edges: str = "raise",
               min_obs: int = 2, start: DateLike | None = None, end: DateLike | None = None,
               assets: str | Sequence[str] | None = None, suspects: str = "report") -> MarketData:
    """Validate an in-memory wide frame (dates as the index, one column per asset) under `read_prices`' rules.

    Rows are reported as 1-based data rows; `source` names the data in messages and in ``MarketData.source``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"from_frame needs a pandas DataFrame, got {type(frame).__name__}")
    named = frame.rename_axis(frame.index.name or "date")
    raw = raw_from_frame(named, source)
    table = to_table(raw, layout="wide", date_column=raw.header[0])
    return finish(table, gaps=gaps, edges=edges, min_obs=min_obs, start=start, end=end, assets=assets,
                  suspects=suspects)

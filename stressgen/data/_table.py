"""`Table`: prices parsed from a file or frame but not yet validated, plus where each row came from.

Validation happens on this intermediate form (NaN marks a missing price) because `MarketData` refuses
missing values by construction. Keeping the file row and line of every date lets later checks (order,
gaps, frequency) point at the exact place in the user's file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..types import Repair

__all__ = ["Table", "iso"]


def iso(ts: pd.Timestamp) -> str:
    """ISO text of a date; the time is shown only when there is one, so daily data reads as dates."""
    ts = pd.Timestamp(ts)
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


@dataclasses.dataclass(frozen=True, eq=False)
class Table:
    """Parsed, unvalidated prices.

    Attributes:
        source: the path (or data set name) used in error messages and `MarketData.source`.
        values: ``[time, assets]`` float64; NaN is a missing price. Non-numeric, infinite and non-positive
            cells have already been refused by the parser.
        dates: one per row, in file order (not yet checked for order).
        assets: asset names, in column order.
        rows: 1-based data row of each date in the file, or None when rows do not map to dates (long layout).
        lines: 1-based line of each date in a text file, or None (Parquet, frames, long layout).
        date_column: name of the date column, named by errors about dates.
        notes: guesses made reading and parsing (delimiter, date format); they lead `MarketData.repairs`.
    """

    source: str
    values: np.ndarray
    dates: pd.DatetimeIndex
    assets: tuple[str, ...]
    rows: np.ndarray | None = None
    lines: np.ndarray | None = None
    date_column: str | None = None
    notes: tuple[Repair, ...] = ()

    @property
    def n_rows(self) -> int:
        return self.values.shape[0]

    def where(self, i: int | None = None, j: int | None = None) -> dict:
        """Keyword arguments for a `DataError` at row ``i`` and asset ``j`` (either optional).

        A row without an asset names the date column.
        """
        loc: dict = {"path": self.source}
        if j is not None:
            loc["column"] = self.assets[j]
        elif i is not None and self.date_column is not None:
            loc["column"] = self.date_column
        if i is not None:
            loc["date"] = iso(self.dates[i])
            if self.rows is not None:
                loc["row"] = int(self.rows[i])
            if self.lines is not None:
                loc["line"] = int(self.lines[i])
        return loc

    def take(self, rows: slice | np.ndarray, cols: list[int] | np.ndarray | None = None) -> Table:
        """Sub-table (used for date/asset selection and trimming); keeps the row provenance."""
        cols = np.arange(len(self.assets)) if cols is None else np.asarray(cols, dtype=int)
        return Table(
            source=self.source,
            values=self.values[rows][:, cols],
            dates=self.dates[rows],
            assets=tuple(self.assets[c] for c in cols),
            rows=None if self.rows is None else self.rows[rows],
            lines=None if self.lines is None else self.lines[rows],
            date_column=self.date_column,
            notes=self.notes,
        )

"""Validation policy: from a parsed `Table` to a `MarketData`, raising typed errors or reporting repairs.

Order of checks, and why:

1. prices cells (at parse time, where the file row is known): numbers, finite, > 0;
2. dates strictly increasing (duplicates and backwards steps name both rows);
3. the asked-for window (start, end, assets): problems outside it do not matter to the caller;
4. enough rows, no asset without prices;
5. leading / trailing missing prices (an asset listed late or delisted): refuse, or trim to the common
   window (`edges="trim"`), reported as `Repair("trim_leading" | "trim_trailing")`;
6. frequency from the spacing of the remaining dates (`_freq`);
7. interior gaps: refuse, or carry the last price forward (`gaps="ffill"`), reported as
   `Repair("forward_fill")` with every filled date;
8. quality checks (`_quality`): likely bad prints and unadjusted splits, listed in `MarketData.suspects`
   and repaired only on request (`suspects="repair"`, each fix reported as a `Repair`).

Nothing is dropped or changed without a `Repair` saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    DuplicateDateError,
    EdgeGapError,
    EmptyColumnError,
    InfinitePriceError,
    InsufficientHistoryError,
    InteriorGapError,
    NonNumericPriceError,
    NonPositivePriceError,
    UnsortedDatesError,
)
from ..types import MarketData, Repair
from ._freq import infer_freq
from ._repair import apply_policy, check_policy
from ._select import DateLike, check_min_obs, require_enough, window
from ._table import Table, iso

__all__ = ["check_cells", "check_order", "finish", "GAPS", "EDGES"]

GAPS = ("raise", "ffill")
EDGES = ("raise", "trim")


def check_cells(values: np.ndarray, non_numeric: np.ndarray, *, locate: Callable[[int, int], dict],
                shown: Callable[[int, int], str],
                hint: Callable[[int, int], str | None] | None = None) -> None:
    """Refuse non-numeric, infinite and non-positive prices, naming the first such cell in file order."""
    checks = (
        (non_numeric, NonNumericPriceError, "is not a number",
         "a number such as 101.25 (an empty cell or NA marks a missing price)"),
        (np.isinf(values), InfinitePriceError, "is infinite", "a finite price > 0"),
        (values <= 0, NonPositivePriceError, "is not positive",
         "a price > 0 (log returns need positive prices)"),
    )
    for mask, error, what, expected in checks:
        if mask.any():
            # argwhere is row-major: the first row in the file, then the leftmost column.
            i, j = (int(x) for x in np.argwhere(mask)[0])
            n = int(mask.sum())
            more = f" ({n - 1} more such cell{'s' if n > 2 else ''} in the data)" if n > 1 else ""
            raise error(f"price {shown(i, j)} {what}{more}", **locate(i, j), expected=expected,
                        hint=hint(i, j) if hint is not None and error is NonNumericPriceError else None)


def check_order(table: Table) -> None:
    """Dates must be strictly increasing: name the first repeated or backwards date and both its rows."""
    if table.n_rows < 2:
        return
    # Compare int64 nanoseconds-or-finer counts: exact, and free of NaT (dates were parsed strictly).
    step = np.diff(table.dates.to_numpy().astype(np.int64))
    bad = np.flatnonzero(step <= 0)
    if bad.size == 0:
        return
    k = int(bad[0]) + 1
    prev = table.where(k - 1)
    prev_at = (f"line {prev['line']}" if "line" in prev else f"data row {prev['row']}" if "row" in prev
               else f"the row dated {prev['date']}")
    if step[k - 1] == 0:
        raise DuplicateDateError(f"the date repeats the previous row's ({prev_at})", **table.where(k),
                                 expected="each date once, in increasing order")
    hint = None
    if bool((step < 0).all()):
        hint = "The whole file is newest-first; sort it oldest-first"
    raise UnsortedDatesError(f"the date goes backwards: earlier than the previous row's {prev['date']} "
                             f"({prev_at})",
                             **table.where(k), expected="dates in increasing order (oldest first)", hint=hint)


def finish(table: Table, *, gaps: str = "raise", edges: str = "raise", min_obs: int = 2,
           start: DateLike | None = None, end: DateLike | None = None,
           assets: str | Sequence[str] | None = None, suspects: str = "report") -> MarketData:
    """Validate `table` under the given policies; the one way files and frames become `MarketData`."""
    check_policy(suspects)
    if gaps not in GAPS:
        raise ConfigError(f"gaps={gaps!r} is not valid; expected one of {', '.join(GAPS)}")
    if edges not in EDGES:
        raise ConfigError(f"edges={edges!r} is not valid; expected one of {', '.join(EDGES)}")
    min_obs = check_min_obs(min_obs)
    check_order(table)
    everything = table.dates
    rows, cols = window(table.dates, table.assets, start=start, end=end, assets=assets, source=table.source)
    table = table.take(rows, cols)
    require_enough(table.n_rows, min_obs=min_obs, source=table.source, start=start, end=end,
                   available=everything)
    present = ~np.isnan(table.values)
    empty = np.flatnonzero(~present.any(axis=0))
    if empty.size:
        scope = "in the selected window" if start is not None or end is not None else "in the data"
        raise EmptyColumnError(f"the asset has no price at all {scope} ({table.n_rows} rows, all missing)",
                               **table.where(None, int(empty[0])), expected="at least one price per asset")
    table, repairs = _edges(table, present, edges)
    require_enough(table.n_rows, min_obs=min_obs, source=table.source, start=start, end=end,
                   available=everything, after=" after trimming to the dates where every asset has a price")
    freq = infer_freq(table.dates, locate=lambda i: table.where(i))
    values, fills = _gaps(table, gaps)
    market = MarketData(prices=values, dates=table.dates, assets=table.assets, freq=freq, source=table.source,
                        repairs=(*table.notes, *repairs, *fills))
    return apply_policy(market, suspects)


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def _edges(table: Table, present: np.ndarray, edges: str) -> tuple[Table, list[Repair]]:
    n = table.n_rows
    first = present.argmax(axis=0)
    last = n - 1 - present[::-1].argmax(axis=0)
    dates = table.dates
    if edges == "raise":
        expected = ("a price on every row from the first date to the last; or edges='trim' to keep only the "
                    "dates where every asset has a price (reported in MarketData.repairs)")
        for j in range(len(table.assets)):
            if first[j] > 0:
                raise EdgeGapError(
                    f"the asset has no price before {iso(dates[first[j]])}: its first {_rows(int(first[j]))} "
                    "are missing (listed later than the other assets?)", **table.where(0, j),
                    expected=expected)
        for j in range(len(table.assets)):
            if last[j] < n - 1:
                raise EdgeGapError(
                    f"the asset has no price after {iso(dates[last[j]])}: "
                    f"its last {_rows(int(n - 1 - last[j]))} are missing (delisted?)",
                    **table.where(int(last[j]) + 1, j), expected=expected)
        return table, []
    s, e = int(first.max()), int(last.min())
    if s > e:
        a, b = int(last.argmin()), int(first.argmax())
        raise InsufficientHistoryError(
            f"no date on which every asset has a price: {table.assets[a]!r} ends on {iso(dates[last[a]])}, "
            f"before {table.assets[b]!r} starts on {iso(dates[first[b]])}", path=table.source,
            expected="assets whose histories overlap; select fewer assets")
    repairs = []
    if s > 0:
        repairs.append(_trim("trim_leading", table, first == s, dates[:s],
                             f"no price before {iso(dates[s])}"))
    if e < n - 1:
        repairs.append(_trim("trim_trailing", table, last == e, dates[e + 1:],
                             f"no price after {iso(dates[e])}"))
    return table.take(slice(s, e + 1)), repairs


def _trim(kind: str, table: Table, limiting: np.ndarray, removed: pd.DatetimeIndex, why: str) -> Repair:
    names = [table.assets[j] for j in np.flatnonzero(limiting)]
    who = f"{names[0]!r} has" if len(names) == 1 else f"{', '.join(map(repr, names))} have"
    detail = (f"{who} {why}; {_rows(len(removed))} ({iso(removed[0])}..{iso(removed[-1])}) removed for all "
              "assets (edges='trim')")
    # `column` names the asset that limits the window (the first one, in column order, when several do).
    return Repair(kind=kind, column=names[0], dates=tuple(iso(d) for d in removed), detail=detail)


def _gaps(table: Table, gaps: str) -> tuple[np.ndarray, list[Repair]]:
    missing = np.isnan(table.values)
    if not missing.any():
        return table.values, []
    if gaps == "raise":
        i, j = (int(x) for x in np.argwhere(missing)[0])
        n_col, n_all = int(missing[:, j].sum()), int(missing.sum())
        what = ("the price is missing" if table.rows is not None
                else "there is no row for this asset on this date (other assets have one)")
        raise InteriorGapError(
            f"{what}, between the asset's first and last price ({n_col} such gap{'s' if n_col > 1 else ''} "
            f"in this asset, {n_all} in all)", **table.where(i, j),
            expected="a price on every row between an asset's first and last price; or gaps='ffill' to carry "
                     "the previous price forward (reported in MarketData.repairs)")
    # After the edge policy every asset has a price on the first row, so a forward fill fills everything.
    values = pd.DataFrame(table.values).ffill().to_numpy()
    repairs = []
    for j in np.flatnonzero(missing.any(axis=0)):
        filled = table.dates[missing[:, j]]
        repairs.append(Repair(
            kind="forward_fill", column=table.assets[j], dates=tuple(iso(d) for d in filled),
            detail=f"missing prices inside {table.assets[j]!r}'s history set to the last earlier price "
                   "(gaps='ffill')"))
    return values, repairs

"""Data sets that ship with stressgen (no download at run time).

* ``sp500-20``: vendored from the skfolio 1.12.2 wheel (BSD-3, see ``_files/LICENSE-skfolio.txt``).
* ``sp500-index``: read from `arch.data.sp500`, which arch (a dependency) ships.
* ``wti``: WTI crude oil spot, read from `arch.data.wti` (FRED's DCOILWTICO); the days FRED marks as
  missing (US holidays, when the spot market did not fix a price) are dropped, as a calendar of trading days
  would not have them.

Both go through the same parser and validator as user files, so they are held to the same rules and
quality checks (the whole set is checked, before any cut, so its suspects do not depend on the cut); the
parsed result is cached (`MarketData` is immutable, so sharing one object is safe).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

from ..catalog import DATASETS
from ..errors import UnknownNameError
from ..types import MarketData
from ._io import from_frame
from ._parse import to_table
from ._read import read_raw
from ._repair import check_policy, repair_suspects
from ._select import DateLike, select
from ._validate import finish

__all__ = ["datasets", "load"]



def datasets() -> dict[str, str]:
    """Bundled data set names, each with a one-line description."""
    return dict(DATASETS)  # kept in stressgen.catalog, so that `stressgen list` needs no data import


def _sp500_20() -> MarketData:
    ref = resources.files(__package__).joinpath("_files", "sp500_20.csv.gz")
    with resources.as_file(ref) as path:
        raw = read_raw(path)
    # Report the data set by name rather than by the install path of the vendored file.
    raw = type(raw)("sp500-20", raw.header, raw.frame, raw.rows, raw.lines)
    return finish(to_table(raw, layout="wide", date_column="Date"))


def _sp500_index() -> MarketData:
    from arch.data import sp500  # imported here: loading arch's data module is only needed for this set

    frame = sp500.load()[["Adj Close"]].rename(columns={"Adj Close": "SP500"})
    return from_frame(frame, source="sp500-index")


def _wti() -> MarketData:
    from arch.data import wti  # imported here, as for sp500-index

    frame = wti.load()[["DCOILWTICO"]].rename(columns={"DCOILWTICO": "WTI"}).dropna()
    return from_frame(frame, source="wti")


_LOADERS = {"sp500-20": _sp500_20, "sp500-index": _sp500_index, "wti": _wti}


@functools.lru_cache(maxsize=len(_LOADERS))
def _full(name: str) -> MarketData:
    return _LOADERS[name]()


@functools.lru_cache(maxsize=len(_LOADERS))
def _repaired(name: str) -> MarketData:
    return repair_suspects(_full(name))


def load(name: str, *, start: DateLike | None = None, end: DateLike | None = None,
         assets: str | Sequence[str] | None = None, suspects: str = "report") -> MarketData:
    """A bundled data set (see `datasets()`), optionally cut to dates `start`..`end` (inclusive) and `assets`.

    `suspects`: the likely bad prints and unadjusted splits of the whole set are listed in
    ``MarketData.suspects`` (those inside the cut). ``"report"`` leaves the prices as they are;
    ``"repair"`` fixes them in the whole set before the cut, and lists each fix in ``MarketData.repairs``.

    Raises UnknownNameError for an unknown name, UnknownAssetError for an asset the set lacks,
    InsufficientHistoryError when the window holds fewer than two dates, ConfigError for an invalid
    `suspects`.
    """
    if name not in _LOADERS:
        raise UnknownNameError("dataset", name, list(_LOADERS))
    full = _repaired(name) if check_policy(suspects) == "repair" else _full(name)
    if start is None and end is None and assets is None:
        return full
    return select(full, start=start, end=end, assets=assets)

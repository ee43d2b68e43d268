"""Strategy defaults counted in business days, on data of another frequency: what they span there.

A built-in strategy's windows were chosen for daily data: ``ts_momentum``'s 252-close lookback is a year of
business days, 21 years of months and almost five years of weeks. Its fields say so (`strategy.business_days`).
A run on weekly, monthly or calendar-daily data names every such field left at its default, the span it
covers there and the value of the same span in the data's periods; it does not change the value. Why not
change it: a parameter means what the strategy's documentation says, in closes, on every data set, and a run
that rescaled it silently would run a different strategy from the one the spec names (the horizon's default
is reported the same way, `pipeline.horizon_note`). A plugin declares its own fields with `business_days`;
one that does not is not checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from .strategy import ParamGrid, user_strategy
from .types import BUSINESS_DAYS, PERIODS_PER_YEAR, period_words

__all__ = ["DayDefault", "day_defaults", "day_defaults_note"]

_DAYS = PERIODS_PER_YEAR["B"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DayDefault:
    """One field left at a default counted in business days.

    Attributes:
        path: the field as a spec names it, nested fields joined by dots (``"inner.every"``).
        value: its default.
        kind: ``"span"`` (closes) or ``"per_year"`` (an annualisation: periods in a year).
        same: the value that means the same on the data (the span in the data's periods, at least 1; or the
            data's periods per year).
    """

    path: str
    value: float
    kind: str
    same: float


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _is_default(value: Any, default: Any) -> bool:
    """`value` equals the field's default: a number, or every row of a grid's broadcast field."""
    if default is dataclasses.MISSING:
        return False
    try:
        values = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return False
    return values.size > 0 and bool(np.all(values == float(default)))


def _walk(obj: Any, prefix: str, skip: frozenset[str], ppy: int) -> Iterable[DayDefault]:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # an overlay's inner strategy
            yield from _walk(value, f"{prefix}{f.name}.", frozenset(), ppy)
            continue
        kind = f.metadata.get(BUSINESS_DAYS)
        if kind is None:
            continue
        default = _default(f)
        if not _is_default(value, default):
            continue
        same = float(ppy) if kind == "per_year" else max(1.0, round(float(default) * ppy / _DAYS))
        yield DayDefault(path=f"{prefix}{f.name}", value=float(default), kind=kind, same=same)


def day_defaults(obj: Any, periods_per_year: int, *, set_fields: Iterable[str] = ()) -> tuple[DayDefault, ...]:
    """The fields of `obj` (a strategy, a `ParamGrid` or a generator config) left at a default counted in
    business days, on data with `periods_per_year` periods a year; none on business-daily data. `set_fields`:
    top-level fields the user set (a spec's params and grid), never reported even where they equal the
    default."""
    if int(periods_per_year) == _DAYS:
        return ()
    obj = user_strategy(obj.strategy if isinstance(obj, ParamGrid) else obj)
    if not dataclasses.is_dataclass(obj):
        return ()
    return tuple(_walk(obj, "", frozenset(set_fields), int(periods_per_year)))


def day_defaults_note(name: str, found: tuple[DayDefault, ...], periods_per_year: int) -> str:
    """One line for strategy `name`: each default, what it spans on the data and the value of the same span,
    e.g. ``ts_momentum: ... lookback = 252 spans 21 years of months, lookback = 12 the 1 it spans on business
    days; ...``."""
    day, daily = period_words(periods_per_year)
    parts = []
    for d in found:
        if d.kind == "per_year":
            parts.append(f"{d.path} = {d.value:g} annualises as if a year held {d.value:g} {day}s; it holds "
                         f"{periods_per_year} (set {d.path} = {d.same:g})")
        else:
            parts.append(f"{d.path} = {d.value:g} spans {d.value / periods_per_year:.3g} years of {day}s, "
                         f"{d.path} = {d.same:g} the {d.value / _DAYS:.3g} it spans on business days")
    return (f"{name}: defaults counted in business days, left as they are on this {daily} data: "
            + "; ".join(parts))

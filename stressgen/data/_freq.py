"""Inferring the frequency of a price history from the spacing of its dates, and refusing mixed spacings.

Spacings are whole calendar days between consecutive dates. The typical (median) spacing picks the
frequency; then every spacing must fall in that frequency's allowed band:

* ``B`` business-daily: 1..7 days. Weekends give 3, holidays 2..5, and exchange closures up to 7
  (NYSE, 2001-09-10 -> 2001-09-17). Chosen when few dates fall on a weekend.
* ``D`` calendar-daily: 1..7 days, chosen when many dates fall on weekends (crypto, some indices).
* ``W`` weekly: 5..9 days (a holiday moves a weekly close by a day or two).
* ``M`` monthly: 25..35 days (month-end business days are 26..33 days apart).

A spacing outside the band is either a hole in the data (a few bad spacings) or a change of frequency
(the spacing stays outside the band afterwards); the second is a `MixedFrequencyError` naming the row
where the spacing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import FrequencyError, MixedFrequencyError

__all__ = ["infer_freq", "BANDS"]

BANDS = {"B": (1, 7), "D": (1, 7), "W": (5, 9), "M": (25, 35)}
_NAMES = {"B": "business-daily", "D": "calendar-daily", "W": "weekly", "M": "monthly"}
# Share of dates on Saturday/Sunday above which daily data is calendar-daily rather than business-daily;
# business calendars with the odd weekend session (make-up trading days) stay well below it.
_WEEKEND_SHARE = 0.10
_LOOKAHEAD = 5  # spacings examined after the first bad one to tell a hole from a change of frequency


def _label(days: float) -> str:
    apart = f"about {days:g} day{'' if days == 1 else 's'} apart"
    for freq, (lo, hi) in BANDS.items():
        if freq != "D" and lo <= days <= hi:
            return f"{_NAMES[freq]} ({apart})"
    return apart


def infer_freq(dates: pd.DatetimeIndex, *, locate: Callable[[int], dict]) -> str:
    """Frequency code ("B", "D", "W" or "M") of sorted, distinct `dates` (at least two).

    `locate(i)` gives the error location (file, row, line, date) of row ``i``.
    """
    days = dates.normalize().to_numpy().astype("datetime64[D]").astype(np.int64)
    spacing = np.diff(days)
    if len(spacing) == 0:
        raise FrequencyError("cannot infer a frequency from a single date", **locate(0),
                             expected="at least two dates")
    same_day = np.flatnonzero(spacing == 0)
    if same_day.size:
        i = int(same_day[0]) + 1
        raise FrequencyError("a second row on the same calendar day: intraday data is not supported",
                             **locate(i), expected="one row per day, week or month")
    typical = float(np.median(spacing))
    if typical <= 4:
        weekend = float(np.mean(dates.day_of_week >= 5))
        freq = "D" if weekend > _WEEKEND_SHARE else "B"
    elif typical <= 9:
        freq = "W"
    elif 25 <= typical <= 35:
        freq = "M"
    else:
        raise FrequencyError(
            f"dates are typically {typical:g} days apart, which is not a supported frequency", **locate(1),
            expected="business-daily (B), calendar-daily (D), weekly (W) or monthly (M) data")
    lo, hi = BANDS[freq]
    bad = (spacing < lo) | (spacing > hi)
    if not bad.any():
        return freq
    j = int(np.flatnonzero(bad)[0])  # spacing j is between rows j and j + 1
    ahead = bad[j:j + _LOOKAHEAD]
    mixed = len(ahead) >= 2 and int(ahead.sum()) >= min(3, len(ahead))
    if not mixed:
        raise FrequencyError(
            f"this row is {int(spacing[j])} days after the previous one ({dates[j].date()}), but the data is "
            f"{_NAMES[freq]} ({freq}), where consecutive dates are {lo} to {hi} days apart", **locate(j + 1),
            expected=f"no hole longer than {hi} days",
            hint="Fill the hole, or load a window without it (start=, end=)")
    if j == 0:
        # The file starts in another frequency: the change is where the typical spacing begins.
        good = np.flatnonzero(~bad)
        boundary = int(good[0]) + 1 if good.size else 1
    else:
        boundary = j + 1
    head = spacing[max(0, boundary - 21):boundary - 1]
    before = float(np.median(head)) if head.size else float(spacing[0])
    after = float(np.median(spacing[boundary - 1:boundary - 1 + 20]))
    raise MixedFrequencyError(
        f"the spacing of dates changes at this row: rows before it are {_label(before)}, this row and the "
        f"ones after it are {_label(after)}", **locate(boundary),
        expected=f"one frequency throughout (most of the data is {_NAMES[freq]}, {freq})",
        hint="Split the file, or select one part with start=/end=")

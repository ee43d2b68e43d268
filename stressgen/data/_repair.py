"""Opt-in repair of the suspects that the quality checks flag (`_quality`). Each fix is a listed `Repair`.

* A bad print: the wrong prices, from the suspect's date up to the day before the reversal, are replaced
  by linear interpolation in log price between the good neighbours, by row position. That is a constant
  return across the gap, so the repair adds no move of its own. The reversal is found again by the rule
  the check used (`bad_print_end`), so the repair and the report agree on which prices are wrong.
* An unadjusted split: every price before the suspect's date is divided by the nearest split ratio, or
  multiplied by it for a reverse split. This is how adjusted closes treat a split: the history is scaled
  back, and the latest prices stay as quoted.

The repaired market no longer lists the fixed suspects. Suspects of kinds not asked for stay listed. So
does a suspect that cannot be repaired in the data at hand, for example a bad print whose reversal lies
beyond the end of a cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..types import MarketData, Repair, Suspect
from ._quality import KINDS, QualityConfig, bad_print_end, find_suspects, split_ratio
from ._table import iso

__all__ = ["repair_suspects", "apply_policy", "check_policy", "suspects_within", "SUSPECTS"]

SUSPECTS = ("report", "repair")


def check_policy(suspects: str) -> str:
    """`suspects` if it is a valid loader option, else ConfigError naming the option and the choices."""
    if not isinstance(suspects, str) or suspects not in SUSPECTS:
        raise ConfigError(f"suspects={suspects!r} is not valid; expected one of {', '.join(SUSPECTS)} "
                          "('report' lists likely bad prints and unadjusted splits in MarketData.suspects; "
                          "'repair' also fixes them and lists each fix in MarketData.repairs)")
    return suspects


def apply_policy(market: MarketData, suspects: str) -> MarketData:
    """`market` with its suspects found (always) and repaired (when ``suspects == "repair"``)."""
    check_policy(suspects)
    found = find_suspects(market.prices, market.dates, market.assets)
    market = dataclasses.replace(market, suspects=found)
    return repair_suspects(market) if suspects == "repair" else market


def repair_suspects(market: MarketData, *, kinds: str | Sequence[str] = KINDS,
                    config: QualityConfig = QualityConfig()) -> MarketData:
    """Fix the suspects of the given `kinds` listed in ``market.suspects``. Each fix is added to `repairs`.

    Args:
        market: a market whose `suspects` were filled by a loader or by `find_suspects`.
        kinds: ``"bad_print"``, ``"split"``, or both (the default).
        config: the thresholds the suspects were found with. The repair uses them to find a bad print's
            reversal and a split's ratio.

    Returns:
        A new `MarketData`. The fixed suspects are gone from `suspects`, and each fix is a
        ``Repair("repair_bad_print" | "adjust_split")``. Nothing else changes. A suspect that cannot be
        repaired in this data stays listed, for example a bad print whose reversal lies past the end of a cut.
    """
    wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown or not wanted:
        raise ConfigError(f"kinds={kinds!r} is not valid; expected one or more of {', '.join(KINDS)}")
    # A writable copy; only the repaired cells are written, so every other price stays bit for bit.
    prices = np.array(market.prices)
    repairs, kept = list(market.repairs), []
    for suspect in market.suspects:
        fix = None
        if suspect.kind in wanted:
            fix = (_bad_print if suspect.kind == "bad_print" else _split)(prices, market, suspect, config)
        if fix is None:
            kept.append(suspect)
        else:
            repairs.append(fix)
    if len(kept) == len(market.suspects):
        return market
    return dataclasses.replace(market, prices=prices, repairs=tuple(repairs), suspects=tuple(kept))


def _row(market: MarketData, suspect: Suspect) -> tuple[int, int] | None:
    """(price row of the suspect's date, asset column), or None when the market lacks either."""
    if suspect.asset not in market.assets:
        return None
    ts = pd.Timestamp(suspect.date)
    i = int(market.dates.searchsorted(ts))
    if i >= market.n_obs or market.dates[i] != ts:
        return None
    return i, market.assets.index(suspect.asset)


def _bad_print(prices: np.ndarray, market: MarketData, suspect: Suspect,
               config: QualityConfig) -> Repair | None:
    where = _row(market, suspect)
    if where is None or where[0] == 0:
        return None
    i, j = where
    end = bad_print_end(np.diff(np.log(prices[:, j])), i - 1, config)
    if end is None:
        return None
    a, b = i - 1, end + 1  # the good neighbours: the price before the jump and the one after the reversal
    w = (np.arange(i, b) - a) / (b - a)
    lo, hi = np.log(prices[a, j]), np.log(prices[b, j])
    prices[i:b, j] = np.exp(lo + w * (hi - lo))
    dates = market.dates[i:b]
    return Repair(kind="repair_bad_print", column=suspect.asset, dates=tuple(iso(d) for d in dates),
                  detail=f"{len(dates)} likely bad price{'s' if len(dates) > 1 else ''} of {suspect.asset!r} "
                         f"from {suspect.date} (a {suspect.size:+.3f} log return reversed on "
                         f"{iso(market.dates[b])}) interpolated in log price between {iso(market.dates[a])} "
                         f"and {iso(market.dates[b])} (suspects='repair')")


def _split(prices: np.ndarray, market: MarketData, suspect: Suspect, config: QualityConfig) -> Repair | None:
    where = _row(market, suspect)
    if where is None or where[0] == 0:
        return None
    i, j = where
    ratio = split_ratio(suspect.size, config)
    # A fall (forward split) divides the earlier prices by the ratio; a rise (reverse split) multiplies them.
    if suspect.size < 0:
        prices[:i, j] /= ratio
    else:
        prices[:i, j] *= ratio
    how = "divided" if suspect.size < 0 else "multiplied"
    return Repair(kind="adjust_split", column=suspect.asset, dates=(suspect.date,),
                  detail=f"prices of {suspect.asset!r} before {suspect.date} {how} by {ratio:g} for a likely "
                         f"unadjusted split (a {suspect.size:+.3f} log return; suspects='repair')")


def suspects_within(suspects: tuple[Suspect, ...], dates: pd.DatetimeIndex,
                    assets: tuple[str, ...]) -> tuple[Suspect, ...]:
    """The suspects of a cut of the data: those of its assets whose return lies inside it. A suspect's date
    must be after the cut's first date, because its return compares the price on that date with the one
    before. The cut is not checked again, so a suspect stays the same in every cut that holds it."""
    inside = set(iso(d) for d in dates[1:])
    return tuple(s for s in suspects if s.asset in assets and s.date in inside)

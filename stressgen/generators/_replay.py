"""The `CrisisReplay` condition: a historical episode's real returns replayed at the start of every world, then
continued by the generator from the state the episode left (docs/stress.md, "Crisis replay"). The GARCH
sampler applies it (`_garch_sim.simulate` with ``replayed=True``); other families refuse it.

The fitted generator keeps neither the dates nor the whole of its fit data, so the episode's returns are cut
from a `MarketData` when the condition is built (`CrisisReplay.from_market`) and travel in the condition."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..types import MarketData

__all__ = ["CrisisReplay", "EPISODES"]

# name -> (first day, last day, description); both days inclusive, as return dates (the close-to-close return
# ending that day). Anchors are the commonly quoted peak and trough dates of the S&P 500 or the event's start.
EPISODES: dict[str, tuple[str, str, str]] = {
    # Russia's default (17 Aug 1998) to the post-LTCM-rescue S&P low (8 Oct 1998)
    "ltcm-1998": ("1998-08-17", "1998-10-08", "Russian default and the LTCM collapse"),
    # Nasdaq/S&P bear market: S&P 500 peak of 24 Mar 2000 to its trough of 9 Oct 2002
    "dotcom-2000": ("2000-03-24", "2002-10-09", "the dot-com fall, 2000-02"),
    # the last trading day before Lehman's bankruptcy (12 Sep 2008) to the S&P 500 low of 9 Mar 2009
    "gfc-2008": ("2008-09-12", "2009-03-09", "global financial crisis, Lehman to the March 2009 low"),
    # S&P 500 high before the US debt-ceiling/euro sell-off (22 Jul 2011) to its low of 3 Oct 2011
    "euro-2011": ("2011-07-22", "2011-10-03", "euro sovereign-debt crisis and the US downgrade"),
    # S&P 500 record close (19 Feb 2020) to its COVID trough (23 Mar 2020)
    "covid-2020": ("2020-02-19", "2020-03-23", "COVID-19 crash"),
    # first trading day of 2022 (S&P 500 record close, 3 Jan) to the low of 12 Oct 2022
    "rates-2022": ("2022-01-03", "2022-10-12", "2022 rate-hike bear market"),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CrisisReplay:
    """A named episode (`EPISODES`), or explicit `start`/`end` dates, replayed at the start of every world.

    Attributes:
        episode: a key of `EPISODES`, or None with `start` and `end` given.
        start, end: ISO dates (inclusive) of the episode's returns; filled from `EPISODES` for a named one.
        returns: ``[days, assets]`` float64 real log returns of the episode (`from_market`); None until cut.
        assets: the asset names of `returns`' columns.
    """

    episode: str | None = None
    start: str | None = None
    end: str | None = None
    returns: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    assets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.episode is not None:
            if self.episode not in EPISODES:
                raise ConfigError(f"replay.episode: unknown episode {self.episode!r}; the bundled episodes are "
                                  f"{', '.join(EPISODES)}")
            start, end, _ = EPISODES[self.episode]
            if (self.start, self.end) not in ((None, None), (start, end)):
                raise ConfigError(f"replay.start/end: episode {self.episode!r} has its own dates {start}..{end}; "
                                  "give either a name or dates")
            object.__setattr__(self, "start", start)
            object.__setattr__(self, "end", end)
        elif self.start is None or self.end is None:
            raise ConfigError("replay.episode: give a bundled episode name "
                              f"({', '.join(EPISODES)}) or both replay.start and replay.end")
        for name in ("start", "end"):
            try:
                pd.Timestamp(getattr(self, name))
            except (ValueError, TypeError):
                raise ConfigError(f"replay.{name} must be an ISO date, got {getattr(self, name)!r}") from None
        if pd.Timestamp(self.start) > pd.Timestamp(self.end):
            raise ConfigError(f"replay.start {self.start} is after replay.end {self.end}")
        if self.returns is not None:
            r = np.asarray(self.returns, dtype=np.float64)
            if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] != len(self.assets) or not np.isfinite(r).all():
                raise ConfigError(f"replay.returns must be finite [days >= 1, {len(self.assets)} assets], "
                                  f"got shape {r.shape}")
            object.__setattr__(self, "returns", r)

    @property
    def label(self) -> str:
        return self.episode or "custom"

    @property
    def days(self) -> int:
        """Length of the episode in trading days (0 until its returns are cut)."""
        return 0 if self.returns is None else int(self.returns.shape[0])

    @classmethod
    def from_market(cls, market: MarketData, episode: str | None = None, *, start: str | None = None,
                    end: str | None = None) -> CrisisReplay:
        """The condition with the episode's real log returns cut from `market` (all its assets); the episode
        must lie inside the market's return dates (ConfigError naming it, its dates and the market's span)."""
        spec = cls(episode=episode, start=start, end=end)
        dates = market.return_dates
        lo, hi = pd.Timestamp(spec.start), pd.Timestamp(spec.end)
        if len(dates) == 0 or lo < dates[0] or hi > dates[-1]:
            span = "no returns" if len(dates) == 0 else f"{dates[0].date()}..{dates[-1].date()}"
            raise ConfigError(f"replay.episode {spec.label!r} ({spec.start}..{spec.end}) lies outside the "
                              f"history of {market.source} ({span})")
        mask = (dates >= lo) & (dates <= hi)
        if not mask.any():
            raise ConfigError(f"replay.episode {spec.label!r} ({spec.start}..{spec.end}) holds no trading day "
                              f"of {market.source}")
        return cls(episode=episode, start=spec.start, end=spec.end, returns=market.log_returns[mask],
                   assets=market.assets)

    def check(self, assets: tuple[str, ...], horizon: int) -> np.ndarray:
        """``[days, assets]`` float32 returns to replay for a fit on `assets` over `horizon` days (ConfigError
        naming the field when the returns are missing, the assets differ or the episode is too long)."""
        if self.returns is None:
            raise ConfigError(f"replay.returns: episode {self.label!r} carries no returns; build the condition "
                              "with CrisisReplay.from_market(market, episode)")
        if tuple(self.assets) != tuple(assets):
            raise ConfigError(f"replay.assets: the episode was cut for {', '.join(self.assets)}; the generator "
                              f"was fitted on {', '.join(assets)}")
        if self.days > horizon:
            raise ConfigError(f"replay.episode {self.label!r} lasts {self.days} trading days, longer than the "
                              f"horizon of {horizon} days")
        return self.returns.astype(np.float32)

    def describe(self) -> str:
        """Short text for `Provenance.condition`."""
        return f"replay({self.label}, {self.start}..{self.end}, {self.days} days)"

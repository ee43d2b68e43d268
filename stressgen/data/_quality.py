"""Data quality checks: flag likely bad prints and unadjusted splits in a price history (pure NumPy).

Flagging changes nothing. The loaders put what `find_suspects` returns in ``MarketData.suspects``. A repair
happens only on request (`repair_suspects`, or ``suspects="repair"`` in a loader) and is then listed in
``MarketData.repairs``.

How a point is judged, and why:

* **Log returns in robust-sigma units.** Every test is on ``r[t] = log(p[t] / p[t-1])`` divided by a local
  robust scale. So the same thresholds serve equities, indices, FX, commodities and crypto, daily or weekly,
  whatever the price level or the volatility. No threshold is in price units or percent, except the cap on
  the split-ratio tolerance, which is a distance between split ratios.
* **Local robust scale.** ``sigma[t] = median(|r|) / 0.6745`` over the `window` returns before t and the
  `window` returns after it:
  - It leaves out ``r[t]`` itself, because a point must not vouch for itself.
  - It leaves out zero returns. A zero return is usually a stale or forward-filled price and says nothing
    about how far the price moves. An illiquid asset whose price stays unchanged on most days would
    otherwise get a scale of zero.
  - It uses the median, so the few outliers in the window (the reversal of a bad print, a second bad print,
    the crash's next days) do not move it.
  - It is two-sided, so the first day of a volatile spell is judged against the volatility that follows it.
  - It is centred on zero, not on the median return. Drift per period is negligible against the scale.
  - 0.6745 is the median of ``|N(0, 1)|``, so for Gaussian returns sigma is the standard deviation.
  - With fewer than `min_scale_obs` non-zero returns in the window, the asset's whole-history value is used.
* **Bad print: a large move that undoes itself.** ``|r[t]| >= bad_print_sigmas``. Within
  `reversal_periods` periods, a single return of the opposite sign undoes at least `reversal_fraction` of it.
  The returns in between are calm (``< calm_sigmas``). The whole round trip nets out to no more than
  ordinary moves would: ``|r[t] + ... + r[k]| <= net_sigmas * sigma[t] * sqrt(k - t + 1)``. This is the
  signature of a wrong price, or a run of wrong prices, between good ones: the series jumps to a wrong
  level, sits there, and jumps back to where the true price went. Genuine news of that size is not undone
  in one step within days, and when a crash does rebound, it leaves a net move in proportion to its size.
* **Unadjusted split: a large move at a split ratio that stays.**
  - ``|r[t]| >= split_sigmas``. The move is not a bad print (it does not reverse), and it does not itself
    undo a move of the `reversal_periods` periods before, by the same `reversal_fraction` rule: a split is
    a fresh jump, while the end of a wrong price that went unflagged is not.
  - The price ratio ``exp(|r[t]|)`` is close to a common split ratio in `split_ratios`: a fall is a forward
    split (2:1 halves the price), a rise a reverse split (1:2 doubles it).
  - "Close" means within ``split_tolerance_sigmas`` robust sigmas, because the day's genuine move rides on
    top of the ratio. This tolerance is capped at `split_tolerance_max` in log units, far below the gap of
    about 0.29 between neighbouring ratios (3:2 and 2:1), so that one ratio is never mistaken for another.
* **A move the cross-section shares is real.** This check needs at least `shared_min_assets` other assets.
  Take the median of their signed moves that period, in their own robust sigmas and in the direction of the
  candidate's move. If it is at least `shared_sigmas` and at least `shared_fraction` of the candidate's own
  move, the move is market-wide (1987-10-19, 2008-10, 2020-03) and is not flagged, even when it partly
  reverses. A bad print or a split happens to one asset, not to half the market at once. The fraction
  matters: a 200-sigma decimal slip on a day the market fell 3 sigmas is still a bad print. The price of
  this check is that a whole bad *row* (every asset wrong on one date) is not caught.
* **Edges.** A move in the last `reversal_periods` periods cannot be seen to reverse, so it is judged on the
  periods that remain. A bad print on the very last price can go unflagged.

The defaults follow from these principles. They were checked on synthetic heavy-tailed GARCH paths with
planted errors (``tests/data/test_quality.py``). One choice was revisited after a look at the bundled
sp500-20 (``docs/data.md``): a first split tolerance of 2 sigmas, capped at 0.1, flagged seven genuine-looking
single-stock moves of -29% to +52%, five of them near 3:2, among them profit warnings and earnings days.
That showed the synthetic paths lacked single-stock jumps, and the tolerance was narrowed to the
one-ordinary-day rule above. No other threshold was set by looking at bundled data.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..types import Suspect
from ._table import iso

__all__ = ["QualityConfig", "find_suspects", "local_scale", "split_ratio", "bad_print_end", "KINDS"]

KINDS = ("bad_print", "split")
_MAD_TO_SIGMA = 0.6744897501960817  # median of |N(0, 1)|: median(|r|) / this is sigma for Gaussian r


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality checks. Every size is in local robust sigmas (see the module docstring)."""

    # 21 periods each side: about a month of daily data, enough for a stable median but still local
    # enough to follow volatility regimes.
    window: int = 21
    # Below 10 non-zero returns in the window, a median is too noisy; use the asset's whole history instead.
    min_scale_obs: int = 10
    # 10 robust sigmas: far beyond any Gaussian day. Heavy tails make such days rare but real, so a move this
    # size is only a candidate; the reversal is what marks it as a bad print.
    bad_print_sigmas: float = 10.0
    # At least 70% of the jump is undone by one opposite move. A bad print comes back almost fully: the
    # slack is for the genuine moves of the days around it.
    reversal_fraction: float = 0.7
    # A bad price is corrected within days. A genuine rebound after a week or more is not a bad print.
    reversal_periods: int = 5
    # The round trip (the jump, the days in between, the jump back) nets out to what that many ordinary
    # periods add up to: at most 3 robust sigmas times the square root of their number. A wrong price
    # leaves no trace once corrected. A genuine crash and rebound leaves a net move in proportion to the
    # crash: -28% then +21% nets -7%, about 6 sigmas for a stock with 2.3% daily moves.
    net_sigmas: float = 4.0
    # The days between the jump and its reversal move less than this. A wrong price sits at the wrong level
    # and carries at most the true price's ordinary moves, while a genuinely volatile spell moves on. A
    # fat-tailed ordinary day rarely passes 6 robust sigmas (about 1 day in 400 for Student-t(4) shocks).
    calm_sigmas: float = 6.0
    # The split ratio is itself strong evidence, so the size bar is lower than for a bad print. 8 sigma is
    # still far outside ordinary days.
    split_sigmas: float = 8.0
    # Common ratios, used in both directions: n:1 forward splits and 1:n reverse splits.
    split_ratios: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 5.0, 10.0)
    # The day's genuine move rides on the ratio. An ordinary day moves less than 1 robust sigma about two
    # times in three, so most splits are caught. The window stays narrow, because genuine single-stock
    # jumps of -30% to -50% (earnings, warnings) are far more common than an unadjusted split in data sold
    # as adjusted, and any of them can land near 3:2 or 2:1 by chance.
    split_tolerance_sigmas: float = 1.0
    # The tolerance is never more than 0.05 in log units (5%), a sixth of the 0.29 gap between 3:2 and 2:1.
    # Above it, a volatile asset's window would cover a good part of the way to the next ratio.
    split_tolerance_max: float = 0.05
    # A move is shared when half of the other assets moved the same way that day, by at least 2 robust
    # sigmas (a clear market move)...
    shared_sigmas: float = 2.0
    # ...and by at least a quarter of the candidate's move in robust sigmas. A common shock moves each asset
    # by its beta over its volatility, and these differ across assets by a factor of a few, not of ten.
    shared_fraction: float = 0.25
    # The cross-section check needs this many other assets, else the median of the others means little.
    shared_min_assets: int = 3

    def __post_init__(self) -> None:
        for name in ("window", "min_scale_obs", "reversal_periods", "shared_min_assets"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name}: {value!r} is not valid; expected an integer >= 1")
        for name in ("bad_print_sigmas", "calm_sigmas", "net_sigmas", "split_sigmas",
                     "split_tolerance_sigmas", "split_tolerance_max", "shared_sigmas"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name}: {value!r} is not valid; expected a number > 0")
        for name in ("reversal_fraction", "shared_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(f"{name}: {value!r} is not valid; expected a number in (0, 1]")
        if not self.split_ratios or any(not r > 1 for r in self.split_ratios):
            raise ConfigError(f"split_ratios: {self.split_ratios!r} is not valid; expected ratios > 1 "
                              "(each is used both ways, as n:1 and 1:n)")


def local_scale(r: np.ndarray, config: QualityConfig = QualityConfig()) -> np.ndarray:
    """Robust sigma of each return of the 1-d `r`, from its neighbours (itself and zero returns excluded)."""
    w = config.window
    a = np.abs(np.asarray(r, dtype=np.float64))
    a[~(a > 0)] = np.nan  # zero (stale) and non-finite returns carry no scale information
    whole = np.nanmedian(a) if np.isfinite(a).any() else np.nan
    pad = np.full(w, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, a, pad]), 2 * w + 1).copy()
    windows[:, w] = np.nan  # the point itself
    count = np.isfinite(windows).sum(axis=1)
    with warnings.catch_warnings():  # all-NaN windows are replaced by `whole` below
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(windows, axis=1)
    return np.where(count >= config.min_scale_obs, med, whole) / _MAD_TO_SIGMA


def split_ratio(size: float, config: QualityConfig = QualityConfig()) -> float:
    """The split ratio of `config.split_ratios` nearest to the move `size` (a log return), in log distance."""
    ratios = np.asarray(config.split_ratios, dtype=np.float64)
    return float(ratios[np.argmin(np.abs(np.log(ratios) - abs(size)))])


def bad_print_end(r: np.ndarray, t: int, config: QualityConfig = QualityConfig(),
                  sigma: np.ndarray | None = None) -> int | None:
    """Index of the return that reverses ``r[t]`` as a bad print, or None.

    The reversal is the first later return within `reversal_periods` that has the opposite sign and
    undoes at least `reversal_fraction` of ``r[t]``. When the local scales `sigma` are given (detection),
    two more conditions apply. The returns in between must be calm. The round trip must come back to
    within `net_sigmas` ordinary moves of its start. The repair calls this without `sigma`, to find the
    reversal of a suspect already flagged.
    """
    move = r[t]
    for k in range(t + 1, min(t + 1 + config.reversal_periods, len(r))):
        if r[k] * np.sign(move) <= -config.reversal_fraction * abs(move):
            if sigma is None:
                return k
            net = abs(float(np.sum(r[t:k + 1])))
            return k if net <= config.net_sigmas * sigma[t] * math.sqrt(k + 1 - t) else None
        if sigma is not None and not abs(r[k]) < config.calm_sigmas * sigma[k]:
            return None
    return None


def _ratio_text(ratio: float, falls: bool) -> str:
    frac = Fraction(ratio).limit_denominator(10)
    n, d = (frac.numerator, frac.denominator) if falls else (frac.denominator, frac.numerator)
    return f"{n}:{d} {'split' if falls else 'reverse split'}"


def _shared(z: np.ndarray, t: int, j: int, config: QualityConfig) -> bool:
    """Whether the other assets moved with asset `j` at return `t` (a market-wide move, hence real)."""
    others = np.delete(z[t], j)
    others = others[np.isfinite(others)]
    if others.size < config.shared_min_assets:
        return False
    along = float(np.median(others * np.sign(z[t, j])))
    return along >= config.shared_sigmas and along >= config.shared_fraction * abs(z[t, j])


def find_suspects(prices: np.ndarray, dates: Sequence | pd.DatetimeIndex, assets: Sequence[str], *,
                  config: QualityConfig = QualityConfig()) -> tuple[Suspect, ...]:
    """Likely bad prints and unadjusted splits in ``prices[time, assets]`` (finite, > 0), in date order.

    Each `Suspect` is dated by its return: the price on `date` against the one before. A bad print's
    `date` is its first wrong price. `size` is that log return.
    """
    prices = np.asarray(prices, dtype=np.float64)
    dates = pd.DatetimeIndex(dates)
    if prices.ndim != 2 or prices.shape != (len(dates), len(assets)):
        raise ValueError(f"prices of shape {prices.shape} do not match "
                         f"{len(dates)} dates x {len(assets)} assets")
    if prices.shape[0] < 3:
        return ()
    r = np.diff(np.log(prices), axis=0)
    sigma = np.column_stack([local_scale(r[:, j], config) for j in range(r.shape[1])])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, r / sigma, np.nan)  # no scale (a flat series): nothing can be judged
    bar = min(config.bad_print_sigmas, config.split_sigmas)
    found: list[tuple[int, int, Suspect]] = []
    for j, asset in enumerate(assets):
        skip_to = -1
        for t in np.flatnonzero(np.abs(np.nan_to_num(z[:, j])) >= bar):
            if t <= skip_to or _shared(z, t, j, config):
                continue
            suspect = _judge(r[:, j], z[:, j], sigma[:, j], int(t), dates, str(asset), config)
            if suspect is None:
                continue
            if suspect.kind == "bad_print":
                # The reversal belongs to this bad print: never judge it again (it could look like a split).
                skip_to = bad_print_end(r[:, j], int(t), config, sigma[:, j])
            found.append((int(t), j, suspect))
    return tuple(s for _, _, s in sorted(found, key=lambda x: (x[0], x[1])))


def _judge(r: np.ndarray, z: np.ndarray, sigma: np.ndarray, t: int, dates: pd.DatetimeIndex, asset: str,
           config: QualityConfig) -> Suspect | None:
    move, zt = float(r[t]), float(z[t])
    day = iso(dates[t + 1])  # return t compares the price on dates[t + 1] with the one before
    if abs(zt) >= config.bad_print_sigmas:
        end = bad_print_end(r, t, config, sigma)
        if end is not None:
            n_bad = end - t
            span = f"the price on {day} looks" if n_bad == 1 else f"{n_bad} prices from {day} look"
            return Suspect("bad_print", asset, day, move,
                           f"a {zt:+.1f} robust-sigma move ({_pct(move)}) reversed by "
                           f"{_pct(float(r[end]))} on {iso(dates[end + 1])}; {span} wrong")
    if abs(zt) >= config.split_sigmas and not _undoes(r, t, config):
        ratio = split_ratio(move, config)
        off = abs(abs(move) - math.log(ratio))
        if off <= min(config.split_tolerance_sigmas * sigma[t], config.split_tolerance_max):
            return Suspect("split", asset, day, move,
                           f"a {zt:+.1f} robust-sigma move ({_pct(move)}, "
                           f"price before/after {math.exp(-move):.4g}) "
                           f"close to an unadjusted {_ratio_text(ratio, move < 0)}, not reversed within "
                           f"{config.reversal_periods} periods")
    return None


def _undoes(r: np.ndarray, t: int, config: QualityConfig) -> bool:
    """Whether ``r[t]`` reverses an earlier jump: one of the `reversal_periods` returns before it has the
    opposite sign and is at least as large as ``r[t]`` times `reversal_fraction`."""
    before = r[max(0, t - config.reversal_periods):t]
    return bool(np.any(before * np.sign(r[t]) <= -config.reversal_fraction * abs(r[t])))


def _pct(log_return: float) -> str:
    return f"{math.expm1(log_return):+.1%}"

"""What a GARCH world draws at its start: the long-run level it reverts to (`_garch_level`) and the windows of
residual rows it replays (`_garch_state`: one year's rows, state-matched windows, or none for i.i.d. rows).

Kept apart from `garch._build` (which fits, guards and filters) because the two choices depend on each other:
year-matched rows replay the year the level is drawn from, the level's shrink is measured with the rows the
sampler replays, and a fixed level with year rows still draws its year among all years.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..types import MarketData
from . import _garch_fit as gf
from . import _garch_level as gl
from . import _levels as lv
from . import _garch_state as gs

if TYPE_CHECKING:
    from .garch import GarchConfig

__all__ = ["StartDraws", "start_draws"]


class StartDraws(NamedTuple):
    """What `start_draws` gives the fit: ``state`` (the sampler's `_garch_state` arrays, by field name),
    ``levels`` (the `Levels` a world's level is drawn from) and ``level_starts [windows]`` (the first fit day
    of each level's one-year window, whose rows a year-matched world replays)."""

    state: dict[str, np.ndarray]
    levels: lv.Levels
    level_starts: np.ndarray


def start_draws(market: MarketData, config: GarchConfig, kind: str, y100: np.ndarray, resid: np.ndarray,
                params: np.ndarray, *, power: np.ndarray, guarded: np.ndarray | None) -> StartDraws:
    """The `StartDraws` for a `GarchConfig` whose sampler draw is `kind` (`garch._kind`), from the
    returns ``y100`` and residuals ``resid`` ``[time, assets]``, the guarded ``params [assets, 6]``, the moment
    condition's ``power [assets]`` and `guarded` (the params under a moment condition, else None: then no
    window is shrunk). Warns (`GarchFitWarning`) where rows are shrunk or a sample is too short for years."""
    year = market.periods_per_year
    rows = None
    if kind == "fhs-year":
        rows = gs.year_windows(resid, year, params=guarded, power=power, max_persistence=config.max_persistence)
        if not lv.learns_levels(resid.shape[0], year):
            warnings.warn(f"GARCH fit: {resid.shape[0]} returns are fewer than three years (`MIN_YEARS`), too few "
                          "to learn yearly levels; fhs_matching = 'year' replays rows from the whole sample",
                          gf.GarchFitWarning, stacklevel=4)
    if config.level == "drawn":
        # the model's own spread of yearly levels is measured with the rows the sampler replays; a world that
        # replays a year's rows draws it among all years (`_garch_level`'s module doc says why)
        levels = gl.level_factors(y100, params, resid, year, rows=rows,
                                  conditional=config.start == "conditional" and rows is None)
    elif rows is not None:  # one level for every world; the year, and its rows, still drawn among all years
        levels = lv.Levels(np.ones(rows.starts.size), np.arange(rows.starts.size), 0.0)
    else:
        levels = lv.one_level()
    if kind == "fhs-state":
        state = gs.state_arrays(resid, config.state_decay, config.neighbours, power=power,
                                max_persistence=config.max_persistence, params=guarded)
    elif rows is not None:
        state = gs.year_arrays(rows, levels.index)
    else:
        state = gs.empty_state_arrays(market.n_assets)
    level_starts = np.zeros(levels.index.size, np.int64) if rows is None else rows.starts[levels.index]
    # the moment-condition factors of the windows a world can draw (year-matched scales also normalise)
    factor = state["state_shrink"] if rows is None else rows.factor[levels.index]
    low = factor.min(axis=0, initial=1.0)
    if (low < 1.0).any():
        shrunk = [f"{asset} (down to {f:.2f}, {share:.0%} of windows)" for asset, f, share in
                  zip(market.assets, low, (factor < 1.0).mean(axis=0), strict=True) if f < 1.0]
        warnings.warn(f"GARCH fit: {config.fhs_matching}-matched residuals of {len(shrunk)} of {market.n_assets} "
                      "assets are scaled down in the windows whose law would let the variance grow or the tails "
                      "thicken (docs/fidelity.md, 'The start state drives the spread'): " + ", ".join(shrunk),
                      gf.GarchFitWarning, stacklevel=4)
    return StartDraws(state, levels, level_starts)

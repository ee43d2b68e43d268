"""``[[stress]]`` cases of a run spec: a name plus what is stressed, parsed strictly before any compute.

A case asks one "what if" beside the base case (docs/stress.md, "Stress cases in a spec")::

    [[stress]]
    name = "gfc-replay"
    replay = "gfc-2008"                       # or { start = 2008-09-12, end = 2009-03-09 }
    [[stress]]
    name = "crash-week-3"
    shock = { day = 11, size = -0.20 }        # assets = ["AAPL"] for a named portfolio
    [[stress]]
    name = "turbulent-quarter"
    regime = { regime = "turbulent", stay_days = 63 }
    [[stress]]
    name = "as-of-lehman"
    start = { date = 2008-09-12 }             # or { vol_percentile = 95 }
    [[stress]]
    name = "tail"
    tilt = { z = 1.5 }                        # or { theta = 0.09 }
    [[stress]]
    name = "index-down-30"
    views = [{ kind = "probability", quantity = "ew_return", threshold = -0.30, probability = 0.05 }]

At most one of ``replay``, ``shock``, ``regime`` and ``tilt`` (the condition the generator samples under); a
``start`` state and ``views`` combine with any of them. Keys are checked here; what needs the data (episode
dates, asset names, view quantities, the start date) is checked by `check_stress` once the data is loaded,
still before any fit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from . import generators
from .errors import ConfigError
from .generators import CrisisReplay, InRegime, PathShock, Tilt
from .generators._base import config_from_dict, did_you_mean
from .generators._start import StartState
from .metrics.views import MeanView, ProbabilityView, RankingView, View, VolatilityView
from .types import MarketData

__all__ = ["StressSpec", "parse_stress", "check_stress", "world_quantity_names", "VIEW_KINDS",
           "MARKET_QUANTITIES"]

_KEYS = ("name", "replay", "shock", "regime", "tilt", "start", "views")
_CONDITIONS = ("replay", "shock", "regime", "tilt")
VIEW_KINDS: dict[str, type] = {"probability": ProbabilityView, "mean": MeanView, "volatility": VolatilityView,
                               "ranking": RankingView}
# per-world quantities of the market that views can name (besides "<strategy>/<metric>"): see `world_quantities`
MARKET_QUANTITIES = ("ew_return", "ew_volatility", "max_abs_log_return")
_ASSET_PREFIXES = ("return:", "volatility:")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StressSpec:
    """One ``[[stress]]`` case.

    Attributes:
        name: unique, not "base"; letters, digits, ``_ . -`` (it names files and report anchors).
        condition: what the generator samples under: a `CrisisReplay` (episode only: its returns are cut from
            the run's data by the pipeline), `PathShock`, `InRegime` or `Tilt`; None for plain worlds.
        start: a `StartState`: the worlds continue from the state of a historical date instead of the end.
        views: entropy-pooling views on per-world quantities (`stressgen.metrics.views`): the worlds are
            reweighted to meet them.
        tilt_z: for ``tilt = { z = ... }``, the z the `Tilt` was built from (its theta depends on the horizon,
            so `for_horizon` rebuilds it when the horizon is overridden).
    """

    name: str
    condition: CrisisReplay | PathShock | InRegime | Tilt | None = None
    start: StartState | None = None
    views: tuple[View, ...] = ()
    tilt_z: float | None = None

    def for_horizon(self, horizon: int, where: str = "stress") -> StressSpec:
        """The case for a run of `horizon` days (the command line or a notebook may shorten a spec's)."""
        c = self.condition
        if isinstance(c, PathShock) and c.day > horizon:
            raise ConfigError(f"{where} ({self.name}).shock.day: day {c.day} lies beyond the horizon of "
                              f"{horizon} days")
        if isinstance(c, Tilt) and self.tilt_z is not None:
            return dataclasses.replace(self, condition=Tilt.for_tail(self.tilt_z, horizon, c.direction))
        return self

    def describe(self) -> str:
        """The case in words, for the report and the terminal."""
        parts = []
        if self.start is not None:
            parts.append(f"start as of {self.start.date}" if self.start.date is not None
                         else f"start at the {self.start.vol_percentile:g}th percentile of history's volatility")
        c = self.condition
        if isinstance(c, CrisisReplay):
            parts.append(f"replay {c.label} ({c.start}..{c.end})")
        elif isinstance(c, PathShock):
            target = "the equal-weight index" if c.assets is None else "+".join(c.assets)
            parts.append(f"{c.size:+.0%} move of {target} on day {c.day}")
        elif isinstance(c, InRegime):
            parts.append(f"{c.regime} regime for days 1..{max(1, c.stay_days)}")
        elif isinstance(c, Tilt):
            parts.append(f"tail tilt theta={c.theta:.4g} (importance weights)")
        parts += [f"view {v.label}" for v in self.views]
        return "; ".join(parts) or "plain worlds"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the resolved spec (summary.json, the report header)."""
        out: dict[str, Any] = {"name": self.name, "description": self.describe()}
        c = self.condition
        if isinstance(c, CrisisReplay):
            out["replay"] = {"episode": c.episode, "start": c.start, "end": c.end}
        elif isinstance(c, PathShock):
            out["shock"] = {"day": c.day, "size": c.size, "assets": list(c.assets) if c.assets else None}
        elif isinstance(c, InRegime):
            out["regime"] = {"regime": c.regime, "stay_days": c.stay_days}
        elif isinstance(c, Tilt):
            out["tilt"] = {"theta": c.theta, "direction": list(c.direction) if c.direction else None}
        if self.start is not None:
            out["start"] = {"date": self.start.date, "vol_percentile": self.start.vol_percentile}
        if self.views:
            out["views"] = [v.label for v in self.views]
        return out


def _iso(value: Any) -> Any:
    # TOML dates arrive as date objects; the conditions keep ISO strings
    return value.isoformat()[:10] if isinstance(value, date | datetime) else value


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table {{...}}, got {type(value).__name__} {value!r}")
    return dict(value)


def _only(raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key{did_you_mean(key, allowed)}; "
                              f"valid keys: {', '.join(allowed)}")


def _replay(value: Any, where: str) -> CrisisReplay:
    if isinstance(value, str):
        return config_from_dict(CrisisReplay, {"episode": value}, where=where)
    raw = _table(value, where)
    _only(raw, ("episode", "start", "end"), where)
    return config_from_dict(CrisisReplay, {k: _iso(v) for k, v in raw.items()}, where=where)


def _regime(value: Any, where: str) -> InRegime:
    raw = {"regime": value} if isinstance(value, str) else _table(value, where)
    _only(raw, ("regime", "stay_days"), where)
    return config_from_dict(InRegime, raw, where=where)


def _tilt(value: Any, where: str, horizon: int) -> Tilt:
    raw = _table(value, where)
    _only(raw, ("z", "theta", "direction"), where)
    if ("z" in raw) == ("theta" in raw):
        raise ConfigError(f"{where}: give exactly one of z (the shift of the horizon's sum, in standard "
                          "deviations: 1 to 2 suits a 99.5% loss) or theta (the shift per day)")
    direction = raw.get("direction")
    if direction is not None:
        if not isinstance(direction, list):
            raise ConfigError(f"{where}.direction: expected a list of portfolio weights, got {direction!r}")
        direction = tuple(direction)
    if "z" in raw:
        z = raw["z"]
        if isinstance(z, bool) or not isinstance(z, int | float) or not z >= 0:
            raise ConfigError(f"{where}.z: expected a number >= 0, got {z!r}")
        try:
            return Tilt.for_tail(float(z), horizon, direction)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return config_from_dict(Tilt, {"theta": raw["theta"], "direction": direction}, where=where)


def _start(value: Any, where: str) -> StartState:
    raw = _table(value, where)
    _only(raw, ("date", "vol_percentile"), where)
    return config_from_dict(StartState, {k: _iso(v) for k, v in raw.items()}, where=where)


def _view(value: Any, where: str) -> View:
    raw = _table(value, where)
    kind = raw.pop("kind", None)
    if kind not in VIEW_KINDS:
        raise ConfigError(f"{where}.kind: expected one of {', '.join(VIEW_KINDS)}, got {kind!r}")
    if kind == "ranking" and isinstance(raw.get("quantities"), list):
        raw["quantities"] = tuple(raw["quantities"])
    return config_from_dict(VIEW_KINDS[kind], raw, where=where)


def _case(raw: dict[str, Any], where: str, horizon: int) -> StressSpec:
    _only(raw, _KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name == "base":
        raise ConfigError(f"{where}.name: expected a name of letters, digits, '_', '.', '-' other than 'base' "
                          f"(the unstressed case), got {name!r}")
    given = [k for k in _CONDITIONS if k in raw]
    if len(given) > 1:
        raise ConfigError(f"{where}: {' and '.join(given)} both set the worlds' condition; a case takes one of "
                          f"{', '.join(_CONDITIONS)} (a start state and views combine with any of them)")
    if not given and "start" not in raw and "views" not in raw:
        raise ConfigError(f"{where}: the case stresses nothing; give one of {', '.join(_CONDITIONS)}, "
                          "a start state or views")
    condition: Any = None
    if given:
        key = given[0]
        sub = f"{where}.{key}"
        if key == "replay":
            condition = _replay(raw[key], sub)
        elif key == "shock":
            shock = _table(raw[key], sub)
            _only(shock, ("day", "size", "assets"), sub)
            condition = config_from_dict(PathShock, shock, where=sub)
        elif key == "regime":
            condition = _regime(raw[key], sub)
        else:
            condition = _tilt(raw[key], sub, horizon)
    tilt_z = float(raw["tilt"]["z"]) if isinstance(condition, Tilt) and "z" in raw["tilt"] else None
    start = _start(raw["start"], f"{where}.start") if "start" in raw else None
    views_raw = raw.get("views", [])
    if not isinstance(views_raw, list):
        raise ConfigError(f"{where}.views: expected a list of view tables, got {views_raw!r}")
    views = tuple(_view(v, f"{where}.views[{i}]") for i, v in enumerate(views_raw))
    return StressSpec(name=name, condition=condition, start=start, views=views, tilt_z=tilt_z)


def parse_stress(raw: Any, where: str, horizon: int) -> tuple[StressSpec, ...]:
    """The ``[[stress]]`` array of a spec document (`where`: ``"file: stress"``)."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected [[stress]] tables, got {type(raw).__name__}")
    cases = tuple(_case(_table(c, f"{where}[{i}]"), f"{where}[{i}]", horizon).for_horizon(horizon, f"{where}[{i}]")
                  for i, c in enumerate(raw))
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: the name {dupes[0]!r} is used twice; give each case a unique name")
    return cases


def world_quantity_names(assets: Sequence[str], strategies: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every quantity a view may name: `MARKET_QUANTITIES`, ``return:<asset>``, ``volatility:<asset>`` and
    ``<strategy set>/<metric>`` (`strategies`: set name -> its per-world metric names)."""
    names = list(MARKET_QUANTITIES) + [p + a for p in _ASSET_PREFIXES for a in assets]
    names += [f"{s}/{m}" for s, metrics in strategies.items() for m in metrics]
    return tuple(names)


def _view_quantities(view: View) -> tuple[str, ...]:
    return tuple(view.quantities) if isinstance(view, RankingView) else (view.quantity,)


def check_stress(cases: Sequence[StressSpec], where: str, market: MarketData, family: str | None,
                 quantities: Sequence[str], config: Any = None) -> None:
    """What needs the data, before any fit: a condition the family takes, a regime it names, episodes inside
    the history, shock assets that exist, a start date the history holds, view quantities that exist.
    `family` and `config` are the generator's (family None for a saved model: its own conditions are
    checked when it samples)."""
    known = set(quantities)
    generator = generators.get(family) if family is not None else None
    for i, case in enumerate(cases):
        at = f"{where}[{i}] ({case.name})"
        c = case.condition
        if generator is not None and c is not None and not isinstance(c, generator.conditions):
            takes = ", ".join(t.__name__ for t in generator.conditions) or "none"
            raise ConfigError(f"{at}: generator {family!r} does not support a {type(c).__name__} condition "
                              f"(it takes: {takes})")
        if generator is not None and isinstance(c, InRegime) and c.regime not in generator.regime_names(config):
            names = generator.regime_names(config)
            raise ConfigError(f"{at}.regime.regime: unknown regime {c.regime!r}{did_you_mean(c.regime, names)}; "
                              f"generator {family!r} names its regimes {', '.join(names)}")
        if isinstance(c, Tilt) and c.direction is not None and len(c.direction) != market.n_assets:
            raise ConfigError(f"{at}.tilt.direction: {len(c.direction)} weights for {market.n_assets} assets "
                              f"({', '.join(market.assets)})")
        if generator is not None and case.start is not None and not generator.can_reanchor:
            raise ConfigError(f"{at}.start: generator {family!r} cannot continue from another day's state "
                              "(it has no reanchor); use another family for a start state")
        if isinstance(c, CrisisReplay):
            try:
                CrisisReplay.from_market(market, c.episode, start=c.start, end=c.end)
            except ConfigError as exc:
                raise ConfigError(f"{at}: {exc}") from None
        if isinstance(c, PathShock) and c.assets is not None:
            for a in c.assets:
                if a not in market.assets:
                    raise ConfigError(f"{at}.shock.assets: unknown asset {a!r}{did_you_mean(a, market.assets)}; "
                                      f"the data holds {', '.join(market.assets)}")
        if case.start is not None:
            try:
                case.start.resolve(market)
            except ConfigError as exc:
                raise ConfigError(f"{at}: {exc}") from None
        for j, view in enumerate(case.views):
            for q in _view_quantities(view):
                if q not in known:
                    raise ConfigError(f"{at}.views[{j}]: unknown quantity {q!r}{did_you_mean(q, quantities)}; "
                                      "views name ew_return, ew_volatility, return:<asset>, volatility:<asset> "
                                      "or <strategy>/<metric>")

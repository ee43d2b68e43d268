"""``[reverse]`` in a run spec: reverse stress testing as a stage of ``stressgen run`` (docs/reverse.md).

::

    [reverse]
    loss = 0.25                         # required: the loss threshold l in (0, 1]
    strategies = ["ma", "hold[...]"]    # [[strategies]] names or parameter-set names; default: all of them
    method = "empirical"                # or "optimised" (garch: a family with an explicit noise model)
    k = 5                               # most plausible (and worst) worlds reported
    tilt_z = 2.0                        # the tilt toward losses (sd); absent: automatic; 0: plain worlds
    worlds = 10000                      # worlds the stage draws; absent: [simulation] worlds

Everything the file alone decides is checked here, before any compute: unknown keys, types, the loss's range,
strategy names (with a did-you-mean), and the optimised method for a family without a noise model. A saved
model's family is known only once it is loaded: the pipeline checks it right after the fit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .generators._base import config_from_dict, did_you_mean
from .results_reverse import METHODS, ReverseConfig
from .studies.reverse import NOISE_FAMILIES

if TYPE_CHECKING:
    from .spec import StrategySpec

__all__ = ["ReverseSpec", "parse_reverse", "parameter_set_names"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReverseSpec:
    """The ``[reverse]`` section (module docstring).

    Attributes:
        loss: the loss threshold l in (0, 1].
        strategies: names of [[strategies]] entries (all their parameter sets) or of parameter sets
            (``"ma_crossover[fast=5]"``); empty: every parameter set of the run.
        method: "empirical" or "optimised".
        k: most plausible (and worst) worlds reported per strategy.
        tilt_z: the tilt's strength (`ReverseConfig.tilt_z`); None: automatic.
        worlds: worlds the stage draws; None: the spec's ``[simulation] worlds`` (after ``--worlds``).
    """

    loss: float
    strategies: tuple[str, ...] = ()
    method: str = "empirical"
    k: int = 5
    tilt_z: float | None = None
    worlds: int | None = None

    def __post_init__(self) -> None:
        # "key: problem" messages: config_from_dict turns them into "<where>.key: problem"
        x = self.loss
        if not (0.0 < float(x) <= 1.0):
            raise ConfigError(f"loss: a fraction in (0, 1] (0.25 = a 25% loss), got {x!r}")
        if self.method not in METHODS:
            raise ConfigError(f"method: one of {', '.join(METHODS)}, got {self.method!r}"
                              f"{did_you_mean(self.method, METHODS)}")
        if self.k < 1:
            raise ConfigError(f"k: an integer >= 1, got {self.k!r}")
        z = self.tilt_z
        if z is not None and (not math.isfinite(z) or z < 0):
            raise ConfigError(f"tilt_z: a finite number >= 0 (0: plain worlds; absent: automatic), got {z!r}")
        if self.worlds is not None and self.worlds < 2:
            raise ConfigError(f"worlds: an integer >= 2 (absent: [simulation] worlds), got {self.worlds!r}")

    def config(self, strategy: str, horizon: int, n_worlds: int) -> ReverseConfig:
        """The request for one parameter set, horizon and worlds resolved (`worlds` if set, else `n_worlds`)."""
        return ReverseConfig(strategy=strategy, loss=self.loss, horizon=horizon,
                             n_worlds=self.worlds if self.worlds is not None else n_worlds, k=self.k,
                             tilt_z=self.tilt_z, method=self.method)

    def select(self, sets: Sequence[tuple[str, str]]) -> tuple[str, ...]:
        """The parameter sets to reverse-stress, in run order: `sets` are ``(entry name, set name)`` pairs of
        the run; an entry name selects all its sets."""
        if not self.strategies:
            return tuple(name for _, name in sets)
        wanted = set(self.strategies)
        return tuple(name for entry, name in sets if entry in wanted or name in wanted)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "strategies": list(self.strategies)}


def parameter_set_names(strategies: Sequence[StrategySpec]) -> list[tuple[str, str]]:
    """``(entry name, parameter set name)`` of every parameter set; builds only the entries with a grid (their
    set names depend on the grid's values as the engine holds them)."""
    out = []
    for s in strategies:
        names = [n for n, _ in s.parameter_sets(s.build())] if s.grid else [s.name]
        out += [(s.name, n) for n in names]
    return out


def parse_reverse(raw: Any, where: str, strategies: Sequence[StrategySpec], family: str | None) -> ReverseSpec:
    """The ``[reverse]`` table (`where`: ``"file: reverse"``); `family` is the spec's generator family (None for a
    saved model)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table ([reverse]), got {type(raw).__name__} {raw!r}")
    raw = dict(raw)
    if "loss" not in raw:
        raise ConfigError(f"{where}.loss: required: the loss threshold in (0, 1] (loss = 0.25 for a 25% loss)")
    if isinstance(raw.get("strategies"), str):
        raw["strategies"] = [raw["strategies"]]
    spec = config_from_dict(ReverseSpec, raw, where=where)
    entries = [s.name for s in strategies]
    unknown = [n for n in spec.strategies if n not in entries]
    if unknown:  # parameter-set names need the grids built; only then
        known = [n for pair in parameter_set_names(strategies) for n in pair]
        for name in unknown:
            if name not in known:
                choices = list(dict.fromkeys(known))
                raise ConfigError(f"{where}.strategies: {name!r} is not a [[strategies]] name or parameter set"
                                  f"{did_you_mean(name, choices)}; names: {', '.join(choices)}")
    if spec.method == "optimised" and family is not None and family not in NOISE_FAMILIES:
        raise ConfigError(f"{where}.method: 'optimised' needs a generator with an explicit noise model "
                          f"({', '.join(NOISE_FAMILIES)}); {family} has none: use method = \"empirical\"")
    return spec

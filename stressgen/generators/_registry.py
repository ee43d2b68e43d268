"""Generator registry: the built-in families plus the entry-point group ``stressgen.generators``.

Third-party packages register a final `AbstractGenerator` subclass under that group; our own families are
listed explicitly in `BUILTIN` (no import-time registration side effects).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ..errors import StressgenError, UnknownNameError
from ._base import AbstractGenerator
from .bootstrap import StationaryBootstrap
from .flow import NormalizingFlow
from .gan import Gan
from .garch import GjrGarch
from .nar import NeuralAutoregressive
from .regime import RegimeMixture
from .vae import TemporalVae

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "available", "get"]

ENTRY_POINT_GROUP = "stressgen.generators"
BUILTIN: dict[str, type[AbstractGenerator]] = {
    StationaryBootstrap.name: StationaryBootstrap,
    GjrGarch.name: GjrGarch,
    Gan.name: Gan,
    TemporalVae.name: TemporalVae,
    RegimeMixture.name: RegimeMixture,
    NeuralAutoregressive.name: NeuralAutoregressive,
    NormalizingFlow.name: NormalizingFlow,
}


class PluginError(StressgenError):
    """A generator plugin could not be loaded or is not a generator."""


def _plugins() -> dict[str, type[AbstractGenerator]]:
    found: dict[str, type[AbstractGenerator]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            continue  # built-ins cannot be shadowed by an installed package
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must name itself, not crash with its own traceback
            raise PluginError(f"generator plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, AbstractGenerator)):
            raise PluginError(f"generator plugin {ep.name!r} ({ep.value}) is not an AbstractGenerator subclass")
        found[ep.name] = cls
    return found


def available() -> dict[str, type[AbstractGenerator]]:
    """Every registered generator family by name: built-ins first, then installed plugins."""
    return {**BUILTIN, **_plugins()}


def get(name: str) -> AbstractGenerator:
    """An instance of the generator family registered as `name`."""
    families = available()
    if name not in families:
        raise UnknownNameError("generator", name, list(families))
    return families[name]()

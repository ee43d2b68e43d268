"""Generators of synthetic market histories: the protocol, the registry and the built-in families."""

from ._base import AbstractGenerator as AbstractGenerator
from ._base import HistoryContext as HistoryContext
from ._base import iter_chunks as iter_chunks
from ._base import world_bucket as world_bucket
from ._registry import BUILTIN as BUILTIN
from ._registry import available as available
from ._registry import get as get
from .anomalies import anomaly_scores as anomaly_scores
from .anomalies import encode as encode
from .bootstrap import BootstrapConfig as BootstrapConfig
from .bootstrap import StationaryBootstrap as StationaryBootstrap
from .flow import FlowConfig as FlowConfig
from .flow import NormalizingFlow as NormalizingFlow
from .gan import Gan as Gan
from .gan import GanConfig as GanConfig
from .garch import GarchConfig as GarchConfig
from .garch import GjrGarch as GjrGarch
from .nar import NarConfig as NarConfig
from .nar import NeuralAutoregressive as NeuralAutoregressive
from .regime import RegimeConfig as RegimeConfig
from .regime import RegimeMixture as RegimeMixture
from ._tilt import Tilt as Tilt
from ._shock import PathShock as PathShock
from ._replay import CrisisReplay as CrisisReplay
from ._regime_condition import InRegime as InRegime
from ._start import StartState as StartState
from .vae import TemporalVae as TemporalVae
from .vae import VaeConfig as VaeConfig

__all__ = [
    "AbstractGenerator", "HistoryContext", "iter_chunks", "world_bucket", "BUILTIN", "available", "get",
    "BootstrapConfig", "StationaryBootstrap", "GarchConfig", "GjrGarch", "Gan", "GanConfig", "TemporalVae",
    "VaeConfig", "RegimeConfig", "RegimeMixture", "NarConfig", "NeuralAutoregressive",
    "FlowConfig", "NormalizingFlow",
    "anomaly_scores", "encode",
    "Tilt", "PathShock", "CrisisReplay",
    "InRegime",
    "StartState",
]

"""stressgen: the distribution of strategy P&L and risk over many plausible synthetic market histories.

Subpackages: `stressgen.data` (market history), `stressgen.generators` (synthetic worlds),
`stressgen.metrics` (risk and fidelity). Core types and the seed-to-key rule are re-exported here.
"""

# Importing the package changes nothing global: JAX's CPU device count is set only by an explicit
# `stressgen.devices.use_cpu_cores()` call, which the CLI and `pipeline.run` make (see stressgen/devices.py).
from . import data as data
from . import generators as generators
from . import metrics as metrics
from . import rng as rng
from .errors import ConfigError as ConfigError
from .errors import StressgenError as StressgenError
from .errors import UnknownNameError as UnknownNameError
from .types import MarketData as MarketData
from .types import Provenance as Provenance
from .types import Repair as Repair
from .types import Suspect as Suspect
from .types import Scenarios as Scenarios

__version__ = "0.1.0"

__all__ = [
    "data", "generators", "metrics", "rng", "ConfigError", "StressgenError", "UnknownNameError",
    "MarketData", "Provenance", "Repair", "Scenarios", "Suspect", "__version__",
]

"""stressgen: the distribution of strategy P&L and risk over many plausible synthetic market histories.

Subpackages: `stressgen.data` (market history), `stressgen.generators` (synthetic worlds),
`stressgen.metrics` (risk and fidelity). Core types and the seed-to-key rule are re-exported here.
"""

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
from .types import Scenarios as Scenarios

__version__ = "0.1.0"

__all__ = [
    "data", "generators", "metrics", "rng", "ConfigError", "StressgenError", "UnknownNameError",
    "MarketData", "Provenance", "Repair", "Scenarios", "__version__",
]

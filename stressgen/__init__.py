"""stressgen: the distribution of strategy P&L and risk over many plausible synthetic market histories.

Subpackages: `stressgen.data` (market history), `stressgen.generators` (synthetic worlds),
`stressgen.metrics` (risk and fidelity). Core types and the seed-to-key rule are re-exported here.
"""

# First, before any module runs a JAX operation: one CPU device per core (see stressgen/devices.py).
from .devices import use_cpu_cores as _use_cpu_cores

_use_cpu_cores()

from . import data as data  # noqa: E402  (after the device setup on purpose)
from . import generators as generators  # noqa: E402
from . import metrics as metrics  # noqa: E402
from . import rng as rng  # noqa: E402
from .errors import ConfigError as ConfigError  # noqa: E402
from .errors import StressgenError as StressgenError  # noqa: E402
from .errors import UnknownNameError as UnknownNameError  # noqa: E402
from .types import MarketData as MarketData  # noqa: E402
from .types import Provenance as Provenance  # noqa: E402
from .types import Repair as Repair  # noqa: E402
from .types import Suspect as Suspect  # noqa: E402
from .types import Scenarios as Scenarios  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "data", "generators", "metrics", "rng", "ConfigError", "StressgenError", "UnknownNameError",
    "MarketData", "Provenance", "Repair", "Scenarios", "Suspect", "__version__",
]

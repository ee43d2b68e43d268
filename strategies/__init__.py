"""Built-in strategy plugins (step tier, so they run in the engine's fused time-major loop).

`BUILTIN` maps the names used in run specs and the CLI to the classes; other packages add theirs through
the ``stressgen.strategies`` entry-point group, and any file through ``path/to/file.py:ClassName``
(`stressgen.plugins.load_strategy`).
"""

from ._allocation import BuyAndHold as BuyAndHold
from ._allocation import EqualWeight as EqualWeight
from ._allocation import InverseVolatility as InverseVolatility
from ._allocation import MinimumVariance as MinimumVariance
from ._overlays import DrawdownStop as DrawdownStop
from ._overlays import StopLoss as StopLoss
from ._overlays import TakeProfit as TakeProfit
from ._overlays import TrailingStop as TrailingStop
from ._signals import CrossSectionalMomentum as CrossSectionalMomentum
from ._signals import MACrossover as MACrossover
from ._signals import TimeSeriesMomentum as TimeSeriesMomentum
from ._signals import VolTarget as VolTarget
from ._signals import ZScoreReversion as ZScoreReversion

BUILTIN = {
    "buy_and_hold": BuyAndHold,
    "equal_weight": EqualWeight,
    "inverse_volatility": InverseVolatility,
    "minimum_variance": MinimumVariance,
    "vol_target": VolTarget,
    "ma_crossover": MACrossover,
    "ts_momentum": TimeSeriesMomentum,
    "cs_momentum": CrossSectionalMomentum,
    "zscore_reversion": ZScoreReversion,
    "stop_loss": StopLoss,
    "take_profit": TakeProfit,
    "trailing_stop": TrailingStop,
    "drawdown_stop": DrawdownStop,
}

__all__ = ["BUILTIN", "BuyAndHold", "EqualWeight", "InverseVolatility", "MinimumVariance", "VolTarget",
           "MACrossover", "TimeSeriesMomentum", "CrossSectionalMomentum", "ZScoreReversion",
           "StopLoss", "TakeProfit", "TrailingStop", "DrawdownStop"]

"""Market history: bundled data sets, CSV/Parquet loading with typed validation errors, and transforms.

    >>> from stressgen import data
    >>> data.datasets()                                   # names and one-line descriptions
    >>> market = data.load("sp500-20", start="2010-01-01", assets=["AAPL", "JPM"])
    >>> mine = data.read_prices("prices.csv", gaps="ffill", edges="trim")
    >>> mine.repairs                                      # every fill and trim, with its dates
    >>> market.suspects                                   # likely bad prints and unadjusted splits
    >>> fixed = data.repair_suspects(market)              # opt-in; each fix is listed in fixed.repairs
    >>> train, test = data.split(market, fraction=0.8)

Errors are `stressgen.errors.DataError` subclasses that name the file, column, row/line and what was expected.
"""

from ._bundled import datasets as datasets
from ._bundled import load as load
from ._io import from_frame as from_frame
from ._io import read_prices as read_prices
from ._quality import QualityConfig as QualityConfig
from ._quality import find_suspects as find_suspects
from ._repair import repair_suspects as repair_suspects
from ._select import select as select
from ._transforms import Standardizer as Standardizer
from ._transforms import log_returns as log_returns
from ._transforms import split as split

__all__ = ["datasets", "load", "read_prices", "from_frame", "select", "split", "log_returns", "Standardizer",
           "find_suspects", "QualityConfig", "repair_suspects"]

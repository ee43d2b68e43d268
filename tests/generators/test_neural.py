"""What the likelihood-trained neural families share (`stressgen.generators._neural`): the history split's
minimum, which the "needs more history" error quotes, is the fewest returns the split accepts."""

import numpy as np
import pandas as pd
import pytest

from stressgen.errors import InsufficientHistoryError
from stressgen.generators._neural import min_history, split_history
from stressgen.types import MarketData


def _market(n_returns: int) -> MarketData:
    r = np.random.default_rng(0).normal(0.0, 0.01, size=(n_returns, 2))
    prices = 100.0 * np.exp(np.vstack([np.zeros((1, 2)), np.cumsum(r, axis=0)]))
    return MarketData(prices=prices, dates=pd.bdate_range("2000-01-03", periods=n_returns + 1), assets=("A", "B"))


@pytest.mark.parametrize("window,lead,val_fraction", [(63, 63, 0.15), (16, 16, 0.15), (32, 64, 0.2),
                                                      (20, 60, 0.1), (16, 16, 0.45)])
def test_the_quoted_minimum_is_the_fewest_returns_the_split_takes(window, lead, val_fraction):
    need = min_history(window=window, lead=lead, val_fraction=val_fraction)
    kw = {"window": window, "lead": lead, "val_fraction": val_fraction, "what": "the model", "lead_name": "lead"}
    cut, train_starts, val_starts = split_history(_market(need), **kw)
    assert train_starts.size >= 4 * window and val_starts.size >= 2
    assert train_starts[-1] + window <= cut and val_starts[0] >= cut  # no training window reaches past the cut
    for n in range(need - 5, need):
        with pytest.raises(InsufficientHistoryError, match=f"at least {need} returns"):
            split_history(_market(n), **kw)

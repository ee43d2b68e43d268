"""Scenario fidelity scorecard: are a generator's worlds plausible, out of sample, against two floors?

    >>> from stressgen.metrics import fidelity
    >>> from stressgen.report import write_scorecard
    >>> from stressgen.studies import evaluate
    >>> card = evaluate(market, {"garch": (generators.get("garch"), None)},
    ...                 fidelity.EvaluateConfig(split_at="2016-02-29"), key=rng.root(0))
    >>> fidelity.check(card.table)          # threshold failures, as sentences
    >>> write_scorecard(card, "out/")
    >>> fidelity.summarise_pits(pits, crps)     # calibration of PITs across origins (stressgen.studies)

Definitions of every metric, the protocol and the thresholds: docs/fidelity.md.
"""

from .pit import BANDS as BANDS
from .pit import BandShares as BandShares
from .pit import KsResult as KsResult
from .pit import PitHistogram as PitHistogram
from .pit import PitSummary as PitSummary
from .pit import band_shares as band_shares
from .pit import crps_ensemble as crps_ensemble
from .pit import crps_gaussian as crps_gaussian
from .pit import ks_uniform as ks_uniform
from .pit import pit_histogram as pit_histogram
from .pit import pit_values as pit_values
from .pit import summarise_pits as summarise_pits
from .protocol import KNOWN_DGP as KNOWN_DGP
from .protocol import REAL_VS_REAL as REAL_VS_REAL
from .protocol import EvaluateConfig as EvaluateConfig
from .protocol import Scorecard as Scorecard
from .score import ScoreConfig as ScoreConfig
from .score import metric_names as metric_names
from .score import score as score
from .quick import quick_scorecard as quick_scorecard
from .thresholds import THRESHOLDS as THRESHOLDS
from .thresholds import Threshold as Threshold
from .thresholds import check as check

__all__ = ["EvaluateConfig", "ScoreConfig", "Scorecard", "score", "metric_names",
           "REAL_VS_REAL", "KNOWN_DGP",
           "quick_scorecard", "check", "THRESHOLDS", "Threshold",
           "pit_values", "ks_uniform", "band_shares", "crps_ensemble", "crps_gaussian", "pit_histogram",
           "summarise_pits", "KsResult", "BandShares", "PitHistogram", "PitSummary", "BANDS"]


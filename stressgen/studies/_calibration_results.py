"""The results of a rolling-origin calibration (`CalibrationResult` and its parts) and their per-origin cache:
one ``.npz`` per (generator, origin), written atomically and read without pickle, so an interrupted study
resumes where it stopped. The study itself is `stressgen.studies.calibration`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..generators._base import config_to_dict
from ..metrics.fidelity.pit import PitSummary
from ..types import MarketData

if TYPE_CHECKING:  # annotations only: the study module imports this one
    from .calibration import CalibrationConfig, Schedule

__all__ = ["OriginOutcomes", "OutcomeCalibration", "CalibrationResult"]


# -------------------------------------------------------------------------------------------- results

@dataclasses.dataclass(frozen=True, eq=False)
class OriginOutcomes:
    """One generator at one origin.

    Attributes:
        generator: display name; origin: ISO date; fit_origin: the origin whose data the fit saw.
        outcomes: outcome names (`outcome_names`).
        real: ``[outcomes]`` the real values; samples: ``[outcomes, M]`` the worlds' values (float64).
        pit, crps: ``[outcomes]`` mid-rank PIT of the real value among the worlds, and the ensemble's CRPS.
        seconds: compute time of this origin (when it was computed, also for a cached result).
        cached: read from the cache rather than computed by this call.
    """

    generator: str
    origin: str
    fit_origin: str
    outcomes: tuple[str, ...]
    real: np.ndarray
    samples: np.ndarray
    pit: np.ndarray
    crps: np.ndarray
    seconds: float
    cached: bool


@dataclasses.dataclass(frozen=True)
class OutcomeCalibration:
    """The calibration of one outcome of one generator across origins."""

    generator: str
    outcome: str
    summary: PitSummary


@dataclasses.dataclass(frozen=True, eq=False)
class CalibrationResult:
    """The result of `calibrate`.

    Attributes:
        config: the study's settings; source, assets: the data.
        generators, outcomes: display names, in order; schedule: the origins.
        per_origin: one `OriginOutcomes` per (generator, origin), generators outer.
        summaries: one `OutcomeCalibration` per (generator, outcome).
        seconds: generator -> wall time of this call (cached origins cost only their loading).
    """

    config: CalibrationConfig
    source: str
    assets: tuple[str, ...]
    generators: tuple[str, ...]
    outcomes: tuple[str, ...]
    schedule: Schedule
    per_origin: tuple[OriginOutcomes, ...]
    summaries: tuple[OutcomeCalibration, ...]
    seconds: Mapping[str, float]

    def summary(self, generator: str, outcome: str) -> PitSummary:
        for s in self.summaries:
            if (s.generator, s.outcome) == (generator, outcome):
                return s.summary
        raise KeyError(f"no calibration of {outcome!r} for generator {generator!r}; generators: "
                       f"{list(self.generators)}, outcomes: {list(self.outcomes)}")

    def pits(self, generator: str, outcome: str) -> np.ndarray:
        """``[origins]`` PITs of one outcome of one generator, in origin order."""
        k = self.outcomes.index(outcome)
        return np.array([o.pit[k] for o in self.per_origin if o.generator == generator])

    def table(self) -> pd.DataFrame:
        """One row per (generator, outcome): ``generator``, ``outcome``, ``subject`` (``ew`` or a strategy),
        ``measure``, ``n`` (origins), ``ks``, ``ks_pvalue``, ``outside_1_99``, ``outside_5_95``, ``crps``."""
        rows = []
        for s in self.summaries:
            subject, _, measure = s.outcome.rpartition(":")
            m = s.summary
            rows.append(dict(generator=s.generator, outcome=s.outcome, subject=subject, measure=measure, n=m.n,
                             ks=m.ks, ks_pvalue=m.ks_pvalue, outside_1_99=m.outside_1_99,
                             outside_5_95=m.outside_5_95, crps=m.crps))
        return pd.DataFrame(rows, columns=["generator", "outcome", "subject", "measure", "n", "ks", "ks_pvalue",
                                           "outside_1_99", "outside_5_95", "crps"])

    def origin_table(self) -> pd.DataFrame:
        """One row per (generator, origin, outcome): ``fit_origin``, ``real``, ``pit``, ``crps``, ``cached``."""
        rows = [dict(generator=o.generator, origin=o.origin, fit_origin=o.fit_origin, outcome=name,
                     real=float(o.real[k]), pit=float(o.pit[k]), crps=float(o.crps[k]), cached=o.cached)
                for o in self.per_origin for k, name in enumerate(o.outcomes)]
        return pd.DataFrame(rows, columns=["generator", "origin", "fit_origin", "outcome", "real", "pit", "crps",
                                           "cached"])

    def to_json(self) -> dict[str, Any]:
        """JSON-able document (NaN as null): ``meta``, ``table``, ``histograms`` and per-origin ``origins``."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _json_value(v) for k, v in r.items()} for r in df.to_dict(orient="records")]

        histograms = {g: {s.outcome: {"edges": list(s.summary.histogram.edges),
                                      "counts": list(s.summary.histogram.counts)}
                          for s in self.summaries if s.generator == g} for g in self.generators}
        meta = {"source": self.source, "assets": list(self.assets), "config": config_to_dict(self.config),
                "generators": list(self.generators), "outcomes": list(self.outcomes),
                "origins": list(self.schedule.origins), "fit_origins": list(self.schedule.fit_origins),
                "skipped": list(self.schedule.skipped), "seconds": {k: _json_value(v) for k, v in self.seconds.items()}}
        return {"meta": meta, "table": records(self.table()), "histograms": histograms,
                "origins": records(self.origin_table())}


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# ----------------------------------------------------------------------------------------------- cache

def _data_digest(market: MarketData, last_row: int) -> str:
    """SHA-256 of the dates, assets and prices up to `last_row`: what one origin's result depends on."""
    h = hashlib.sha256(json.dumps(list(market.assets)).encode())
    h.update(np.ascontiguousarray(market.dates[:last_row + 1].asi8).tobytes())
    h.update(np.ascontiguousarray(market.prices[:last_row + 1]).tobytes())
    return h.hexdigest()


def _cache_path(cache_dir: Path, generator: str, origin: str, identity: str) -> Path:
    safe = re.sub(r"[^\w.-]", "_", generator)  # a display name may hold any character; file names may not
    return cache_dir / f"{safe}_{origin}_{hashlib.sha256(identity.encode()).hexdigest()[:20]}.npz"


def _load(path: Path, identity: str, generator: str) -> OriginOutcomes | None:
    """The cached result, or None when absent, unreadable or written for another identity."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["identity"]) != identity:
                return None
            return OriginOutcomes(generator=generator, origin=str(z["origin"]), fit_origin=str(z["fit_origin"]),
                                  outcomes=tuple(str(s) for s in z["outcomes"]), real=z["real"],
                                  samples=z["samples"], pit=z["pit"], crps=z["crps"], seconds=float(z["seconds"]),
                                  cached=True)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a foreign or damaged file is recomputed and replaced


def _save(path: Path, identity: str, res: OriginOutcomes) -> None:
    # imported here: the report layer's writer (temporary file, fsync, os.replace) is the project's one
    # atomic writer; its package loads plotly, which a study without a cache does not need
    from ..atomic import atomic_write

    buf = io.BytesIO()
    np.savez(buf, identity=np.array(identity), origin=np.array(res.origin), fit_origin=np.array(res.fit_origin),
             outcomes=np.array(res.outcomes, dtype=str), real=res.real, samples=res.samples, pit=res.pit,
             crps=res.crps, seconds=np.array(res.seconds))
    atomic_write(path, buf.getvalue())

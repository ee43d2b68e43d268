"""Writing a scorecard: ``fidelity.json`` (table, per-replicate values, meta), ``fidelity.parquet`` (the
tidy table) and ``fidelity.html`` (the evaluate page), with a rolling-origin calibration also
``calibration.csv`` (its table) and ``calibration.json`` (table, histograms, per-origin PITs, meta), published as one
set through `stressgen.atomic.publish_files` (group ``"evaluate"``: a kill leaves the previous set or the new
one, never a mix).

Where: the report layer. Writers render pages and serialise results; metrics only compute them.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..atomic import publish_files
from ..metrics.fidelity.protocol import Scorecard
from ..metrics.fidelity.thresholds import check
from ._store import json_safe
from .evaluate_page import render

if TYPE_CHECKING:  # only its type is named here
    from ..studies.calibration import CalibrationResult

__all__ = ["write_scorecard", "scorecard_json"]


def scorecard_json(card: Scorecard) -> dict[str, Any]:
    """The JSON document: ``meta``, ``table``, ``raw``, ``strategies`` and the threshold ``failures``."""
    def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [json_safe(r) for r in df.to_dict(orient="records")]

    return {"meta": json_safe(card.meta), "table": _records(card.table), "raw": _records(card.raw),
            "strategies": _records(card.strategies), "failures": check(card.table)}


def write_scorecard(card: Scorecard, out_dir: str | os.PathLike, *,
                    calibration: CalibrationResult | None = None) -> dict[str, Path]:
    """Write ``fidelity.json``, ``fidelity.parquet`` and ``fidelity.html`` into `out_dir` (created if
    needed), and with `calibration` also ``calibration.csv`` and ``calibration.json`` (the page then shows
    its PIT histograms and table); returns kind -> path (``calibration_csv``, ``calibration_json``)."""
    out = Path(out_dir)
    parquet = io.BytesIO()
    card.table.to_parquet(parquet, index=False)
    files = {"fidelity.json": json.dumps(scorecard_json(card), indent=1, allow_nan=False).encode("utf-8"),
             "fidelity.parquet": parquet.getvalue()}
    if calibration is not None:
        files["calibration.csv"] = calibration.table().to_csv(index=False).encode("utf-8")
        files["calibration.json"] = json.dumps(calibration.to_json(), indent=1, allow_nan=False).encode("utf-8")
    # the page last, as with the run report: a present page comes with the data files it shows
    files["fidelity.html"] = render(card, calibration=calibration).encode("utf-8")
    publish_files(out, files, group="evaluate")
    return {name.replace(".", "_") if name.startswith("calibration") else name.split(".")[1]: out / name
            for name in files}

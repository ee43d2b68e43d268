"""Writing a scorecard: ``fidelity.json`` (table, per-replicate values, meta), ``fidelity.parquet`` (the
tidy table) and ``fidelity.html`` (the evaluate page). Every file is written to a temporary name in the
same directory and moved into place with `os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .protocol import Scorecard
from .thresholds import check

__all__ = ["write_scorecard", "scorecard_json", "atomic_write"]


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then move the temporary file onto `path` (same directory, so atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(x: Any) -> Any:
    """JSON-safe values: NaN/inf become null (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "item") and not isinstance(x, str):  # numpy scalars
        return _clean(x.item())
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict(orient="records")]


def scorecard_json(card: Scorecard) -> dict[str, Any]:
    """The JSON document: ``meta``, ``table``, ``raw``, ``strategies`` and the threshold ``failures``."""
    return {"meta": _clean(card.meta), "table": _records(card.table), "raw": _records(card.raw),
            "strategies": _records(card.strategies), "failures": check(card.table)}


def write_scorecard(card: Scorecard, out_dir: str | os.PathLike, *, html: bool = True) -> dict[str, Path]:
    """Write ``fidelity.json``, ``fidelity.parquet`` and (unless ``html=False``) ``fidelity.html`` into
    `out_dir` (created if needed); returns kind -> path."""
    out = Path(out_dir)
    paths = {"json": out / "fidelity.json", "parquet": out / "fidelity.parquet"}
    doc = json.dumps(scorecard_json(card), indent=1, allow_nan=False)
    atomic_write(paths["json"], lambda p: p.write_text(doc, encoding="utf-8"))
    atomic_write(paths["parquet"], lambda p: card.table.to_parquet(p, index=False))
    if html:
        from ...report.evaluate_page import render  # the report layer imports plotly; only needed here

        page = render(card)
        paths["html"] = out / "fidelity.html"
        atomic_write(paths["html"], lambda p: p.write_text(page, encoding="utf-8"))
    return paths

"""The evaluation protocol's vocabulary: its settings (`EvaluateConfig`), its result (`Scorecard`) and the
per-replicate summary (`summarise`). The run itself (fit on the train part, sample, score) fits and samples
generators, so it lives one layer up, in `stressgen.studies.evaluate` (see its module doc for the steps).

Each metric is reported as its mean over replicates with a 90 % interval ``mean +- t_{0.95, S-1} sd / sqrt(S)``
(a confidence interval for the expected score at M paths; NaN with one replicate). Two floors are scored the
same way and printed beside every metric (`REAL_VS_REAL`, `KNOWN_DGP`). Ranks (1 = best, lowest mean) are
among the generators only; floors are not ranked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...data import split
from ...errors import ConfigError
from ...types import MarketData
from .score import ScoreConfig

__all__ = ["EvaluateConfig", "Scorecard", "summarise", "REAL_VS_REAL", "KNOWN_DGP", "MIN_PATHS"]

REAL_VS_REAL = "floor: real-vs-real"
KNOWN_DGP = "floor: known-DGP"
MIN_PATHS = 500


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    """The protocol's settings.

    Attributes:
        split_at: last date of the train part (ISO date); or
        split_fraction: share of dates in the train part. Give exactly one (fraction 0.7 when neither).
        n_paths: synthetic paths per replicate (M >= 500 unless `allow_few_paths`).
        n_seeds: replicates (fit + sample + classifier) per generator.
        interval: coverage of the reported interval.
        warmup: real days before the scored period that strategies warm up on.
        chunk_size: worlds sampled per call (bounds memory).
        floors: score the two reference floors.
        floor_generator: registry name of the known-DGP model.
        score: metric settings (`ScoreConfig`).
        allow_few_paths: permit n_paths < 500 (tests, smoke runs); such tables are not the protocol.
    """

    split_at: str | None = None
    split_fraction: float | None = None
    n_paths: int = 500
    n_seeds: int = 3
    interval: float = 0.9
    warmup: int = 504
    chunk_size: int = 500
    floors: bool = True
    floor_generator: str = "garch"
    score: ScoreConfig = ScoreConfig()
    allow_few_paths: bool = False

    def __post_init__(self) -> None:
        if self.split_at is not None and self.split_fraction is not None:
            raise ConfigError("evaluate: give split_at or split_fraction, not both "
                              f"(got {self.split_at!r} and {self.split_fraction!r})")
        for name in ("n_paths", "n_seeds", "chunk_size", "warmup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "warmup" else 1):
                raise ConfigError(f"evaluate.{name} must be a positive integer, got {v!r}")
        if self.n_paths < MIN_PATHS and not self.allow_few_paths:
            raise ConfigError(f"evaluate.n_paths must be >= {MIN_PATHS} (the protocol's M), got {self.n_paths}; "
                              "set allow_few_paths=True for a smoke run")
        if not 0 < self.interval < 1:
            raise ConfigError(f"evaluate.interval must be in (0, 1), got {self.interval!r}")

    def split(self, market: MarketData) -> tuple[MarketData, MarketData]:
        if self.split_at is not None:
            return split(market, at=self.split_at)
        return split(market, fraction=0.7 if self.split_fraction is None else self.split_fraction)


@dataclasses.dataclass(frozen=True)
class Scorecard:
    """The result of `evaluate` (or `quick_scorecard`).

    Attributes:
        table: tidy DataFrame, one row per (generator, metric): ``generator``, ``kind`` ("generator" or
            "floor"), ``family``, ``metric``, ``mean``, ``lo``, ``hi``, ``n``, ``rank`` (generators only).
        raw: one row per (generator, replicate, metric): ``value``.
        strategies: per-strategy relative errors: ``generator``, ``replicate``, ``strategy``, ``value``.
        plots: generator -> arrays of `score.plot_data` (first replicate) for the page.
        meta: data set, split, sizes, settings, timings, metric definitions.
    """

    table: pd.DataFrame
    raw: pd.DataFrame
    strategies: pd.DataFrame
    plots: dict[str, dict[str, Any]]
    meta: dict[str, Any]

    def wide(self, value: str = "mean") -> pd.DataFrame:
        """Generators (rows) x metrics (columns) of one column of `table`."""
        order = list(dict.fromkeys(self.table["metric"]))
        rows = list(dict.fromkeys(self.table["generator"]))
        return self.table.pivot(index="generator", columns="metric", values=value).loc[rows, order]

    def ranking(self) -> pd.Series:
        """Mean rank over metrics per generator (lower is better)."""
        g = self.table[self.table["kind"] == "generator"]
        return g.groupby("generator", sort=False)["rank"].mean().sort_values()


def summarise(raw: pd.DataFrame, families: Mapping[str, tuple[str, str]], interval: float) -> pd.DataFrame:
    """Mean, interval and rank per (generator, metric) from per-replicate values."""
    rows = []
    for (gen, kind, metric), grp in raw.groupby(["generator", "kind", "metric"], sort=False):
        v = grp["value"].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else np.nan
        if v.size >= 2:
            half = stats.t.ppf(0.5 + interval / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
            lo, hi = mean - half, mean + half
        else:
            lo = hi = np.nan
        rows.append(dict(generator=gen, kind=kind, family=families.get(metric, ("", ""))[0], metric=metric,
                         mean=mean, lo=lo, hi=hi, n=int(v.size)))
    table = pd.DataFrame(rows)
    gens = table["kind"] == "generator"
    table["rank"] = np.nan
    table.loc[gens, "rank"] = table[gens].groupby("metric")["mean"].rank(method="min")
    return table

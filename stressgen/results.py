"""The result of a stress run: plain host-side values that the report layer renders and the writers persist.

`stressgen.pipeline` computes a `RunResult`; `stressgen.report` turns it into ``report.html``,
``summary.json`` and ``metrics.parquet`` and can read a results directory back into a `RunResult`
(``stressgen report RESULTS_DIR``). Nothing here computes: it is the contract between the two.

Axis names: ``worlds``, ``time``, ``assets``. Returns are log returns; equity curves start at 1.0.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .metrics.plausibility import PlausibilityReport
    from .types import Suspect

__all__ = ["StrategyResult", "RunResult", "SUMMARY_SCHEMA_VERSION", "FAN_WORLDS"]

# The fan chart's quantiles come from the first worlds only: [FAN_WORLDS, horizon] floats are kept.
FAN_WORLDS = 20_000

# Bump when a key of summary.json changes meaning or disappears (adding keys is backwards compatible).
SUMMARY_SCHEMA_VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class StrategyResult:
    """One strategy with one parameter set, over every world of the run.

    Attributes:
        name: display name, unique within the run (``"ma_crossover"`` or ``"ma_crossover[fast=10,slow=50]"``).
        plugin: how the spec named it (registry name, ``path.py:Class`` or ``module:attr``).
        params: the parameter values of this set (field -> value), JSON-able.
        metrics: per-world metrics, index ``world`` (int), one column per metric of
            `stressgen.metrics.per_world_metrics`.
        aggregate: `stressgen.metrics.aggregate_metrics` output: ``summary``, ``tails``, ``probabilities``.
        real: the same metrics of this strategy backtested on the real history (metric -> value).
        real_rank: percentile (0..100) of the real history among the worlds, per metric.
        worst_worlds: world indices of the worst terminal returns, worst first.
        worst_equity: ``[len(worst_worlds), horizon + 1]`` equity of those worlds.
    """

    name: str
    plugin: str
    params: dict[str, Any]
    metrics: pd.DataFrame
    aggregate: dict[str, pd.DataFrame]
    real: dict[str, float]
    real_rank: dict[str, float]
    worst_worlds: list[int]
    worst_equity: np.ndarray


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Everything a stress report shows.

    Attributes:
        spec: the resolved run spec as plain JSON-able data (after overrides), for the header and summary.
        data: dataset description: ``source``, ``assets`` (list), ``start``, ``end``, ``n_obs``, ``freq``.
        generator: ``name``, ``config`` (dict), ``params_digest``, ``warnings`` (list of str), ``fit_seconds``.
        seed, n_worlds, horizon: the simulation's size and root seed.
        assets: asset names, in column order of every ``[..., assets]`` array.
        conventions: name -> one-line statement (periods per year, rf, ddof, execution lag, costs, ...).
        versions: package -> version (stressgen, jax, flax, numpy, pandas, ...).
        real_paths: ``[k, horizon, assets]`` real log-return windows of the horizon's length (for comparison).
        sample_paths: ``[k, horizon, assets]`` the first k synthetic worlds.
        fan: quantile label (``"q05"``, ``"q50"``, ...) -> ``[horizon + 1]`` equal-weight equity quantiles over
            the first `FAN_WORLDS` worlds (starts at 1.0); ``"real"`` -> the same for the most recent real window.
        worst_paths: world index -> ``[horizon, assets]`` log returns of the worlds any strategy lists as worst.
        strategies: one `StrategyResult` per strategy x parameter set, in spec order.
        head_to_head: ``P(row beats column)`` on total return, index and columns strategy names.
        fidelity: real against synthetic summary: ``moments`` (DataFrame, index asset, columns like
            ``mean_real``, ``mean_syn``, ``vol_real``, ...), ``acf_abs`` (DataFrame, index lag, columns
            ``real``, ``synthetic``), ``corr_real`` and ``corr_syn`` (``[assets, assets]`` arrays), and
            optionally ``scorecard`` (issue 6's table) and ``failures`` (list of str: thresholds failed).
        timings: stage -> seconds (fit, sample+backtest, aggregate, report).
        plausibility: the plausibility gate's checks of these worlds against the history
            (`stressgen.metrics.plausibility`), or None for results written before the gate existed.
        suspects: data points of the history that the loader's quality checks flag (`MarketData.suspects`).
    """

    spec: dict[str, Any]
    data: dict[str, Any]
    generator: dict[str, Any]
    seed: int
    n_worlds: int
    horizon: int
    assets: list[str]
    conventions: dict[str, str]
    versions: dict[str, str]
    real_paths: np.ndarray
    sample_paths: np.ndarray
    fan: dict[str, np.ndarray]
    worst_paths: dict[int, np.ndarray]
    strategies: list[StrategyResult]
    head_to_head: pd.DataFrame
    fidelity: dict[str, Any]
    timings: dict[str, float]
    plausibility: PlausibilityReport | None = None
    suspects: tuple[Suspect, ...] = ()

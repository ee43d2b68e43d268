"""The result of a stress run: plain host-side values that the report layer renders and the writers persist.

`stressgen.pipeline` computes a `RunResult`; `stressgen.report` turns it into ``report.html``,
``summary.json`` and ``metrics.parquet`` and can read a results directory back into a `RunResult`
(``stressgen report RESULTS_DIR``). Nothing here computes beyond calendars: it is the contract between
the two.

Axis names: ``worlds``, ``time``, ``assets``. Returns are log returns; equity curves start at 1.0.
Every field is typed: tables are DataFrames with documented columns, arrays are NumPy with documented shapes,
and the only free-form values are JSON documents (the resolved spec, a generator's config), typed `JsonValue`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Union

import numpy as np
import pandas as pd

from .metrics.aggregate import Aggregate
from .metrics.pooling import ViewFit
from .metrics.run_summary import FidelitySummary
from .metrics.weighted import Estimate
from .results_reverse import ReverseResult
from .types import future_dates

if TYPE_CHECKING:
    from .metrics.plausibility import PlausibilityReport
    from .types import Suspect

__all__ = ["JsonValue", "ParamValue", "DatasetInfo", "GeneratorInfo", "RealHistory", "StrategyResult",
           "OverfitResult", "RegimeHistory", "StressStrategy", "StressCase", "RunResult", "ReverseResult",
           "SUMMARY_SCHEMA_VERSION", "FAN_WORLDS", "FAN_QUANTILES"]

# The fan chart's quantiles come from the first worlds only: [FAN_WORLDS, horizon] floats are kept.
FAN_WORLDS = 20_000
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

# Bump when a key of summary.json changes meaning or disappears (adding keys is backwards compatible).
# 1.1: `overfitting`, one entry per strategy with a parameter grid (issue 18).
# 1.2: `regimes`, the history's decoded regime path of a regime-mixture run (null for other families).
# 1.3: `stress`, the base case and each [[stress]] case side by side (an empty list without [[stress]]).
# 1.4: `reverse`, one entry per parameter set a spec's [reverse] section stresses (an empty list without it);
#      the spec echoed under run.spec gains a `reverse` key when the section is present.
SUMMARY_SCHEMA_VERSION = "1.4"

JsonValue = Union[str, int, float, bool, None, list["JsonValue"], dict[str, "JsonValue"]]
ParamValue = Union[int, float, bool, str, list["ParamValue"]]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The market history the run learned from.

    Attributes:
        source: the dataset name or file.
        assets: asset names, in column order.
        start, end: first and last date of the history (ISO ``YYYY-MM-DD``).
        n_obs: number of return periods.
        freq: the history's frequency (pandas alias, ``"B"`` for business days).
        repairs: how many repairs the loader made (listed on `MarketData.repairs`).
    """

    source: str
    assets: tuple[str, ...]
    start: str
    end: str
    n_obs: int
    freq: str
    repairs: int = 0


@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    """The generator the worlds came from.

    Attributes:
        name: the family's registry name.
        config: its configuration as JSON (every field of the family's config dataclass).
        params_digest: digest of the fitted parameters (the same digest means the same model).
        warnings: what fitting warned about, one line each.
        fit_seconds: fitting (or loading) time.
        model: the saved model directory the run loaded, or None when it fitted.
    """

    name: str
    config: dict[str, JsonValue]
    params_digest: str
    warnings: tuple[str, ...] = ()
    fit_seconds: float = 0.0
    model: str | None = None


@dataclasses.dataclass(frozen=True)
class RealHistory:
    """The strategies backtested on the real history itself (the report's tear sheet).

    Attributes:
        dates: ``[time + 1]`` ISO dates; the first is the close at which equity is 1.0 (the end of warm-up).
        benchmark: ``[time + 1]`` equity of the equal-weight portfolio, rebalanced daily, without costs.
        warmup: history days before ``dates[0]`` that the strategies warmed up on.
    """

    dates: tuple[str, ...]
    benchmark: np.ndarray
    warmup: int

    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.dates, name="date")


@dataclasses.dataclass(frozen=True)
class StrategyResult:
    """One strategy with one parameter set, over every world of the run.

    Attributes:
        name: display name, unique within the run (``"ma_crossover"`` or ``"ma_crossover[fast=10,slow=50]"``).
        plugin: how the spec named it (registry name, ``path.py:Class`` or ``module:attr``).
        params: the parameter values of this set (field -> value).
        metrics: per-world metrics, index ``world`` (int), one column per metric of
            `stressgen.metrics.per_world_metrics`.
        aggregate: the cross-world tables (`stressgen.metrics.Aggregate`).
        real: the same metrics of this strategy backtested on the real history's last horizon
            (metric -> value).
        real_rank: percentile (0..100) of the real history among the worlds, per metric.
        worst_worlds: world indices of the worst terminal returns, worst first.
        worst_equity: ``[len(worst_worlds), horizon + 1]`` equity of those worlds.
        real_equity: ``[time + 1]`` equity on the whole real history after warm-up (dates in
            `RunResult.real_history`); empty when the history is too short.
    """

    name: str
    plugin: str
    params: dict[str, ParamValue]
    metrics: pd.DataFrame
    aggregate: Aggregate
    real: dict[str, float]
    real_rank: dict[str, float]
    worst_worlds: tuple[int, ...]
    worst_equity: np.ndarray
    real_equity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float64))


@dataclasses.dataclass(frozen=True)
class OverfitResult:
    """What a parameter grid's search on the real history is worth (`stressgen.metrics.overfit_grid`).

    Sharpe ratios here are annualised from per-period ones with ddof = 0 (``mean / std * sqrt(P)``, excess
    of the run's risk-free rate), the convention of the overfitting statistics; the report's other Sharpe
    ratios use ddof = 1 (larger by ``sqrt(T / (T - 1))``, negligible over a real history).

    Attributes:
        strategy: the spec strategy's display name (its sets are ``strategy[field=value,...]``).
        plugin: how the spec named it.
        sets: the display names of the grid's parameter sets, in grid order.
        winner: index into `sets` of the best set by real-history Sharpe ratio.
        periods_per_year: P, the annualisation of the Sharpe ratios.
        n_periods: T, real periods after the warm-up that the statistics use.
        n_trials: N in the deflated Sharpe ratio (the grid's size).
        real_sharpe: ``[len(sets)]`` each set's annualised Sharpe ratio on the real history.
        psr: P[true Sharpe ratio of the winner > 0] (probabilistic Sharpe ratio).
        dsr: deflated Sharpe ratio of the winner (PSR against `dsr_benchmark`).
        dsr_benchmark: annualised Sharpe ratio expected from the best of N unskilled trials.
        pbo: probability of backtest overfitting, CSCV on the real history.
        pbo_splits: S, the CSCV blocks; `pbo_combinations` = C(S, S/2) splits.
        pbo_combinations: number of CSCV splits.
        pbo_prob_oos_loss: share of splits whose in-sample winner loses out of sample.
        rank_shares: ``[len(sets)]`` share of worlds with the winner at rank k + 1 (1 = best).
        median_rank, p_best: the winner's median rank across worlds; share of worlds where it is best.
        p_below_median, p_below_median_se: share of worlds where its rank is below the grid median, its SE.
        n_worlds: worlds ranked.
        chance_share, chance_se, chance_p_value: share of no-edge worlds (log returns de-meaned per asset, as
            long as the real sample) in which the winner reaches its real Sharpe ratio; its standard error;
            the Monte-Carlo p-value ``(k + 1) / (W + 1)``.
        null_worlds: W, the no-edge worlds drawn.
        null_sharpe_median: the winner's median annualised Sharpe ratio in them.
        robust: PBO and P(below median) both at most 1/2.
        warnings: one sentence per flag raised (robustness first), empty when none.
    """

    strategy: str
    plugin: str
    sets: tuple[str, ...]
    winner: int
    periods_per_year: int
    n_periods: int
    n_trials: int
    real_sharpe: np.ndarray
    psr: float
    dsr: float
    dsr_benchmark: float
    pbo: float
    pbo_splits: int
    pbo_combinations: int
    pbo_prob_oos_loss: float
    rank_shares: np.ndarray
    median_rank: float
    p_best: float
    p_below_median: float
    p_below_median_se: float
    n_worlds: int
    chance_share: float
    chance_se: float
    chance_p_value: float
    null_worlds: int
    null_sharpe_median: float
    robust: bool
    warnings: tuple[str, ...]

    @property
    def winner_name(self) -> str:
        return self.sets[self.winner]


@dataclasses.dataclass(frozen=True)
class RegimeHistory:
    """The history's regime path under the run's fitted regime mixture (`generators.regime.decode`).

    Attributes:
        dates: ``[T]`` ISO dates of the history's returns.
        labels: ``[K]`` regime names, calmest first (the family orders them by equal-weight volatility).
        viterbi: ``[T]`` int, the most likely path, as indices into `labels`.
        smoothed: ``[T, K]`` probability of each regime on each day given the whole history.
    """

    dates: tuple[str, ...]
    labels: tuple[str, ...]
    viterbi: np.ndarray
    smoothed: np.ndarray

    def share_of_days(self) -> np.ndarray:
        """``[K]`` share of the history's days the most likely path spends in each regime."""
        return np.bincount(self.viterbi, minlength=len(self.labels)) / max(len(self.viterbi), 1)

    def mean_spell_days(self) -> np.ndarray:
        """``[K]`` mean length in days of an unbroken stay in each regime on the most likely path (NaN: never)."""
        v = np.asarray(self.viterbi)
        starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]]) if v.size else np.zeros(0, np.int64)
        lengths = np.diff(np.r_[starts, v.size])
        out = np.full(len(self.labels), np.nan)
        for k in range(len(self.labels)):
            spells = lengths[v[starts] == k]
            if spells.size:
                out[k] = spells.mean()
        return out


@dataclasses.dataclass(frozen=True)
class StressStrategy:
    """One parameter set's horizon statistics in one stress case, weighted by the case's world probabilities.

    Attributes:
        name: the parameter set's display name (as in `StrategyResult.name`).
        var, es: VaR and ES of the total return at the case's `level` (positive = loss), with intervals.
        p_loss: ``P(total return < 0)``.
        p_drawdown: ``(x, P(max drawdown > x))`` for each of the report's drawdown thresholds.
        median_return: the weighted median total return.
    """

    name: str
    var: Estimate
    es: Estimate
    p_loss: Estimate
    p_drawdown: tuple[tuple[float, Estimate], ...]
    median_return: float


@dataclasses.dataclass(frozen=True)
class StressCase:
    """The base case or one ``[[stress]]`` case of a run (`stressgen.stage_stress`).

    Attributes:
        name: ``"base"`` or the case's name.
        description: what the case asks, in words.
        condition: the worlds' `Provenance.condition` (None: plain worlds).
        start: the resolved start state (``"2008-09-12 (equal-weight vol 41%, 97th percentile)"``), or None.
        views: how each entropy-pooling view holds (empty without views).
        n_worlds: worlds drawn.
        ess_kish, ess_entropy: effective number of worlds of `weights` (n for uniform weights).
        low_ess: `ess_kish` fell below the report's `min_ess`: tail numbers rest on few worlds.
        level: confidence level of `StressStrategy.var` and `.es`.
        strategies: one `StressStrategy` per parameter set, in the order of `RunResult.strategies`.
        fan: ``"q05"``.. ``"q95"`` -> ``[horizon + 1]`` weighted quantiles of the equal-weight equity over the
            first `FAN_WORLDS` worlds.
        weights: ``[worlds]`` float64 probabilities summing to 1, or None for uniform worlds.
        total_return: ``[sets, worlds]`` float32 total return of each parameter set (for histograms).
        ew_return: ``[worlds]`` float32 total return of the daily rebalanced equal-weight portfolio.
        notes: what the reader must know (low effective size, worlds a view excluded, a start date moved).
    """

    name: str
    description: str
    condition: str | None
    start: str | None
    views: tuple[ViewFit, ...]
    n_worlds: int
    ess_kish: float
    ess_entropy: float
    low_ess: bool
    level: float
    strategies: tuple[StressStrategy, ...]
    fan: dict[str, np.ndarray]
    weights: np.ndarray | None
    total_return: np.ndarray
    ew_return: np.ndarray
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Everything a stress report shows.

    Attributes:
        spec: the resolved run spec as a JSON document (after overrides), for the header and summary.
        data: the history (`DatasetInfo`).
        generator: the generator (`GeneratorInfo`).
        seed, n_worlds, horizon: the simulation's size and root seed.
        assets: asset names, in column order of every ``[..., assets]`` array.
        conventions: name -> one-line statement (periods per year, rf, ddof, execution lag, costs, ...).
        versions: package -> version (stressgen, jax, flax, numpy, pandas, ...).
        real_paths: ``[k, horizon, assets]`` real log-return windows of the horizon's length (for comparison).
        sample_paths: ``[k, horizon, assets]`` the first k synthetic worlds.
        fan: quantile label (``"q05"``, ``"q50"``, ...) -> ``[horizon + 1]`` equal-weight equity quantiles
            over the first `FAN_WORLDS` worlds (starts at 1.0); ``"real"`` -> the same for the most recent
            real window.
        worst_paths: world index -> ``[horizon, assets]`` log returns of the worlds any strategy
            lists as worst.
        strategies: one `StrategyResult` per strategy x parameter set, in spec order.
        head_to_head: ``P(row beats column)`` on total return, index and columns strategy names.
        fidelity: real against synthetic (`stressgen.metrics.run_summary.FidelitySummary`).
        timings: stage -> seconds.
        plausibility: the plausibility gate's checks of these worlds against the history
            (`stressgen.metrics.plausibility`), or None when the gate did not run.
        suspects: data points of the history that the loader's quality checks flag (`MarketData.suspects`).
        real_history: the real-history backtest's calendar and benchmark (None when the history is too short).
        overfit: one `OverfitResult` per spec strategy with a parameter grid, in spec order (empty without).
        regimes: the history's decoded regime path when the generator is the regime mixture, else None.
        stress: the base case then each ``[[stress]]`` case in spec order (empty when the spec has none).
        reverse: one `ReverseResult` per parameter set the spec's ``[reverse]`` selects, in run order (empty
            without ``[reverse]``; types in `stressgen.results_reverse`).
    """

    spec: dict[str, JsonValue]
    data: DatasetInfo
    generator: GeneratorInfo
    seed: int
    n_worlds: int
    horizon: int
    assets: tuple[str, ...]
    conventions: dict[str, str]
    versions: dict[str, str]
    real_paths: np.ndarray
    sample_paths: np.ndarray
    fan: dict[str, np.ndarray]
    worst_paths: dict[int, np.ndarray]
    strategies: tuple[StrategyResult, ...]
    head_to_head: pd.DataFrame
    fidelity: FidelitySummary
    timings: dict[str, float]
    plausibility: PlausibilityReport | None = None
    suspects: tuple[Suspect, ...] = ()
    real_history: RealHistory | None = None
    overfit: tuple[OverfitResult, ...] = ()
    regimes: RegimeHistory | None = None
    stress: tuple[StressCase, ...] = ()
    reverse: tuple[ReverseResult, ...] = ()

    def world_dates(self) -> pd.DatetimeIndex:
        """``[horizon + 1]`` dates of a world's equity: the history's last close, then the horizon's periods.

        Worlds continue the history's calendar (business days for daily data), as `Scenarios.dates` does.
        """
        end = pd.Timestamp(self.data.end)
        return pd.DatetimeIndex([end], name="date").append(future_dates(end, self.data.freq, self.horizon))

    def real_window_dates(self) -> pd.DatetimeIndex:
        """``[horizon + 1]`` dates of the most recent real window (the fan chart's ``"real"`` line)."""
        if self.real_history is None or len(self.real_history.dates) < self.horizon + 1:
            return pd.DatetimeIndex([], name="date")
        return self.real_history.index()[-(self.horizon + 1):]

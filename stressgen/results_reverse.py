"""The typed results of reverse stress testing (docs/reverse.md): plain host-side values, no compute.

They live here, beside `stressgen.results`, rather than in `stressgen.studies.reverse` (which computes them and
re-exports them) because a `RunResult` carries them (``RunResult.reverse``) and the report layer stores and
renders them: `results` must not import `studies` (studies import results' neighbours; a cycle), so the types
sit below both.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .errors import ConfigError
from .generators._base import did_you_mean
from .metrics.weighted import Estimate

__all__ = ["METHODS", "RELAXATION", "ReverseConfig", "Contributions", "LosingWorld", "Drivers", "ReverseOptResult",
           "TiltChoice", "ReverseResult"]

METHODS = ("empirical", "optimised")
RELAXATION = ("search on the noise model's Gaussian noise; strategy decisions held fixed under differentiation "
              "(stop_gradient on what the strategy sees and decides); losses re-measured with the exact strategy")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReverseConfig:
    """What to reverse-stress.

    Attributes:
        strategy: a parameter set's display name as the report shows it (``"ma_crossover[fast=5]"``; a
            strategy without a grid is its spec name).
        loss: the loss threshold l in (0, 1]: worlds with ``-(total return) >= l`` are the event.
        horizon: days per world; None: the spec's ``[simulation] horizon``.
        n_worlds: worlds to draw; None: the spec's ``[simulation] worlds``.
        k: how many most plausible (and worst) worlds to report.
        tilt_z: for a family that takes a `Tilt`: the shift, in standard deviations, of the horizon's
            standardized portfolio innovation toward losses (`Tilt.for_tail`); None: chosen on a pilot, the z
            of `studies.reverse_tilt.TILT_GRID` with the smallest measured relative variance of the estimator
            of ``P(loss >= l)`` (`TiltChoice`); 0: plain worlds.
        method: "empirical" (sampled worlds) or "optimised" (the most likely noise path, for a family with an
            explicit noise model).
    """

    strategy: str
    loss: float
    horizon: int | None = None
    n_worlds: int | None = None
    k: int = 5
    tilt_z: float | None = None
    method: str = "empirical"

    def __post_init__(self) -> None:
        x = self.loss
        if isinstance(x, bool) or not isinstance(x, int | float) or not (0.0 < float(x) <= 1.0):
            raise ConfigError(f"reverse.loss must be a fraction in (0, 1] (0.25 = a 25% loss), got {x!r}")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ConfigError(f"reverse.strategy must be a parameter set's name, got {self.strategy!r}")
        for name in ("horizon", "n_worlds"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"reverse.{name} must be an integer >= 1 or None, got {v!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"reverse.k must be an integer >= 1, got {self.k!r}")
        z = self.tilt_z
        if z is not None and (isinstance(z, bool) or not isinstance(z, int | float) or not math.isfinite(z)
                              or z < 0):
            raise ConfigError(f"reverse.tilt_z must be a finite number >= 0 or None (automatic), got {z!r}")
        if self.method not in METHODS:
            raise ConfigError(f"reverse.method must be one of {', '.join(METHODS)}, got {self.method!r}"
                              f"{did_you_mean(self.method, METHODS)}")


@dataclasses.dataclass(frozen=True)
class Contributions:
    """What made a world's total simple return, on unit starting capital (docs/reverse.md): ``per_asset``
    ``[assets]`` (sum over days of ``E_{t-1} w_ti R_ti``), ``cash`` (the rate earned or paid on cash) and
    ``costs`` (negative); ``total`` is their sum, which equals ``E_T - 1``."""

    assets: tuple[str, ...]
    per_asset: np.ndarray
    cash: float
    costs: float

    @property
    def total(self) -> float:
        return float(self.per_asset.sum() + self.cash + self.costs)

    def top(self, n: int = 3) -> tuple[tuple[str, float], ...]:
        """The `n` assets that lost the most (most negative first)."""
        order = np.argsort(self.per_asset, kind="stable")[:n]
        return tuple((self.assets[i], float(self.per_asset[i])) for i in order)


@dataclasses.dataclass(frozen=True)
class LosingWorld:
    """One sampled world.

    Attributes:
        world: its index in the sample (its key is ``fold_in(sample key, world)``).
        loss: ``-(total return)`` of the strategy on it.
        plausibility: its score (`ReverseResult.plausibility_method`; higher = more plausible).
        percentile: the share (in %) of the plain reference worlds (`ReverseResult.n_reference` ordinary,
            unweighted worlds, `studies.reverse.REFERENCE_STREAM`) whose score is at or below its score.
        probability: its normalised weight among all sampled worlds.
        path: ``[horizon, assets]`` its daily log returns.
        equity: ``[horizon + 1]`` the strategy's equity, 1 at the start.
        contributions: what made its loss.
        weights: ``[horizon, assets]`` the weights the engine executed (held over each day), for the report.
    """

    world: int
    loss: float
    plausibility: float
    percentile: float
    probability: float
    path: np.ndarray
    equity: np.ndarray
    contributions: Contributions
    weights: np.ndarray


@dataclasses.dataclass(frozen=True)
class Drivers:
    """What drove the losses, over the losing worlds (weighted) against all worlds.

    Attributes:
        contributions: weighted mean contributions over the losing worlds.
        vol_losing, vol_all: ``[horizon]`` mean annualised realised volatility per day (the root mean square
            of the day's log returns across assets, `reverse_math.vol_path`).
        corr_losing, corr_all: mean over worlds of each world's average pairwise correlation over the horizon.
    """

    contributions: Contributions
    vol_losing: np.ndarray
    vol_all: np.ndarray
    corr_losing: float
    corr_all: float


@dataclasses.dataclass(frozen=True)
class ReverseOptResult:
    """The optimised method's answer (`studies.reverse_opt.most_likely_paths`). Per start, best first: the
    constraint met (exactly re-measured when the loss can be), then the most likely noise. Arrays lead with
    ``[starts]``.

    Attributes:
        z, log_returns: ``[starts, horizon, assets]`` the noise found and its path.
        loss: the loss the search measured at z (the exact strategy's value: the relaxation changes only the
            gradient); exact_loss: the loss re-measured by `StrategyLoss.exact`, None for a plain function.
        met: loss >= target - tol (exact_loss when there is one).
        log_lik, mahalanobis, percentile: the noise's log-likelihood, |z|, and the share of ordinary worlds whose
            noise is no more likely (`reverse_opt` module doc).
        gap, kkt, multiplier, grad_norm: the solver's stopping quantities and |grad g| at z.
        start: each row's start index (its noise came from ``rng.world_keys(key, 0, starts)[start]``).
        target, tol, steps, compile_s, run_s, relaxation: the problem and what it cost.
    """

    z: np.ndarray
    log_returns: np.ndarray
    loss: np.ndarray
    exact_loss: np.ndarray | None
    met: np.ndarray
    log_lik: np.ndarray
    mahalanobis: np.ndarray
    percentile: np.ndarray
    gap: np.ndarray
    kkt: np.ndarray
    multiplier: np.ndarray
    grad_norm: np.ndarray
    start: np.ndarray
    target: float
    tol: float
    steps: int
    compile_s: float
    run_s: float
    relaxation: str = RELAXATION

    ARRAYS = ("z", "log_returns", "loss", "exact_loss", "met", "log_lik", "mahalanobis", "percentile", "gap", "kkt",
              "multiplier", "grad_norm", "start")

    def best_loss(self) -> np.ndarray:
        """``[starts]`` the loss to report per start: the exact re-measurement where there is one."""
        return np.asarray(self.loss if self.exact_loss is None else self.exact_loss)


@dataclasses.dataclass(frozen=True)
class TiltChoice:
    """The automatic tilt's pilot (`studies.reverse_tilt`): per candidate z, the relative variance
    ``RV = var(w 1{loss >= l}) / mean(w 1{loss >= l})^2`` of the importance-sampling estimator of
    ``P(loss >= l)`` measured on `pilot_worlds` worlds (relative standard error over N worlds: sqrt(RV / N)).

    Attributes:
        z: the chosen shift (0: plain worlds).
        grid: the candidate shifts; rv: their RV (NaN: no pilot world reached the loss, or the tilt was too
            strong to draw); n_event: pilot worlds past the loss per candidate.
        pilot_worlds: worlds per candidate (worlds ``0 ..`` of the sample key at every z).
        loss, raw_w: ``[grid, pilot_worlds]`` each pilot world's loss and raw likelihood ratio.
    """

    z: float
    grid: tuple[float, ...]
    rv: tuple[float, ...]
    n_event: tuple[int, ...]
    pilot_worlds: int
    loss: np.ndarray
    raw_w: np.ndarray

    def table(self) -> str:
        """One line: ``z=0: RV 84 (4 worlds); ...``."""
        return "; ".join(f"z={z:g}: RV {rv:.3g} ({n} worlds)" if math.isfinite(rv) else f"z={z:g}: - ({n} worlds)"
                         for z, rv, n in zip(self.grid, self.rv, self.n_event))


@dataclasses.dataclass(frozen=True)
class ReverseResult:
    """The answer to "how does this strategy lose at least `loss`?" (`studies.reverse` module docstring).

    Attributes:
        config: the request, with `horizon` and `n_worlds` resolved.
        assets: the data's assets, in order.
        generator: the family (or saved model's family) that drew the worlds.
        tilt: the tilt's description (`Tilt.describe`), None for plain worlds.
        plausibility_method: `studies.reverse.NOISE_SCORE` or `GENERIC_SCORE`.
        n_losing: sampled worlds with loss >= l.
        probability: ``P(loss >= l)`` under the plain model (weighted; delta-method se, Wilson interval).
        ess_kish: Kish effective size of all worlds' weights; ess_losing: of the losing worlds' weights.
        largest_loss: the largest loss among the sampled worlds.
        mean_path: ``[horizon, assets]`` ``E[cumulative log return | loss >= l]``.
        most_plausible: the k most plausible losing worlds, most plausible first.
        worst: the k worst sampled worlds by loss, worst first.
        drivers: contributions, volatility and correlation of the losing worlds against all.
        optimised: the optimised method's result (its paths best first, each with its noise log-likelihood on
            the same footing as the noise score), None for the empirical method.
        notes: caveats worth printing (low effective size, few losing worlds, the automatic tilt's choice).
        seconds: wall time.
        tilt_choice: the automatic tilt's pilot, None when z was given (or the family takes no tilt).
        n_reference: plain reference worlds the percentiles compare with.
    """

    config: ReverseConfig
    assets: tuple[str, ...]
    generator: str
    tilt: str | None
    plausibility_method: str
    n_losing: int
    probability: Estimate
    ess_kish: float
    ess_losing: float
    largest_loss: float
    mean_path: np.ndarray
    most_plausible: tuple[LosingWorld, ...]
    worst: tuple[LosingWorld, ...]
    drivers: Drivers
    optimised: ReverseOptResult | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    tilt_choice: TiltChoice | None = None
    n_reference: int = 0

"""The automatic tilt of reverse stress testing (`stressgen.studies.reverse`, docs/reverse.md "Sampling"):
the tilt strength z chosen on a pilot by the measured relative variance of the importance-sampling estimator.

For each z of `TILT_GRID` the pilot draws worlds ``0 .. n - 1`` of the sample key under ``Tilt.for_tail(z, ...)``
(z = 0: plain; the same keys at every z, so the candidates are compared on common random numbers; the tilt's
arrays are inputs of the compiled sampler, so one program serves every z), backtests the strategy on them and
measures ``RV(z) = var(w 1{loss >= l}) / mean(w 1{loss >= l})^2`` (w the raw likelihood ratios; population
variance): the estimator's squared coefficient of variation per world, so its relative standard error over N
worlds is ``sqrt(RV / N)``. The chosen z has the smallest RV among the z where at least `MIN_PILOT_EVENTS` pilot
worlds reach the loss (ties: the smaller z); when none does, the z with the most pilot worlds past the loss
(ties: the larger z, so that no world at all gives the strongest tilt of the grid).

Why not a formula: moving the strategy's typical horizon return to the threshold is the optimum for Gaussian
returns, but GARCH's volatility feedback (leverage) amplifies a tilt of the innovations: the tilted worlds
overshoot the loss and the weights degenerate (10,000 worlds of the quickstart with a Kish size of 27).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import engine
from ..errors import ConfigError
from ..generators import Tilt
from ..metrics.risk import RiskConfig
from ..metrics.running import risk_reducer
from ..results_reverse import TiltChoice

__all__ = ["TILT_GRID", "PILOT_WORLDS", "MIN_PILOT_EVENTS", "relative_variance", "pick_z", "pilot_tilt"]

TILT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # candidate shifts z, in sd of the horizon's innovation
PILOT_WORLDS = 256  # worlds per candidate (at most the run's chunk and world count: the same compiled shapes)
MIN_PILOT_EVENTS = 10  # pilot worlds past the loss for a candidate's RV to count


def relative_variance(loss: np.ndarray, raw_w: np.ndarray, threshold: float) -> tuple[float, int]:
    """``(RV, events)`` of one candidate's pilot: RV is NaN when no world reaches the loss or a value is NaN."""
    loss, raw_w = np.asarray(loss, np.float64), np.asarray(raw_w, np.float64)
    hit = loss >= threshold
    events = int(hit.sum())
    y = np.where(hit, raw_w, 0.0)
    if events == 0 or not np.isfinite(y).all():
        return math.nan, events
    return float(y.var() / y.mean() ** 2), events


def pick_z(grid: tuple[float, ...], rv: tuple[float, ...], events: tuple[int, ...]) -> float:
    """The module docstring's rule."""
    ok = [i for i in range(len(grid)) if events[i] >= MIN_PILOT_EVENTS and math.isfinite(rv[i])]
    if ok:
        return float(grid[min(ok, key=lambda i: (rv[i], grid[i]))])
    return float(grid[max(range(len(grid)), key=lambda i: (events[i], grid[i]))])


def pilot_tilt(config: Any, generator: Any, fitted: Any, strategy: Any, bt: engine.BacktestConfig,
               risk: RiskConfig, key: Any, horizon: int, n_worlds: int, chunk_size: int,
               direction: tuple[float, ...] | None) -> TiltChoice:
    """Measure every z of `TILT_GRID` on a pilot (module docstring); a z whose tilt is too strong for float32
    weights (`ConfigError` from the sampler) gets no RV and no events."""
    n = int(min(PILOT_WORLDS, chunk_size, n_worlds))
    reducer = risk_reducer(bt, risk)
    losses, weights, rvs, counts = [], [], [], []
    for i, z in enumerate(TILT_GRID):
        condition = Tilt.for_tail(z, horizon, direction) if z > 0 else None
        try:
            worlds = generator.sample(fitted, key=key, n_worlds=n, horizon=horizon, condition=condition)
        except ConfigError:
            loss, raw = np.full(n, np.nan), np.full(n, np.nan)
        else:
            res = engine.backtest(strategy, worlds, bt, reducer=reducer, metrics_only=True, check=i == 0)
            assert res.summary is not None
            loss = -np.asarray(res.summary["total_return"], np.float64).reshape(-1)
            raw = np.ones(n) if worlds.weights is None else np.asarray(worlds.weights, np.float64)
        rv, events = relative_variance(loss, raw, config.loss)
        losses.append(loss)
        weights.append(raw)
        rvs.append(rv)
        counts.append(events)
    z = pick_z(TILT_GRID, tuple(rvs), tuple(counts))
    return TiltChoice(z=z, grid=TILT_GRID, rv=tuple(rvs), n_event=tuple(counts), pilot_worlds=n,
                      loss=np.stack(losses), raw_w=np.stack(weights))

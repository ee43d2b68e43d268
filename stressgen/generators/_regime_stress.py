"""The stress conditions the regime mixture's `sample` takes, turned into the sampler's extra inputs.

`condition_inputs` maps an `InRegime`, a `PathShock` or a `CrisisReplay` to the arrays `_regime_sim.simulate`
reads (the keys it finds in ``p`` switch its path) and the text for `Provenance.condition`. Kept apart from
regime.py so that the family's fit and its conditions each stay a module of one concept (as `_garch_conditions`).

Both stresses are conditioning of the fitted hidden Markov model, not interventions on its parameters:

* `PathShock` on day k: the regime of day k is drawn from its posterior given the shock,
  ``P(s_k | s_{k-1}, shock) ∝ trans[s_{k-1}, s_k] f_{s_k}(x)``, f_s the density of the target portfolio's
  log move ``x = w.r`` under regime s's one-dimensional marginal (location ``w.mean_s``, scale ``w' S_s w``,
  the regime's own t or normal law), evaluated at the log move of that regime's shock row. The row is the
  conditional mean of the day's vector given the target's move under the regime's covariance, met exactly as a
  simple return (`_shock.conditional_shock_row`, the construction garch's shock applies per world). A regime
  whose covariance makes a -20% day less extraordinary is the one the shock points to.
* `CrisisReplay`: the regime probabilities are filtered through the episode's returns by the forward recursion
  (the fitted emissions and transition matrix), from the plain sampler's day-1 distribution; each world draws
  its regime on the episode's last day from the filtered probabilities and the plain chain goes on from it.

Weights stay None: the worlds are draws of the conditioned law, equally likely.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln

from . import _regime_condition as rc
from . import _regime_fit as rf
from . import _regime_sim as sim
from ._regime_condition import InRegime
from ._replay import CrisisReplay
from ._shock import PathShock, conditional_shock_row, shock_weights

__all__ = ["CONDITIONS", "condition_inputs", "target_log_density", "shock_posterior"]

CONDITIONS = (InRegime, PathShock, CrisisReplay)


def _shares(labels: tuple[str, ...], p: np.ndarray) -> str:
    return ", ".join(f"{label} {float(q):.3g}" for label, q in zip(labels, p, strict=True))


def target_log_density(w: np.ndarray, mean: np.ndarray, scatter: np.ndarray, dof: np.ndarray, student: bool,
                       x: np.ndarray) -> np.ndarray:
    """``[K]`` log density of the portfolio log move ``w.r`` at ``x[k]`` under regime k's marginal law: a t with
    the regime's dof, location ``w.mean_k`` and squared scale ``w' scatter_k w`` (a linear map of a multivariate
    t is t with the same dof), or the normal with that mean and variance."""
    loc = mean @ w
    scale2 = np.einsum("i,kij,j->k", w, scatter, w)
    z2 = (np.asarray(x, np.float64) - loc) ** 2 / scale2
    if not student:
        return -0.5 * (np.log(2.0 * np.pi * scale2) + z2)
    nu = np.asarray(dof, np.float64)
    return (gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * np.pi * scale2)
            - 0.5 * (nu + 1.0) * np.log1p(z2 / nu))


def shock_posterior(prior: np.ndarray, log_f: np.ndarray) -> np.ndarray:
    """Rows of ``prior [..., K] * f`` normalised: the regime's law given the shock (`log_f` its log densities)."""
    post = np.asarray(prior, np.float64) * np.exp(log_f - np.max(log_f))
    return post / post.sum(axis=-1, keepdims=True)


def _shock(fitted: Any, condition: PathShock, horizon: int, start: np.ndarray) -> tuple[dict, str]:
    w = shock_weights(condition, fitted.context.asset_names, horizon)
    mean = np.asarray(fitted.mean, np.float64)
    scatter = np.asarray(fitted.scatter, np.float64)
    cov = fitted.covariance  # proportional to the scatter: the same conditional mean, the brief's covariance
    rows = np.stack([conditional_shock_row(w, mean[k], cov[k], condition.size) for k in range(len(mean))])
    log_f = target_log_density(w, mean, scatter, np.asarray(fitted.dof, np.float64), fitted.student, rows @ w)
    trans = np.asarray(fitted.trans, np.float64)
    post_start, post_trans = shock_posterior(start, log_f), shock_posterior(trans, log_f)
    # the shock day's regime shares over worlds: the plain chain up to the day before, then the posterior
    before = start @ np.linalg.matrix_power(trans, condition.day - 2) if condition.day > 1 else None
    shares = post_start if before is None else before @ post_trans
    inputs = {"shock_day": np.int32(condition.day - 1), "shock_start_cum": sim.cumulative(post_start),
              "shock_trans_cum": sim.cumulative(post_trans), "shock_rows": rows.astype(np.float32)}
    return inputs, f"{condition.describe()}, regime on the shock day: {_shares(fitted.labels, shares)}"


def replay_filtered(fitted: Any, returns: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``[L, K]`` regime probabilities filtered through `returns` (float64 forward recursion, `_regime_em`), from
    `start`, the plain sampler's day-1 distribution."""
    params = rf.as_float64(fitted.params).replace(start=np.asarray(start, np.float64))
    return rf.filter_history(params, np.asarray(returns, np.float64), fitted.student)[1]


def _replay(fitted: Any, condition: CrisisReplay, horizon: int, start: np.ndarray) -> tuple[dict, str]:
    y = condition.check(fitted.context.asset_names, horizon)  # float32: the returns the worlds show, filtered as shown
    end = replay_filtered(fitted, y, start)[-1]
    # the sampler draws the episode's last day's regime from `end` (its start_cum) and the chain goes on
    inputs = {"replay_y": y, "start_cum": sim.cumulative(end)}
    return inputs, f"{condition.describe()}, regime filtered at its end: {_shares(fitted.labels, end)}"


def condition_inputs(fitted: Any, condition: Any, horizon: int, start: np.ndarray) -> tuple[dict, str | None]:
    """``(extra sampler inputs, Provenance.condition text)`` for `condition` on the fitted regime mixture;
    ``({}, None)`` without one. `start` is the plain day-1 regime distribution (`regime.start_distribution`).
    Refuses, naming the field, what the condition cannot do on this fit (ConfigError)."""
    if condition is None:
        return {}, None
    if isinstance(condition, InRegime):
        index = rc.regime_index(condition, fitted.labels)
        days = rc.held_days(condition)
        # int32 scalars, traced: another regime or stay length reuses the compiled sampler
        probability = rc.event_probability(start, np.asarray(fitted.trans), index, days)
        return {"hold_state": np.int32(index), "hold_days": np.int32(days)}, condition.describe(probability)
    if isinstance(condition, PathShock):
        return _shock(fitted, condition, horizon, start)
    if isinstance(condition, CrisisReplay):
        return _replay(fitted, condition, horizon, start)
    raise TypeError(f"not a regime condition: {condition!r}")  # sample() refuses other conditions first

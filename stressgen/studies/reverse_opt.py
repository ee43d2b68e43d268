"""Reverse stress testing, the optimised method: the most likely noise that makes a strategy lose at least l.

For a generator with explicit standard-normal noise (`NoiseModel`: GARCH's innovations, the i.i.d. Gaussian
model; the VAE's latents and flow or autoregressive innovations once they expose one), solve, from many starts
in one compiled, vmapped program,

    minimise 0.5 |z|^2   subject to   g(z) = loss_fn(paths(z)) >= l,

which maximises the noise's log-likelihood ``-0.5 |z|^2 + const`` on the loss region: the most-likely-scenario
problem of Breuer and Csiszar and of Glasserman, Kang and Kang (2015). For an i.i.d. Gaussian model and a loss
that is linear in the returns its answer is closed form: ``z* = a b / |a|^2`` for the half-space ``a.z <= b``.

The solver (why this one): an augmented Lagrangian on the constraint written as a signed distance,
``c(z) = (l - g(z)) / |grad g(z)|`` (the normaliser held constant under differentiation), so that the problem
has the same scale whatever the loss units, the strategy or the number of days: the objective's Hessian is the
identity and the penalty's curvature is `rho` along the constraint's normal. Its gradient is
``z - max(0, lam + rho c) n`` with ``n = grad g / |grad g|``. Every `update_every` steps the multiplier moves,
``lam <- max(0, lam + rho c)`` (the first-order update: on a linear constraint each exact inner solve shrinks the
multiplier's error by ``1 / (1 + rho)``). Inner steps are optax's plain gradient descent by default: on this
well-scaled problem it contracts the off-normal part of z by ``1 - learning_rate`` a step (stable while
``learning_rate * (1 + rho) < 2``), and reached the closed form to float32 rounding (|z - z*| ~ 1e-6 at |z*| ~ 4.6,
200 steps), where Adam (`optimizer=optax.adam(...)`, which rescales each coordinate and so undoes the scaling)
stopped at 1e-2 (constant or cosine-decayed rates 0.05 to 0.2, measured on the test's problem).

Stopping criterion, reported per start: `gap` = g - l (the constraint) and `kkt` = |z - (z.n) n|, the part of z
off the normal at z (stationarity: at a solution z is a non-negative multiple of n). For a linear g the distance
to the closed-form point is exactly ``sqrt(kkt^2 + (gap / |grad g|)^2)``; the tests bound it that way.

Strategies that are not differentiable (thresholds, schedules) use one stated relaxation (`_reverse_loss`):
their decisions are held fixed under differentiation; the loss value is the exact strategy's, and `exact`
re-measures every found path with the engine's backtest.

Plausibility of each path: its noise's log-likelihood, the Mahalanobis distance |z|, and the log-likelihood's
percentile among ordinary worlds: ``P(|Z|^2 >= |z|^2)`` for ``|Z|^2 ~ chi-square(horizon * assets)``, the share
of worlds drawn from the noise law whose noise is no more likely than this path's (closed form, scipy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from .. import rng
from ..errors import ConfigError
from ..generators._garch_noise import GarchNoise, garch_noise_model
from ..generators._noise import GaussianNoise, NoiseModel, gaussian_noise_model
from ..results_reverse import RELAXATION, ReverseOptResult  # the typed result lives beside RunResult
from ._reverse_loss import StrategyLoss, strategy_loss

__all__ = ["ReverseOptResult", "most_likely_paths", "noise_plausibility", "NoiseModel", "GaussianNoise",
           "GarchNoise", "gaussian_noise_model", "garch_noise_model", "StrategyLoss", "strategy_loss",
           "RELAXATION"]

_TINY = 1e-30


def _plausibility(sq_norm: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(Mahalanobis distance |z|, share of standard-normal draws of `dim` dimensions with a larger |Z|^2)."""
    return np.sqrt(sq_norm), stats.chi2.sf(sq_norm, dim)


def noise_plausibility(noise_model: NoiseModel, log_returns: np.ndarray | jax.Array) -> dict[str, np.ndarray]:
    """``{"z", "log_lik", "mahalanobis", "percentile"}`` of paths ``[paths, horizon, assets]`` (sampled worlds,
    say) under `noise_model`, on the same footing as `most_likely_paths`' results."""
    z = np.asarray(jax.jit(jax.vmap(lambda m, r: m.noise_of(r), in_axes=(None, 0)))(
        noise_model, jnp.asarray(log_returns, jnp.float32)), np.float64)
    sq = np.sum(z * z, axis=(1, 2))
    log_lik = np.asarray(noise_model.log_prob(z), np.float64)
    mahalanobis, percentile = _plausibility(sq, noise_model.dim)
    return {"z": z, "log_lik": log_lik, "mahalanobis": mahalanobis, "percentile": percentile}


def _search(model: NoiseModel, arrays: Any, z0: jax.Array, *, smooth: Callable[[Any, jax.Array], jax.Array],
            target: float, steps: int, opt: optax.GradientTransformation, rho: float,
            update_every: int) -> dict[str, jax.Array]:
    """The vmapped search (module doc); `model` and `arrays` are arguments so that fences stay runtime zeros."""
    g = jax.value_and_grad(lambda z: smooth(arrays, model.paths(z)))

    def measure(z: jax.Array, lam: jax.Array) -> tuple[jax.Array, ...]:
        value, grad = g(z)
        norm = jnp.sqrt(jnp.sum(grad * grad))
        n = grad / jnp.maximum(norm, _TINY)
        c = jnp.where(norm > _TINY, (target - value) / jnp.maximum(norm, _TINY), 0.0)  # signed distance
        return value, norm, n, c, jnp.maximum(0.0, lam + rho * c)

    def one(z: jax.Array) -> dict[str, jax.Array]:
        def step(carry: tuple[jax.Array, Any, jax.Array], k: jax.Array) -> tuple[tuple[jax.Array, Any, jax.Array],
                                                                                  None]:
            z, state, lam = carry
            _, _, n, _, mult = measure(z, lam)
            updates, state = opt.update(z - mult * n, state, z)
            z = optax.apply_updates(z, updates)
            # the multiplier moves after each block of inner steps (an outer augmented-Lagrangian iteration)
            lam = jnp.where((k + 1) % update_every == 0, measure(z, lam)[4], lam)
            return (z, state, lam), None

        lam0 = jnp.zeros((), z.dtype)
        (z, _, lam), _ = jax.lax.scan(step, (z, opt.init(z), lam0), jnp.arange(steps))
        value, norm, n, _, _ = measure(z, lam)
        along = jnp.sum(z * n)
        return {"z": z, "paths": model.paths(z), "loss": value, "grad_norm": norm, "multiplier": lam,
                "kkt": jnp.sqrt(jnp.sum(jnp.square(z - along * n))), "sq_norm": jnp.sum(z * z)}

    return jax.vmap(one)(z0)


def most_likely_paths(noise_model: NoiseModel, loss_fn: Callable[[jax.Array], jax.Array] | StrategyLoss,
                      loss: float, *, key: jax.Array, starts: int = 64, steps: int = 200, z0: Any = None,
                      start_scale: float = 1.0, learning_rate: float = 0.15, rho: float = 10.0,
                      update_every: int = 20, tol: float = 1e-4,
                      optimizer: optax.GradientTransformation | None = None) -> ReverseOptResult:
    """The most likely noise of `noise_model` whose path makes ``loss_fn(path) >= loss`` (module doc).

    Args:
        noise_model: a `NoiseModel` (`gaussian_noise_model`, `garch_noise_model`).
        loss_fn: ``log_returns [horizon, assets] -> scalar`` differentiable loss, or a `StrategyLoss`
            (`strategy_loss`: 1 - final equity of a strategy; its paths are then re-measured exactly).
        loss: the target l.
        key: the starts' key; start i draws from ``rng.world_keys(key, 0, starts)[i]`` only, so start i does
            not depend on how many starts run.
        starts, steps: how many starts (all in one vmapped program) and gradient steps each.
        z0: ``[starts, horizon, assets]`` starting noise (e.g. `noise_plausibility`'s z of sampled worlds whose
            loss is near l); None: ``start_scale * N(0, I)``.
        learning_rate: the gradient-descent step (ignored with `optimizer`); rho: the penalty on the signed
            distance; update_every: inner steps per multiplier update.
        optimizer: another optax transformation for the inner steps (e.g. ``optax.adam(0.1)``).
        tol: `met` allows the loss this far below `loss` (loss units).
    """
    for name, value in (("starts", starts), ("steps", steps), ("update_every", update_every)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"most_likely_paths: {name} must be a positive integer, got {value!r}")
    shape = noise_model.shape
    if z0 is None:
        keys = rng.world_keys(key, jnp.uint32(0), starts)
        z0 = start_scale * jax.vmap(lambda k: jax.random.normal(k, shape, jnp.float32))(keys)
    z0 = jnp.asarray(z0, jnp.float32)
    if z0.shape != (starts, *shape):
        raise ConfigError(f"most_likely_paths: z0 must be [{starts}, {shape[0]}, {shape[1]}], got {z0.shape}")
    if isinstance(loss_fn, StrategyLoss):
        arrays, smooth = loss_fn.arrays, loss_fn.smooth
    else:
        arrays, smooth = (), (lambda _, r: loss_fn(r))
    opt = optax.sgd(float(learning_rate)) if optimizer is None else optimizer
    program = jax.jit(lambda m, a, z: _search(m, a, z, smooth=smooth, target=float(loss), steps=int(steps),
                                              opt=opt, rho=float(rho), update_every=int(update_every)))
    t0 = time.perf_counter()
    compiled = program.lower(noise_model, arrays, z0).compile()
    t1 = time.perf_counter()
    out = jax.device_get(compiled(noise_model, arrays, z0))
    t2 = time.perf_counter()
    sq = np.asarray(out["sq_norm"], np.float64)
    value = np.asarray(out["loss"], np.float64)
    exact = loss_fn.exact(out["paths"]) if isinstance(loss_fn, StrategyLoss) else None
    met = (value if exact is None else exact) >= loss - tol
    log_lik = np.asarray(noise_model.log_prob(out["z"]), np.float64)
    mahalanobis, percentile = _plausibility(sq, noise_model.dim)
    order = np.lexsort((-log_lik, ~met))  # met first, then the most likely
    take = lambda x: None if x is None else np.asarray(x)[order]  # noqa: E731
    return ReverseOptResult(
        z=take(out["z"]), log_returns=take(out["paths"]), loss=take(value), exact_loss=take(exact), met=take(met),
        log_lik=take(log_lik), mahalanobis=take(mahalanobis), percentile=take(percentile),
        gap=take(value - loss), kkt=take(out["kkt"]), multiplier=take(out["multiplier"]),
        grad_norm=take(out["grad_norm"]), start=order, target=float(loss), tol=float(tol), steps=int(steps),
        compile_s=t1 - t0, run_s=t2 - t1)

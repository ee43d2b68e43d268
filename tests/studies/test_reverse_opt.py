"""The optimised reverse stress test (stressgen.studies.reverse_opt): the closed form on an i.i.d. Gaussian model,
the most likely path on GARCH against sampled worlds, determinism and start independence. Small sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stressgen import rng
from stressgen.studies.reverse_opt import (garch_noise_model, gaussian_noise_model, most_likely_paths,
                                           noise_plausibility, strategy_loss)
from stressgen.types import Provenance, Scenarios
from strategies import BuyAndHold, EqualWeight

T, A = 20, 3
MU = np.array([5e-4, 3e-4, 1e-4])
COV = np.array([[4e-4, 1e-4, 5e-5], [1e-4, 2.5e-4, 2e-5], [5e-5, 2e-5, 1e-4]])
W = np.array([0.5, 0.3, 0.2], np.float32)
# Tolerances. The solver reports `kkt` (the part of z off the constraint's normal) and `gap` (g - l); for a linear
# constraint |z - z*|^2 = kkt^2 + (gap / |grad g|)^2 exactly, so a tolerance on the stopping quantities is one on
# the distance to the closed form. Gradient descent on this identity-Hessian problem contracts the off-normal
# part by (1 - 0.15) a step: 0.85^200 ~ 1e-14, so what is left is float32 rounding of |z| ~ 5, a few 1e-6
# (measured: 1e-6 to 3e-6). STOP bounds both stopping quantities relative to |z*|; SLACK is float32 rounding.
STOP, SLACK = 1e-5, 1e-5


def _linear():
    """i.i.d. Gaussian model and the portfolio's summed log return as the loss: the constraint is the half-space
    a.z <= b with a_t = L' w, b = -l - T w.mu, whose closed-form most likely point is z* = a b / |a|^2."""
    model = gaussian_noise_model(MU, COV, T)
    level = 0.15
    chol = np.linalg.cholesky(COV)
    a = np.tile(chol.T @ W, (T, 1))
    b = -level - T * W @ MU
    return model, (lambda r: -jnp.sum(r @ W)), level, a * b / np.sum(a * a), np.linalg.norm(a)


def test_closed_form_linear_loss():
    model, loss_fn, level, z_star, a_norm = _linear()
    res = most_likely_paths(model, loss_fn, level, key=rng.root(0), starts=4, steps=200)
    scale = np.linalg.norm(z_star)
    assert res.met.all()
    assert (res.kkt <= STOP * scale).all() and (np.abs(res.gap) / a_norm <= STOP * scale).all()
    err = np.sqrt(np.sum((res.z - z_star) ** 2, axis=(1, 2)))
    bound = np.sqrt(res.kkt.astype(np.float64) ** 2 + (res.gap / a_norm) ** 2)
    np.testing.assert_array_less(err, bound + SLACK * scale)
    np.testing.assert_array_less(err, 2 * STOP * scale + SLACK * scale)
    # the path is the model's image of z, and the plausibility figures are those of z
    np.testing.assert_allclose(res.log_returns[0], MU + res.z[0] @ np.linalg.cholesky(COV).T, atol=1e-6)
    np.testing.assert_allclose(res.mahalanobis, np.sqrt(np.sum(res.z.astype(np.float64) ** 2, axis=(1, 2))),
                               rtol=1e-6)


def test_closed_form_through_the_engine():
    """One asset bought and held: 1 - final equity = 1 - exp(sum r), so loss >= l is the half-space
    sum_t sigma z_t <= log(1 - l) - T mu, and the engine's P&L must lead to its closed-form point."""
    mu, sigma, level = 2e-4, 0.015, 0.2
    model = gaussian_noise_model(np.array([mu]), np.array([[sigma ** 2]]), T)
    template = Scenarios(log_returns=jnp.zeros((1, T, 1)), history=jnp.zeros((5, 1)), anchor_prices=jnp.ones(1),
                         assets=("X",), history_end="2024-01-05", provenance=Provenance("test", ""))
    loss = strategy_loss(BuyAndHold(), template)
    res = most_likely_paths(model, loss, level, key=rng.root(1), starts=2, steps=200)
    z_star = np.full((T, 1), (np.log1p(-level) - T * mu) / (sigma * T))
    scale = np.linalg.norm(z_star)
    assert res.met.all()
    np.testing.assert_allclose(res.exact_loss, res.loss, atol=1e-6)  # the relaxation changes no value
    err = np.sqrt(np.sum((res.z - z_star) ** 2, axis=(1, 2)))
    np.testing.assert_array_less(err, 2 * STOP * scale + SLACK * scale)


def test_garch_beats_every_sampled_world_in_the_tail(small_fits):
    gen, fitted = small_fits("garch")
    horizon = 20
    model = garch_noise_model(fitted, horizon)
    template = gen.sample(fitted, key=rng.root(1), n_worlds=1, horizon=horizon)
    loss = strategy_loss(EqualWeight(every=5), template)  # a rebalancing schedule: the relaxation is needed
    z = jax.random.normal(jax.random.PRNGKey(7), (600, horizon, fitted.mu.shape[0]))
    drawn = np.asarray(jax.jit(jax.vmap(model.paths))(z))
    sampled = np.asarray(gen.sample(fitted, key=rng.root(2), n_worlds=600, horizon=horizon).log_returns)
    worlds = np.concatenate([drawn, sampled])
    losses = loss.exact(worlds)
    level = float(np.quantile(losses[:600], 0.98))
    res = most_likely_paths(model, loss, level, key=rng.root(0), starts=4, steps=200)
    assert res.met[0] and res.exact_loss[0] >= level - res.tol
    tail = losses >= level
    assert tail[:600].sum() >= 5 and tail[600:].any()
    plaus = noise_plausibility(model, worlds[tail])
    np.testing.assert_allclose(plaus["z"][: tail[:600].sum()], np.asarray(z)[tail[:600]], atol=1e-4)  # inverse
    assert res.log_lik[0] > plaus["log_lik"].max()
    assert res.mahalanobis[0] < plaus["mahalanobis"].min()
    assert 0.0 <= res.percentile[0] <= 1.0 and res.percentile[0] >= np.max(plaus["percentile"])


def test_deterministic_and_independent_of_the_number_of_starts():
    model, loss_fn, level, _, _ = _linear()
    first = most_likely_paths(model, loss_fn, level, key=rng.root(3), starts=3, steps=50)
    again = most_likely_paths(model, loss_fn, level, key=rng.root(3), starts=3, steps=50)
    more = most_likely_paths(model, loss_fn, level, key=rng.root(3), starts=5, steps=50)
    np.testing.assert_array_equal(first.z, again.z)
    np.testing.assert_array_equal(first.start, again.start)
    by_start = {int(s): more.z[i] for i, s in enumerate(more.start)}
    for i, s in enumerate(first.start):
        np.testing.assert_array_equal(first.z[i], by_start[int(s)])


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_refuses_bad_sizes(bad):
    model, loss_fn, level, _, _ = _linear()
    with pytest.raises(Exception, match="starts"):
        most_likely_paths(model, loss_fn, level, key=rng.root(0), starts=bad)

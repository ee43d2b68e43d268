"""The shared training loop: determinism, validation and early stopping, the divergence guard."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stressgen import rng
from stressgen.errors import ConfigError
from stressgen.generators._training import TrainConfig, TrainingDivergedWarning, all_finite, train

# A linear regression with noise: y = X w + e, e ~ N(0, 0.1^2); least squares is the known answer.
_RNG = np.random.default_rng(0)
X = _RNG.standard_normal((512, 4)).astype(np.float32)
W_TRUE = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
Y = (X @ W_TRUE + 0.1 * _RNG.standard_normal(512)).astype(np.float32)
X_VAL, Y_VAL = jnp.asarray(X[:128]), jnp.asarray(Y[:128])
X_TRAIN, Y_TRAIN = jnp.asarray(X[128:]), jnp.asarray(Y[128:])


def _mse(w, x, y):
    return jnp.mean((x @ w - y) ** 2)


def _step(carry, key, *, opt, batch):
    w, state = carry
    idx = jax.random.randint(key, (batch,), 0, X_TRAIN.shape[0])
    loss, grad = jax.value_and_grad(_mse)(w, X_TRAIN[idx], Y_TRAIN[idx])
    updates, state = opt.update(grad, state, w)
    return (optax.apply_updates(w, updates), state), {"loss": loss, "grad_norm": optax.tree.norm(grad)}


def _validate(carry):
    return float(_mse(carry[0], X_VAL, Y_VAL))


def _fit(opt, config, seed=0):
    w0 = jnp.zeros(4, jnp.float32)
    step = partial(_step, opt=opt, batch=config.batch_size)
    return train((w0, opt.init(w0)), step, _validate, key=rng.root(seed), config=config, name="linreg")


def test_converges_to_least_squares_and_records_history():
    config = TrainConfig(steps=400, batch_size=64, eval_every=40, steps_per_call=20, patience=100, progress=False)
    (w, _), hist = _fit(optax.adam(0.05), config)
    w_ls = np.linalg.lstsq(X_TRAIN, Y_TRAIN, rcond=None)[0]
    # SGD noise around the optimum: the slope SE of least squares here is ~0.1/sqrt(384) ~ 0.005
    np.testing.assert_allclose(np.asarray(w), w_ls, atol=0.05)
    assert hist.stop_reason == "max_steps"
    np.testing.assert_array_equal(hist.step, np.arange(1, 401))
    assert hist.loss.shape == (400,) and set(hist.metrics) == {"loss", "grad_norm"}
    np.testing.assert_array_equal(hist.val_step, np.arange(0, 401, 40))
    assert hist.val_score[-1] < 0.02 < hist.val_score[0]  # noise variance is 0.01
    assert hist.best_score == hist.val_score.min()
    assert "ran all 400 steps" in hist.message


def test_same_key_same_run_other_key_other_run():
    config = TrainConfig(steps=60, batch_size=16, eval_every=20, steps_per_call=20, progress=False)
    (a, _), ha = _fit(optax.sgd(0.05), config, seed=1)
    (b, _), hb = _fit(optax.sgd(0.05), config, seed=1)
    (c, _), hc = _fit(optax.sgd(0.05), config, seed=2)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(ha.loss, hb.loss)
    assert not np.array_equal(ha.loss, hc.loss)


def test_early_stop_returns_the_best_validated_carry():
    # a learning rate of 0 never improves on step 0's score: stops after `patience` validations
    config = TrainConfig(steps=1000, batch_size=16, eval_every=20, steps_per_call=10, patience=3, progress=False)
    (w, _), hist = _fit(optax.sgd(0.0), config)
    assert hist.stop_reason == "early_stop" and hist.best_step == 0 and hist.restored
    np.testing.assert_array_equal(hist.val_step, [0, 20, 40, 60])
    np.testing.assert_array_equal(np.asarray(w), np.zeros(4))
    assert "stopped early at step 60" in hist.message


def test_remainder_steps_run_in_a_shorter_call():
    config = TrainConfig(steps=50, batch_size=16, eval_every=20, steps_per_call=20, progress=False)
    _, hist = _fit(optax.sgd(0.01), config)
    assert hist.step[-1] == 50 and list(hist.val_step) == [0, 20, 40, 50]


def test_divergence_guard_restores_the_best_parameters():
    # SGD on a quadratic diverges geometrically when lr > 2 / lambda_max; 50 is far beyond that
    config = TrainConfig(steps=2000, batch_size=64, eval_every=20, steps_per_call=10, patience=100, progress=False)
    (w0, _), good = _fit(optax.sgd(0.05), TrainConfig(steps=40, batch_size=64, eval_every=20, steps_per_call=10,
                                                      progress=False))
    with pytest.warns(TrainingDivergedWarning, match="diverged.*restored the parameters of step"):
        (w, _), hist = _fit(optax.sgd(50.0), config)
    assert hist.stop_reason == "diverged" and hist.restored
    assert hist.step.size < 2000
    assert bool(all_finite(w))
    # the returned parameters are those of the best validation (here the initial zeros: every later one is worse)
    assert hist.best_step == 0
    np.testing.assert_array_equal(np.asarray(w), np.zeros(4))
    assert np.all(np.isfinite(hist.loss))  # the diverged chunk is not recorded
    assert good.stop_reason == "max_steps"


def test_nan_loss_fires_the_guard():
    def step(carry, key):
        w, n = carry
        loss = jnp.where(n >= 25, jnp.nan, 1.0 / (n + 1.0))
        return (w, n + 1), {"loss": loss}

    config = TrainConfig(steps=100, eval_every=10, steps_per_call=10, progress=False)
    carry = (jnp.ones(2), jnp.asarray(0.0))
    with pytest.warns(TrainingDivergedWarning, match="loss became nan at step 26"):
        (w, n), hist = train(carry, step, lambda c: -float(c[1]), key=rng.root(0), config=config, name="nan")
    assert hist.best_step == 20 and float(n) == 20.0 and hist.stop_reason == "diverged"


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(eval_every=30, steps_per_call=20),
                                    dict(learning_rate=-1.0), dict(patience=1.5), dict(progress="yes"),
                                    dict(min_delta=-0.1)])
def test_bad_config_is_a_config_error(kwargs):
    with pytest.raises(ConfigError, match="train\\."):
        TrainConfig(**kwargs)

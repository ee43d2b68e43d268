"""The GAN's training step: WGAN-GP critic updates, then one generator update (`gan.Gan.fit` runs it).

    step = Step(Nets(gen_graphdef, critic_graphdef, optimizer(config.train), config, noise_dim))
    carry, history = _training.train(carry, step, validate, key=key, config=config.train, name="gan")

The carry is ``{"g", "c", "og", "oc", "data"}``: the generator's and the critic's states, their optimizer
states, and the Gaussianised training days ``[time, assets]``. The data travel in the carry (traced), so a
second fit with the same config and data shape reuses the compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from ._training import TrainConfig

if TYPE_CHECKING:
    from .gan import GanConfig

__all__ = ["Nets", "Step", "optimizer"]


@dataclasses.dataclass(frozen=True)
class Nets:
    """What the step function needs besides the carry; hashable, so the compiled step is cached by it."""

    gen: Any  # generator graphdef
    critic: Any  # critic graphdef
    opt: optax.GradientTransformation  # generator and critic take the same optimizer (their own states)
    config: GanConfig
    noise_dim: int


@dataclasses.dataclass(frozen=True)
class Step:
    """The step function as a hashable value: equal configs give equal steps, so a second fit with the same
    config and data shape reuses the compiled training program instead of compiling it again."""

    nets: Nets

    def __call__(self, carry: dict, key: jax.Array) -> tuple[dict, dict]:
        return _train_step(carry, key, nets=self.nets)


@functools.lru_cache(maxsize=16)
def optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    """Adam with beta1 = 0 and beta2 = 0.9 (Gulrajani et al., 2017), after a global-norm clip; one object
    per training config, so equal configs give equal (hashable) steps."""
    return optax.chain(optax.clip_by_global_norm(tc.max_grad_norm), optax.adam(tc.learning_rate, b1=0.0, b2=0.9))


def _windows(data: jax.Array, key: jax.Array, batch: int, length: int) -> jax.Array:
    """`batch` random windows ``[batch, length, assets]`` of consecutive days of ``data[time, assets]``."""
    starts = jax.random.randint(key, (batch,), 0, data.shape[0] - length + 1)
    return jax.vmap(lambda s: jax.lax.dynamic_slice_in_dim(data, s, length, axis=0))(starts)


def _fake(nets: Nets, g_state: nnx.State, key: jax.Array, batch: int) -> jax.Array:
    cfg = nets.config
    z = jax.random.normal(key, (batch, cfg.window + cfg.receptive_field, nets.noise_dim))
    return nnx.merge(nets.gen, g_state)(z)


def _critic_loss(c_state: nnx.State, nets: Nets, real: jax.Array, fake: jax.Array, key: jax.Array):
    critic = nnx.merge(nets.critic, c_state)
    d_real, d_fake = critic(real), critic(fake)
    eps = jax.random.uniform(key, (real.shape[0], 1, 1))
    mid = eps * real + (1.0 - eps) * fake
    # each window's score depends on that window only, so the gradient of the sum is per-window
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(mid)
    norms = jnp.sqrt(jnp.sum(grads * grads, axis=(1, 2)) + 1e-12)
    gp = jnp.mean((norms - 1.0) ** 2)
    w = jnp.mean(d_real) - jnp.mean(d_fake)
    loss = -w + nets.config.gp_weight * gp + nets.config.drift_weight * jnp.mean(d_real**2)
    return loss, (w, gp)


def _gen_loss(g_state: nnx.State, nets: Nets, c_state: nnx.State, key: jax.Array, batch: int) -> jax.Array:
    fake = _fake(nets, g_state, key, batch)
    # the Gaussianised data have unit variance per asset; holding the generated variance there keeps the
    # heavy-tail map in the range it was fitted on while the critic teaches the dynamics (without it the
    # generator inflated its scale and the map turned that into absurd returns)
    moment = jnp.sum((jnp.mean(fake * fake, axis=(0, 1)) - 1.0) ** 2)
    return -jnp.mean(nnx.merge(nets.critic, c_state)(fake)) + nets.config.moment_weight * moment


def _train_step(carry: dict, key: jax.Array, *, nets: Nets) -> tuple[dict, dict]:
    """`n_critic` critic updates, then one generator update (one "step" of the training loop)."""
    batch = nets.config.train.batch_size
    data, g_state = carry["data"], carry["g"]
    k_critic, k_gen = jax.random.split(key)

    def critic_update(c, k):
        c_state, oc = c
        k_real, k_fake, k_mix = jax.random.split(k, 3)
        real = _windows(data, k_real, batch, nets.config.window)
        fake = jax.lax.stop_gradient(_fake(nets, g_state, k_fake, batch))
        (loss, (w, gp)), grads = jax.value_and_grad(_critic_loss, has_aux=True)(c_state, nets, real, fake, k_mix)
        updates, oc = nets.opt.update(grads, oc, c_state)
        return (optax.apply_updates(c_state, updates), oc), (loss, w, gp)

    # a scan, not a Python loop: one compiled critic update instead of n_critic copies (compile time)
    (c_state, oc), (c_loss, w, gp) = jax.lax.scan(critic_update, (carry["c"], carry["oc"]),
                                                  jax.random.split(k_critic, nets.config.n_critic))
    g_loss, grads = jax.value_and_grad(_gen_loss)(g_state, nets, c_state, k_gen, batch)
    updates, og = nets.opt.update(grads, carry["og"], g_state)
    g_state = optax.apply_updates(g_state, updates)
    carry = {"g": g_state, "c": c_state, "og": og, "oc": oc, "data": data}
    return carry, {"loss": c_loss[-1], "wasserstein": w[-1], "gradient_penalty": gp[-1], "generator_loss": g_loss}

"""The GAN's starting state: the noise context that puts the generator in the state at the end of a history.

The generator's state on day t is a function of the previous R noise days, so a world continues from a state
when its noise starts with R "context" days that put the generator there (see `gan`'s docstring for the two
ways, ``GanConfig.start``: ``"match"``, `_matched_context`, and ``"filter"``, `_filtered_context`). The
history enters in the generator's units (`_gan_tails.to_generator`). Split from `gan` to keep modules short.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import rng
from ..errors import InsufficientHistoryError
from . import _gan_tails as margins
from . import _tails
from ._gan_nn import receptive_field

if TYPE_CHECKING:
    from .gan import GanConfig

__all__ = ["START_KEY", "noise_context"]


# A fold-in of the fit key, not another split: the training keys, hence the trained networks, stay as they were.
START_KEY = 1
# Recovered noise is held within +-6. The networks were trained on standard normal noise, which never goes
# there, and their state is meaningless far outside it: where a generator's sigma falls as past |z| grows,
# inverting it is a feedback loop (measured: the 160-step model of the stylized-facts test, filtered through
# October 2008, went from |z| = 3 to 1e10 in four days, then NaN). Within the bound the filter is exact.
_NOISE_BOUND = 6.0


@partial(jax.jit, static_argnums=0, static_argnames=("bound",))
def _filter_noise(graphdef: Any, g_state: nnx.State, u: jax.Array, inverse_mixing: jax.Array,
                  null_noise: jax.Array, first: jax.Array, *, bound: float) -> jax.Array:
    """The noise ``z[days, noise_dim]`` that makes the generator produce ``u[days, assets]``, day by day.

    Day t's state ``(mu_t, sigma_t)`` depends on the noise of days t - R .. t - 1 only, so once those are
    known, ``z_t = pinv(M) ((u_t - mu_t) / sigma_t) + null_noise_t`` (``null_noise_t`` lies in the null
    space of the mixing M, which ``u_t`` does not see; see `_filtered_context`), held within +-`bound`. Days
    before `first` are padding (a history shorter than the buffer) and keep zero noise. A `fori_loop` over a
    buffer of fixed size: one compiled program for every day and every history length, each step
    evaluating the generator's state on the ``R + 1`` buffer days that day t reads (the last one, day t's
    own slot, is not read by the state).
    """
    r = receptive_field(nnx.merge(graphdef, g_state).levels)
    days, nd = u.shape[0], inverse_mixing.shape[0]
    # The R days before the first filtered day are unknown. They start at zero, the noise's mean, and
    # deterministic (a random start would make the state depend on a draw). The filter forgets them: they
    # leave the receptive field after R days, and the days filtered before the last R (2048 - R by default)
    # let their effect on the recovered noise fade before the last R days, which are kept. It fades slowly
    # for an undertrained generator: for the stylized-facts test's model (R = 128) the context filtered from
    # 512 and from 2000 days still differed by up to 0.6 (October 2008), from 1024 and 2000 days by 6e-4.
    buf = jnp.zeros((r + days, nd), u.dtype)

    def step(t, buf):
        window = jax.lax.dynamic_slice_in_dim(buf, t, r + 1, axis=0)[None]
        mu, sigma = nnx.merge(graphdef, g_state).state(window)  # [1, 1, assets] each
        # the floor only matters if softplus underflows (0 / 0 would be NaN); the clip then bounds the result
        z = inverse_mixing @ ((u[t] - mu[0, 0]) / jnp.maximum(sigma[0, 0], 1e-30)) + null_noise[t]
        z = jnp.where(t >= first, jnp.clip(z, -bound, bound), 0.0)
        return jax.lax.dynamic_update_slice_in_dim(buf, z[None], t + r, axis=0)

    return jax.lax.fori_loop(0, days, step, buf)[r:]


def noise_context(config: GanConfig, graphdef: Any, g_state: nnx.State, tails: _tails.TailTransform,
                  out: _tails.TailTransform, log_returns: np.ndarray, key: jax.Array) -> jax.Array:
    """``[R, noise_dim]`` float32: the noise that puts the generator in the state at the end of `log_returns`
    (`GanConfig.start`). `key` is the fit key (or the re-anchor key); the draws hang on a fold-in of it."""
    key = jax.random.fold_in(key, START_KEY)
    if config.start == "filter":
        return _filtered_context(config, graphdef, g_state, tails, out, log_returns, key)
    return _matched_context(config, graphdef, g_state, tails, out, log_returns, key)


def _gaussianised(config: GanConfig, tails: _tails.TailTransform, out: _tails.TailTransform,
                  log_returns: np.ndarray) -> np.ndarray:
    # the history in the generator's units: the values the worlds' map (`_gan_tails.to_returns`) sends to
    # these returns, a crash day held at the clip (beyond it, it would ask for a state no world can show)
    return margins.to_generator(tails, out, log_returns, float(config.max_gaussian))


# State matching: candidates, days matched and the half-life of their weights. 2048 candidates cost about
# 0.6 s at the default size and 20 assets on 2 CPU cores; 63 days (three months) with a 10-day half-life
# weigh the last weeks most, which is the state the worlds start from, while a single wild day does not
# decide alone.
_MATCH_CANDIDATES = 2048
_MATCH_DAYS = 63
_MATCH_HALF_LIFE = 10.0


@partial(jax.jit, static_argnums=0, static_argnames=("n",))
def _match_block(graphdef: Any, g_state: nnx.State, u: jax.Array, weights: jax.Array, key: jax.Array,
                 first: jax.Array, *, n: int) -> tuple[jax.Array, jax.Array]:
    """Candidates ``first .. first + n - 1``, noise paths ``[R + days, noise_dim]`` each from its own key (as
    worlds are): the weighted log-likelihood of ``u[days, assets]`` under each one's state, and each one's
    last R noise days (the context it would give)."""
    gen = nnx.merge(graphdef, g_state)
    r, days, nd = receptive_field(gen.levels), u.shape[0], gen.mixing.shape[1]
    z = jax.vmap(lambda k: jax.random.normal(k, (r + days, nd)))(rng.world_keys(key, first, n))
    mu, sigma = gen.state(z)  # [n, days, assets]: day t's state from the R noise days before it
    # per asset, u_t ~ N(mu_t, sigma_t^2 (M M^T)_aa): the cross-asset correlation is left out, so that the
    # score is about the volatility state, and defined whatever the rank of M
    var = sigma * sigma * jnp.sum(gen.mixing[...] ** 2, axis=1)
    loglik = -0.5 * (jnp.log(var) + (u - mu) ** 2 / var)
    return jnp.einsum("t,nta->n", weights, loglik), z[:, days:]


def _matched_context(config: GanConfig, graphdef: Any, g_state: nnx.State, tails: _tails.TailTransform,
                     out: _tails.TailTransform, log_returns: np.ndarray, key: jax.Array) -> jax.Array:
    """The last R noise days of the candidate (drawn from N(0, 1), as in training) whose state best explains
    the last `_MATCH_DAYS` real days: the most likely of the generator's own states at the end of the history.

    Not the exact noise (`"filter"`): a trained generator's response to noise unlike its training noise is
    arbitrary (see the module docstring), while a candidate is noise it was trained on by construction.
    """
    days = min(_MATCH_DAYS, log_returns.shape[0])
    if days < 1:
        raise InsufficientHistoryError("the GAN's state matching needs at least one return", expected="a history")
    u = jnp.asarray(_gaussianised(config, tails, out, log_returns[-days:]))
    weights = jnp.asarray(0.5 ** ((days - 1 - np.arange(days)) / _MATCH_HALF_LIFE), jnp.float32)
    block = min(_MATCH_CANDIDATES, config.sample_block)  # bounded memory; one program for every block
    best, best_context = -np.inf, None
    for first in range(0, _MATCH_CANDIDATES, block):
        scores, contexts = _match_block(graphdef, g_state, u, weights, key, jnp.uint32(first), n=block)
        scores = np.asarray(scores)[: _MATCH_CANDIDATES - first]  # the last block's padding is not a candidate
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        j = int(np.argmax(scores))
        # strict: the first of equal scores, so that the choice does not depend on the block size
        if best_context is None or scores[j] > best:
            best, best_context = scores[j], contexts[j]
    return jnp.asarray(best_context, jnp.float32)


def _filtered_context(config: GanConfig, graphdef: Any, g_state: nnx.State, tails: _tails.TailTransform,
                      out: _tails.TailTransform, log_returns: np.ndarray, key: jax.Array) -> jax.Array:
    """``[R, noise_dim]`` float32: the noise `_filter_noise` recovers from the last `config.filter_length`
    of `log_returns` (all of them when fewer, but at least R), of which the last R days are kept."""
    r, length = config.receptive_field, config.filter_length
    days = min(length, log_returns.shape[0])
    if days < r:
        raise InsufficientHistoryError(f"the GAN's noise filter needs at least {r} returns (its receptive field) "
                                       f"to continue a history, got {log_returns.shape[0]}",
                                       expected=f"a history of at least {r} returns")
    u = np.zeros((length, log_returns.shape[1]), np.float32)  # a fixed length: one program for all histories
    u[length - days:] = _gaussianised(config, tails, out, log_returns[-days:])
    mixing = np.asarray(nnx.merge(graphdef, g_state).mixing[...], dtype=np.float64)  # [assets, noise_dim]
    left, sv, right = np.linalg.svd(mixing)
    rank = int(np.sum(sv > sv.max() * max(mixing.shape) * np.finfo(np.float32).eps))
    inverse = right[:rank].T @ np.diag(1.0 / sv[:rank]) @ left[:, :rank].T  # pinv(M): [noise_dim, assets]
    null = right[rank:]  # orthonormal basis of the null space of M, [noise_dim - rank, noise_dim]
    nd = mixing.shape[1]
    if null.shape[0]:
        # With more noise channels than assets, u_t fixes only the part of z_t that M sees; the rest does
        # not move today's returns (it moves later days' state through the TCN, but the history cannot pin
        # it down day by day). Leaving it at 0 would feed the TCN less than unit variance in those
        # directions, a calmer input than any it was trained on; a standard normal projected on the null
        # space gives it exactly the training distribution there. One draw from the fit key, the same for
        # every world, so that world i still depends on its own key only.
        e = np.asarray(jax.random.normal(key, (length, nd)), dtype=np.float64)
        null_noise = e @ null.T @ null
    else:
        null_noise = np.zeros((length, nd))
    z = _filter_noise(graphdef, g_state, jnp.asarray(u), jnp.asarray(inverse, jnp.float32),
                      jnp.asarray(null_noise, jnp.float32), jnp.int32(length - days), bound=_NOISE_BOUND)
    return z[-r:].astype(jnp.float32)

"""Temporal conditional VAE of multi-asset return windows, with Student-t innovations.

A window of W days x A assets is encoded together with its past (the C days before it and exponentially
weighted volatility states of all earlier days; see `_vae_nn`); the decoder generates the window from the
same past and a latent z drawn from a learned conditional prior p(z | past). Training maximises the ELBO,
``E_q[log p(x | z, past)] - KL(q(z | x, past) || p(z | past))``, with the shared loop (`_training.train`:
early stopping on a held-out final stretch of the history, a divergence guard).

Volatility: the decoder works in units of a variance prior, a component GJR-GARCH (fast and slow states)
with its long-run level targeted, fitted per asset before the network trains (`_vae_prior`). The first
design had no such level (its log-scale started from an EWMA variance, a unit root), and on the held-out
sp500-index its worlds kept a stormy December's volatility all year. After training, the conditional prior
of z is refitted to the encoder in closed form and the sampled variance is targeted at the prior's
(`_vae_after`), so the worlds' own days cannot feed a volatility spiral.
Each world reverts to a long-run variance of its own (``level="drawn"``, `_vae_level`): the prior's level
times a factor drawn from the history's yearly levels, as GARCH's, since whole years sit above or below any
one level and a single level left crisis years beyond the worlds; its drift gives back the level's volatility
drag, so its expected simple return is the history's (`_vae_sample`).

Paths of any horizon are chained windows: each window is generated from the *generated* past (the last C
generated days and the volatility states updated day by day), starting from the real history's end. There
are no seams and no independently drawn windows glued together. With `VaeConfig.daily_scale`, each day's
scale inside a window starts from the variance states its window's earlier days left (`_vae_nn`'s module
doc).

Tails: innovations are unit-variance Student-t with a learned nu per asset (``likelihood="student-t"``, the
default) or Gaussian (``"gaussian"``, kept as the reference the fidelity figures compare against; see the
module's report in bench/bench_neural.py). Sampling pushes standard normals through a per-asset t
inverse-CDF table (`_tables`), as `jax.random.t` is ~60x slower than normals on CPU.

Dependence across assets: the decoder's location co-moves the assets through z, and the innovations are
correlated by a Gaussian copula targeted after training, so that the sampled days have the training days'
correlation matrix (``correlation="targeted"``, `_vae_copula`; with independent innovations the worlds' mean
pairwise correlation fell a quarter short of history's).

Bit-exact worlds: world i must be identical whatever chunk it is drawn in, but XLA:CPU's matrix products
round a row differently depending on the number of rows and the row's position. The sampler therefore
always runs blocks of `sample_block` worlds aligned to global world indices (block b holds worlds
``b * block .. (b + 1) * block - 1``), one block at a time, and keeps the requested worlds: world i is
always row ``i % block`` of the same-shaped computation.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from ..errors import ConfigError, ModelFileError
from ..types import MarketData, Scenarios
from . import _tables as tb
from . import _vae_nn as nn
from ._base import (AbstractGenerator, HistoryContext, check_sizes, config_from_dict, config_to_dict,
                    check_digest, digest, export_context, history_context, restore_context, take_arrays)
from ._neural import (NU_FLOOR, WindowStep, check_nu_floor, digest_arrays, fit_scale, optimizer, restore_history,
                      restore_state, split_history, state_arrays, structure, train_meta)
from ._training import TrainHistory, train
from ._vae_after import refit_latent_prior, target_moments
from ._vae_config import LIKELIHOODS, VaeConfig
from ._vae_copula import copula
from ._vae_data import Prepared, gather_windows, prepare
from ._vae_level import vae_levels
from ._vae_prior import VaeFitWarning, fit_variance_prior, prior_persistence
from ._vae_sample import simulate

__all__ = ["VaeConfig", "VaeFitted", "TemporalVae", "VaeFitWarning", "LIKELIHOODS", "Prepared", "prepare",
           "gather_windows", "window_loss"]

_VAL_KEY, _INIT_KEY, _TRAIN_KEY, _LEVEL_KEY = 0, 1, 2, 3


@struct.dataclass
class VaeFitted:
    """A trained VAE. `state` holds the network's parameters; `graphdef` (static) rebuilds the modules.

    Attributes:
        state: `nnx.State` of the network (a pytree of arrays).
        scale: ``[assets]`` standard deviation of each asset's fit-sample returns (the standardization).
        ctx0: ``[C, assets]`` the last C real returns standardized by `scale`: the first window's past.
        v0: ``[S, assets]`` the volatility states after the whole real history (S = 2H: of all days and of
            down days, `_vae_nn.vol_states`). `ctx0`, `v0` and `context`
            describe "now"; `TemporalVae.reanchor` rebuilds them from another history, keeping the rest.
        prior: ``[1 + S, assets]`` the weights of the variance prior ``w + sum_s c_s v_s`` (`_vae_prior`; row
            0 is w), fitted on the training days before the network.
        level_factors: ``[windows]`` the factors a world's long-run variance is drawn from (`_vae_level`; ``[1]``
            with ``level="fixed"`` or a history under three years), from the history the worlds continue.
        level: ``[assets]`` a shift of the log-scale that targets the sampled variance at the prior's
            (`_vae_after.target_moments`), set after training.
        t_table, t_grid: per-asset inverse-CDF table of the unit-variance t innovations (`_tables`).
        innov_chol: ``[assets, assets]`` the lower Cholesky factor of the innovations' normal copula
            (`_vae_copula`; the identity with ``correlation="none"``).
        context: the real history the worlds continue.
        graphdef, config, digest, history: static metadata (`history` is the training record).
    """

    state: Any
    scale: jax.Array
    ctx0: jax.Array
    v0: jax.Array
    prior: jax.Array
    level_factors: jax.Array
    level: jax.Array
    t_table: jax.Array
    t_grid: jax.Array
    innov_chol: jax.Array
    context: HistoryContext
    graphdef: Any = struct.field(pytree_node=False)
    config: VaeConfig = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)
    history: TrainHistory = struct.field(pytree_node=False)

    def net(self) -> nn.VaeNet:
        return nnx.merge(self.graphdef, self.state)

    @property
    def nu(self) -> np.ndarray:
        """Fitted Student-t degrees of freedom per asset (inf for the Gaussian likelihood)."""
        if self.config.likelihood == "gaussian":
            return np.full(self.scale.shape, np.inf)
        return np.asarray(self.net().nu())

    @property
    def persistence(self) -> np.ndarray:
        """``[assets]`` the variance prior's persistence, the slowest decay of a variance shock (`_vae_prior`)."""
        return prior_persistence(np.asarray(self.prior), nn.ewma_decays(self.config.half_lives))


def _build_net(config: VaeConfig, n_assets: int, key: jax.Array) -> nn.VaeNet:
    return nn.VaeNet(n_assets=n_assets, window=config.window, context=config.context,
                     n_states=_n_states(config), latent=config.latent, hidden=config.hidden,
                     nu_init=config.nu_init, daily_scale=config.daily_scale,
                     rngs=nnx.Rngs(params=key))


def _n_states(config: VaeConfig) -> int:
    return 2 * len(config.half_lives)  # of all days and of down days (`_vae_nn.vol_states`)


# ------------------------------------------------------------------------------------------------ data

def window_loss(net: nn.VaeNet, data: Prepared, starts: jax.Array, key: jax.Array, config: VaeConfig,
                n_samples: int = 1) -> tuple[jax.Array, jax.Array]:
    """Per-window NLL and KL (nats) of the windows starting at `starts`."""
    win, ctx, log_v = gather_windows(data, starts, config)
    return nn.elbo_terms(net, win, ctx, log_v, data.prior, data.level, key, student_t=config.likelihood == "student-t",
                         n_samples=n_samples)


def _train_step(carry, key, *, graphdef, opt, data, starts, config):
    state, opt_state = carry
    k_batch, k_elbo = jax.random.split(key)
    batch = starts[jax.random.randint(k_batch, (config.train.batch_size,), 0, starts.shape[0])]
    per_element = config.window * data.x.shape[1]

    def loss_fn(s):
        nll, kl = window_loss(nnx.merge(graphdef, s), data, batch, k_elbo, config)
        nll, kl = jnp.mean(nll) / per_element, jnp.mean(kl) / per_element
        return nll + config.beta * kl, (nll, kl)

    (loss, (nll, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state)
    updates, opt_state = opt.update(grads, opt_state, state)
    return (optax.apply_updates(state, updates), opt_state), {"loss": loss, "nll": nll, "kl": kl}


def _step(graphdef, opt, config: VaeConfig) -> WindowStep:
    """The step `train` runs: `_train_step` on batches of windows (`_neural.WindowStep`)."""
    return WindowStep(_train_step, graphdef, opt, config)


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _val_score(state, data, starts, key, *, graphdef, config):
    nll, kl = window_loss(nnx.merge(graphdef, state), data, starts, key, config)
    return (jnp.mean(nll) + jnp.mean(kl)) / (config.window * data.x.shape[1])  # the ELBO, not the beta-loss


# -------------------------------------------------------------------------------------------- sampling

def _sim_params(fitted: VaeFitted) -> dict[str, jax.Array]:
    return {"ctx0": fitted.ctx0, "v0": fitted.v0, "prior": fitted.prior, "level_factors": fitted.level_factors,
            "level": fitted.level, "scale": fitted.scale, "t_table": fitted.t_table, "t_grid": fitted.t_grid,
            "innov_chol": fitted.innov_chol,
            "decays": jnp.asarray(nn.ewma_decays(fitted.config.half_lives)), "fence": np.uint32(0)}


def _fitted_digest(config: VaeConfig, state: Any, *arrays) -> str:
    """The digest of a fit: its config, network state and `TemporalVae._ARRAYS` in order."""
    return digest(config, *digest_arrays(state, *arrays))


def _now(returns: np.ndarray, scale: jax.Array, config: VaeConfig) -> tuple[jax.Array, jax.Array]:
    """``(ctx0 [C, A], v0 [2H, A])`` of a history ``returns [T, A]`` (T >= C): its last C returns and its
    volatility states after its last day, standardized by the fit's float32 `scale` (the one sampling
    multiplies by), in float32 as `prepare` gives them. The fit and `TemporalVae.reanchor` both take "now"
    from here, so re-anchoring a fit to its own history gives it back bit for bit."""
    x = np.asarray(returns, dtype=np.float64) / np.asarray(scale, np.float64)
    v = nn.vol_states(x, nn.ewma_decays(config.half_lives))
    return jnp.asarray(x[-config.context:], jnp.float32), jnp.asarray(v[-1], jnp.float32)


def _t_table(nu: np.ndarray | None, n_assets: int) -> tuple[jax.Array, jax.Array]:
    if nu is None:  # the Gaussian likelihood reads no table; a constant one keeps the pytree's shape simple
        table, grid = tb.constant_table(0.0)
        return jnp.asarray(np.broadcast_to(table, (n_assets, *table.shape))), jnp.asarray(grid)
    table, grid = tb.gaussian_margin_table(np.asarray(nu, dtype=np.float64))
    return jnp.asarray(table), jnp.asarray(grid)


class TemporalVae(AbstractGenerator):
    """Temporal conditional VAE with Student-t innovations, sampled by chaining windows (final)."""

    name: ClassVar[str] = "vae"
    config_type: ClassVar[type] = VaeConfig

    def fit(self, market: MarketData, *, key: jax.Array, config: VaeConfig | None = None) -> VaeFitted:
        config = self._config(config)
        r = market.log_returns
        cut, train_starts, val_starts = split_history(market, window=config.window, lead=config.context,
                                                      val_fraction=config.val_fraction, what="the VAE",
                                                      lead_name="context")
        scale = fit_scale(market, cut)
        decays = nn.ewma_decays(config.half_lives)
        prior = fit_variance_prior(r[:cut] / scale, decays, max_persistence=config.max_persistence,
                                   assets=tuple(market.assets))
        data = prepare(r, scale, config, prior, np.zeros(market.n_assets))
        net = _build_net(config, market.n_assets, jax.random.fold_in(key, _INIT_KEY))
        graphdef, state = nnx.split(net)
        opt = optimizer(config.train)
        val_key, val_starts = jax.random.fold_in(key, _VAL_KEY), jnp.asarray(val_starts)

        def validate(carry):
            return float(_val_score(carry[0], data, val_starts, val_key, graphdef=graphdef, config=config))

        carry = (state, opt.init(state), data, jnp.asarray(train_starts))
        (state, *_), history = train(carry, _step(graphdef, opt, config), validate,
                                     key=jax.random.fold_in(key, _TRAIN_KEY), config=config.train, name=self.name)
        # after training (`_vae_after`): the latent prior refitted to the encoder, then mean and variance targeted
        state = refit_latent_prior(graphdef, state, data, train_starts, config)
        state, level, moments = target_moments(graphdef, state, data, train_starts,
                                               jax.random.fold_in(key, _LEVEL_KEY), config)
        net = nnx.merge(graphdef, state)
        nu = np.asarray(net.nu()) if config.likelihood == "student-t" else None
        t_table, t_grid = _t_table(nu, market.n_assets)
        chol = copula(moments, t_table, t_grid, config, tuple(market.assets))
        scale32 = jnp.asarray(scale, jnp.float32)
        return self._anchored(state, scale32, data.prior, level, t_table, t_grid, chol, market, graphdef, config,
                              history)

    def reanchor(self, fitted: VaeFitted, market: MarketData, *, key: jax.Array) -> VaeFitted:
        """`fitted` continuing from the end of `market` instead of its fit's history (`start_from`,
        `studies.reanchor`).

        The trained network, the standardization `scale`, the tail tables and the innovations' copula are kept;
        "now" is rebuilt from `market` as the fit builds it: the context days (its last C returns over `scale`),
        the volatility states after its whole history, the yearly levels its worlds draw from (`_vae_level`,
        from its years) and the history context, and the digest covers the new ones. So
        ``reanchor(fit(m), m)`` is that fit, bit for bit. `key` is unused (nothing is drawn).
        """
        del key
        config = fitted.config
        if tuple(market.assets) != tuple(fitted.context.assets) or market.n_assets != fitted.scale.shape[0]:
            raise ConfigError(f"cannot re-anchor a 'vae' fitted on assets {list(fitted.context.assets)} to a "
                              f"market of assets {list(market.assets)}; expected the same assets in the same order")
        n = market.log_returns.shape[0]
        if n < config.context:
            raise ConfigError(f"cannot re-anchor a 'vae' to {market.source}: it has {n} returns, fewer than the "
                              f"model's context of {config.context} days")
        return self._anchored(fitted.state, fitted.scale, fitted.prior, fitted.level, fitted.t_table, fitted.t_grid,
                              fitted.innov_chol, market, fitted.graphdef, config, fitted.history)

    @staticmethod
    def _anchored(state, scale, prior, level, t_table, t_grid, innov_chol, market: MarketData, graphdef,
                  config: VaeConfig, history: TrainHistory) -> VaeFitted:
        """A fitted VAE of these trained arrays continuing from the end of `market`: "now" (`_now`) and the
        long-run levels its worlds draw from (`_vae_level`, all of its years)."""
        ctx0, v0 = _now(market.log_returns, scale, config)
        factors = np.ones(1)
        if config.level == "drawn":
            factors = vae_levels(market.log_returns / np.asarray(scale, np.float64), np.asarray(prior),
                                 nn.ewma_decays(config.half_lives), np.asarray(t_table), np.asarray(t_grid),
                                 market.periods_per_year, student_t=config.likelihood == "student-t")
        arrays = dict(scale=scale, ctx0=ctx0, v0=v0, prior=prior, level_factors=jnp.asarray(factors, jnp.float32),
                      level=level, t_table=t_table, t_grid=t_grid, innov_chol=innov_chol)
        return VaeFitted(state=state, **arrays, context=history_context(market, config.history_days),
                         graphdef=graphdef, config=config, history=history,
                         digest=_fitted_digest(config, state, *(arrays[n] for n in TemporalVae._ARRAYS)))

    def sample(self, fitted: VaeFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        self._check_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        log_returns = simulate(fitted.graphdef, fitted.state, _sim_params(fitted), key, int(first_world),
                                n_worlds=int(n_worlds), horizon=int(horizon), block=fitted.config.sample_block,
                                student_t=fitted.config.likelihood == "student-t")
        return self._scenarios(fitted.context, log_returns, fitted.digest, first_world)

    # --- persistence: config + context + training record as JSON, parameters as named arrays ------------

    _ARRAYS = ("scale", "ctx0", "v0", "prior", "level_factors", "level", "t_table", "t_grid", "innov_chol")

    def export_fitted(self, fitted: VaeFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        h = fitted.history
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest,
                "train": train_meta(h), "nu_floor": NU_FLOOR}
        arrays.update({name: np.asarray(getattr(fitted, name)) for name in self._ARRAYS})
        arrays.update(state_arrays(fitted.state))
        arrays.update({"train.step": h.step, "train.loss": h.loss})
        return meta, arrays

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> VaeFitted:
        if isinstance(meta.get("config"), dict) and "daily_scale" not in meta["config"]:
            # a file from before the daily scale: its network has no blend and its digest covers a config
            # without the field, so it cannot be restored as it was saved; say so rather than list arrays
            raise ModelFileError("this VAE was saved before vae.daily_scale existed; refit it",
                                 expected="a model file that records vae.daily_scale")
        if "prior" not in arrays:
            # a file from before the variance prior: its network learned corrections to another log-scale
            raise ModelFileError("this VAE was saved before its variance prior (a GARCH level and "
                                 "persistence the log-scale starts from) existed; refit it",
                                 expected="a model file with a 'prior' array")
        if "level_factors" not in arrays:
            # a file from before the drawn level: its digest covers a config without vae.level
            raise ModelFileError("this VAE was saved before each world drew its own long-run level "
                                 "(vae.level); refit it", expected="a model file with a 'level_factors' array")
        if "innov_chol" not in arrays:
            # a file from before the correlated innovations: its digest covers a config without vae.correlation
            raise ModelFileError("this VAE was saved before its innovations were correlated across assets "
                                 "(vae.correlation); refit it", expected="a model file with an 'innov_chol' array")
        config_meta = meta.get("config")
        if not (isinstance(config_meta, dict) and config_meta.get("likelihood") == "gaussian"):
            check_nu_floor(meta, "VAE")  # a Gaussian VAE reads no nu: its old files restore as they were
        config = config_from_dict(VaeConfig, meta.get("config", {}), where="config")
        context = restore_context(meta.get("context", {}), arrays)
        graphdef, template = structure(lambda: _build_net(config, len(context.assets), jax.random.key(0)))
        state = restore_state(template, arrays)
        values = dict(zip(self._ARRAYS, (jnp.asarray(a) for a in take_arrays(arrays, self._ARRAYS)), strict=True))
        history = restore_history(meta.get("train", {}), arrays, writer="TemporalVae.export_fitted")
        actual = check_digest(meta.get("digest"), config, *digest_arrays(state, *values.values()))
        return VaeFitted(state=state, **values, context=context, graphdef=graphdef, config=config, digest=actual,
                         history=history)

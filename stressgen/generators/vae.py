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

Bit-exact worlds: world i must be identical whatever chunk it is drawn in, but XLA:CPU's matrix products
round a row differently depending on the number of rows and the row's position. The sampler therefore
always runs blocks of `sample_block` worlds aligned to global world indices (block b holds worlds
``b * block .. (b + 1) * block - 1``), one block at a time, and keeps the requested worlds: world i is
always row ``i % block`` of the same-shaped computation.
"""

from __future__ import annotations

import dataclasses
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
from . import _levels as lv
from . import _vae_nn as nn
from ._base import (AbstractGenerator, HistoryContext, check_sizes, config_from_dict, config_to_dict,
                    check_digest, digest, export_context, history_context, restore_context, take_arrays)
from ._neural import (NU_FLOOR, WindowStep, check_nu_floor, digest_arrays, fit_scale, optimizer, restore_history,
                      restore_state, split_history, state_arrays, structure, train_meta)
from ._training import TrainConfig, TrainHistory, train
from ._vae_after import refit_latent_prior, target_moments
from ._vae_data import Prepared, gather_windows, prepare
from ._vae_level import vae_levels
from ._vae_prior import VaeFitWarning, fit_variance_prior, prior_persistence
from ._vae_sample import simulate

__all__ = ["VaeConfig", "VaeFitted", "TemporalVae", "VaeFitWarning", "LIKELIHOODS", "Prepared", "prepare",
           "gather_windows", "window_loss"]

LIKELIHOODS = ("student-t", "gaussian")
_VAL_KEY, _INIT_KEY, _TRAIN_KEY, _LEVEL_KEY = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class VaeConfig:
    """Options of the temporal VAE. `VaeConfig.preset("tiny" | "default" | "gpu")` gives named sizes.

    Attributes:
        window: days per generated window (W).
        context: past days the conditioner sees directly (C); older days enter through the volatility states.
        latent: dimension of z per window.
        hidden: width of every hidden layer.
        half_lives: half-lives (days) of the exponentially weighted volatility states; the variance prior is a
            combination of them, weighed per asset (`_vae_prior`). The 1-day state is the fast component after a
            shock (on sp500-20 it lifts the prior's ACF of |r| at lag 1 from 0.070 to 0.098; history 0.109).
        max_persistence: the cap on the variance prior's persistence, the slowest decay of a variance shock (as
            `GarchConfig.max_persistence`); above every half-life's daily decay.
        level: ``"drawn"`` (default): each world reverts to its own long-run variance, the prior's level times
            a factor drawn from the history's yearly levels less the spread the prior makes itself
            (`_vae_level`); ``"fixed"``: every world reverts to the prior's one level.
        daily_scale: each day's log-scale starts from the variance prior at the states before that day,
            updated through the window by its own days (True, the default); or every day of a window starts
            from the prior at the window's start (False).
        likelihood: ``"student-t"`` (learned nu per asset) or ``"gaussian"``.
        nu_init: initial Student-t degrees of freedom (above the floor, `_neural.NU_FLOOR` = 5).
        beta: weight of the KL term (1 is the ELBO).
        val_fraction: final share of the history held out for the validation score (early stopping).
        sample_block: worlds per sampling block (see the module doc; larger is faster for big draws).
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
        train: the training loop's options.
    """

    window: int = 8
    context: int = 10
    latent: int = 8
    hidden: int = 128
    half_lives: tuple[int, ...] = (1, 5, 21, 63, 250)
    max_persistence: float = 0.999
    level: str = "drawn"
    # on by default since the variance prior (`_vae_prior`). With the component prior (one level, the old clamp),
    # on sp500-20 the worlds' ACF of |r| at lag 1 was 0.093 against 0.037 for the window scale (history 0.109:
    # with the window scale the 1-day state acts on a whole window), and the held-out ELBO 1.1033 against 1.1168
    # nats per element.
    # With the first, single-half-life prior, a reduced rolling-origin calibration (27 origins, 500 worlds) found
    # the two missing alike (7.4% of real one-year returns outside the worlds' 5-95% band for both, 41% and 44% of
    # drawdowns; the full calibration of the default: docs/fidelity.md). Before the prior, the daily scale
    # narrowed the years (52% and 59% of returns and drawdowns outside the 5-95% band, against 33% and 41%).
    daily_scale: bool = True
    likelihood: str = "student-t"
    nu_init: float = 6.0
    beta: float = 1.0
    val_fraction: float = 0.15
    sample_block: int = 128
    history_days: int = 504
    train: TrainConfig = TrainConfig(steps=3000, batch_size=256, learning_rate=1e-3, eval_every=100,
                                     patience=5, steps_per_call=20)

    def __post_init__(self) -> None:
        check_sizes(**{f"vae.{n}": getattr(self, n) for n in ("window", "context", "latent", "hidden", "sample_block")})
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 0:
            raise ConfigError(f"vae.history_days must be an integer >= 0, got {self.history_days!r}")
        if not (isinstance(self.half_lives, tuple) and self.half_lives
                and all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in self.half_lives)):
            raise ConfigError(f"vae.half_lives must be a non-empty tuple of positive integers, got {self.half_lives!r}")
        if not isinstance(self.daily_scale, bool):
            raise ConfigError(f"vae.daily_scale must be true or false, got {self.daily_scale!r}")
        if self.level not in lv.LEVELS:
            raise ConfigError(f"vae.level must be one of {', '.join(lv.LEVELS)}; got {self.level!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"vae.likelihood must be one of {', '.join(LIKELIHOODS)}; got {self.likelihood!r}")
        p = self.max_persistence
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 < p < 1.0:
            raise ConfigError(f"vae.max_persistence must be a number in (0, 1), got {p!r}")
        longest = float(nn.ewma_decays((max(self.half_lives),))[0])
        if p <= longest:  # weight on a state makes the persistence exceed its decay (`_vae_prior`)
            raise ConfigError(f"vae.max_persistence = {p!r} is below what the variance prior's longest half-life, "
                              f"{max(self.half_lives)} days, decays at ({longest:.5f} a day), so the prior could not "
                              "use that state; raise the cap or drop the half-life")
        for name, lo in (("nu_init", NU_FLOOR), ("beta", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (np.isfinite(value) and value > lo):
                raise ConfigError(f"vae.{name} must be a finite number > {lo:g}, got {value!r}")
        v = self.val_fraction
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v < 0.5:
            raise ConfigError(f"vae.val_fraction must be a number in (0, 0.5), got {v!r}")
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"vae.train must be a TrainConfig, got {type(self.train).__name__}")

    @classmethod
    def preset(cls, name: str) -> VaeConfig:
        """Named sizes: ``"tiny"`` (tests: seconds), ``"default"`` (2-core CPU: about a minute on the bundled
        20 assets), ``"gpu"`` (a wider, longer-context model trained for longer on larger batches)."""
        if name == "default":
            return cls()
        if name == "tiny":
            return cls(window=4, context=8, latent=4, hidden=32, half_lives=(5, 21), sample_block=16,
                       train=TrainConfig(steps=40, batch_size=32, eval_every=20, steps_per_call=20, patience=2,
                                         progress=False))
        if name == "gpu":
            return cls(window=16, context=60, latent=48, hidden=1024, half_lives=(1, 2, 5, 10, 21, 63, 126, 250),
                       sample_block=2048,
                       train=TrainConfig(steps=30000, batch_size=1024, learning_rate=5e-4, eval_every=500,
                                         patience=8, steps_per_call=100))
        raise ConfigError(f"vae preset {name!r} does not exist; valid presets: tiny, default, gpu")


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
        state, level = target_moments(graphdef, state, data, train_starts, jax.random.fold_in(key, _LEVEL_KEY),
                                      config)
        net = nnx.merge(graphdef, state)
        nu = np.asarray(net.nu()) if config.likelihood == "student-t" else None
        t_table, t_grid = _t_table(nu, market.n_assets)
        scale32 = jnp.asarray(scale, jnp.float32)
        return self._anchored(state, scale32, data.prior, level, t_table, t_grid, market, graphdef, config, history)

    def reanchor(self, fitted: VaeFitted, market: MarketData, *, key: jax.Array) -> VaeFitted:
        """`fitted` continuing from the end of `market` instead of its fit's history (`start_from`,
        `studies.reanchor`).

        The trained network, the standardization `scale` and the tail tables are kept; "now" is rebuilt from
        `market` as the fit builds it: the context days (its last C returns over `scale`), the volatility
        states after its whole history, the yearly levels its worlds draw from (`_vae_level`, from its years)
        and the history context, and the digest covers the new ones. So
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
                              market, fitted.graphdef, config, fitted.history)

    @staticmethod
    def _anchored(state, scale, prior, level, t_table, t_grid, market: MarketData, graphdef, config: VaeConfig,
                  history: TrainHistory) -> VaeFitted:
        """A fitted VAE of these trained arrays continuing from the end of `market`: "now" (`_now`) and the
        long-run levels its worlds draw from (`_vae_level`, all of its years)."""
        ctx0, v0 = _now(market.log_returns, scale, config)
        factors = np.ones(1)
        if config.level == "drawn":
            factors = vae_levels(market.log_returns / np.asarray(scale, np.float64), np.asarray(prior),
                                 nn.ewma_decays(config.half_lives), np.asarray(t_table), np.asarray(t_grid),
                                 market.periods_per_year, student_t=config.likelihood == "student-t")
        arrays = dict(scale=scale, ctx0=ctx0, v0=v0, prior=prior, level_factors=jnp.asarray(factors, jnp.float32),
                      level=level, t_table=t_table, t_grid=t_grid)
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

    _ARRAYS = ("scale", "ctx0", "v0", "prior", "level_factors", "level", "t_table", "t_grid")

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

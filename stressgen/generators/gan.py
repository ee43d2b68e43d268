"""A Wasserstein GAN with gradient penalty (WGAN-GP) on Gaussianised multi-asset returns, with TCN networks.

Pipeline:

1. Tails: each asset's returns are Gaussianised by a fitted two-sided Lambert W x Gaussian transform
   (`_tails`), fitted on the training part only, its tail index bounded below by ``max(tail_index, the
   asset's Hill index at its 95% lower bound)`` (`_gan_tails`). A Lipschitz generator of Gaussian noise
   cannot produce power-law tails; the inverse transform puts them back after sampling.
2. Networks (`_gan_nn`): a causal TCN generator of the stochastic-volatility form ``u_t = mu_t + sigma_t *
   (M z_t)`` with ``(mu_t, sigma_t)`` a function of the previous 128 noise days, and a TCN critic with a
   128-day receptive field that scores every day of a window.
3. Objective: WGAN-GP (Gulrajani et al., 2017), `n_critic` critic updates per generator update, Adam with
   beta1 = 0 and beta2 = 0.9 as in that paper, plus a small drift penalty on the critic's real scores
   (Karras et al., 2018) so that its output does not wander, and a penalty holding the generator's
   per-asset variance at 1 (the Gaussianised data's), without which it inflated its scale. Chosen over a
   signature-Wasserstein loss with a closed-form critic because a linear functional of a low-order
   signature cannot see volatility clustering (a fourth-order effect across lags), which is the stylized
   fact the generator is here to reproduce; a TCN critic can, and the gradient penalty keeps the game
   stable.
4. Training: the shared loop (`_training.train`); the validation score used for early stopping is a
   stylized-fact distance on held-out days (`_gan_val`), not the critic loss, which says little about
   sample quality.
5. Calibration: the generator's output is a scale mixture of normals, not the N(0, 1) the heavy-tail map
   assumes, and the map amplifies the difference into absurd returns. After training, the same Lambert W
   family is fitted to a long stationary sample of the generator's output, and sampling maps generated
   values through it to N(0, 1) before the heavy-tail map (`_gan_tails`), so the worlds' margins are the
   fitted law. A capped tail parameter or a calibration that moves a 1-in-10,000-day return by more than 10%
   is reported in one `GanFitWarning`.

Continuing the history: the generator's state on day t is a function of the previous R noise days, so a
world continues from a state when its noise starts with R "context" days that put the generator there.
The fit (and `Gan.reanchor`) chooses that ``noise_context`` from the history, in one of two ways
(`GanConfig.start`):

* ``"match"`` (default): among 2048 noise paths drawn from the generator's own N(0, 1) noise, the one whose
  volatility path (``mu_t``, ``sigma_t``) gives the last 63 Gaussianised real days the highest likelihood,
  recent days weighted most (`_gan_start._matched_context`). The context is noise the networks were trained
  on, so the worlds stay in the range the generator produces, calm or crisis, as far as it learned that range.
* ``"filter"``: the noise that reproduces the history exactly, recovered causally day by day as GARCH
  residuals are filtered: ``z_t = pinv(M) ((u_t - mu_t) / sigma_t)`` (`_gan_start._filter_noise`). Exact,
  but where the generator cannot produce the history from typical noise the recovered noise is far from
  N(0, 1) (with temporal structure i.i.d. noise never has), and the networks' response to it is arbitrary.
  Measured on the default fit to sp500-20 up to 2017, the worlds' median first-month equal-weight volatility
  (annualised) was 15% after the end of 2017 (real: 7.1%), 541% after November 2008 (real: 70%) and 1156%
  after March 2020 (real: 87%); with ``"match"``: 12%, 27% and 23% (the generator's own range of
  volatility states stops there).

Either way the state's effect on the worlds is what the generator learned: it fades within R days, and an
undertrained generator (one that kept its initial, dynamics-free heads) ignores it.

Sampling world i: the noise context (the same for every world: it is not random) followed by
``z[horizon, noise_dim]`` drawn from ``rng.world_keys(key, first_world, n)[i]`` alone; the context produces
no output, so day 1 of the world is the day after the history, with the volatility the history left.
Generated values are calibrated to N(0, 1) (step 5) and clipped to +-`GanConfig.max_gaussian` (6) before the
heavy-tail map, whose exponential growth would otherwise turn a rare excursion into an absurd return. The
history is mapped into the generator's units by the inverse of both maps when the state is found. Worlds are
computed in blocks of at most `GanConfig.sample_block` (padded), so memory stays bounded for any `n_worlds`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from ..errors import ConfigError, InsufficientHistoryError, ModelFileError
from ..types import MarketData, Scenarios, business_days
from . import _gan_start
from . import _gan_train as gt
from . import _gan_tails as margins
from . import _gan_val as val
from . import _tails
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict, config_to_dict,
                    digest, export_context, history_context, restore_context, take_arrays)
from ._gan_nn import Critic, Generator, receptive_field, state_arrays
from ._gan_sample import generate
from ._neural import restore_state, structure
from ._training import TrainConfig, TrainHistory, train

__all__ = ["GanConfig", "GanFitted", "Gan", "GanFitWarning", "DEFAULT_TRAIN", "GPU_TRAIN"]

GanFitWarning = margins.GanFitWarning

_STARTS = ("match", "filter")

# Defaults measured to stop within ~5 minutes on 2 CPU cores for the bundled 20 assets (bench/bench_gan.py).
# Ten steps per jitted call: on an idle 2-core CPU scanning them ran 1.46x the one-call-per-step rate
# (bench/bench_gan.py: 3.91 against 2.68 steps/s); under heavy load from other processes it was the reverse.
DEFAULT_TRAIN = TrainConfig(steps=600, batch_size=32, learning_rate=2e-3, max_grad_norm=10.0, eval_every=50,
                            patience=4, steps_per_call=10)
# A larger preset for a GPU: wider networks, bigger batches, more steps.
GPU_TRAIN = TrainConfig(steps=20000, batch_size=256, learning_rate=1e-4, max_grad_norm=10.0, eval_every=500,
                        patience=8, steps_per_call=100)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GanConfig:
    """Options of the GAN generator.

    Attributes:
        width: channels of every TCN layer (generator and critic).
        levels: dilation levels; the receptive field is ``2**levels`` days (7 -> 128).
        noise_dim: noise channels per day, or None for one per asset.
        window: days of the real and generated windows the critic scores (>= the receptive field).
        n_critic: critic updates per generator update.
        gp_weight: weight of the gradient penalty.
        drift_weight: weight of the penalty on the critic's squared real scores.
        moment_weight: weight of the generator's penalty on its per-asset variance away from 1 (the
            variance of the Gaussianised data).
        max_gaussian: generated values, calibrated to N(0, 1), are clipped to +-this before the heavy-tail
            map (see `generate`).
        validation_fraction: share of the history (the most recent days) held out for early stopping.
        max_delta: cap on the tail parameters of the Lambert W transform (< 0.5: finite variance).
        tail_index: the least tail index ``1 / delta`` of each asset's margin (4: finite kurtosis); an asset
            whose Hill index, at its one-sided 95% lower bound, is higher gets that instead (`_gan_tails`).
        sample_block: most worlds computed in one call when sampling (bounds memory).
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
        start: how the worlds' starting state is found from the end of the history: ``"match"`` (the
            generator's own noise path that best explains the last days) or ``"filter"`` (the noise that
            reproduces the history exactly); see the module docstring.
        filter_days: with ``start = "filter"``, how many of the last real days the noise filter runs over
            to find the generator's state at the end of the history (at least the receptive field; None:
            2048 days, or twice the receptive field if that is more). The filter starts from zero noise; the
            days before the last ``R``, which are kept, let that start wash out (see
            `_gan_start._filter_noise`). About 1 s for 2048 days at the default size and 20 assets on 2 CPU
            cores.
        train: the training-loop options (steps, batch size, learning rate, early stopping).
    """

    width: int = 48
    levels: int = 7
    noise_dim: int | None = None
    window: int = 192
    n_critic: int = 3
    gp_weight: float = 10.0
    drift_weight: float = 1e-3
    moment_weight: float = 10.0
    max_gaussian: float = 6.0
    validation_fraction: float = 0.15
    max_delta: float = _tails.MAX_DELTA
    tail_index: float = 4.0
    sample_block: int = 1024
    history_days: int = business_days(504)  # two years of business days; a run names it on other data
    start: str = "match"
    filter_days: int | None = None
    train: TrainConfig = DEFAULT_TRAIN

    def __post_init__(self) -> None:
        check_sizes(**{f"gan.{n}": getattr(self, n) for n in ("width", "levels", "window", "n_critic", "sample_block")})
        if self.levels > 12:
            raise ConfigError(f"gan.levels must be at most 12 (a {2**12}-day receptive field), got {self.levels}")
        if self.window < receptive_field(self.levels):
            raise ConfigError(f"gan.window ({self.window}) must be at least the receptive field "
                              f"2**levels = {receptive_field(self.levels)}")
        nd = self.noise_dim
        if nd is not None and (isinstance(nd, bool) or not isinstance(nd, int) or nd < 1):
            raise ConfigError(f"gan.noise_dim must be a positive integer or None, got {nd!r}")
        for name in ("gp_weight", "drift_weight", "moment_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value)
                                                                                   and value >= 0):
                raise ConfigError(f"gan.{name} must be a finite number >= 0, got {value!r}")
        mg = self.max_gaussian
        if isinstance(mg, bool) or not isinstance(mg, int | float) or not 3.0 <= mg <= 10.0:
            raise ConfigError(f"gan.max_gaussian must be a number in [3, 10], got {mg!r}")
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, int | float) or not 0.0 < vf < 0.5:
            raise ConfigError(f"gan.validation_fraction must be in (0, 0.5), got {vf!r}")
        md = self.max_delta
        if isinstance(md, bool) or not isinstance(md, int | float) or not 0.0 <= md < 0.5:
            raise ConfigError(f"gan.max_delta must be in [0, 0.5), got {md!r}")
        ti = self.tail_index
        if isinstance(ti, bool) or not isinstance(ti, int | float) or not 2.0 < ti <= 20.0:
            raise ConfigError(f"gan.tail_index must be a number in (2, 20] (2: infinite variance), got {ti!r}")
        if isinstance(self.history_days, bool) or not isinstance(self.history_days, int) or self.history_days < 0:
            raise ConfigError(f"gan.history_days must be an integer >= 0, got {self.history_days!r}")
        if self.start not in _STARTS:
            raise ConfigError(f"gan.start must be one of {', '.join(_STARTS)}, got {self.start!r}")
        fd = self.filter_days
        if fd is not None and (isinstance(fd, bool) or not isinstance(fd, int) or fd < self.receptive_field):
            raise ConfigError(f"gan.filter_days must be None or an integer >= the receptive field "
                              f"{self.receptive_field}, got {fd!r}")
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"gan.train must be a TrainConfig, got {type(self.train).__name__}")

    @classmethod
    def preset(cls, name: str) -> GanConfig:
        """Named sizes: ``"tiny"`` (tests: seconds; a 16-day receptive field), ``"default"`` (2-core CPU:
        minutes on the bundled 20 assets), ``"gpu"`` (wider networks, more critic updates, bigger batches,
        more steps)."""
        if name == "default":
            return cls()
        if name == "tiny":
            return cls(width=8, levels=4, window=32, n_critic=2, sample_block=64,
                       train=TrainConfig(steps=20, batch_size=8, eval_every=10, steps_per_call=10, patience=2,
                                         progress=False))
        if name == "gpu":
            return cls(width=128, n_critic=5, window=256, sample_block=4096, train=GPU_TRAIN)
        raise ConfigError(f"gan preset {name!r} does not exist; valid presets: tiny, default, gpu")

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.levels)

    @property
    def filter_length(self) -> int:
        """The days the noise filter runs over (`filter_days`, or 2048, or twice the receptive field)."""
        return max(2048, 2 * self.receptive_field) if self.filter_days is None else self.filter_days


@struct.dataclass
class GanFitted:
    """A fitted GAN: the generator's parameters, the tail transform and the history context.

    Attributes:
        generator: the generator's `nnx.State` (the critic is only needed for training and is dropped).
        tails: the per-asset Lambert W x Gaussian transform of the data (the heavy-tail map).
        output_tails: the same family fitted to the generator's own output: its `forward` takes generated
            values to N(0, 1) before the heavy-tail map (`_gan_tails`).
        context: the real history the worlds continue from.
        noise_context: ``[R, noise_dim]`` float32, the R noise days that put the generator in the state at
            the end of that history (`GanConfig.start`): every world's noise starts with them.
        graphdef: the generator's structure (static; rebuilt from the config on load).
        history: the training history (None after a load).
    """

    generator: nnx.State
    tails: _tails.TailTransform
    output_tails: _tails.TailTransform
    context: HistoryContext
    noise_context: jax.Array
    config: GanConfig = struct.field(pytree_node=False)
    graphdef: Any = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)
    history: TrainHistory | None = struct.field(pytree_node=False, default=None)


def _noise_dim(config: GanConfig, n_assets: int) -> int:
    return n_assets if config.noise_dim is None else config.noise_dim


def _generator(config: GanConfig, n_assets: int, key: jax.Array) -> Generator:
    return Generator(_noise_dim(config, n_assets), n_assets, config.width, config.levels, rngs=nnx.Rngs(params=key))


def _build_generator(config: GanConfig, n_assets: int, key: jax.Array, mixing: np.ndarray | None = None):
    gen = _generator(config, n_assets, key)
    if mixing is not None:
        gen.mixing[...] = jnp.asarray(mixing, dtype=jnp.float32)
    return nnx.split(gen)


# Fold-ins of the fit key, not more splits: the training keys, hence the trained networks, stay as they were.
# (`_gan_start.START_KEY` = 1 draws the starting state's candidates.)
_CALIBRATION_KEY = 2  # the generator's sample that its output law is measured on (`_gan_tails.output_tails`)


# ------------------------------------------------------------------------------------------------- the family

class Gan(AbstractGenerator):
    """WGAN-GP with causal TCN generator and critic on Lambert-W-Gaussianised returns (final)."""

    name = "gan"
    config_type = GanConfig

    def fit(self, market: MarketData, *, key: jax.Array, config: GanConfig | None = None) -> GanFitted:
        config = self._config(config)
        r = market.log_returns
        n_val = int(round(config.validation_fraction * r.shape[0]))
        n_train = r.shape[0] - n_val
        need = config.window + val.MAX_LAG
        if n_train < config.window or n_val < need - config.window:
            raise InsufficientHistoryError(
                f"the GAN needs at least {config.window} training and {need - config.window} validation returns; "
                f"{r.shape[0]} returns split into {n_train} and {n_val}", path=market.source,
                expected=f"about {int(math.ceil((need - config.window) / config.validation_fraction))} returns "
                         f"or more, or a smaller gan.window")
        tails, capped = margins.data_tails(r[:n_train], market.assets, tail_index=config.tail_index,
                                           max_delta=config.max_delta)
        u = np.asarray(_tails.forward(tails, jnp.asarray(r, dtype=jnp.float32)))
        u_train, u_val = u[:n_train], u[n_train:]
        n_assets = market.n_assets
        k_gen, k_critic, k_train, k_val = jax.random.split(key, 4)
        # the innovation mixing starts at the Cholesky factor of the training correlation: cross-asset
        # correlation is right from step 0 and the networks learn the dynamics
        corr = np.corrcoef(u_train, rowvar=False).reshape(n_assets, n_assets)
        chol = np.linalg.cholesky(corr + 1e-6 * np.eye(n_assets))
        nd = _noise_dim(config, n_assets)
        mixing = np.zeros((n_assets, nd), np.float32)
        mixing[:, : min(nd, n_assets)] = chol[:, : min(nd, n_assets)]
        g_def, g_state = _build_generator(config, n_assets, k_gen, mixing)
        c_def, c_state = nnx.split(Critic(n_assets, config.width, config.levels, rngs=nnx.Rngs(params=k_critic)))
        opt = gt.optimizer(config.train)
        nets = gt.Nets(g_def, c_def, opt, config, nd)
        carry = {"g": g_state, "c": c_state, "og": opt.init(g_state), "oc": opt.init(c_state),
                 "data": jnp.asarray(u_train)}
        validate = val.Validator(g_def, u_val, key=k_val, noise_dim=nd, burn=config.receptive_field)
        carry, history = train(carry, gt.Step(nets), lambda c: validate(c["g"]), key=k_train,
                               config=config.train, name=self.name)
        u_gen = margins.generated_sample(g_def, carry["g"], jax.random.fold_in(key, _CALIBRATION_KEY),
                                         noise_dim=nd, burn=config.receptive_field)
        out, calibrated = margins.output_tails(u_gen, tails, market.assets)
        margins.warn(capped, calibrated, n_assets)
        # the whole history, validation days included: the worlds continue from its last day
        noise = _gan_start.noise_context(config, g_def, carry["g"], tails, out, r, key)
        return self._assemble(config, carry["g"], tails, out, history_context(market, config.history_days), noise,
                              history)

    def reanchor(self, fitted: GanFitted, market: MarketData, *, key: jax.Array) -> GanFitted:
        """`fitted` continuing from the end of `market` instead of its fit's history (`studies.reanchor`).

        The trained generator and the tail maps are kept (the costly part); the history context and
        the noise context are rebuilt from `market` as the fit builds them, so that
        ``reanchor(fit(m, key), m, key)`` is that fit. `key` plays the fit key's part (the candidates of
        ``start = "match"``, the null-space noise of ``"filter"``).
        """
        if tuple(market.assets) != tuple(fitted.context.assets) or market.n_assets != fitted.tails.n_assets:
            raise ConfigError(f"cannot re-anchor a GAN fitted on assets {list(fitted.context.assets)} to a market "
                              f"of assets {list(market.assets)}")
        config = fitted.config
        noise = _gan_start.noise_context(config, fitted.graphdef, fitted.generator, fitted.tails,
                                         fitted.output_tails, market.log_returns, key)
        return self._assemble(config, fitted.generator, fitted.tails, fitted.output_tails,
                              history_context(market, config.history_days), noise, fitted.history)

    def _assemble(self, config: GanConfig, g_state: nnx.State, tails: _tails.TailTransform,
                  output_tails: _tails.TailTransform, context: HistoryContext, noise_context: jax.Array,
                  history: TrainHistory | None, expected_digest: str | None = None):
        n_assets = tails.n_assets
        g_def, _ = structure(lambda: _generator(config, n_assets, jax.random.key(0)))
        leaves = state_arrays(g_state)
        tail_arrays = {**tails.as_dict(), **{f"output.{k}": v for k, v in output_tails.as_dict().items()}}
        # the noise context is in the digest: two fits that continue from different states differ
        noise = np.asarray(noise_context)
        if expected_digest is None:
            fit_digest = digest(config, leaves, tail_arrays, noise)
        else:
            fit_digest = check_digest(expected_digest, config, leaves, tail_arrays, noise)
        return GanFitted(generator=g_state, tails=tails, output_tails=output_tails, context=context,
                         noise_context=jnp.asarray(noise),
                         config=config, graphdef=g_def, digest=fit_digest, history=history)

    def sample(self, fitted: GanFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        self._check_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        log_returns = generate(fitted, key=key, first_world=int(first_world), n_worlds=int(n_worlds),
                               horizon=int(horizon))
        return self._scenarios(fitted.context, log_returns, fitted.digest, first_world)

    # --- persistence: config + context as JSON; the generator's nnx.State, the tails and the noise context as
    # named arrays

    def export_fitted(self, fitted: GanFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest,
                "n_assets": fitted.tails.n_assets}
        arrays.update({f"generator.{k}": v for k, v in state_arrays(fitted.generator).items()})
        arrays.update({f"tails.{k}": v for k, v in fitted.tails.as_dict().items()})
        arrays.update({f"output_tails.{k}": v for k, v in fitted.output_tails.as_dict().items()})
        arrays["noise_context"] = np.asarray(fitted.noise_context)
        return meta, arrays

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> GanFitted:
        config = config_from_dict(GanConfig, meta.get("config", {}), where="config")
        n_assets = meta.get("n_assets")
        if isinstance(n_assets, bool) or not isinstance(n_assets, int) or n_assets < 1:
            raise ModelFileError(f"model meta n_assets must be a positive integer, got {n_assets!r}")
        context = restore_context(meta.get("context", {}), arrays)
        tail_names = ("loc", "scale", "delta_left", "delta_right")
        tails = _tails.TailTransform.from_dict(
            dict(zip(tail_names, take_arrays(arrays, [f"tails.{n}" for n in tail_names]), strict=True)),
            where="model arrays tails.*")
        # structure from code: a generator built from the config, then its state filled from the arrays
        _, template = structure(lambda: _generator(config, n_assets, jax.random.key(0)))
        state = restore_state(template, arrays, names=[f"generator.{n}" for n in state_arrays(template)])
        if "noise_context" not in arrays:
            # Models saved before the noise context sampled every world from pure noise. Their history
            # context may be shorter than the state needs (history_days can be 0), so the state cannot be
            # rebuilt reliably here: refuse, rather than load a model whose worlds ignore its history's end.
            # (Their config lacks `start`, so their digest would not match either.)
            raise ModelFileError("this GAN model has no noise_context array: it was saved by a version of "
                                 "stressgen whose GAN ignored the state at the end of its history",
                                 expected="a GAN model saved by this version: refit it and save it again")
        if not all(f"output_tails.{n}" in arrays for n in tail_names):
            # Models saved before the tail calibration pushed the generator's output through the data's map
            # as if it were N(0, 1), which blew its excursions up into absurd returns: refuse, refit.
            raise ModelFileError("this GAN model has no output_tails arrays: it was saved by a version of "
                                 "stressgen that did not calibrate its heavy-tail map to the generator's output",
                                 expected="a GAN model saved by this version: refit it and save it again")
        output_tails = _tails.TailTransform.from_dict(
            dict(zip(tail_names, take_arrays(arrays, [f"output_tails.{n}" for n in tail_names]), strict=True)),
            where="model arrays output_tails.*")
        noise = np.asarray(arrays["noise_context"])
        shape = (config.receptive_field, _noise_dim(config, n_assets))
        if noise.shape != shape or noise.dtype != np.float32 or not np.isfinite(noise).all():
            raise ModelFileError(f"noise_context array is {noise.dtype}{list(noise.shape)}",
                                 expected=f"finite float32{list(shape)} for this config")
        return self._assemble(config, state, tails, output_tails, context, noise, None,
                              expected_digest=meta.get("digest"))


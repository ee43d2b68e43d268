"""What the GRU-driven autoregressive families (`nar`, `flow`) share: the fitted model, its data preparation,
training on windows of the history, "now", sampling in aligned blocks, re-anchoring and storage.

A family is a config type (an `AutoregressiveConfig` subclass, with its own fields) and a network builder. The
network (`_nar_nn.NarNet`, `_flow_nn.FlowNet`) provides ``day``, ``head``, ``step``, ``log_density``,
``shape_noise``, ``chol``, ``nu`` and ``core`` (the module holding the mean and the correlation, which the fit
starts from the sample's).

Paths of any horizon are one `jax.lax.scan` over days from "now": the GRU states after running over the whole
real history, and its volatility states. World i depends only on (key, i): the sampler runs aligned blocks of
`sample_block` worlds (`_neural.simulate_aligned`).
"""

from __future__ import annotations

import abc
import dataclasses
from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from .. import rng
from ..errors import ConfigError, DataError
from ..types import MarketData, Scenarios, business_days
from . import _nar_nn as nn
from . import _tables as tb
from ._base import (AbstractGenerator, HistoryContext, check_digest, check_sizes, config_from_dict,
                    config_to_dict, digest, export_context, history_context, restore_context, take_arrays)
from ._neural import (NU_FLOOR, WindowStep, check_nu_floor, digest_arrays, fit_scale, optimizer, restore_history,
                      restore_state, simulate_aligned, split_history, state_arrays, structure, train_meta)
from ._training import TrainConfig, TrainHistory, train
from ._vae_nn import ewma_decays, log_vol_features

__all__ = ["AutoregressiveConfig", "AutoregressiveFitted", "AbstractAutoregressive", "Prepared", "prepare",
           "check_core_fields", "vol_index", "block_noise", "simulate_block", "sim_params", "train_step"]

_INIT_KEY, _TRAIN_KEY = 1, 2


def check_core_fields(config: Any, family: str) -> None:
    """Validate the fields every autoregressive family's config has, naming ``<family>.<field>``."""
    check_sizes(**{f"{family}.{n}": getattr(config, n) for n in ("hidden", "window", "warmup", "sample_block")})
    if isinstance(config.history_days, bool) or not isinstance(config.history_days, int) or config.history_days < 0:
        raise ConfigError(f"{family}.history_days must be an integer >= 0, got {config.history_days!r}")
    h = config.half_lives
    if not (isinstance(h, tuple) and h and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in h)):
        raise ConfigError(f"{family}.half_lives must be a non-empty tuple of positive integers, got {h!r}")
    if not isinstance(config.vol_features, bool):
        raise ConfigError(f"{family}.vol_features must be true or false, got {config.vol_features!r}")
    v = config.nu_init
    if isinstance(v, bool) or not isinstance(v, int | float) or not (np.isfinite(v) and v > NU_FLOOR):
        raise ConfigError(f"{family}.nu_init must be a finite number > {NU_FLOOR:g} (the floor on nu), got {v!r}")
    v = config.val_fraction
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v < 0.5:
        raise ConfigError(f"{family}.val_fraction must be a number in (0, 0.5), got {v!r}")
    if not isinstance(config.train, TrainConfig):
        raise ConfigError(f"{family}.train must be a TrainConfig, got {type(config.train).__name__}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AutoregressiveConfig:
    """The options every autoregressive family has (abstract: `NarConfig`, `FlowConfig` are the configs).

    Attributes:
        hidden: width of each asset's GRU state and of the head's hidden layer.
        window: days per training window (the loss covers them).
        warmup: days the GRU reads before each window, without a loss.
        half_lives: half-lives (days) of the exponentially weighted volatility states (each of all days and
            of down days).
        vol_features: feed each asset's log volatility states to the GRU and the head as inputs too (False:
            they only set the log-scale's prior, a learned blend of them; the GRU reads the surprises either
            way).
        nu_init: initial Student-t degrees of freedom (above the floor, `_neural.NU_FLOOR` = 5).
        val_fraction: final share of the history held out for the validation score (early stopping).
        sample_block: worlds per sampling block (see the module doc; larger is faster for big draws).
        history_days: how many of the last real periods the worlds carry as their `history` prefix.
        train: the training loop's options.
    """

    family: ClassVar[str]  # the name errors give a field: ``<family>.<field>``

    # chosen on sp500-20's held-out final 15% (the validation score) and its stylised facts; sp500-index was
    # not used. A width of 16 scored as well as 32 and 64 (0.9942, 0.9946, 0.9941 nats per asset-day) at a
    # quarter of the cost; the volatility states as inputs too scored worse (0.9992 at width 32: they let the
    # network fit the training years' levels)
    hidden: int = 16
    window: int = 63
    warmup: int = 63
    half_lives: tuple[int, ...] = (2, 5, 10, 21, 63, 250)
    vol_features: bool = False
    nu_init: float = 6.0
    val_fraction: float = 0.15
    sample_block: int = 128
    history_days: int = business_days(504)  # two years of business days; a run names it on other data
    # on sp500-20 nar's held-out likelihood is best near step 240 and the run stops at 400 (34-41 s on 2 cores)
    train: TrainConfig = TrainConfig(steps=2000, batch_size=32, learning_rate=1e-3, eval_every=20,
                                     patience=8, steps_per_call=20)

    def __post_init__(self) -> None:
        check_core_fields(self, self.family)

    @staticmethod
    def core_preset(name: str, family: str) -> dict[str, Any]:
        """The fields of the named sizes ``"tiny"`` (tests: seconds), ``"default"`` (2-core CPU: at most a
        few minutes on the bundled 20 assets) and ``"gpu"`` (a wider GRU on longer windows, trained longer on
        larger batches); an unknown name is a `ConfigError` naming `family`."""
        if name == "default":
            return {}
        if name == "tiny":
            return dict(hidden=8, window=16, warmup=16, half_lives=(5, 21), sample_block=16,
                        train=TrainConfig(steps=40, batch_size=16, learning_rate=2e-3, eval_every=20,
                                          steps_per_call=20, patience=2, progress=False))
        if name == "gpu":
            return dict(hidden=64, window=126, warmup=126, half_lives=(1, 2, 5, 10, 21, 63, 126, 250),
                        sample_block=2048,
                        train=TrainConfig(steps=20000, batch_size=256, learning_rate=5e-4, eval_every=100,
                                          patience=8, steps_per_call=50))
        raise ConfigError(f"{family} preset {name!r} does not exist; valid presets: tiny, default, gpu")


VOL_HALF_LIFE = 21  # the half-life whose state the log-scale's blend starts on


def vol_index(half_lives: tuple[int, ...]) -> int:
    """The volatility state the log-scale's prior starts on: the one whose half-life is nearest 21 days."""
    return int(np.argmin(np.abs(np.asarray(half_lives) - VOL_HALF_LIFE)))


@struct.dataclass
class AutoregressiveFitted:
    """A trained model. `state` holds the network's parameters; `graphdef` (static) rebuilds the modules.

    Attributes:
        state: `nnx.State` of the network (a pytree of arrays).
        scale: ``[assets]`` standard deviation of each asset's fit-sample returns (the standardization).
        h0: ``[assets, hidden]`` the GRU states after the whole real history.
        v0: ``[2H, assets]`` the volatility states after the whole real history (`_nar_nn.vol_states`).
            `h0`, `v0` and `context` describe "now"; the family's `reanchor` rebuilds them from another history.
        mix_table, mix_grid: the chi-square mixing table of the fitted nu (`_tables.chi2_mixing_table`).
        context: the real history the worlds continue.
        graphdef, config, digest, history: static metadata (`history` is the training record).
    """

    state: Any
    scale: jax.Array
    h0: jax.Array
    v0: jax.Array
    mix_table: jax.Array
    mix_grid: jax.Array
    context: HistoryContext
    graphdef: Any = struct.field(pytree_node=False)
    config: Any = struct.field(pytree_node=False)
    digest: str = struct.field(pytree_node=False)
    history: TrainHistory = struct.field(pytree_node=False)

    def net(self) -> Any:
        return nnx.merge(self.graphdef, self.state)

    @property
    def nu(self) -> float:
        return float(self.net().nu())

    @property
    def correlation(self) -> np.ndarray:
        """The learned correlation of the (base) innovations, ``[assets, assets]``."""
        chol = np.asarray(self.net().chol(), np.float64)
        return chol @ chol.T


# ------------------------------------------------------------------------------------------------ data

@struct.dataclass
class Prepared:
    """Standardized returns and the volatility features of every day (see `prepare`)."""

    x: jax.Array  # [T, A] standardized returns
    log_v: jax.Array  # [T + 1, 2H, A] features of the state before each day (and after the last)
    v_last: jax.Array  # [2H, A] the state after the last day


def prepare(returns: np.ndarray, scale: np.ndarray, config: Any) -> Prepared:
    """Standardize ``returns [T, A]`` by `scale` and compute the volatility states of every day."""
    x = np.asarray(returns, dtype=np.float64) / scale
    v = nn.vol_states(x, ewma_decays(config.half_lives))
    return Prepared(x=jnp.asarray(x, jnp.float32), log_v=log_vol_features(jnp.asarray(v, jnp.float32)),
                    v_last=jnp.asarray(v[-1], jnp.float32))


def window_nll(net: Any, data: Prepared, starts: jax.Array, config: Any) -> jax.Array:
    """NLL ``[window, B]`` of the windows starting at `starts` (>= warmup), each after its warm-up days."""
    days = starts[:, None] - config.warmup + jnp.arange(config.warmup + config.window + 1)
    return nn.sequence_nll(net, data.x[days[:, :-1]], data.log_v[days], config.warmup)


def _train_step(carry, key, *, graphdef, opt, data, starts, config):
    state, opt_state = carry
    batch = starts[jax.random.randint(key, (config.train.batch_size,), 0, starts.shape[0])]

    def loss_fn(s):
        return jnp.mean(window_nll(nnx.merge(graphdef, s), data, batch, config)) / data.x.shape[1]

    loss, grads = jax.value_and_grad(loss_fn)(state)
    updates, opt_state = opt.update(grads, opt_state, state)
    return (optax.apply_updates(state, updates), opt_state), {"loss": loss}


def train_step(graphdef, opt, config: Any) -> WindowStep:
    """The step `train` runs: `_train_step` on batches of windows (`_neural.WindowStep`)."""
    return WindowStep(_train_step, graphdef, opt, config)


@partial(jax.jit, static_argnames=("graphdef", "config"))
def _val_score(state, data, starts, *, graphdef, config):
    return jnp.mean(window_nll(nnx.merge(graphdef, state), data, starts, config)) / data.x.shape[1]


@partial(jax.jit, static_argnames=("graphdef",))
def _run_history(graphdef, state, x, log_v):
    return nn.run_history(nnx.merge(graphdef, state), x, log_v)


# -------------------------------------------------------------------------------------------- sampling

def block_noise(keys: jax.Array, day: jax.Array, n_assets: int) -> jax.Array:
    """Standard normals ``[block, A + 1]`` of day `day` of the worlds whose keys are ``keys [block]``
    (`rng.world_keys`): a world's draw depends only on (key, world, day)."""
    return jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, day), (n_assets + 1,), jnp.float32))(keys)


@partial(jax.jit, static_argnames=("graphdef", "horizon", "block"))
def simulate_block(graphdef, state, p: dict[str, jax.Array], key: jax.Array, block_index: jax.Array, *,
                   horizon: int, block: int) -> jax.Array:
    """Log returns ``[block, horizon, assets]`` (float32) of worlds ``block_index * block + (0 .. block-1)``."""
    net = nnx.merge(graphdef, state)
    a = p["v0"].shape[-1]
    keys = rng.world_keys(key, block_index * block, block)

    def one_day(carry, day):
        h, v = carry
        h, v, x = nn.sample_day(net, h, v, block_noise(keys, day, a), p)
        return (h, v), x

    init = (jnp.broadcast_to(p["h0"], (block, *p["h0"].shape)), jnp.broadcast_to(p["v0"], (block, *p["v0"].shape)))
    _, xs = jax.lax.scan(one_day, init, jnp.arange(horizon, dtype=jnp.uint32))  # [horizon, block, A]
    return xs.transpose(1, 0, 2) * p["scale"]


def sim_params(fitted: AutoregressiveFitted) -> dict[str, jax.Array]:
    return {"h0": fitted.h0, "v0": fitted.v0, "scale": fitted.scale, "mix_table": fitted.mix_table,
            "mix_grid": fitted.mix_grid, "decays": jnp.asarray(ewma_decays(fitted.config.half_lives)),
            "fence": np.uint32(0)}


def _now(graphdef, state, returns: np.ndarray, scale: jax.Array, config: Any) -> tuple[jax.Array, jax.Array]:
    """``(h0 [A, hidden], v0 [2H, A])`` of a history ``returns [T, A]``: the GRU states after running over all of
    it from zero and its volatility states, standardized by the fit's float32 `scale` (the one sampling
    multiplies by). The fit and `reanchor` both take "now" from here, so re-anchoring a fit to its own
    history gives it back bit for bit."""
    data = prepare(returns, np.asarray(scale, np.float64), config)
    return _run_history(graphdef, state, data.x, data.log_v), data.v_last


def _mixing(nu: float) -> tuple[jax.Array, jax.Array]:
    table, grid = tb.chi2_mixing_table(float(nu))
    return jnp.asarray(table), jnp.asarray(grid)


def _initial_chol_raw(market: MarketData, cut: int) -> np.ndarray:
    """`init_chol_raw` of the fit sample's correlation; a singular one (perfectly correlated assets, or more
    assets than returns) is a `DataError` naming the closest pair, before any training."""
    corr = np.atleast_2d(np.corrcoef(market.log_returns[:cut], rowvar=False))
    try:
        return nn.init_chol_raw(corr)
    except np.linalg.LinAlgError:
        off = np.abs(corr - np.eye(len(corr)))
        i, j = np.unravel_index(int(np.argmax(off)), off.shape)
        raise DataError(f"the fit sample's correlation matrix is singular ({cut} returns of {market.n_assets} "
                        f"assets; the closest pair, {market.assets[i]!r} and {market.assets[j]!r}, correlates "
                        f"{corr[i, j]:.6f})", path=market.source, column=market.assets[j],
                        expected="assets that are not copies or exact combinations of each other, and more "
                                 "returns than assets") from None


class AbstractAutoregressive(AbstractGenerator):
    """A GRU-driven autoregressive family: fit, re-anchoring, sampling and storage (abstract; the families
    are final). A subclass sets `name`, `config_type` and `what` (the model, as errors name it) and builds its
    network in `build_net`."""

    what: str

    @staticmethod
    @abc.abstractmethod
    def build_net(config: Any, n_assets: int, key: jax.Array) -> Any:
        """The untrained network of `config` for `n_assets` assets."""

    @staticmethod
    def structure_arrays(config: Any, n_assets: int) -> tuple[np.ndarray, ...]:
        """Arrays of the network's fixed structure that the code derives rather than stores (the flow's
        coupling splits); the digest covers them, so a file restored where they differ is refused."""
        del config, n_assets
        return ()

    def fit(self, market: MarketData, *, key: jax.Array, config: Any = None) -> AutoregressiveFitted:
        config = self._config(config)
        r = market.log_returns
        cut, train_starts, val_starts = split_history(market, window=config.window, lead=config.warmup,
                                                      val_fraction=config.val_fraction, what=self.what,
                                                      lead_name="warmup")
        scale = fit_scale(market, cut)
        data = prepare(r, scale, config)
        net = self.build_net(config, market.n_assets, jax.random.fold_in(key, _INIT_KEY))
        # start the correlation from the fit sample's: learning it from independence would spend most of a
        # short run's steps on it (Adam moves a parameter by about the learning rate per step)
        core = net.core()
        core.chol_raw[...] = jnp.asarray(_initial_chol_raw(market, cut))
        core.mu[...] = jnp.asarray(r[:cut].mean(axis=0) / scale, jnp.float32)
        graphdef, state = nnx.split(net)
        opt = optimizer(config.train)
        val_starts = jnp.asarray(val_starts)

        def validate(carry):
            return float(_val_score(carry[0], data, val_starts, graphdef=graphdef, config=config))

        carry = (state, opt.init(state), data, jnp.asarray(train_starts))
        (state, *_), history = train(carry, train_step(graphdef, opt, config), validate,
                                     key=jax.random.fold_in(key, _TRAIN_KEY), config=config.train, name=self.name)
        mix_table, mix_grid = _mixing(float(nnx.merge(graphdef, state).nu()))
        return self._anchored(state, jnp.asarray(scale, jnp.float32), mix_table, mix_grid, market, graphdef,
                              config, history)

    def reanchor(self, fitted: AutoregressiveFitted, market: MarketData, *, key: jax.Array) -> AutoregressiveFitted:
        """`fitted` continuing from the end of `market` instead of its fit's history (`start_from`,
        `studies.reanchor`).

        The trained network, the standardization `scale` and the mixing table are kept; "now" is rebuilt from
        `market` as the fit builds it: the GRU state after its whole history, its volatility states and the
        history context, and the digest covers the new ones. So ``reanchor(fit(m), m)`` is that fit, bit for
        bit. `key` is unused (nothing is drawn).
        """
        del key
        if tuple(market.assets) != tuple(fitted.context.assets) or market.n_assets != fitted.scale.shape[0]:
            raise ConfigError(f"cannot re-anchor a {self.name!r} fitted on assets {list(fitted.context.assets)} "
                              f"to a market of assets {list(market.assets)}; expected the same assets in the "
                              "same order")
        if market.log_returns.shape[0] < 1:
            raise ConfigError(f"cannot re-anchor a {self.name!r} to {market.source}: it has no returns")
        return self._anchored(fitted.state, fitted.scale, fitted.mix_table, fitted.mix_grid, market,
                              fitted.graphdef, fitted.config, fitted.history)

    def _anchored(self, state, scale, mix_table, mix_grid, market: MarketData, graphdef, config: Any,
                  history: TrainHistory) -> AutoregressiveFitted:
        """A fitted model of these trained arrays continuing from the end of `market`."""
        h0, v0 = _now(graphdef, state, market.log_returns, scale, config)
        arrays = (scale, h0, v0, mix_table, mix_grid)
        structure = self.structure_arrays(config, market.n_assets)
        return AutoregressiveFitted(state=state, scale=scale, h0=h0, v0=v0, mix_table=mix_table,
                                    mix_grid=mix_grid, context=history_context(market, config.history_days),
                                    graphdef=graphdef, config=config,
                                    digest=digest(config, *digest_arrays(state, *arrays), *structure),
                                    history=history)

    def sample(self, fitted: AutoregressiveFitted, *, key: jax.Array, n_worlds: int, horizon: int,
               condition: object = None, first_world: int = 0) -> Scenarios:
        self._check_condition(condition)
        check_sizes(n_worlds=n_worlds, horizon=horizon)
        p, block = sim_params(fitted), fitted.config.sample_block
        log_returns = simulate_aligned(
            lambda b: simulate_block(fitted.graphdef, fitted.state, p, key, b, horizon=int(horizon), block=block),
            int(first_world), n_worlds=int(n_worlds), block=block)
        return self._scenarios(fitted.context, log_returns, fitted.digest, first_world)

    # --- persistence: config + context + training record as JSON, parameters as named arrays ------------

    _ARRAYS = ("scale", "h0", "v0", "mix_table", "mix_grid")

    def export_fitted(self, fitted: AutoregressiveFitted) -> tuple[dict, dict[str, np.ndarray]]:
        context_meta, arrays = export_context(fitted.context)
        meta = {"config": config_to_dict(fitted.config), "context": context_meta, "digest": fitted.digest,
                "train": train_meta(fitted.history), "nu_floor": NU_FLOOR}
        arrays.update({name: np.asarray(getattr(fitted, name)) for name in self._ARRAYS})
        arrays.update(state_arrays(fitted.state))
        arrays.update({"train.step": fitted.history.step, "train.loss": fitted.history.loss})
        return meta, arrays

    def restore_fitted(self, meta: dict, arrays: dict[str, np.ndarray]) -> AutoregressiveFitted:
        check_nu_floor(meta, self.name)
        config = config_from_dict(self.config_type, meta.get("config", {}), where="config")
        context = restore_context(meta.get("context", {}), arrays)
        graphdef, template = structure(lambda: self.build_net(config, len(context.assets), jax.random.key(0)))
        state = restore_state(template, arrays)
        scale, h0, v0, mix_table, mix_grid = (jnp.asarray(a) for a in take_arrays(arrays, self._ARRAYS))
        history = restore_history(meta.get("train", {}), arrays, writer=f"{type(self).__name__}.export_fitted")
        actual = check_digest(meta.get("digest"), config, *digest_arrays(state, scale, h0, v0, mix_table, mix_grid),
                              *self.structure_arrays(config, len(context.assets)))
        return AutoregressiveFitted(state=state, scale=scale, h0=h0, v0=v0, mix_table=mix_table,
                                    mix_grid=mix_grid, context=context, graphdef=graphdef, config=config,
                                    digest=actual, history=history)

"""Neural autoregressive generator: a GRU per asset over the days, a multivariate Student-t for the next day.

The model (`_nar_nn`) gives the law of day t's returns of all assets given every earlier day. Each asset has
a location and a log-scale: the log-scale is a prior, the log of a learned blend of exponentially weighted
variance states (of all days and of down days, as GJR-GARCH weighs them), plus a correction from a GRU state.
The GRU is one cell shared by all assets, each running its own state and reading its own standardized
surprise and the cross-section's mean of those; so volatility clustering and the leverage effect come from the
fitted model. The innovation is a unit-variance multivariate t with a learned constant correlation and a
learned nu. Training maximises the likelihood of next-day cross-sections on random windows of the history:
the GRU warms up from zero on the `warmup` days before a window and the loss covers the window's days
(truncated back-propagation in time), with the shared loop (`_training.train`: early stopping on a held-out
final stretch of the history, a divergence guard).

Paths of any horizon are one `jax.lax.scan` over days from "now": the GRU states after running over the whole
real history, and its volatility states. Each generated day updates the variance states, and its innovation
is the GRU's next input.

World i depends only on (key, i): the sampler runs aligned blocks of `sample_block` worlds
(`_neural.simulate_aligned`). The fit, "now", sampling and storage are shared with the flow (`_autoreg`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
from flax import nnx

from ._autoreg import AbstractAutoregressive, AutoregressiveConfig, AutoregressiveFitted, vol_index
from ._nar_nn import NarNet

__all__ = ["NarConfig", "NarFitted", "NeuralAutoregressive"]

# a fitted nar: the autoregressive families share one fitted type
NarFitted = AutoregressiveFitted


@dataclasses.dataclass(frozen=True, kw_only=True)
class NarConfig(AutoregressiveConfig):
    """Options of the neural autoregressive model (the fields are `AutoregressiveConfig`'s).
    `NarConfig.preset("tiny" | "default" | "gpu")` gives sizes."""

    family: ClassVar[str] = "nar"

    @classmethod
    def preset(cls, name: str) -> NarConfig:
        """Named sizes: ``"tiny"`` (tests: seconds), ``"default"`` (2-core CPU: at most a few minutes on the
        bundled 20 assets), ``"gpu"`` (a wider GRU on longer windows, trained longer on larger batches)."""
        return cls(**AutoregressiveConfig.core_preset(name, "nar"))


class NeuralAutoregressive(AbstractAutoregressive):
    """GRU autoregression of daily cross-sections with multivariate Student-t innovations (final)."""

    name: ClassVar[str] = "nar"
    config_type: ClassVar[type] = NarConfig
    what: ClassVar[str] = "the neural autoregression"

    @staticmethod
    def build_net(config: NarConfig, n_assets: int, key: jax.Array) -> NarNet:
        return NarNet(n_assets=n_assets, n_states=2 * len(config.half_lives), hidden=config.hidden,
                      vol_index=vol_index(config.half_lives), vol_features=config.vol_features,
                      nu_init=config.nu_init, rngs=nnx.Rngs(params=key))

"""Normalizing flow generator: a conditional affine-coupling flow over each day's cross-section, given a
learned summary of the past, with a heavy-tailed (Student-t) base.

The law of day t's returns of all assets given every earlier day is a flow (`_flow_nn`): a unit-variance
multivariate Student-t draw (learned nu and correlation) is transformed by affine couplings whose scales and
shifts depend on the other half of the assets and on the cross-section's mean GRU state, then located and
scaled per asset by `nar`'s head (a learned blend of volatility states corrected by the GRU). The density is
exact (the couplings are triangular with closed-form inverses), so training maximises the likelihood of
next-day cross-sections on random windows of the history, as `nar`'s does, with the shared loop
(`_training.train`: early stopping on a held-out final stretch, a divergence guard).

What the couplings add over `nar`'s multivariate t is a dependence between assets that depends on the day
and the state (a sell-off spread more widely than a rally); the tails stay the learned Student-t's, since a
triangular map that grows at most linearly both ways keeps the base's tail index (`_flow_nn`'s module doc).

Paths of any horizon are one `jax.lax.scan` over days from "now" (the GRU and volatility states after the
whole real history); world i depends only on (key, i). The fit, "now", sampling and storage are `nar`'s
(`_autoreg`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import numpy as np
from flax import nnx

from ..errors import ConfigError
from ._autoreg import AbstractAutoregressive, AutoregressiveConfig, AutoregressiveFitted, vol_index
from ._flow_nn import FlowNet, split_arrays

__all__ = ["FlowConfig", "FlowFitted", "NormalizingFlow"]

# a fitted flow: the autoregressive families share one fitted type
FlowFitted = AutoregressiveFitted


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowConfig(AutoregressiveConfig):
    """Options of the normalizing flow. `FlowConfig.preset("tiny" | "default" | "gpu")` gives sizes.

    The fields before `couplings` are `AutoregressiveConfig`'s, as nar's (the GRU summary of the past, the
    volatility states, the base's nu, the validation split, sampling blocks, the history prefix, training).

    Attributes:
        couplings: number of affine coupling layers (0: the flow is `nar`'s model).
        coupling_width: hidden width of each coupling's network.
        coupling_bound: bound on each coupling's log-scale, ``|g(s)| < bound`` (the map and its inverse then
            grow at most linearly, so the tails stay the base's).
    """

    family: ClassVar[str] = "flow"

    # chosen on sp500-20's held-out final 15% (docs/flow.md): 6 layers scored 0.9849 nats per asset-day, 4
    # 0.9877, 8 0.9851, none (nar's model) 0.9944; a width of 64 or a bound of 2 changed nothing measurable
    couplings: int = 6
    coupling_width: int = 32
    coupling_bound: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.couplings, bool) or not isinstance(self.couplings, int) or self.couplings < 0:
            raise ConfigError(f"flow.couplings must be an integer >= 0, got {self.couplings!r}")
        w = self.coupling_width
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ConfigError(f"flow.coupling_width must be a positive integer, got {w!r}")
        b = self.coupling_bound
        if isinstance(b, bool) or not isinstance(b, int | float) or not (np.isfinite(b) and 0.0 < b <= 3.0):
            raise ConfigError(f"flow.coupling_bound must be a number in (0, 3], got {b!r}")

    @classmethod
    def preset(cls, name: str) -> FlowConfig:
        """Named sizes: ``"tiny"`` (tests: seconds), ``"default"`` (2-core CPU: at most a few minutes on the
        bundled 20 assets), ``"gpu"`` (nar's gpu sizes, with 8 couplings of width 128)."""
        extra = {"tiny": dict(couplings=2, coupling_width=8), "gpu": dict(couplings=8, coupling_width=128)}
        return cls(**AutoregressiveConfig.core_preset(name, "flow"), **extra.get(name, {}))


class NormalizingFlow(AbstractAutoregressive):
    """Conditional affine-coupling flow of daily cross-sections with a Student-t base (final)."""

    name: ClassVar[str] = "flow"
    config_type: ClassVar[type] = FlowConfig
    what: ClassVar[str] = "the normalizing flow"

    @staticmethod
    def structure_arrays(config: FlowConfig, n_assets: int) -> tuple[np.ndarray, ...]:
        return split_arrays(n_assets, config.couplings)

    @staticmethod
    def build_net(config: FlowConfig, n_assets: int, key: jax.Array) -> FlowNet:
        return FlowNet(n_assets=n_assets, n_states=2 * len(config.half_lives), hidden=config.hidden,
                       vol_index=vol_index(config.half_lives), vol_features=config.vol_features,
                       nu_init=config.nu_init, couplings=config.couplings, width=config.coupling_width,
                       bound=config.coupling_bound, rngs=nnx.Rngs(params=key))

"""The VAE's options (`VaeConfig`) and their checks; the model is in `vae`."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError
from ..types import business_days
from . import _levels as lv
from . import _vae_nn as nn
from ._base import check_sizes
from ._neural import NU_FLOOR
from ._training import TrainConfig
from ._vae_copula import CORRELATIONS

__all__ = ["VaeConfig", "LIKELIHOODS"]

LIKELIHOODS = ("student-t", "gaussian")


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
        correlation: ``"targeted"`` (default): the innovations are correlated across assets by a Gaussian
            copula whose correlation gives the sampled days the training days' correlation matrix
            (`_vae_copula`); ``"none"``: independent innovations, every co-movement from the decoder.
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
    # targeted by default: with independent innovations the worlds' mean pairwise correlation on sp500-20 was
    # 0.15-0.24 against the history's 0.22-0.29, and their portfolios too calm (`_vae_copula`)
    correlation: str = "targeted"
    nu_init: float = 6.0
    beta: float = 1.0
    val_fraction: float = 0.15
    sample_block: int = 128
    history_days: int = business_days(504)  # two years of business days; a run names it on other data
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
        if self.correlation not in CORRELATIONS:
            raise ConfigError(f"vae.correlation must be one of {', '.join(CORRELATIONS)}; got {self.correlation!r}")
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

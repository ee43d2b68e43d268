"""The `InRegime` condition: start in, and stay in, a named regime of the regime-mixture generator.

``sample(fitted, ..., condition=InRegime(regime="turbulent", stay_days=20))`` draws worlds whose days
1..20 are all in the turbulent regime; from day 21 the fitted transition matrix takes over from there. This
is the law of the plain model conditioned on the event "days 1..n are in that regime" (the chain is Markov,
so holding the path for n days and continuing from the regime is exactly that conditional law), not an
intervention on the model's parameters.

Weights. The worlds are exact draws from the conditional law, so they stay equally weighted
(`Scenarios.weights` is None). A likelihood ratio dP/dQ against the plain law would be the constant
P(event) on every world: it normalises to uniform weights anyway, and its mean is P(event), not 1, which
breaks the contract that raw weights average to 1 (`Scenarios.weights`) and would silently shrink these
worlds if they were concatenated with weighted ones. The probability of the event under the plain model
(`event_probability`) is written instead into `Provenance.condition`, where a report can show it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError

__all__ = ["InRegime", "event_probability", "held_days", "regime_index"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class InRegime:
    """Condition the regime-mixture generator's worlds on starting (and staying) in a named regime.

    Attributes:
        regime: a fitted regime label (``"calm"``, ``"normal"``, ``"turbulent"`` for 3 regimes; checked
            against the fitted labels when sampling, since the labels depend on ``n_regimes``).
        stay_days: every world starts in `regime` on day 1 and stays in it for days 1..stay_days (0 or 1:
            only day 1), then the fitted transition matrix takes over. (A stay that begins on a later day is
            not built: it would need a start day and another event probability.)
    """

    regime: str
    stay_days: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.regime, str) or not self.regime:
            raise ConfigError(f"in_regime.regime must be a regime label (a non-empty string), got {self.regime!r}")
        n = self.stay_days
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"in_regime.stay_days must be an integer >= 0, got {n!r}")

    def describe(self, probability: float | None = None) -> str:
        """Short text for `Provenance.condition`, with the event's probability under the plain model."""
        text = f"in_regime(regime={self.regime!r}, days=1..{held_days(self)}"
        return text + (")" if probability is None else f", plain-model probability={probability:.6g})")


def held_days(condition: InRegime) -> int:
    """How many first days are held in the regime (at least day 1)."""
    return max(1, condition.stay_days)


def regime_index(condition: InRegime, labels: tuple[str, ...]) -> int:
    """Index of the condition's regime in the fitted `labels`; a ConfigError listing them if unknown."""
    if condition.regime not in labels:
        raise ConfigError(f"in_regime.regime: unknown regime {condition.regime!r}; the fitted regimes are "
                          f"{', '.join(labels)}")
    return labels.index(condition.regime)


def event_probability(start: np.ndarray, trans: np.ndarray, index: int, days: int) -> float:
    """P(days 1..`days` all in regime `index`) under the plain model: ``start[k] * trans[k, k] ** (days - 1)``,
    `start` the plain day-1 distribution (the fit's ``config.start``)."""
    return float(np.asarray(start, np.float64)[index] * np.asarray(trans, np.float64)[index, index] ** (days - 1))

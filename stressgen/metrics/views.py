"""Views on the worlds for entropy pooling: typed statements about per-world quantities, as linear constraints.

A view is a frozen dataclass that names a per-world quantity (a key of the ``quantities`` mapping given to
`stressgen.metrics.pooling.entropy_pool`, e.g. ``"ew_return"``: one value per world) and states something
about its distribution under the posterior probabilities ``p[worlds]``. Every view becomes one or two
*centred* linear rows ``c[worlds]`` with ``sum_i p_i c_i (relation) 0``, beside ``sum p = 1`` and ``p >= 0``
(Meucci 2008, "Fully Flexible Views: Theory and Practice"):

* `ProbabilityView`  ``P(x event a) relation q``: ``c_i = 1{x_i event a} - q``.
* `MeanView`         ``E[x] relation m``: ``c_i = x_i - m``.
* `VolatilityView`   ``sd(x) relation s`` with the mean fixed at ``mu`` (Meucci's linearisation: a variance is
  not linear in p, but with ``E[x] = mu`` imposed as an equality, ``Var[x] = E[(x - mu)^2]`` is). Two rows:
  ``c_i = x_i - mu`` (==) and ``c_i = (x_i - mu)^2 - s^2`` (relation). ``mu`` is the view's `mean`, else the
  target of an equality `MeanView` on the same quantity, else the prior mean.
* `RankingView`      ``E[x_1] >= E[x_2] >= ...`` (or all equal): ``c_i = x_{j+1,i} - x_{j,i}`` per pair.

A relation ``"<="`` keeps ``c`` as is (``E_p[c] <= 0``), ``">="`` negates it. This module only builds rows and
checks each view on its own (`check_view`, closed-form bounds over the worlds that carry prior weight);
joint feasibility and the solve live in `pooling`. Host-side NumPy float64; nothing here is jitted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from ..errors import ConfigError

__all__ = ["Relation", "Event", "ProbabilityView", "MeanView", "VolatilityView", "RankingView", "View",
           "ViewError", "InfeasibleViewsError", "PoolingSolveError", "Row", "view_rows", "check_view"]

Relation = Literal["==", "<=", ">="]
Event = Literal["<", "<=", ">", ">="]
_RELATIONS = ("==", "<=", ">=")
_EVENTS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


class ViewError(ConfigError):
    """A view cannot be used as given (bad value, unknown quantity, cannot hold on these worlds).

    Attributes:
        views: labels of the views concerned (one, or the ones that conflict).
        reason: why, without the labels.
    """

    def __init__(self, views: tuple[str, ...] | str, reason: str):
        self.views = (views,) if isinstance(views, str) else tuple(views)
        self.reason = reason
        super().__init__(f"{' and '.join(self.views)}: {reason}")


class InfeasibleViewsError(ViewError):
    """No probability vector over the worlds satisfies the views (alone or together)."""


class PoolingSolveError(ViewError):
    """The dual solver stopped without meeting its tolerance; the message gives every view's residual."""


def _check_relation(label: str, relation: str) -> None:
    if relation not in _RELATIONS:
        raise ViewError(label, f"relation must be one of {_RELATIONS}, got {relation!r}")


def _finite(label: str, field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
        raise ViewError(label, f"{field} must be a finite number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class ProbabilityView:
    """``P(quantity event threshold) relation probability``, e.g. ``P(ew_return <= -0.3) == 0.05``.

    A probability of 0 or 1 in ``==`` (or ``<= 0`` / ``>= 1``) is exact conditioning: the worlds outside the
    allowed set get probability 0 (the dual has no finite solution there, so `entropy_pool` removes them
    from the support instead and says how many in ``Posterior.excluded_worlds``).
    """

    quantity: str
    threshold: float
    probability: float
    event: Event = "<="
    relation: Relation = "=="

    def __post_init__(self) -> None:
        _finite(self.label, "threshold", self.threshold)
        _finite(self.label, "probability", self.probability)
        if self.event not in _EVENTS:
            raise ViewError(self.label, f"event must be one of {tuple(_EVENTS)}, got {self.event!r}")
        _check_relation(self.label, self.relation)
        if not 0.0 <= self.probability <= 1.0:
            raise ViewError(self.label, f"a probability must lie in [0, 1], got {self.probability!r}")

    @property
    def label(self) -> str:
        return f"P({self.quantity} {self.event} {self.threshold:g}) {self.relation} {self.probability:g}"

    def indicator(self, x: np.ndarray) -> np.ndarray:
        return _EVENTS[self.event](x, self.threshold)


@dataclasses.dataclass(frozen=True)
class MeanView:
    """``E[quantity] relation target``."""

    quantity: str
    target: float
    relation: Relation = "=="

    def __post_init__(self) -> None:
        _finite(self.label, "target", self.target)
        _check_relation(self.label, self.relation)

    @property
    def label(self) -> str:
        return f"E[{self.quantity}] {self.relation} {self.target:g}"


@dataclasses.dataclass(frozen=True)
class VolatilityView:
    """``sd(quantity) relation std`` across worlds, with ``E[quantity]`` fixed (see the module docstring).

    `std` is in the quantity's units (for an annual return, 0.4 is 40%). `mean`: the mean held fixed; None
    takes the target of an equality `MeanView` on the same quantity if there is one, else the prior mean.
    A view on the *per-world* realised volatility ("the strategy's volatility is above 40% on average") is
    a `MeanView` or `ProbabilityView` on the ``volatility`` metric instead.
    """

    quantity: str
    std: float
    relation: Relation = "=="
    mean: float | None = None

    def __post_init__(self) -> None:
        _finite(self.label, "std", self.std)
        if self.mean is not None:
            _finite(self.label, "mean", self.mean)
        _check_relation(self.label, self.relation)
        if not self.std > 0:
            raise ViewError(self.label, f"std must be > 0, got {self.std!r}")

    @property
    def label(self) -> str:
        return f"sd({self.quantity}) {self.relation} {self.std:g}"


@dataclasses.dataclass(frozen=True)
class RankingView:
    """``E[q_1] >= E[q_2] >= ... >= E[q_k]`` (relation ``">="``) or all means equal (``"=="``)."""

    quantities: tuple[str, ...]
    relation: Literal["==", ">="] = ">="

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantities", tuple(self.quantities))
        if len(self.quantities) < 2 or len(set(self.quantities)) != len(self.quantities):
            raise ViewError(self.label, "a ranking needs at least two distinct quantities")
        if self.relation not in ("==", ">="):
            raise ViewError(self.label, f"relation must be '==' or '>=', got {self.relation!r}")

    @property
    def label(self) -> str:
        return f" {self.relation} ".join(f"E[{q}]" for q in self.quantities)


View = ProbabilityView | MeanView | VolatilityView | RankingView


@dataclasses.dataclass(frozen=True, eq=False)
class Row:
    """One linear constraint ``sum_i p_i c_i (kind) 0``; ``kind`` is ``"eq"`` or ``"le"``.

    `key` identifies the constraint (rows with equal keys are the same constraint, kept once: two volatility
    views on one quantity share their mean row). `view` is the index of the view that made it.
    """

    c: np.ndarray
    kind: Literal["eq", "le"]
    view: int
    key: tuple


def _oriented(c: np.ndarray, relation: str) -> tuple[np.ndarray, Literal["eq", "le"]]:
    if relation == "==":
        return c, "eq"
    return (c, "le") if relation == "<=" else (-c, "le")


def fixed_mean(view: VolatilityView, views, x: np.ndarray, prior: np.ndarray) -> float:
    """The mean a volatility view holds fixed: its own, an equality MeanView's, or the prior mean."""
    if view.mean is not None:
        return float(view.mean)
    for other in views:
        if isinstance(other, MeanView) and other.quantity == view.quantity and other.relation == "==":
            return float(other.target)
    return float(prior @ x)


def view_rows(views, quantities: Mapping[str, np.ndarray], prior: np.ndarray) -> list[Row]:
    """The centred rows of every view (over all worlds), duplicates (equal keys) kept once."""
    rows: list[Row] = []
    seen: set[tuple] = set()

    def add(c, relation, j, key):
        c, kind = _oriented(np.asarray(c, np.float64), relation)
        key = (kind,) + key + ((relation,) if kind == "le" else ())
        if key not in seen:
            seen.add(key)
            rows.append(Row(c, kind, j, key))

    for j, v in enumerate(views):
        if isinstance(v, ProbabilityView):
            x = quantities[v.quantity]
            add(v.indicator(x) - v.probability, v.relation, j, ("P", v.quantity, v.event, v.threshold,
                                                               v.probability))
        elif isinstance(v, MeanView):
            add(quantities[v.quantity] - v.target, v.relation, j, ("E", v.quantity, v.target))
        elif isinstance(v, VolatilityView):
            x = quantities[v.quantity]
            mu = fixed_mean(v, views, x, prior)
            add(x - mu, "==", j, ("E", v.quantity, mu))
            add((x - mu) ** 2 - v.std ** 2, v.relation, j, ("V", v.quantity, mu, v.std))
        else:
            for a, b in zip(v.quantities, v.quantities[1:]):
                # E[a] >= E[b]  <=>  E[b - a] <= 0
                add(quantities[b] - quantities[a], "<=" if v.relation == ">=" else "==", j, ("R", a, b))
    return rows


def _need(label: str, ok: bool, reason: str) -> None:
    if not ok:
        raise InfeasibleViewsError(label, reason)


def check_view(view: View, views, quantities: Mapping[str, np.ndarray], prior: np.ndarray,
               support: np.ndarray) -> None:
    """Raise `InfeasibleViewsError` if `view` alone cannot hold strictly inside the worlds with prior weight.

    Strictly: the exponential-family posterior gives every supported world a positive probability, so a
    view met only by putting zero weight on some worlds (a mean equal to the largest value) has no
    solution; it is refused here with the bound it would need. Probability 0 / 1 views are the exception
    (exact conditioning, handled by `entropy_pool` before this check).
    """
    label = view.label
    if isinstance(view, RankingView):
        xs = [quantities[q][support] for q in view.quantities]
        for (a, xa), (b, xb) in zip(zip(view.quantities, xs), zip(view.quantities[1:], xs[1:])):
            d = xa - xb
            if view.relation == "==":
                _need(label, d.min() < 0 < d.max() or (d == 0).all(),
                      f"{a} - {b} has one sign in every world ({d.min():g} to {d.max():g}): the means cannot be equal")
            else:
                _need(label, d.max() > 0 or (d == 0).all(),
                      f"{a} < {b} in every world: E[{a}] >= E[{b}] cannot hold")
        return
    x = quantities[view.quantity][support]
    lo, hi = float(x.min()), float(x.max())
    if isinstance(view, ProbabilityView):
        inside = view.indicator(x)
        n_in = int(inside.sum())
        ev = f"{view.quantity} {view.event} {view.threshold:g}"
        q, rel = view.probability, view.relation
        if rel in ("==", ">="):
            _need(label, n_in > 0 or q == 0, f"no world has {ev} (range {lo:g} to {hi:g})")
        if rel in ("==", "<="):
            _need(label, n_in < x.size or q == 1, f"every world has {ev}, so its probability is 1")
        return
    if isinstance(view, MeanView):
        m, rel = view.target, view.relation
        if lo == hi == m:
            return  # a constant quantity equal to the target: the view holds for any probabilities
        if rel in ("==", ">="):
            _need(label, m < hi, f"the largest {view.quantity} over the worlds is {hi:g}: a mean of {m:g} "
                                 f"needs weight beyond it")
        if rel in ("==", "<="):
            _need(label, m > lo, f"the smallest {view.quantity} over the worlds is {lo:g}: a mean of {m:g} "
                                 f"needs weight below it")
        return
    mu = fixed_mean(view, views, quantities[view.quantity], prior)
    _need(label, lo < mu < hi, f"the mean it holds fixed, {mu:g}, is not strictly inside the worlds' range "
                               f"{lo:g} to {hi:g}")
    s2 = view.std ** 2
    # Largest variance with mean mu: all weight on the two extremes; smallest: on the nearest values around mu.
    top = (hi - mu) * (mu - lo)
    below, above = x[x <= mu], x[x >= mu]
    bottom = (mu - below.max()) * (above.min() - mu)
    if view.relation in ("==", ">="):
        _need(label, s2 < top, f"with the mean fixed at {mu:g}, the largest possible sd over these worlds is "
                               f"{math.sqrt(top):g} (all weight on the extremes {lo:g} and {hi:g})")
    if view.relation in ("==", "<="):
        _need(label, s2 > bottom, f"with the mean fixed at {mu:g}, the smallest possible sd over these worlds "
                                  f"is {math.sqrt(bottom):g}")

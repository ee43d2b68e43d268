"""The per-world risk metrics as a reducer of the engine's time loop (`RunningRisk`), so no ``[worlds, time]``
series is kept.

The definitions are those of `stressgen.metrics.risk` (docs/conventions.md), which computes them from whole
series; tests check that both agree. Why a second, running form: on XLA-CPU the array form's sort (for VaR)
and cumulative products (for drawdowns) cost about 20x the whole backtest, while the running form adds a few
vector operations a day. The engine runs it through its `Reducer` interface; `stressgen.backtest` and
`stressgen.world_metrics` pass it in.

* mean and variance by Welford's update (float32 sums of squares lose digits on long horizons);
* drawdown depth and duration from the running peak, which starts at the initial equity 1.0;
* VaR/ES from the k lowest daily returns, k = ceil((1 - level) T) for the lowest level, kept sorted in a
  ``[k, worlds]`` buffer (worlds minor, so each insertion step is a contiguous vector operation). ES
  counts every return equal to the quantile (ties), as the array form does: returns below the k-th lowest
  are all in the buffer, and ``n_le`` counts the returns at or below it, inside the buffer or not.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import BacktestConfig, Day, Reducer
from ..numerics import rounded
from .risk import RiskConfig, level_name, rf_per_period, tail_count

__all__ = ["RunningRisk", "RiskState", "Tail", "risk_reducer", "tail_size", "tail_update"]


class RiskState(NamedTuple):
    """Scalars per world (the engine vmaps them to ``[params, worlds]``)."""

    equity: jax.Array     # equity at the last close seen (total return)
    peak: jax.Array       # running peak of equity, from the initial 1.0
    mdd: jax.Array        # deepest drawdown so far
    turn: jax.Array       # sum of daily turnover
    cost: jax.Array       # sum of daily costs
    mean: jax.Array       # Welford mean of daily pnl
    m2: jax.Array         # Welford sum of squared deviations
    down2: jax.Array      # sum of min(pnl - rf_p, 0)^2 (Sortino)
    under: jax.Array      # current run of days below the peak
    longest: jax.Array    # longest such run (max drawdown duration)
    worst: jax.Array      # lowest daily pnl
    n_pos: jax.Array      # days with pnl > 0
    n_nonzero: jax.Array  # days with pnl != 0


class Tail(NamedTuple):
    buf: jax.Array   # [..., k, worlds] the k lowest returns so far, ascending (+inf until k are seen)
    n_le: jax.Array  # [..., worlds] returns seen that are <= buf[k - 1] (inside the buffer or not)


def tail_size(levels: tuple[float, ...], horizon: int) -> int:
    """Buffer length: enough for the lowest confidence level (0 when no VaR level is asked)."""
    return max((tail_count(v, horizon) for v in levels), default=0)


def tail_update(st: Tail, pnl: jax.Array) -> Tail:
    """Insert ``pnl[..., worlds]`` into every world's sorted buffer, dropping its largest entry.

    The j-th smallest of the buffer and v is ``min(b_j, max(b_{j-1}, v))``: one elementwise pass, no
    search for the insertion point. `n_le` grows by one when ``v <= top``; when the top falls, every value
    at or below the new top is in the buffer, so it is k.
    """
    buf, k = st.buf, st.buf.shape[-2]
    v = pnl[..., None, :]
    below = jnp.concatenate([jnp.full_like(buf[..., :1, :], -jnp.inf), buf[..., :-1, :]], axis=-2)
    new = jnp.minimum(buf, jnp.maximum(below, v))
    old_top, new_top = buf[..., k - 1, :], new[..., k - 1, :]
    n_le = jnp.where(new_top < old_top, k, st.n_le + (pnl <= old_top))
    return Tail(new, n_le.astype(jnp.int32))


def _var_es(buf: np.ndarray, n_le: np.ndarray, level: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES from the float32 tail ``buf[k, ..., worlds]``, ascending along k (k leading: each reduction
    adds whole rows of worlds, which NumPy does many times faster than reducing a short trailing axis)."""
    k, c = buf.shape[0], tail_count(level, horizon)
    q, top = buf[c - 1], buf[k - 1]
    head = buf[:c - 1]  # sorted: only rows before the quantile's can lie below it
    below = head < q
    # returns equal to q: all inside the buffer unless q is the top; then all seen at or below the top
    # less those strictly below it (which are all in the buffer). Counts in int32: NumPy sums booleans
    # in int64 by default, at twice the cost.
    count = lambda m: np.sum(m, axis=0, dtype=np.int32)  # noqa: E731
    n_eq = np.where(q < top, count(buf == q), n_le - count(buf < top))
    # float64 sum, row by row in order (the rows past the quantile's would only add zeros)
    total = np.sum(np.where(below, head, 0.0), axis=0, dtype=np.float64) + q.astype(np.float64) * n_eq
    return -q.astype(np.float64), -total / (count(below) + n_eq)


# The final state travels to the host as one float32 array ``[..., fields, worlds]``: one transfer instead
# of one per field (each costs a gather from every device). Fields lead the worlds so that each is a
# contiguous row on the host (no transpose there) and the tail buffer joins as it is. Integer fields are
# bitcast, not converted, so they come back exact; the VaR tail buffer fills the last k rows.
_FLOATS = ("equity", "mdd", "turn", "cost", "mean", "m2", "down2", "worst")
_INTS = ("longest", "n_pos", "n_nonzero", "n_le")


@dataclasses.dataclass(frozen=True)
class RunningRisk(Reducer[RiskState, Tail | None]):
    """The keys of `stressgen.metrics.per_world_metrics`, computed inside the engine's time loop.

    Only the VaR levels shape the program (they size the tail buffer); the risk-free rate reaches the loop
    as a traced input and ``periods_per_year`` is used on the host only, so neither enters the reducer's
    identity (a new rate reuses the compiled program).
    """

    config: RiskConfig = dataclasses.field(default=RiskConfig(), compare=False)
    var_levels: tuple[float, ...] = dataclasses.field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "var_levels", self.config.var_levels)

    def inputs(self) -> np.ndarray:
        # the per-period rate in float64, then float32: the rate the Sortino downside is measured against
        return np.asarray([rf_per_period(self.config.rf, self.config.periods_per_year)], np.float32)

    def init(self) -> RiskState:
        z, zi = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return RiskState(z + 1.0, z + 1.0, z, z, z, z, z, z, zi, zi, z + jnp.inf, zi, zi)

    def update(self, state: RiskState, day: Day, inputs: jax.Array, fence: jax.Array) -> RiskState:
        """Day ``day.t`` (1-based); products are kept out of FMAs, see `stressgen.numerics.rounded`."""
        st, pnl, equity = state, day.pnl, day.equity
        peak = jnp.maximum(st.peak, equity)
        mdd = jnp.maximum(st.mdd, 1.0 - equity / peak)
        d = pnl - st.mean
        # times 1/n (one scalar for all worlds) rather than / n: a vectorised division may round differently
        # from a scalar one, and the result must not depend on how many worlds share the loop
        mean = st.mean + rounded(d * (1.0 / day.t.astype(jnp.float32)), fence)
        under = jnp.where(equity < peak, st.under + 1, 0)
        return RiskState(equity, peak, mdd, st.turn + day.turnover, st.cost + day.cost, mean,
                         st.m2 + rounded(d * (pnl - mean), fence),
                         st.down2 + rounded(jnp.minimum(pnl - inputs[0], 0.0) ** 2, fence), under,
                         jnp.maximum(st.longest, under), jnp.minimum(st.worst, pnl),
                         st.n_pos + (pnl > 0), st.n_nonzero + (pnl != 0))

    def batch_init(self, lead: tuple[int, ...], n_worlds: int, horizon: int) -> Tail | None:
        k = tail_size(self.var_levels, horizon)
        if not k:
            return None
        return Tail(jnp.full(lead + (k, n_worlds), jnp.inf, jnp.float32), jnp.zeros(lead + (n_worlds,), jnp.int32))

    def batch_update(self, batch: Tail | None, day: Day) -> Tail | None:
        # the VaR buffer is updated outside the per-world vmap, in a [params, k, worlds] layout (module doc)
        return None if batch is None else tail_update(batch, day.pnl)

    def pack(self, state: RiskState, batch: Tail | None) -> jax.Array:
        st = state
        n_le = batch.n_le if batch is not None else jnp.zeros_like(st.n_pos)
        ints = (st.longest, st.n_pos, st.n_nonzero, n_le)
        rows = [st.equity, st.mdd, st.turn, st.cost, st.mean, st.m2, st.down2, st.worst]
        rows += [jax.lax.bitcast_convert_type(x, jnp.float32) for x in ints]  # all int32
        packed = jnp.stack(rows, axis=-2)
        if batch is not None:
            packed = jnp.concatenate([packed, batch.buf], axis=-2)
        return packed

    def finalize(self, packed: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """The metrics from `pack`'s host array.

        Done in NumPy float64 on the host: these few operations per world are cheap, and elementwise NumPy
        rounds the same whatever the number of worlds (XLA's vectorised sqrt and division need not match its
        scalar ones), so a world's metrics do not depend on the chunk it ran in.
        """
        risk = self.config
        cols = np.moveaxis(np.asarray(packed, np.float32), -2, 0)  # [fields + k, ..., worlds], a view
        n_f, n_i = len(_FLOATS), len(_INTS)
        f = dict(zip(_FLOATS, cols[:n_f].astype(np.float64)))
        f.update(zip(_INTS, cols[n_f:n_f + n_i].view(np.int32)))
        tail = cols[n_f + n_i:]  # [k, ..., worlds] float32, ascending
        ppy, n = risk.periods_per_year, float(horizon)
        rf_p = rf_per_period(risk.rf, ppy)
        std = np.sqrt(f["m2"] / max(n - 1.0, 1.0))
        total = f["equity"] - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):  # IEEE results (inf, NaN) are the documented ones
            cagr = (1.0 + total) ** (ppy / n) - 1.0
            excess = f["mean"] - rf_p
            out = {
                "total_return": total,
                "cagr": cagr,
                "volatility": std * math.sqrt(ppy),
                "sharpe": excess / std * math.sqrt(ppy),
                "sortino": excess / np.sqrt(f["down2"] / n) * math.sqrt(ppy),
                "calmar": cagr / f["mdd"],
                "max_drawdown": f["mdd"],
                "max_drawdown_duration": f["longest"],
            }
            for level in risk.var_levels:
                var, es = _var_es(tail, f["n_le"], level, horizon)
                out[f"var_{level_name(level)}"] = var
                out[f"es_{level_name(level)}"] = es
            out["worst_day"] = f["worst"]
            out["hit_rate"] = f["n_pos"] / f["n_nonzero"]
        out["turnover"] = f["turn"] / n
        out["turnover_annual"] = out["turnover"] * ppy
        out["cost_drag"] = f["cost"] * (ppy / n)
        # float32 like every other engine output; int32 for the duration
        return {k: v if k == "max_drawdown_duration" else v.astype(np.float32) for k, v in out.items()}


def risk_reducer(config: BacktestConfig = BacktestConfig(), risk: RiskConfig | None = None) -> RunningRisk:
    """The risk reducer of a backtest: `risk` when given, else the backtest's periods per year and rf with
    VaR/ES at 95% and 99%."""
    return RunningRisk(risk if risk is not None else
                       RiskConfig(periods_per_year=config.periods_per_year, rf=config.rf))

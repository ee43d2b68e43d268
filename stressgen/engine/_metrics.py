"""Per-world risk metrics as running state of the engine's time loop, so no ``[worlds, time]`` series is kept.

The definitions are those of `stressgen.risk` (docs/conventions.md), which computes them from
whole series; tests check that both agree. Why a second, running form: on XLA-CPU the array form's sort
(for VaR) and cumulative products (for drawdowns) cost about 20x the whole backtest, while the running
form adds a few vector operations a day.

* mean and variance by Welford's update (float32 sums of squares lose digits on long horizons);
* drawdown depth and duration from the running peak, which starts at the initial equity 1.0;
* VaR/ES from the k lowest daily returns, k = ceil((1 - level) T) for the lowest level, kept sorted in a
  ``[k, worlds]`` buffer (worlds minor, so each insertion step is a contiguous vector operation). ES
  counts every return equal to the quantile (ties), as the array form does: returns below the k-th lowest
  are all in the buffer, and ``n_le`` counts the returns at or below it, inside the buffer or not.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..numerics import rounded
from ..risk import RiskConfig, level_name, rf_per_period, tail_count

__all__ = ["Running", "running_init", "running_update", "Tail", "tail_size", "tail_init", "tail_update",
           "final_state", "finalize"]


class Running(NamedTuple):
    """Scalars per world (the engine vmaps them to ``[params, worlds]``)."""

    mean: jax.Array       # Welford mean of daily pnl
    m2: jax.Array         # Welford sum of squared deviations
    down2: jax.Array      # sum of min(pnl - rf_p, 0)^2 (Sortino)
    under: jax.Array      # current run of days below the peak
    longest: jax.Array    # longest such run (max drawdown duration)
    worst: jax.Array      # lowest daily pnl
    n_pos: jax.Array      # days with pnl > 0
    n_nonzero: jax.Array  # days with pnl != 0


def running_init(shape: tuple[int, ...] = ()) -> Running:
    z = jnp.zeros(shape, jnp.float32)
    zi = jnp.zeros(shape, jnp.int32)
    return Running(z, z, z, zi, zi, z + jnp.inf, zi, zi)


def running_update(st: Running, pnl: jax.Array, below_peak: jax.Array, n: jax.Array, rf_p, fence) -> Running:
    """Day `n` (1-based) with return `pnl`; `below_peak` says whether equity ended the day under its peak.
    `fence` (a runtime uint32 zero) keeps products out of FMAs, see `stressgen.numerics.rounded`."""
    d = pnl - st.mean
    # times 1/n (one scalar for all worlds) rather than / n: a vectorised division may round differently
    # from a scalar one, and the result must not depend on how many worlds share the loop
    mean = st.mean + rounded(d * (1.0 / n), fence)
    under = jnp.where(below_peak, st.under + 1, 0)
    return Running(mean, st.m2 + rounded(d * (pnl - mean), fence),
                   st.down2 + rounded(jnp.minimum(pnl - rf_p, 0.0) ** 2, fence), under,
                   jnp.maximum(st.longest, under), jnp.minimum(st.worst, pnl),
                   st.n_pos + (pnl > 0), st.n_nonzero + (pnl != 0))


class Tail(NamedTuple):
    buf: jax.Array   # [..., k, worlds] the k lowest returns so far, ascending (+inf until k are seen)
    n_le: jax.Array  # [..., worlds] returns seen that are <= buf[k - 1] (inside the buffer or not)


def tail_size(levels: tuple[float, ...], horizon: int) -> int:
    """Buffer length: enough for the lowest confidence level (0 when no VaR level is asked)."""
    return max((tail_count(v, horizon) for v in levels), default=0)


def tail_init(lead: tuple[int, ...], k: int, n_worlds: int) -> Tail:
    return Tail(jnp.full(lead + (k, n_worlds), jnp.inf, jnp.float32), jnp.zeros(lead + (n_worlds,), jnp.int32))


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


# The loop's final state travels to the host as one float32 array ``[..., fields, worlds]``: one transfer
# instead of one per field (each costs a gather from every device). Fields lead the worlds so that each is
# a contiguous row on the host (no transpose there) and the tail buffer joins as it is. Integer fields are
# bitcast, not converted, so they come back exact; the VaR tail buffer fills the last k rows.
_FLOATS = ("equity", "mdd", "turn", "cost", "mean", "m2", "down2", "worst")
_INTS = ("longest", "n_pos", "n_nonzero", "n_le")


def final_state(equity, mdd, turn, cost, run: Running, tail: Tail | None) -> jax.Array:
    """What `finalize` needs, packed into one float32 array ``[..., fields + k, worlds]`` (the jitted
    program's metric output; the engine splits it over devices along its last axis)."""
    n_le = tail.n_le if tail is not None else jnp.zeros_like(run.n_pos)
    ints = (run.longest, run.n_pos, run.n_nonzero, n_le)
    rows = [equity, mdd, turn, cost, run.mean, run.m2, run.down2, run.worst]
    rows += [jax.lax.bitcast_convert_type(x, jnp.float32) for x in ints]  # all int32
    packed = jnp.stack(rows, axis=-2)
    if tail is not None:
        packed = jnp.concatenate([packed, tail.buf], axis=-2)
    return packed


def finalize(packed: np.ndarray, horizon: int, risk: RiskConfig) -> dict[str, np.ndarray]:
    """The keys of `stressgen.metrics.per_world_metrics` from the loop's final state (`final_state`'s host
    array).

    Done in NumPy float64 on the host: these few operations per world are cheap, and elementwise NumPy
    rounds the same whatever the number of worlds (XLA's vectorised sqrt and division need not match its
    scalar ones), so a world's metrics do not depend on the chunk it ran in.
    """
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

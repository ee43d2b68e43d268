"""The fused time-major backtest kernel: one `lax.scan` over days, state ``[params, worlds, ...]``.

Why this shape: on XLA-CPU the cumulative ops of an idiomatic ``vmap``-over-worlds backtest (cumsum,
cumprod) run at 0.5-1e8 elements/s, while a loop over days whose carry is a few ``[worlds]`` vectors fuses
every step into one pass and ran ~100x vectorbt (a fused-loop prototype, measured). So the strategy step, the
execution queue, costs, drift and the running summaries (a `Reducer` the caller passes in) all live in one
loop body; nothing of size ``[worlds, time]`` is built unless the caller asks for daily series.

Accounting for one world (vectorbt ``from_orders`` target-percent conventions, ``update_value=False``):
at close t the portfolio is worth ``E`` and holds drifted weights ``h``. The executed target ``w`` (the
decision of close ``t - lag``, or ``h`` when its trade flag is False) is a fraction of that pre-trade ``E``;
``cost = c * sum|w - h|`` is paid from cash, so cash is ``1 - sum(w) - cost``. Over day t+1 with simple
returns ``R = expm1(r)``: ``E' = E * (w . (1 + R) + cash * (1 + rf))`` and ``h' = w * (1 + R) * E / E'``.
``pnl[t] = E'/E - 1`` includes the cost of the trade at close t. Decisions at the last close are not traded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..errors import StrategyError
from ..numerics import rounded
from ..strategy import Obs, Rebalance, Tape, strategy_name
from ..indicators import cumsum_array
from ._plugin_errors import check_output, step_result
from ._reducer import Day, Reducer

__all__ = ["STEP", "VECTOR", "PROBE_WORLDS", "as_target", "vector_decisions", "simulate", "history_tape",
           "warm_step"]

STEP, VECTOR = "step", "vector"
PROBE_WORLDS = 2  # worlds whose raw decisions every run returns for validation


class _Carry(NamedTuple):
    strat: Any        # the step strategy's state (() for the vectorized tier)
    qw: jax.Array     # [lag + 1, assets] decisions waiting to execute, oldest first
    qt: jax.Array     # [lag + 1] their trade flags
    h: jax.Array      # [assets] drifted weights at the current close, before trading
    equity: jax.Array
    peak: jax.Array   # highest equity so far (the strategy's drawdown, `Obs.drawdown`)
    red: Any          # the reducer's per-world state (() without a reducer)


def as_target(out: Any, n_assets: int, name: str, lead: tuple[int, ...] = ()) -> tuple[jax.Array, jax.Array]:
    """Normalise a strategy's output to ``(weights[*lead, assets] float32, trade[*lead] bool)``.

    Shapes are static, so a wrong shape is reported while tracing, naming the strategy.
    """
    check_output(out, n_assets, name, lead)
    if isinstance(out, Rebalance):
        w, trade = out.weights, out.trade
    else:
        w, trade = out, True
    w = jnp.asarray(w)
    if w.shape != lead + (n_assets,):
        raise StrategyError(name, f"returned weights of shape {w.shape}, expected {lead + (n_assets,)}")
    trade = jnp.asarray(trade)
    if trade.shape not in ((), lead):
        raise StrategyError(name, f"returned a trade flag of shape {trade.shape}, expected () or {lead}")
    return w.astype(jnp.float32), jnp.broadcast_to(trade.astype(bool), lead)


def _constrain(w: jax.Array, long_only: bool, max_gross: jax.Array) -> jax.Array:
    if long_only:
        w = jnp.maximum(w, 0.0)
    gross = jnp.sum(jnp.abs(w))
    return w * jnp.minimum(1.0, max_gross / jnp.maximum(gross, 1e-30))


def _push(qw: jax.Array, qt: jax.Array, w: jax.Array, trade: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.concatenate([qw[1:], w[None]]), jnp.concatenate([qt[1:], trade[None]])


def history_tape(history: jax.Array | np.ndarray) -> tuple[jax.Array, jax.Array]:
    """``(log returns, log prices)`` of the shared history, ``[max(H, 1), assets]``: with no history one zero
    row stands in, so lagged reads stay in bounds (`Obs.seen` says nothing real is there)."""
    hist = history.astype(jnp.float32)
    if hist.shape[0] == 0:
        hist = jnp.zeros((1, hist.shape[1]), jnp.float32)
    # a sequential scan: the same float additions as a vectorized strategy's cumsum_array(x), so a step and
    # a vectorized version of one strategy see the same log prices
    return hist, cumsum_array(hist)


def warm_step(strategy: Any, history: jax.Array | np.ndarray, lag: int, n_assets: int, name: str,
              calendar: jax.Array | None = None, *, periods_per_year: int) -> tuple[Any, jax.Array, jax.Array]:
    """Run a step strategy over the real history (one world: it is the same for every world).

    Returns ``(state, queued decisions [lag + 1, assets], their trade flags [lag + 1])``.
    """
    state = strategy.init(n_assets)
    qw = jnp.zeros((lag + 1, n_assets), jnp.float32)
    qt = jnp.zeros((lag + 1,), bool)
    zeros = jnp.zeros((n_assets,), jnp.float32)
    n_hist = history.shape[0]
    if n_hist == 0:
        return state, qw, qt
    hist_r, hist_lp = history_tape(history)
    tape = Tape(hist_r, hist_lp, zeros[None], zeros[None])  # synthetic rows are never read here
    one, zero = jnp.float32(1.0), jnp.float32(0.0)  # no P&L counts on history: equity stays at 1

    def body(c: tuple[Any, jax.Array, jax.Array],
             x: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[tuple[Any, jax.Array, jax.Array], None]:
        st, qw, qt = c
        r, lp, t = x
        obs = Obs(r, jnp.expm1(r), lp, zeros, t, t + n_hist, one, zero, one, tape, calendar, periods_per_year)
        st, out = step_result(strategy.step(st, obs), name)
        w, trade = as_target(out, n_assets, name)
        qw, qt = _push(qw, qt, w, trade)
        return (st, qw, qt), None

    ts = jnp.arange(-(n_hist - 1), 1, dtype=jnp.int32)
    (state, qw, qt), _ = lax.scan(body, (state, qw, qt), (hist_r, hist_lp, ts))
    return state, qw, qt


def vector_decisions(strategy: Any, history: jax.Array | np.ndarray, returns: jax.Array,
                     name: str) -> tuple[jax.Array, jax.Array]:
    """``[hist + time, worlds, assets]`` weights and ``[hist + time, worlds]`` trade flags of a vectorized
    strategy for one param set, time-major.

    The worlds are vmapped on the time-major array (axis 1), so a helper that reads row t of its input
    inside a scan reads one contiguous ``[worlds, ...]`` row rather than a strided column, and the day loop
    reads the decisions of day t the same way (time-major out: no transpose of the whole array).
    """
    n_hist, n_assets = history.shape
    full = jnp.concatenate([jnp.broadcast_to(history.astype(jnp.float32)[:, None],
                                             (n_hist,) + returns.shape[::2]),
                            jnp.moveaxis(returns.astype(jnp.float32), 1, 0)], axis=0)  # [hist + time, worlds, assets]

    def one(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return as_target(strategy.weights(x), n_assets, name, lead=(x.shape[0],))

    return jax.vmap(one, in_axes=1, out_axes=1)(full)


def _day(strategy: Any, tier: str, carry: _Carry, r: jax.Array, lp: jax.Array, t: jax.Array, extra: Any,
         tape: Tape, num: jax.Array, long_only: bool, name: str, trace: bool, n_hist: int,
         reducer: Reducer | None, rates: jax.Array | None = None,
         calendar: jax.Array | None = None, *, periods_per_year: int) -> tuple[_Carry, dict[str, jax.Array]]:
    """One world, one parameter set, one day: execute at close t-1, earn day t, decide at close t.

    `rates` are per-asset cost rates ``[assets]`` (None: the one rate ``num[0]`` for every asset)."""
    cost_rate, rf, max_gross = num[0], num[1], num[2]
    fence = lax.bitcast_convert_type(num[3], jnp.uint32)  # a runtime zero: see stressgen.numerics.rounded
    n_assets = r.shape[0]
    target = _constrain(carry.qw[0], long_only, max_gross)
    w = jnp.where(carry.qt[0], target, carry.h)
    turnover = jnp.sum(jnp.abs(w - carry.h))
    # Products that feed an add are rounded first: XLA-CPU contracts a*b+c into an FMA for some world
    # counts and not others, and world i must not change in its last bit with the chunk size.
    if rates is None:
        cost = rounded(cost_rate * turnover, fence)
    else:  # each product rounded before the sum, for the same reason
        cost = jnp.sum(rounded(rates * jnp.abs(w - carry.h), fence))
    R = jnp.expm1(r)
    grown = w * (1.0 + R)
    gross = jnp.sum(grown) + rounded((1.0 - jnp.sum(w) - cost) * (1.0 + rf), fence)
    alive = gross > 0  # a wiped-out world stays at zero instead of dividing by zero
    equity = jnp.where(alive, carry.equity * gross, 0.0)
    h = jnp.where(alive, grown / jnp.where(alive, gross, 1.0), 0.0)
    pnl = jnp.where(carry.equity > 0, gross - 1.0, 0.0)
    peak = jnp.maximum(carry.peak, equity)
    if tier == STEP:
        obs = Obs(r, R, lp, h, t, t + n_hist, equity, pnl, peak, tape, calendar, periods_per_year)
        strat, out = step_result(strategy.step(carry.strat, obs), name)
        new_w, new_trade = as_target(out, n_assets, name)
    else:
        strat, (new_w, new_trade) = carry.strat, extra
    qw, qt = _push(carry.qw, carry.qt, new_w, new_trade)
    # the reducer's runtime inputs follow the engine's four numbers (see _run._prepare)
    red = carry.red if reducer is None else \
        reducer.update(carry.red, Day(t, pnl, equity, turnover, cost), num[4:], fence)
    new = _Carry(strat, qw, qt, h, equity, peak, red)
    out = {"pnl": pnl, "equity": equity, "turnover": turnover, "costs": cost, "decision": new_w,
           "decision_trade": new_trade}
    if trace:
        out.update(executed=w, trade=carry.qt[0])
    return new, out


def simulate(tier: str, strategy: Any, returns: jax.Array, history: jax.Array, num: jax.Array, *, lag: int,
             long_only: bool, mode: str, reducer: Reducer | None, rates: jax.Array | None = None,
             calendar: jax.Array | None = None, periods_per_year: int
             ) -> tuple[jax.Array | None, dict[str, jax.Array]]:
    """The whole backtest for ``[params]`` strategies x ``[worlds]`` worlds (call inside `jax.jit`).

    Args:
        tier: STEP or VECTOR.
        strategy: strategy whose leaves all have a leading ``[params]`` axis.
        returns: ``[worlds, time, assets]`` synthetic log returns.
        history: ``[hist, assets]`` warm-up log returns (shared by all worlds).
        num: ``[4 + n]`` float32 ``(cost_rate, rf_per_period, max_gross, 0.0, *reducer.inputs())``; the
            zero is the FMA fence.
        mode: "metrics" (the reducer's state only), "full" (+ daily series) or "trace" (+ weights).
        reducer: the per-world reduction run inside the loop (static), or None.
        rates: ``[assets]`` per-asset cost rates, or None (``num[0]`` for every asset).
        calendar: ``[max(hist, 1) + time, 6]`` int32 calendar rows (see `calendar_table`), or None when the
            scenarios carry no dates (`Obs.calendar` then refuses).
        periods_per_year: the data's closes in a year, which `Obs` carries (static: part of the program).
    Returns:
        ``(packed, daily)``; arrays lead with ``[params, worlds]``; `packed` is the reducer's final state
        (`Reducer.pack`, ``[params, rows, worlds]``; None without a reducer) that `Reducer.finalize` turns
        into per-world numbers on the host. Every mode also returns the raw decisions of the first
        `PROBE_WORLDS` worlds (``decision0``: close 0, ``decision``: closes 1..), which the caller validates:
        a slice of values the loop computes anyway, so the probe costs no second compilation and almost no
        time.
    """
    name = strategy_name(strategy)
    n_worlds, horizon, n_assets = returns.shape
    n_hist = history.shape[0]
    trace = mode == "trace"
    n_probe = min(PROBE_WORLDS, n_worlds)
    hist_r, hist_lp = history_tape(history)
    # Time-major tape [time, worlds, assets]: the loop reads day t as one contiguous row, and strategies
    # read lagged rows from it without copying.
    syn_r = jnp.moveaxis(returns.astype(jnp.float32), 1, 0)
    syn_lp = cumsum_array(syn_r, hist_lp[-1])
    tape = Tape(hist_r, hist_lp, syn_r, syn_lp)

    def init_params(s: Any, shared: Any) -> tuple[_Carry, Any]:
        """Carry for one parameter set, broadcast over worlds; plus the horizon's decision inputs."""
        bcast = lambda x: jnp.broadcast_to(x, (n_worlds,) + jnp.shape(x))  # noqa: E731
        if tier == STEP:
            st, qw, qt = warm_step(s, history, lag, n_assets, name, calendar, periods_per_year=periods_per_year)
            extra = None
            st = jax.tree_util.tree_map(bcast, st) if shared is None else \
                jax.tree_util.tree_map(lambda x, m: x if m else bcast(x), st, shared)
            qw, qt = bcast(qw), bcast(qt)
        else:
            dw, dt = vector_decisions(s, history, returns, name)  # [rows, worlds, ...]
            st = ()
            # queue: decisions of closes -lag .. 0 (rows n_hist-1-lag .. n_hist-1); before history: cash
            pad = max(0, lag + 1 - n_hist)
            qw = jnp.pad(jnp.moveaxis(dw[max(0, n_hist - 1 - lag):n_hist], 0, 1), ((0, 0), (pad, 0), (0, 0)))
            qt = jnp.pad(jnp.moveaxis(dt[max(0, n_hist - 1 - lag):n_hist], 0, 1), ((0, 0), (pad, 0)))
            # decision at close i+1 is row n_hist + i; already time-major, as the day loop reads it
            extra = (dw[n_hist:n_hist + horizon], dt[n_hist:n_hist + horizon])
        zw = jnp.zeros((n_worlds,), jnp.float32)
        red = () if reducer is None else jax.tree_util.tree_map(bcast, reducer.init())
        carry = _Carry(st, qw, qt, jnp.zeros((n_worlds, n_assets), jnp.float32), zw + 1.0, zw + 1.0, red)
        return carry, extra

    leaves = jax.tree_util.tree_leaves(strategy)
    n_params = leaves[0].shape[0] if leaves else 1  # a strategy without leaves still runs as one set
    common = (tape, horizon, n_probe, tier, num, long_only, name, trace, mode, n_hist, reducer, rates, calendar,
              periods_per_year)
    try:
        return _loop(init_params, strategy, n_params, shared_mask(tier, strategy, n_assets), *common)
    except _NotShared:
        return _loop(init_params, strategy, n_params, None, *common)


class _NotShared(Exception):
    pass


def shared_mask(tier: str, strategy: Any, n_assets: int) -> Any:
    """Which leaves of the step state are integer scalars, presumed equal in every world and parameter set.

    Why: ring buffers index their slot by a step counter. If that counter is carried per world, the slot
    index is batched and XLA turns every ring write into a scatter and every read into a gather (5x slower).
    Carried once (vmap in_axes/out_axes None), the write stays an in-place dynamic_update_slice. A strategy
    whose integer scalar does differ between worlds makes vmap refuse out_axes=None; the engine then
    retraces with everything per world. Returns a pytree of bools like the state (None for VECTOR).
    """
    if tier != STEP:
        return None
    one = jax.tree_util.tree_map(lambda x: x[0], strategy)
    shapes = jax.eval_shape(lambda s: s.init(n_assets), one)
    return jax.tree_util.tree_map(lambda a: bool(a.ndim == 0 and jnp.issubdtype(a.dtype, jnp.integer)), shapes)


def _loop(init_params: Callable[[Any, Any], tuple[_Carry, Any]], strategy: Any, n_params: int, mask: Any,
          tape: Tape, horizon: int, n_probe: int, tier: str, num: jax.Array, long_only: bool, name: str,
          trace: bool, mode: str, n_hist: int, reducer: Reducer | None, rates: jax.Array | None,
          calendar: jax.Array | None, periods_per_year: int) -> tuple[jax.Array | None, dict[str, jax.Array]]:
    # the horizon's decisions come out [time, params, worlds, ...], as the day loop reads them
    if n_params == 1:  # one set: its fields stay scalars (a window is one shift of every world, see lag_array)
        carry, extra = init_params(jax.tree_util.tree_map(lambda x: x[0], strategy), mask)
        carry, extra = jax.tree_util.tree_map(lambda x: x[None], carry), \
            jax.tree_util.tree_map(lambda x: x[:, None], extra)
    else:
        carry, extra = jax.vmap(lambda s: init_params(s, mask), axis_size=n_params, out_axes=(0, 1))(strategy)
    # the decision of close 0, taken on the last history day
    first = {"decision0": carry.qw[:, :n_probe, -1], "decision_trade0": carry.qt[:, :n_probe, -1]}

    if mask is not None:  # shared leaves: identical across parameter sets too, keep one copy
        carry = carry._replace(strat=jax.tree_util.tree_map(lambda x, m: x[0] if m else x, carry.strat, mask))
        axes = carry._replace(strat=jax.tree_util.tree_map(lambda m: None if m else 0, mask),
                              **{f: 0 for f in _Carry._fields if f != "strat"})
    else:
        axes = 0
    tape_axes = Tape(None, None, 1, 1)  # per world: the synthetic rows of its own column

    def world_day(s: Any, c: _Carry, r: jax.Array, lp: jax.Array, t: jax.Array, e: Any,
                  tp: Tape) -> tuple[_Carry, dict[str, jax.Array]]:
        return _day(s, tier, c, r, lp, t, e, tp, num, long_only, name, trace, n_hist, reducer, rates, calendar,
                    periods_per_year=periods_per_year)

    try:
        per_world = jax.vmap(world_day, in_axes=(None, axes, 0, 0, None, 0, tape_axes), out_axes=(axes, 0))
        # one set runs unbatched: its fields are constants of the loop body, so a strategy's `lax.cond` on them
        # (for example on its rebalancing day) stays a branch instead of becoming a select of both sides
        s_axis = None if n_params == 1 else 0
        run_strategy = jax.tree_util.tree_map(lambda x: x[0], strategy) if n_params == 1 else strategy
        per_param = jax.vmap(per_world, in_axes=(s_axis, axes, None, None, None, 0, None), out_axes=(axes, 0))
        jax.eval_shape(per_param, run_strategy, carry, tape.syn_r[0], tape.syn_lp[0], jnp.int32(1),
                       None if extra is None else jax.tree_util.tree_map(lambda x: x[0], extra), tape)
    except ValueError as exc:
        if mask is None:
            raise
        raise _NotShared() from exc

    n_worlds = tape.syn_r.shape[1]

    def body(state: tuple[_Carry, Any], x: tuple[jax.Array, jax.Array, jax.Array, Any]
             ) -> tuple[tuple[_Carry, Any], dict[str, jax.Array]]:
        c, batch = state
        r, lp, t, e = x
        c, out = per_param(run_strategy, c, r, lp, t, e, tape)
        if reducer is not None:  # outside the per-world vmap: [params, worlds] arrays (see Reducer)
            batch = reducer.batch_update(batch, Day(t, out["pnl"], out["equity"], out["turnover"], out["costs"]))
        probe = {key: out.pop(key)[:, :n_probe] for key in ("decision", "decision_trade")}
        return (c, batch), (probe if mode == "metrics" else {**out, **probe})

    ts = jnp.arange(1, horizon + 1, dtype=jnp.int32)
    batch0 = None if reducer is None else reducer.batch_init((n_params,), n_worlds, horizon)
    (carry, batch), daily = lax.scan(body, (carry, batch0), (tape.syn_r, tape.syn_lp, ts, extra))
    packed = None if reducer is None else reducer.pack(carry.red, batch)
    daily = {key: jnp.moveaxis(v, 0, 2) for key, v in daily.items()}  # [params, worlds, time, ...]
    daily.update(first)
    return packed, daily

"""Debug mode: one world, run eagerly under `jax.disable_jit`, day by day in a Python loop.

It calls the very same `_core._day` and warm-up as the compiled engine (so the numbers agree with the
jitted run), but every `step` / `weights` call sees concrete arrays: ``print`` and ``breakpoint()`` work.
A reducer runs the same way, day by day (its batch update on a one-world batch).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..indicators import cumsum_array
from ..strategy import ParamGrid, Tape, strategy_name
from ..types import Scenarios
from ._config import BacktestConfig
from ._causality import prove_causal
from ._core import STEP, VECTOR, _Carry, _day, history_tape, vector_decisions, warm_step
from ._plugin_errors import with_plugin_errors
from ._reducer import Day, Reducer
from ._result import BacktestResult

__all__ = ["debug_run"]


@with_plugin_errors  # also when called directly, not through backtest
def debug_run(strategy: Any, scenarios: Scenarios, config: BacktestConfig, world: int,
              reducer: Reducer | None, check: bool = True) -> BacktestResult:
    """Run one world eagerly. With `check`, a vectorized strategy is proven causal first, as in a compiled
    run: debugging a strategy must not be a way around the proof."""
    from ._run import _prepare  # _run imports this module lazily, for debug runs only

    if isinstance(strategy, ParamGrid):
        raise ConfigError("debug mode runs one parameter set: pass grid.at(p) instead of the grid")
    if not 0 <= world < scenarios.n_worlds:
        raise ConfigError(f"debug_world {world} out of range 0..{scenarios.n_worlds - 1}")
    _, base, tier, batched, inputs = _prepare(strategy, scenarios, config, reducer)
    history, num = inputs.history, inputs.num
    name = strategy_name(base)
    if check and tier == VECTOR:
        prove_causal(batched, history, np.asarray(scenarios.log_returns[0]), lag=config.lag, name=name)
    lag = config.lag
    r = jnp.asarray(scenarios.log_returns[world], jnp.float32)
    n_hist, n_assets = history.shape
    with jax.disable_jit():
        hist_r, hist_lp = history_tape(history)
        lps = cumsum_array(r, hist_lp[-1])  # the compiled run's tape, to the last bit
        tape = Tape(hist_r, hist_lp, r, lps)
        if tier == STEP:
            st, qw, qt = warm_step(base, history, lag, n_assets, name, inputs.calendar,
                                   periods_per_year=config.periods_per_year)
            extras = [None] * r.shape[0]
        else:
            dw, dt = (a[:, 0] for a in vector_decisions(base, history, r[None], name))
            st = ()
            pad = max(0, lag + 1 - n_hist)
            qw = jnp.pad(dw[max(0, n_hist - 1 - lag):n_hist], ((pad, 0), (0, 0)))
            qt = jnp.pad(dt[max(0, n_hist - 1 - lag):n_hist], ((pad, 0),))
            extras = [(dw[n_hist + i], dt[n_hist + i]) for i in range(r.shape[0])]
        red = () if reducer is None else reducer.init()
        carry = _Carry(st, qw, qt, jnp.zeros((n_assets,), jnp.float32), jnp.float32(1.0), jnp.float32(1.0), red)
        batch = None if reducer is None else reducer.batch_init((1,), 1, r.shape[0])
        rows = []
        for i in range(r.shape[0]):
            t = jnp.int32(i + 1)
            carry, out = _day(base, tier, carry, r[i], lps[i], t, extras[i], tape, num,
                              config.long_only, name, False, n_hist, reducer, inputs.rates, inputs.calendar,
                              periods_per_year=config.periods_per_year)
            if reducer is not None:  # a batch of one parameter set and one world
                batch = reducer.batch_update(batch, Day(t, *(out[k][None, None] for k in
                                                             ("pnl", "equity", "turnover", "costs"))))
            rows.append({k: float(out[k]) for k in ("pnl", "equity", "turnover", "costs")})
        summary = None
        if reducer is not None:
            state = jax.tree_util.tree_map(lambda x: x[None, None], carry.red)  # [params = 1, worlds = 1]
            summary = {k: np.asarray(v)[0] for k, v in
                       reducer.finalize(np.asarray(reducer.pack(state, batch)), r.shape[0]).items()}
    daily = {k: jnp.asarray(np.array([row[k] for row in rows], np.float32))[None] for k in rows[0]}
    return BacktestResult(pnl=daily["pnl"], equity=daily["equity"], turnover=daily["turnover"],
                          costs=daily["costs"], summary=summary, strategy=name, params=None, config=config)

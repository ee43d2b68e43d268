"""Vectorized strategies inside the fused day loop: ``weights`` traced once to a jaxpr, then evaluated one
row (close) at a time as a step strategy.

Why: evaluated on the whole ``[history + horizon, assets]`` array of every world, each indicator helper is
its own scan over every row (history included, though it is the same for all worlds) and its ``[time,
worlds]`` result goes through memory before the engine's loop reads it: about 10x vectorbt on the MA
crossover, against 50x for the same strategy in the step tier, which warms up once on the shared history
and fuses everything into one loop over the horizon. A causal array program is a recurrence in disguise:

* an op that acts on each row separately (elementwise math, broadcasts, reductions, sorts and matrix
  products across assets) needs only row t of its inputs;
* a scan over time (every ``*_array`` helper) is loop state: its carry is the step state;
* a read of a past row ``x[i]`` (the value leaving a rolling window) is recomputed from the engine's tape
  of returns and log prices, through the row-wise ops that made ``x``.

So the engine turns the jaxpr into a `Streamed` step strategy and runs it like any other: warm-up once on
the history, then the fused loop. Reads are clamped to the current row, so the streamed strategy is causal
by construction (the look-ahead proof still runs on the array program first, and refuses peeking ones).

What does not stream (the engine then computes the weights array up front, as before; `stream_reason` says
why): shifts along time by slicing, padding or concatenating (``jnp.diff``, ``x[:-1]``), gathers on the
time axis, reductions over time, loops or conditionals on a series, library calls (``jnp.linalg``), and
past reads of a series only a scan can compute. Row t matches the array program's row t up to float
rounding (XLA may fuse a row's arithmetic differently from the array's).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import ClosedJaxpr, Literal

from ..errors import StrategyError
from ..strategy import Obs, StepStrategy, Tape, static, strategy_name
from ._cache import LRU
from ._core import as_target
from ..indicators import cumsum_array

__all__ = ["Streamed", "Unstreamable", "why_not_streamed"]


class Unstreamable(Exception):
    """The weights program has an op the row-at-a-time evaluation cannot reproduce (the message says which)."""


class _Series(NamedTuple):
    """A ``[time, ...]`` array of the weights program, held as its current row."""

    cur: Any                                  # the row of the current close
    at: Callable[[Any], Any] | None           # row i <= current, recomputed from the tape (None: scan-made)


_POISON = object()  # the final carry of a scan over time: it depends on every row, so no causal program uses it

_ELEMENTWISE = frozenset("""
    neg sign floor ceil round is_finite exp exp2 log log1p expm1 tanh logistic sin cos tan asin acos atan sinh
    cosh asinh acosh atanh sqrt rsqrt cbrt abs not add sub mul div rem pow integer_pow max min atan2 nextafter
    and or xor eq ne lt le gt ge select_n clamp convert_element_type erf erfc erf_inv lgamma digamma square
    stop_gradient copy copy_p reduce_precision shift_left shift_right_logical shift_right_arithmetic
    population_count real imag conj
""".split())
_REDUCE = frozenset("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin".split())
_INLINE = frozenset("jit pjit closed_call core_call remat remat2 checkpoint custom_jvp_call custom_vjp_call "
                    "custom_vjp_call_jaxpr".split())
_CUMULATIVE = {"cumsum": lax.add, "cumprod": lax.mul, "cummax": lax.max, "cummin": lax.min,
               "cumlogsumexp": jnp.logaddexp}


def _start(name: str, dtype):
    """The identity of a cumulative op in `dtype` (integers have no infinity)."""
    if name in ("cumsum", "cumprod"):
        return 0 if name == "cumsum" else 1
    low = jnp.iinfo(dtype).min if jnp.issubdtype(dtype, jnp.integer) else (False if dtype == bool else -jnp.inf)
    high = jnp.iinfo(dtype).max if jnp.issubdtype(dtype, jnp.integer) else (True if dtype == bool else jnp.inf)
    return high if name == "cummin" else low


class _Ctx:
    """Row index, tape access and the step state of one evaluation (state ``None``: build the initial one)."""

    def __init__(self, n_rows: int, obs: Obs, state):
        self.n_rows = n_rows
        self.row = obs.seen - 1  # row of close t in the array the program was written for
        self.x = _Series(obs.log_return, lambda i: obs.log_return_ago(self.row - i))
        self.lp = _Series(obs.log_price, lambda i: obs.log_price_ago(self.row - i))
        self.state_in = None if state is None else list(state)
        self.state_out: list = []
        self.state_init: list = []  # the incoming state of each stateful op, which `init` returns
        self.depth = 0  # > 0 inside a scan body, where a nested scan over time cannot stream

    def slot(self, init: list, avals) -> list:
        """The incoming state of the next stateful op. On row 0 it is the op's own initial value, computed
        at that row: it may read the series (a scan seeded with ``x[0]``), which `init` cannot see."""
        init = [jnp.broadcast_to(jnp.asarray(v, a.dtype), a.shape) for v, a in zip(init, avals)]
        self.state_init.append(tuple(init))
        if self.state_in is None:
            return init
        return [jnp.where(self.row == 0, i, v) for i, v in zip(init, self.state_in[len(self.state_out)])]

    def put(self, new: list, avals) -> None:
        self.state_out.append(tuple(jnp.asarray(v, a.dtype) for v, a in zip(new, avals)))


def _index(value, i):
    return lax.dynamic_index_in_dim(value, i, 0, keepdims=False)


def _apply(eqn, vals, params, timed, ctx):
    """Bind ``eqn``'s primitive to rows: `timed` operands are ``[time, ...]`` (a series, or an array that
    has its row taken), the others pass through unchanged."""
    timed = list(timed)
    for k, (v, t, a) in enumerate(zip(vals, timed, eqn.invars)):
        if t and not isinstance(v, _Series):
            if a.aval.ndim and a.aval.shape[0] == 1 and ctx.n_rows != 1:  # the same row at every time: x * v[None]
                vals[k], timed[k] = v[0], False
            elif a.aval.ndim == 0 or a.aval.shape[0] != ctx.n_rows:
                raise Unstreamable(f"{eqn.primitive.name} mixes a series with a {a.aval.shape} array")
        if not t and isinstance(v, _Series):
            raise Unstreamable(f"{eqn.primitive.name} uses a series where a fixed operand is expected")

    def run(pick):
        return eqn.primitive.bind(*[pick(v) if t else v for v, t in zip(vals, timed)], **params)

    cur = run(lambda v: v.cur if isinstance(v, _Series) else _index(v, ctx.row))
    if any(isinstance(v, _Series) and v.at is None for v, t in zip(vals, timed) if t):
        at = None
    else:
        def at(i):
            return run(lambda v: v.at(i) if isinstance(v, _Series) else _index(v, i))
    if eqn.primitive.multiple_results:
        return [_Series(c, None if at is None else (lambda i, k=k: at(i)[k])) for k, c in enumerate(cur)]
    return _Series(cur, at)


def _shift(axes, name):
    if 0 in axes:
        raise Unstreamable(f"{name} acts along the time axis")
    return tuple(a - 1 for a in axes)


def _rowwise(eqn, vals, ctx):
    """Ops that act on each row separately, with their parameters moved one axis down."""
    name, p = eqn.primitive.name, dict(eqn.primitive.get_bind_params(eqn.params))
    n = len(vals)
    if name in _ELEMENTWISE:
        return _apply(eqn, vals, p, [a.aval.ndim > 0 for a in eqn.invars], ctx)
    if name == "broadcast_in_dim":
        if p["broadcast_dimensions"][:1] != (0,) or p["shape"][0] != ctx.n_rows:
            raise Unstreamable("broadcast_in_dim moves the time axis")
        p.update(shape=p["shape"][1:], broadcast_dimensions=_shift(p["broadcast_dimensions"][1:], name),
                 sharding=None)
    elif name == "reshape":
        if p.get("dimensions") is not None or p["new_sizes"][:1] != (ctx.n_rows,):
            raise Unstreamable("reshape merges or moves the time axis")
        p.update(new_sizes=p["new_sizes"][1:], sharding=None)
    elif name == "squeeze":
        p.update(dimensions=_shift(p["dimensions"], name))
    elif name == "transpose":
        if p["permutation"][0] != 0:
            raise Unstreamable("transpose moves the time axis")
        p.update(permutation=_shift(p["permutation"][1:], name))
    elif name in _REDUCE:
        p.update(axes=_shift(p["axes"], name))
    elif name in _CUMULATIVE and p["axis"] != 0:
        p.update(axis=p["axis"] - 1)
    elif name in ("concatenate", "sort"):
        p.update(dimension=_shift((p["dimension"],), name)[0])
    elif name in ("split", "stack"):
        p.update(axis=_shift((p["axis"],), name)[0])
    elif name == "rev":
        p.update(dimensions=_shift(p["dimensions"], name))
    elif name == "pad":
        if tuple(p["padding_config"][0]) != (0, 0, 0):
            raise Unstreamable("pad shifts along the time axis")
        p.update(padding_config=p["padding_config"][1:])
        return _apply(eqn, vals, p, [True, False], ctx)
    elif name == "slice":
        strides = p["strides"] or (1,) * len(p["start_indices"])
        if (p["start_indices"][0], p["limit_indices"][0], strides[0]) != (0, ctx.n_rows, 1):
            raise Unstreamable("slice cuts the time axis (a shift such as x[:-1] or jnp.diff)")
        p.update(start_indices=p["start_indices"][1:], limit_indices=p["limit_indices"][1:],
                 strides=None if p["strides"] is None else p["strides"][1:])
    elif name == "dot_general":
        return _dot(eqn, vals, p, ctx)
    else:
        raise Unstreamable(f"{name} on a series")
    return _apply(eqn, vals, p, [True] * n, ctx)


def _dot(eqn, vals, p, ctx):
    (lc, rc), (lb, rb) = p["dimension_numbers"]
    ls, rs = (isinstance(v, _Series) for v in vals)
    lhs_free = eqn.invars[0].aval.ndim - len(lc) - len(lb)
    if ls and rs and lb[:1] == (0,) and rb[:1] == (0,):  # time is a batch axis of both: output axis 0
        dims = ((_shift(lc, "dot_general"), _shift(rc, "dot_general")),
                (_shift(lb[1:], "dot_general"), _shift(rb[1:], "dot_general")))
        timed = [True, True]
    elif ls and not rs and not lb:  # time is a free axis of the lhs: output axis 0
        dims = ((_shift(lc, "dot_general"), rc), ((), ()))
        timed = [True, False]
    elif rs and not ls and not lb and lhs_free == 0:  # only the rhs's free axes, time first
        dims = ((lc, _shift(rc, "dot_general")), ((), ()))
        timed = [False, True]
    else:
        raise Unstreamable("dot_general does not keep the time axis first")
    p["dimension_numbers"] = dims
    if "out_sharding" in p:
        p["out_sharding"] = None
    return _apply(eqn, vals, p, timed, ctx)


def _read_past(eqn, vals, ctx):
    """``dynamic_slice`` of one row of a series (``x[t]``, ``lagged(x, t, k)``): recomputed at that row,
    clamped to the current one."""
    x, starts = vals[0], vals[1:]
    if any(isinstance(v, _Series) for v in starts):
        raise Unstreamable("indexes the time axis with a value computed from returns")
    sizes = eqn.params["slice_sizes"]
    if sizes[0] != 1:
        raise Unstreamable("reads several rows of a series at once")
    if x.at is None:
        raise Unstreamable("reads a past row of a series only a scan over time computes (keep it in the scan)")
    i = jnp.minimum(jnp.clip(starts[0], 0, ctx.n_rows - 1), ctx.row).astype(ctx.row.dtype)
    row = x.at(i)
    if row.ndim:
        row = lax.dynamic_slice(row, starts[1:], sizes[1:])
    return row[None]


def _is_running_sum(eqn, vals, zeros, ctx) -> bool:
    """``cumsum_array(x)`` of the input, from zero: the tape's log prices (identical float additions)."""
    p = eqn.params
    body = p["jaxpr"].jaxpr
    if p["num_consts"] or p["num_carry"] != 1 or len(vals) != 2 or vals[1] is not ctx.x:
        return False
    init = eqn.invars[0]
    if not (isinstance(init, Literal) and init.val == 0) and init not in zeros:
        return False
    c, v = body.invars
    adds = {e.outvars[0]: e for e in body.eqns}
    return (len(body.outvars) == 2 and all(e.primitive.name == "add" and set(e.invars) == {c, v}
                                           for e in body.eqns)
            and all(o in adds for o in body.outvars))


def _scan(eqn, vals, ctx, zeros):
    """A scan over time: its carry becomes step state, its per-row outputs series."""
    p = eqn.params
    nc, nk = p["num_consts"], p["num_carry"]
    if ctx.depth:
        raise Unstreamable("a scan that reads a series runs inside another scan")
    if p["reverse"] or p["length"] != ctx.n_rows:
        raise Unstreamable("scan over a series is not a forward scan over time")
    consts, init, xs = vals[:nc], vals[nc:nc + nk], vals[nc + nk:]
    if any(isinstance(v, _Series) for v in init):
        raise Unstreamable("a scan's initial carry is computed from returns")
    n_ys = len(eqn.outvars) - nk
    if _is_running_sum(eqn, vals, zeros, ctx):
        return [_POISON] + [ctx.lp] * n_ys
    body: ClosedJaxpr = p["jaxpr"]
    avals = [a.aval for a in body.jaxpr.invars[nc:nc + nk]]
    state = ctx.slot(list(init), avals)
    rows = [v.cur if isinstance(v, _Series) else _index(v, ctx.row) for v in xs]
    ctx.depth += 1
    out = _eval(body.jaxpr, body.consts, [*consts, *state, *rows], ctx)
    ctx.depth -= 1
    if any(isinstance(v, _Series) or v is _POISON for v in out):
        raise Unstreamable("a scan body returns a whole series")
    ctx.put(out[:nk], avals)
    return [_POISON] * nk + [_Series(y, None) for y in out[nk:]]


def _cumulative(eqn, vals, ctx):
    """cumsum/cumprod/... along time: a running value in the step state."""
    p = eqn.params
    if p["reverse"]:
        raise Unstreamable(f"{eqn.primitive.name} runs backwards in time")
    if ctx.depth:
        raise Unstreamable(f"{eqn.primitive.name} over time inside a scan")
    (x,) = vals
    if eqn.primitive.name == "cumsum" and x is ctx.x:
        return ctx.lp
    combine = _CUMULATIVE[eqn.primitive.name]
    aval = eqn.outvars[0].aval
    row_aval = jax.ShapeDtypeStruct(aval.shape[1:], aval.dtype)
    (prev,) = ctx.slot([_start(eqn.primitive.name, aval.dtype)], [row_aval])
    new = combine(prev, x.cur)
    ctx.put([new], [row_aval])
    return _Series(new, None)


def _live(jaxpr) -> list:
    """The equations whose results are used: make_jaxpr keeps dead ones (the slice left by
    ``jnp.zeros_like(x[0])``), and one that cannot stream must not stop a program that never uses it."""
    used = {v for v in jaxpr.outvars if not isinstance(v, Literal)}
    live = []
    for eqn in reversed(jaxpr.eqns):
        if eqn.effects or any(v in used for v in eqn.outvars):
            live.append(eqn)
            used.update(v for v in eqn.invars if not isinstance(v, Literal))
    return live[::-1]


def _eval(jaxpr, consts, args, ctx):
    env: dict = {}

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    zeros = {e.outvars[0] for e in jaxpr.eqns if e.primitive.name == "broadcast_in_dim"
             and isinstance(e.invars[0], Literal) and e.invars[0].val == 0}
    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in _live(jaxpr):
        vals = [read(a) for a in eqn.invars]
        if any(v is _POISON for v in vals):
            raise Unstreamable(f"{eqn.primitive.name} uses the final state of a scan over the whole series")
        name = eqn.primitive.name
        if not any(isinstance(v, _Series) for v in vals):
            outs = eqn.primitive.bind(*vals, **eqn.primitive.get_bind_params(eqn.params))
        elif name in _INLINE:
            sub = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr") or eqn.params.get("fun_jaxpr")
            sub_consts = sub.consts if isinstance(sub, ClosedJaxpr) else []
            outs = _eval(getattr(sub, "jaxpr", sub), sub_consts, vals, ctx)
        elif name == "scan":
            outs = _scan(eqn, vals, ctx, zeros)
        elif name == "dynamic_slice":
            outs = _read_past(eqn, vals, ctx)
        elif name in _CUMULATIVE and eqn.params["axis"] == 0:
            outs = _cumulative(eqn, vals, ctx)
        else:
            outs = _rowwise(eqn, vals, ctx)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


@functools.lru_cache(maxsize=256)
def _trace(treedef, avals: tuple, n_rows: int, n_assets: int):
    def fn(leaves, x):
        return jax.tree_util.tree_unflatten(treedef, leaves).weights(x)

    specs = [jax.ShapeDtypeStruct(s, d, weak_type=w) for s, d, w in avals]
    closed, shape = jax.make_jaxpr(fn, return_shape=True)(specs, jax.ShapeDtypeStruct((n_rows, n_assets), jnp.float32))
    return closed, jax.tree_util.tree_structure(shape)


def _avals(leaves) -> tuple:
    """Shape, dtype and weak type of each leaf: a Python float field is weakly typed in the array program
    (``bf16_array * self.k`` stays bfloat16), and the traced program must see it the same way."""
    def weak(x):
        return isinstance(x, (int, float)) or bool(getattr(getattr(x, "aval", x), "weak_type", False))

    return tuple((tuple(jnp.shape(x)), jnp.result_type(x), weak(x)) for x in leaves)


def _run(inner, n_rows: int, obs: Obs, state):
    leaves, treedef = jax.tree_util.tree_flatten(inner)
    args = (treedef, _avals(leaves), n_rows, obs.log_return.shape[0])
    try:
        closed, out_tree = _trace(*args)
    except TypeError:  # an unhashable static field: no cache
        closed, out_tree = _trace.__wrapped__(*args)
    ctx = _Ctx(n_rows, obs, state)
    outs = _eval(closed.jaxpr, closed.consts, [*leaves, ctx.x], ctx)
    rows = []
    for v, a in zip(outs, closed.jaxpr.outvars):
        if v is _POISON:
            raise Unstreamable("returns the final state of a scan over the whole series")
        if isinstance(v, _Series):
            v = v.cur
        elif a.aval.ndim and a.aval.shape[0] == n_rows:
            v = _index(v, ctx.row)
        rows.append(v)
    return jax.tree_util.tree_unflatten(out_tree, rows), tuple(ctx.state_init if state is None else ctx.state_out)


def _blank_obs(n_assets: int) -> Obs:
    z = jnp.zeros((n_assets,), jnp.float32)
    one = jnp.float32(1.0)
    return Obs(z, z, z, z, jnp.int32(0), jnp.int32(1), one, one * 0, one, Tape(z[None], z[None], z[None], z[None]))


@dataclasses.dataclass(frozen=True)
class Streamed(StepStrategy):
    """A vectorized strategy run one close at a time (see the module doc).

    Attributes:
        inner: the vectorized strategy (its fields stay its own: a grid vmaps them as usual).
        n_rows: rows of the array its weights were written for (history + horizon).
    """

    inner: Any
    n_rows: int = static()

    @property
    def named_after(self):
        return self.inner

    def init(self, n_assets):
        return _run(self.inner, self.n_rows, _blank_obs(n_assets), None)[1]

    def step(self, state, obs: Obs):
        out, state = _run(self.inner, self.n_rows, obs, state)
        return state, out


def why_not_streamed(strategy, x: jax.Array) -> str | None:
    """None when the vectorized `strategy` (one parameter set) runs streamed, else why the engine computes
    its weights array up front instead.

    Two checks, once per strategy structure and shape (like the look-ahead proof): every op must stream,
    and the streamed rows must reproduce ``weights(x)`` on `x`, a real ``[rows, assets]`` path (history and
    world 0): a guard against programs that stream without complaint yet mean something else row by row
    (a scan that reads ahead into its carry, say).
    """
    leaves, treedef = jax.tree_util.tree_flatten(strategy)
    key = (treedef, _avals(leaves), x.shape)
    try:
        hash(key)
    except TypeError:  # an unhashable static field: no cache
        return _reason(strategy, x)
    return _REASONS.get_or_compute(key, lambda: _reason(strategy, x))


_REASONS = LRU(maxsize=256)  # bounded: a dropped entry is only checked again


def _reason(strategy, x) -> str | None:
    s = Streamed(strategy, x.shape[0])
    try:  # tracing `_both` meets every op: an Unstreamable one raises before anything runs
        ref, rows = _both(s, x)
    except Unstreamable as exc:
        return str(exc)
    except StrategyError:
        raise  # the strategy's own error (a wrong shape): the array path would raise it too
    except Exception as exc:  # noqa: BLE001 - anything this module did not foresee: the array path still works
        return f"streaming failed ({type(exc).__name__}: {exc})"
    (w_ref, t_ref), (w, t) = jax.device_get((ref, rows))
    bad = (np.abs(w - w_ref) > 1e-5 + 1e-4 * np.abs(w_ref)) & ~(np.isnan(w) & np.isnan(w_ref))
    bad = bad.any(-1) | (t != t_ref)
    if bad.any():
        row = int(np.argmax(bad))
        return (f"its streamed weights differ from the weights array at row {row} "
                f"({w[row].tolist()} against {w_ref[row].tolist()})")
    return None


@jax.jit
def _both(s: Streamed, x):
    """``weights(x)`` as written, and the same rows streamed over `x` read as history."""
    n, n_assets = x.shape
    name = strategy_name(s)
    ref = as_target(s.inner.weights(x), n_assets, name, lead=(n,))
    lp = cumsum_array(x)
    tape = Tape(x, lp, x[:1], lp[:1])

    def body(state, i):
        one = jnp.float32(1.0)
        obs = Obs(x[i], jnp.expm1(x[i]), lp[i], jnp.zeros((n_assets,), x.dtype), i - (n - 1), i + 1, one, one * 0,
                  one, tape)
        state, out = s.step(state, obs)
        return state, as_target(out, n_assets, name)

    return ref, lax.scan(body, s.init(n_assets), jnp.arange(n, dtype=jnp.int32))[1]

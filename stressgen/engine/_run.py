"""`backtest`: run a strategy (or a parameter grid) on every world of a `Scenarios` as one jitted program.

Conventions: 252 periods a year by default; weights decided at close t earn r_{t+1} at the earliest
(``config.lag`` adds delay); costs are bps of traded notional, trades include the drift of weights between
rebalances; equity compounds simple returns (``expm1`` of the log returns). The strategy warms up on
``Scenarios.history`` (the real returns the worlds continue from); P&L counts only on the synthetic horizon,
which starts all in cash at the last real close. See `stressgen.engine._core` for the accounting.

The plugin's outputs are validated on a probe of two worlds (shapes while tracing; NaN, negative weights
when long only, gross exposure beyond the cap from the raw decisions the program returns for those two
worlds) and a violation raises `StrategyError` naming the strategy, parameter set, world and close;
vectorized strategies are also proven causal (`prove_causal`: every traded close, every parameter set, the
run's own input) before the run, unless the same values were proven already.

Per-world summaries are not the engine's: a caller that wants them passes a `Reducer` (engine/_reducer.py),
which runs inside the day loop; `stressgen.backtest` passes the risk metrics of `stressgen.metrics.running`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from .. import devices as dev
from ..errors import ConfigError, StrategyError
from ..numerics import check_sizes
from ..strategy import Obs, ParamGrid, StepStrategy, Tape, VectorStrategy, check_fields, strategy_name
from ..types import Scenarios
from ._cache import LRU
from ._calendar import calendar_table
from ._causality import prove_causal
from ._config import BacktestConfig
from ._core import PROBE_WORLDS, STEP, VECTOR, simulate
from ._plugin_errors import NONFINITE_HINT, output_error, with_plugin_errors
from ._reducer import Reducer, check_reducer
from ._result import BacktestResult

__all__ = ["BacktestResult", "backtest", "check_causality", "world_metrics", "trace_world"]

# Default chunk of a metrics-only run on CPU devices, in worlds per device. Why: a chunk's day-major tape and
# temporaries are fresh allocations of ~40 MB per 10,000 worlds each call, and in one piece a large run
# spends much of its time faulting pages in and streaming the loop state from L3. MA crossover at 100,000
# worlds on two devices (bench_engine workload, alternating in one process; chunk sizes are totals over both
# devices): one piece 52-56, chunks of 8,192: 73-77, 16,384: 73-88, 25,000: 89-98, 50,000: 61-68 M
# world-days/s. Results do not depend on it.
CPU_CHUNK_PER_DEVICE = 12_288

# Default chunk of a vectorized strategy on CPU devices, as bytes of one ``[warm-up + horizon, worlds, assets]``
# float32 array per device. Why: the weights program builds several such arrays (its input, each indicator,
# the weights), and once they outgrow the caches each pass over them runs at memory speed, with fresh pages
# to fault in every call. MA crossover, 10,000 worlds x (300 + 252) days x 1 asset, two devices (per-device
# array size: time): 11 MB: 69-75 ms, 5.5 MB: 53-58, 2.8 MB: 54-57, 1.4 MB: 51-65, 0.6 MB: 66 (per-chunk
# overhead). Results do not depend on it.
VECTOR_CHUNK_BYTES = 4 << 20


def _tier(strategy: Any) -> str:
    if isinstance(strategy, StepStrategy):
        return STEP
    if isinstance(strategy, VectorStrategy):
        return VECTOR
    raise StrategyError(strategy_name(strategy), "is neither a StepStrategy nor a VectorStrategy subclass")


def _check_dataclass(strategy: Any) -> None:
    params = getattr(type(strategy), "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise StrategyError(strategy_name(strategy), "must be declared with @dataclasses.dataclass(frozen=True)")
    check_fields(strategy)


class Inputs(NamedTuple):
    """The program's small inputs, the same for every world (placed on every device).

    Attributes:
        history: ``[hist, assets]`` float32 warm-up log returns.
        num: ``[4 + n]`` float32 ``(cost_rate, rf_per_period, max_gross, 0.0, *reducer.inputs())``: runtime
            numbers (traced, so a new value does not recompile); the zero is the FMA fence.
        rates: ``[assets]`` float32 per-asset cost rates, or None (``num[0]`` for every asset).
        calendar: ``[closes, 6]`` int32 calendar rows (`calendar_table`), or None without dates.
    """

    history: np.ndarray
    num: np.ndarray
    rates: np.ndarray | None
    calendar: np.ndarray | None


# Compiled with XLA-CPU's default (fusion) emitters. The loop emitters (compiler_options
# xla_cpu_use_fusion_emitters=False) compiled the quickstart's 21 programs in 9.2 s of CPU instead of 14.5 and
# ran MinimumVariance 2.5x faster, but ran the one-asset MA crossover 3x slower (96-126 -> 40-42 M world-days/s
# at 10,000 worlds): measured, not adopted.
@functools.partial(jax.jit, static_argnames=("tier", "lag", "long_only", "mode", "reducer", "n_devices",
                                             "periods_per_year"))
def _program(tier: str, strategy: Any, returns: jax.Array, inputs: Inputs, *, lag: int, long_only: bool, mode: str,
             reducer: Reducer | None, periods_per_year: int, n_devices: int = 1
             ) -> tuple[jax.Array | None, dict[str, jax.Array]]:
    """`simulate` on one device, or on `n_devices` devices each running its own slice of the worlds.

    The daily outputs lead with ``[params, worlds]`` and the reducer's packed state ends with ``[worlds]``,
    so two specs split them all. Each slice packs the raw decisions of its own first worlds (`_pack_probe`);
    slice 0's are worlds 0 and 1 of the whole run, which `_decisions` reads. Nothing crosses devices: a
    slice of the probe taken here, outside the split, became collective permutes whose rendezvous held
    both devices (about 2 ms of a 10,000-world run on two CPU devices).
    """
    def run(s: Any, r: jax.Array, x: Inputs) -> tuple[jax.Array | None, dict[str, jax.Array]]:
        packed, daily = simulate(tier, s, r, x.history, x.num, lag=lag, long_only=long_only, mode=mode,
                                 reducer=reducer, rates=x.rates, calendar=x.calendar,
                                 periods_per_year=periods_per_year)
        return packed, _pack_probe(daily)

    if n_devices == 1:
        return run(strategy, returns, inputs)
    rep, split = PartitionSpec(), PartitionSpec(dev.WORLDS)
    packed_spec = None if reducer is None else PartitionSpec(None, None, dev.WORLDS)  # None: no such output
    return jax.shard_map(run, mesh=dev.world_mesh(n_devices), in_specs=(rep, split, rep),
                         out_specs=(packed_spec, PartitionSpec(None, dev.WORLDS)),
                         check_vma=False)(strategy, returns, inputs)


def _pack_probe(daily: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The probe's raw decisions of closes 0 .. horizon as one float32 array ``[params, probe worlds,
    horizon + 1, assets + 1]``, the trade flag last: one transfer to the host instead of four."""
    daily = dict(daily)
    w = jnp.concatenate([daily.pop("decision0")[:, :, None], daily.pop("decision")], axis=2)
    t = jnp.concatenate([daily.pop("decision_trade0")[:, :, None], daily.pop("decision_trade")], axis=2)
    daily["probe"] = jnp.concatenate([w, t.astype(w.dtype)[..., None]], axis=-1)
    return daily


def _library_free(tier: str, batched: Any, n_assets: int, n_hist: int) -> bool:
    """Whether the strategy's code for one world lowers without library calls (custom calls: on CPU these
    are LAPACK kernels, behind jnp.linalg.solve/inv/cholesky/eigh/svd/qr and solve_triangular).

    Why: jaxlib's CPU LAPACK kernels split a batch over the process's shared intra-op thread pool and wait
    for the parts. With one device per core, every pool thread can be running such a kernel for its own
    device while the parts wait in the queue: the run deadlocks (MinimumVariance on 2,000 worlds x 20
    assets, two devices, never finished). Such strategies run on one device. Two such programs at once from
    two threads wedge the pool the same way, even on one device (a spec with two minimum-variance strategies,
    whose backtests run in threads, never finished; the threads waited in LU's batch map): `backtest` holds
    `_LAPACK_LOCK` while it runs one. Cached per strategy structure.
    """
    leaves, treedef = jax.tree_util.tree_flatten(batched)
    key = (tier, treedef, tuple((jnp.shape(x)[1:], jnp.result_type(x)) for x in leaves), n_assets, n_hist)

    def check() -> bool:
        one = jax.tree_util.tree_map(lambda x: x[0], batched)
        z = jnp.zeros((n_assets,), jnp.float32)
        if tier == STEP:
            rows = jnp.zeros((max(n_hist, 1), n_assets), jnp.float32)
            tape = Tape(rows, rows, rows[:1], rows[:1])
            one_ = jnp.float32(1.0)
            obs = Obs(z, z, z, z, jnp.int32(1), jnp.int32(1), one_, one_ * 0, one_, tape,
                      jnp.zeros((rows.shape[0] + 1, 6), jnp.int32))
            text = jax.jit(lambda s: s.step(s.init(n_assets), obs)).lower(one).as_text()
        else:
            text = jax.jit(lambda s, x: s.weights(x)).lower(one, jnp.zeros((n_hist + 2, n_assets))).as_text()
        return "custom_call" not in text

    return _LIBRARY_FREE.get_or_compute(key, check)


_LIBRARY_FREE = LRU(maxsize=256)  # bounded: a dropped entry is only lowered and checked again
_LAPACK_LOCK = threading.Lock()  # one program with LAPACK calls at a time on CPU (see _library_free)


def _uses_lapack(tier: str, batched: Any, scenarios: Scenarios, inputs: Inputs) -> bool:
    """Whether the strategy's program makes LAPACK calls on CPU (see `_library_free`)."""
    return jax.default_backend() == "cpu" and not _library_free(tier, batched, scenarios.n_assets,
                                                                inputs.history.shape[0])


def _one_at_a_time(lapack: bool) -> contextlib.AbstractContextManager[Any]:
    """`_LAPACK_LOCK` for a program with LAPACK calls (`_uses_lapack`), else nothing to hold."""
    return _LAPACK_LOCK if lapack else contextlib.nullcontext()


def _on_every_device(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """The small inputs `tree` placed on every device of `mesh`, reused while their values are the same.

    Why: placing them costs 0.3-0.5 ms (two CPU devices), a few percent of a 10,000-world run, and a
    report runs several strategies on one history; the key is their bytes, so a changed value places anew.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    host = [np.asarray(x) for x in leaves]
    key = (mesh, treedef, tuple((h.shape, h.dtype.str, bool(getattr(x, "weak_type", False)), h.tobytes())
                                for x, h in zip(leaves, host)))
    return _PLACED.get_or_compute(key, lambda: jax.device_put(tree, NamedSharding(mesh, PartitionSpec())))


_PLACED_MAX = 8
_PLACED = LRU(maxsize=_PLACED_MAX)


def chunk_worlds(n: int, n_devices: int, chunk_size: int | None, *, auto: bool,
                 cap_per_device: int = CPU_CHUNK_PER_DEVICE) -> int:
    """Worlds in each chunk (the last one is padded to it): `chunk_size` or all `n`, rounded up to a whole
    number of worlds per device and to at least `PROBE_WORLDS` on the first device (the probe validates
    worlds 0 and 1 on every machine). `auto` (no chunk_size, metrics only, CPU) splits n into equal chunks
    of at most `cap_per_device` worlds per device (`CPU_CHUNK_PER_DEVICE`, or less for a vectorized strategy:
    `vector_chunk_cap`), so the padding stays under one world per device and chunk."""
    if chunk_size is None and auto:
        chunks = -(-n // (cap_per_device * n_devices))
        chunk_size = -(-n // chunks)
    per_device = max(-(-min(chunk_size or n, n) // n_devices), min(PROBE_WORLDS, n))
    return per_device * n_devices


def vector_chunk_cap(n_rows: int, n_assets: int) -> int:
    """Worlds per device in a vectorized strategy's default CPU chunk (`VECTOR_CHUNK_BYTES`): at least 64, so
    that the per-chunk overhead stays small, and at most `CPU_CHUNK_PER_DEVICE`."""
    return int(np.clip(VECTOR_CHUNK_BYTES // (4 * max(n_rows, 1) * n_assets), 64, CPU_CHUNK_PER_DEVICE))


def _place(returns: jax.Array, start: int, size: int, mesh: jax.sharding.Mesh) -> jax.Array:
    """Worlds ``start .. start + size`` (padded with flat worlds past the end), split over the mesh.

    On several CPU devices each device's slice is made from a host view of the input: CPU devices share host
    memory, so a slice whose start is 64-byte aligned is the input's own memory (no copy; ``jax.device_put``
    to the split copied 100 MB in about 50 ms at 100,000 worlds). Other devices take ``jax.device_put``.
    """
    n = returns.shape[0]
    if mesh.size == 1 or jax.default_backend() != "cpu":
        chunk = returns if (start, size) == (0, n) else returns[start:start + size]  # a slice would copy
        if chunk.shape[0] < size:  # pad with flat worlds: one program for every chunk; worlds are independent
            chunk = jnp.pad(chunk, ((0, size - chunk.shape[0]), (0, 0), (0, 0)))
        return chunk if mesh.size == 1 else jax.device_put(chunk, dev.worlds_sharding(mesh))
    host = np.asarray(returns)[start:start + size]
    if host.shape[0] < size:
        host = np.pad(host, ((0, size - host.shape[0]), (0, 0), (0, 0)))
    return jax.make_array_from_callback(host.shape, dev.worlds_sharding(mesh), lambda idx: host[idx])


def _prepare(strategy: Any, scenarios: Scenarios, config: BacktestConfig, reducer: Reducer | None = None
             ) -> tuple[ParamGrid | None, Any, str, Any, Inputs]:
    """``(grid, base strategy, tier, batched strategy, inputs)``; see `Inputs`."""
    grid = strategy if isinstance(strategy, ParamGrid) else None
    base = grid.strategy if grid else strategy
    _check_dataclass(base)
    tier = _tier(base)
    batched = base if grid else jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], base)
    # history and the scalars are small host arrays: the program's call places them (NumPy, not jnp, so
    # that building them dispatches nothing to a device)
    history = np.asarray(scenarios.history, np.float32)
    if config.warmup is not None:
        history = history[history.shape[0] - min(config.warmup, history.shape[0]):]
    if history.ndim != 2 or history.shape[1] != scenarios.n_assets:
        raise ConfigError(f"Scenarios.history must be [time, {scenarios.n_assets}], got {history.shape}")
    extra = np.zeros((0,), np.float32) if reducer is None else np.asarray(reducer.inputs(), np.float32).ravel()
    rates = config.cost_rates(scenarios.n_assets)
    one_rate = 0.0 if rates is not None else config.cost_rate
    num = np.concatenate([np.asarray([one_rate, config.rf_per_period, config.max_gross, 0.0], np.float32), extra])
    calendar = calendar_table(scenarios.history_end, scenarios.freq, history.shape[0], scenarios.horizon)
    return grid, base, tier, batched, Inputs(history, num, rates, calendar)


@with_plugin_errors
def check_causality(strategy: Any, scenarios: Scenarios, config: BacktestConfig = BacktestConfig()) -> None:
    """Prove a vectorized strategy (or a `ParamGrid` of one) causal on `scenarios` exactly as `backtest` does
    before a run (`prove_causal`: the run's warm-up and world 0, every traded close, every parameter set).
    Raises `LookAheadError` naming the first close whose decision looked ahead; a step strategy is causal
    by construction and passes."""
    grid, base, tier, batched, inputs = _prepare(strategy, scenarios, config)
    if tier == VECTOR:
        with _one_at_a_time(_uses_lapack(tier, batched, scenarios, inputs)):
            prove_causal(batched, inputs.history, np.asarray(scenarios.log_returns[0]), lag=config.lag,
                         name=strategy_name(base), grid=grid)


def _decisions(daily: dict[str, jax.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Raw decisions of closes 0 .. horizon ``[params, worlds, horizon + 1, assets]`` and their trade flags:
    the warm-up's last decision, then one per synthetic close."""
    # worlds 0 and 1 of the run: the first device's block (each device packs its own first worlds, see
    # _program); only that block comes to the host
    probe = daily["probe"]
    probe = np.asarray(min(probe.addressable_shards, key=lambda s: s.index[1].start or 0).data)
    return probe[..., :-1], probe[..., -1] != 0


def _validate(name: str, daily: dict[str, jax.Array], config: BacktestConfig, grid: ParamGrid | None) -> None:
    """Check the raw decisions of the probe run and name the first bad one."""
    w, trade = _decisions(daily)
    w = np.where(trade[..., None], w, 0.0)  # decisions flagged "no trade" are never executed

    def fail(mask: np.ndarray, what: str, fix: str = "") -> None:
        p, world, day = (int(i) for i in np.argwhere(mask)[0][:3])
        at = f"parameter set {p}, " if grid else ""
        raise output_error(name, f"{what}, first at {at}probe world {world}, close t={day}{fix}")

    bad = ~np.isfinite(w)
    if bad.any():
        fail(bad.any(-1), "returned NaN/inf weights", NONFINITE_HINT)
    if config.long_only and (w < -1e-6).any():
        fail((w < -1e-6).any(-1), f"returned negative weights (min {w.min():.4g}) with long_only=True")
    gross = np.abs(w).sum(-1)
    over = gross > config.max_gross * (1 + 1e-5) + 1e-6
    if over.any():
        fail(over, f"exceeded the gross exposure cap {config.max_gross} (max {gross.max():.4g})")


@with_plugin_errors
def trace_world(strategy: Any, scenarios: Scenarios, config: BacktestConfig,
                worlds: slice = slice(0, 1)) -> dict[str, np.ndarray]:
    """Daily series, executed weights and raw decisions (closes 0 .. horizon) for a few worlds, as NumPy
    arrays leading with ``[params, worlds]`` (for the probe, the debug comparison and vectorbt)."""
    grid, base, tier, batched, inputs = _prepare(strategy, scenarios, config)
    returns = jnp.asarray(scenarios.log_returns[worlds])
    with _one_at_a_time(_uses_lapack(tier, batched, scenarios, inputs)):
        _, daily = _program(tier, batched, returns, inputs, lag=config.lag, long_only=config.long_only,
                            mode="trace", reducer=None, periods_per_year=config.periods_per_year)
        out = {k: np.asarray(v) for k, v in daily.items() if k != "probe"}
    out["decision"], out["decision_trade"] = _decisions(daily)
    return out


@with_plugin_errors  # a mistake in the strategy's code: StrategyError naming its line and the fix
def backtest(strategy: Any, scenarios: Scenarios, config: BacktestConfig = BacktestConfig(), *,
             reducer: Reducer | None = None, metrics_only: bool = False, chunk_size: int | None = None,
             devices: int | None = None, check: bool = True, debug: bool = False,
             debug_world: int = 0) -> BacktestResult:
    """Run `strategy` (step or vectorized tier, or a `ParamGrid` of either) on every world.

    Shapes: ``scenarios.log_returns`` is ``[worlds, time, assets]`` and ``scenarios.history`` ``[hist,
    assets]``; the result's daily series are ``[worlds, time]`` float32 (``[params, worlds, time]`` for a
    grid) and its summary values ``[worlds]`` (``[params, worlds]``).

    Args:
        strategy: a strategy instance or ``stressgen.strategy.grid(...)``.
        scenarios: the worlds; ``history`` is the warm-up.
        config: execution, costs and limits.
        reducer: a per-world reduction run inside the day loop (`Reducer`), whose `finalize` output becomes
            ``result.summary``; None: no summary. `stressgen.backtest` passes the risk metrics.
        metrics_only: keep only the reducer's summary (no ``[worlds, time]`` series); needs a reducer.
        chunk_size: run the worlds in chunks of this many (one compiled program: the last chunk is padded),
            so memory is bounded by the chunk; the results are the same as in one piece. Default: one
            piece, except on CPU devices a metrics-only run, which runs equal chunks of at most
            `CPU_CHUNK_PER_DEVICE` worlds per device, and a vectorized strategy, whose chunks hold about
            `VECTOR_CHUNK_BYTES` per array and device (both faster, see there).
        devices: split each chunk's worlds over this many devices of the default backend (default: all;
            on a CPU that is one per core, see `stressgen.devices`); the results are the same for any count.
            A strategy that calls LAPACK (jnp.linalg) runs on one CPU device: see `_library_free`.
        check: run the validation probe (and the look-ahead proof for vectorized strategies) first.
        debug: run world `debug_world` eagerly without jit (breakpoints and prints work in `step`).
    Raises:
        ConfigError: ``metrics_only=True`` without a reducer, a reducer that is not a hashable `Reducer`,
            bad sizes. StrategyError / LookAheadError: the strategy broke a rule (named).
    """
    if reducer is not None:
        check_reducer(reducer)
    elif metrics_only:
        raise ConfigError("backtest(metrics_only=True) keeps only the per-world summary, which needs a reducer: "
                          "pass reducer=... or call stressgen.backtest / stressgen.world_metrics (risk metrics)")
    n_dev = dev.n_devices(devices)
    if debug:
        from ._debug import debug_run
        return debug_run(strategy, scenarios, config, debug_world, reducer, check)
    grid, base, tier, batched, inputs = _prepare(strategy, scenarios, config, reducer)
    name = strategy_name(base)
    # a strategy that calls LAPACK on CPU runs on one device, one such program at a time: see _library_free
    on_cpu = jax.default_backend() == "cpu"
    lapack = _uses_lapack(tier, batched, scenarios, inputs)
    if lapack:
        n_dev = 1
    with _one_at_a_time(lapack):
        if check and tier == VECTOR:
            prove_causal(batched, inputs.history, np.asarray(scenarios.log_returns[0]), lag=config.lag,
                         name=name, grid=grid)
        returns = jnp.asarray(scenarios.log_returns)
        n = returns.shape[0]
        if chunk_size is not None:
            check_sizes(chunk_size=chunk_size)
        # a vectorized strategy's arrays grow with the worlds whether or not the series are kept: chunk it always
        cap = vector_chunk_cap(inputs.history.shape[0] + scenarios.horizon, scenarios.n_assets) \
            if tier == VECTOR else CPU_CHUNK_PER_DEVICE
        size = chunk_worlds(n, n_dev, chunk_size, auto=on_cpu and (metrics_only or tier == VECTOR),
                            cap_per_device=cap)
        mode = "metrics" if metrics_only else "full"
        mesh = dev.world_mesh(n_dev)
        if n_dev > 1:
            # placed on every device here, once per value (see _on_every_device): left to each call, the
            # copies cost about 1.5 ms a call (CPU, two devices), 5-10% of a 10,000-world run
            batched, inputs = _on_every_device((batched, inputs), mesh)

        Part = tuple[dict[str, np.ndarray] | None, dict[str, jax.Array]]

        def finish(start: int, out: tuple[jax.Array | None, dict[str, jax.Array]]) -> Part:
            packed, daily = out
            if check and start == 0:
                _validate(name, daily, config, grid)
            keep = min(size, n - start)
            # daily series come back on the default device, as from a one-device run, so they mix with others
            home = jax.config.jax_default_device or jax.devices()[0]
            daily = {k: jax.device_put(v, home) for k, v in daily.items() if k != "probe"}
            summary = None if reducer is None else reducer.finalize(jax.device_get(packed), scenarios.horizon)
            return jax.tree_util.tree_map(lambda x: x[:, :keep], (summary, daily))

        # One chunk ahead: the devices run the next chunk while the host finishes the previous one (the
        # host's share is small), and at most two chunks' inputs are alive at once. The first chunk is
        # finished, and so validated, before the second starts: a bad strategy stops the run at once.
        parts: list[Part] = []
        pending = None
        for start in range(0, n, size):
            out = _program(tier, batched, _place(returns, start, size, mesh), inputs, lag=config.lag,
                           long_only=config.long_only, mode=mode, reducer=reducer, n_devices=n_dev,
                           periods_per_year=config.periods_per_year)
            if start == 0:
                parts.append(finish(start, out))
                continue
            if pending is not None:
                parts.append(finish(*pending))
            pending = (start, out)
        if pending is not None:
            parts.append(finish(*pending))
        summary, daily = parts[0] if len(parts) == 1 else \
            jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=1) if isinstance(xs[0], np.ndarray)
                                   else jnp.concatenate(xs, axis=1), *parts)
        if lapack:  # the lock covers the programs, not only their dispatch
            daily = jax.block_until_ready(daily)
        squeeze: Callable[[Any], Any] = (lambda x: x) if grid else (lambda x: None if x is None else x[0])
        return BacktestResult(
            pnl=squeeze(daily.get("pnl")), equity=squeeze(daily.get("equity")),
            turnover=squeeze(daily.get("turnover")), costs=squeeze(daily.get("costs")),
            summary=None if summary is None else {k: squeeze(v) for k, v in summary.items()}, strategy=name,
            params=dict(grid.values) if grid else None, config=config)


def world_metrics(strategy: Any, scenarios: Scenarios, config: BacktestConfig = BacktestConfig(), *,
                  reducer: Reducer, chunk_size: int | None = None, devices: int | None = None,
                  check: bool = True) -> dict[str, np.ndarray]:
    """The reducer's per-world summary only, as NumPy arrays ``[worlds]`` (``[params, worlds]`` for a grid),
    computed inside the time loop (no daily series is kept). `stressgen.world_metrics` passes the risk
    metrics."""
    res = backtest(strategy, scenarios, config, reducer=reducer, metrics_only=True, chunk_size=chunk_size,
                   devices=devices, check=check)
    assert res.summary is not None  # a reducer always leaves one
    return {k: np.asarray(v) for k, v in res.summary.items()}

"""Devices: one JAX CPU device per core, and the mesh that splits worlds over devices.

Why: XLA-CPU runs each of the engine's small per-day kernels on one thread, so a program on one CPU device
uses one core however many the machine has. JAX can present the CPU as several devices
(``jax_num_cpu_devices``); the engine then runs a slice of the worlds on each with `jax.shard_map`. Worlds
are independent, so the slices never communicate, and every world runs the same elementwise code whatever
slice it lands in: world i is bit-identical for any number of devices (tests check it).

`use_cpu_cores` is an explicit call, never an import side effect: importing `stressgen` leaves JAX's
configuration alone. The ``stressgen`` command (cli.main) and `stressgen.pipeline.run` call it on entry;
a library user who wants every core calls it before their first JAX operation. It changes nothing when JAX
has already started or when the user chose a CPU device count
(``jax_num_cpu_devices`` or ``--xla_force_host_platform_device_count``). On a machine whose default devices
are GPUs the engine splits over the GPUs; the CPU count set here only concerns JAX's CPU backend there.
``STRESSGEN_CPU_DEVICES=n`` asks for n instead (empty means unset). Work that is not split keeps running on
the default device, as before.
"""

from __future__ import annotations

import concurrent.futures
import operator
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import ConfigError

__all__ = ["ENV", "CACHE_ENV", "WORLDS", "use_cpu_cores", "use_compilation_cache", "n_devices",
           "world_mesh", "worlds_sharding", "parallel_map", "MAX_THREADS"]

ENV = "STRESSGEN_CPU_DEVICES"
CACHE_ENV = "STRESSGEN_COMPILE_CACHE"

CACHE_MAX_BYTES = 2 << 30  # JAX evicts the least recently used programs beyond this
WORLDS = "worlds"  # the mesh axis that worlds are split along
MAX_THREADS = 4  # `parallel_map`: more programs at once only adds memory on a CPU-bound machine
T = TypeVar("T")
R = TypeVar("R")


def use_compilation_cache(directory: str | os.PathLike | None = None) -> str | None:
    """Keep XLA's compiled programs on disk, so that the next process skips compiling them.

    Why: a stress run compiles one program per strategy and shape (a few seconds each on a small CPU);
    with the cache a second `stressgen run` of the same spec spends its time computing. The cache is JAX's
    own (keyed by the program, the backend and the compiler flags, so a stale entry is never used) in
    `directory`, else ``$STRESSGEN_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/stressgen/xla`` (by default
    ``~/.cache/stressgen/xla``), bounded to `CACHE_MAX_BYTES`. ``STRESSGEN_COMPILE_CACHE=off`` turns it off.
    The CLI calls this when it loads a spec; library code opts in by calling it. Returns the directory used,
    or None when off or when the user already set JAX's ``jax_compilation_cache_dir``.
    """
    if jax.config.jax_compilation_cache_dir is not None:
        return None
    chosen = directory if directory is not None else os.environ.get(CACHE_ENV, "").strip()
    if str(chosen).lower() == "off":
        return None
    if not chosen:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        chosen = os.path.join(base, "stressgen", "xla")
    chosen = os.path.abspath(os.fspath(chosen))
    try:
        os.makedirs(chosen, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"compilation cache {chosen}: cannot create it ({exc}); set {CACHE_ENV} to a "
                          "writable directory, or to off") from None
    jax.config.update("jax_compilation_cache_dir", chosen)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)  # small programs: not worth a file
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return chosen


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, with up to `workers` calls at once in threads (default: the usable
    cores, at most `MAX_THREADS`); results in the items' order, the first failure (in that order) raised.

    Why: the stages run one program per strategy, and XLA compiles a program without holding the GIL, so on
    a cold start two strategies compile at once (a cold quickstart run spends about 15 s compiling). Each
    call is the same computation as in a loop, so the numbers do not change.
    """
    n = min(len(items), workers or min(_cores(), MAX_THREADS))
    if n <= 1:
        return [fn(x) for x in items]
    with concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix="stressgen") as pool:
        futures = [pool.submit(fn, x) for x in items]
        return [f.result() for f in futures]


def _cores() -> int:
    try:
        # the logical CPUs this process may run on (taskset, cpusets); a CPU quota (docker --cpus) does not
        # show here: set STRESSGEN_CPU_DEVICES there
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_cpu_cores(n: int | None = None) -> int:
    """Ask JAX for `n` CPU devices (default: ``$STRESSGEN_CPU_DEVICES``, else one per usable core).

    Returns the count asked for, or 0 when nothing was changed: JAX had started its backends already, or
    the user set the count through JAX's own config or ``XLA_FLAGS``.

    Raises:
        ConfigError: ``$STRESSGEN_CPU_DEVICES`` (or `n`) is not a positive integer.
    """
    if n is None:
        raw = os.environ.get(ENV, "").strip()
        if raw:
            try:
                n = int(raw)
            except ValueError:
                n = 0
            if n < 1:
                raise ConfigError(f"environment variable {ENV}={raw!r}: expected a positive integer")
    elif n < 1:
        raise ConfigError(f"use_cpu_cores(n={n}): expected a positive integer")
    if jax.config.jax_num_cpu_devices != -1 or "xla_force_host_platform_device_count" in os.environ.get(
            "XLA_FLAGS", ""):
        return 0
    n = n or _cores()
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backends started already (JAX ran before this call)
        return 0
    return n


def n_devices(requested: int | None = None) -> int:
    """How many of the default backend's devices to split worlds over: all of them, or `requested`."""
    available = jax.device_count()
    if requested is None:
        return available
    try:
        n = operator.index(requested) if not isinstance(requested, bool) else 0
    except TypeError:
        n = 0
    if not 1 <= n <= available:
        raise ConfigError(f"devices={requested!r}: expected an integer from 1 to {available} "
                          f"(the {jax.default_backend()} devices JAX sees)")
    return n


def world_mesh(n: int) -> Mesh:
    """A one-axis mesh over the first `n` devices of the default backend."""
    return Mesh(np.asarray(jax.devices()[:n]), (WORLDS,))


def worlds_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading (worlds) axis of an array over the mesh."""
    return NamedSharding(mesh, PartitionSpec(WORLDS))

"""Devices: one JAX CPU device per core, and the mesh that splits worlds over devices.

Why: XLA-CPU runs each of the engine's small per-day kernels on one thread, so a program on one CPU device
uses one core however many the machine has. JAX can present the CPU as several devices
(``jax_num_cpu_devices``); the engine then runs a slice of the worlds on each with `jax.shard_map`. Worlds
are independent, so the slices never communicate, and every world runs the same elementwise code whatever
slice it lands in: world i is bit-identical for any number of devices (tests check it).

`use_cpu_cores` is an explicit call, never an import side effect: importing `stressgen` leaves JAX's
configuration alone. The ``stressgen`` command (cli.main) and `stressgen.pipeline.run` call it on entry;
a library user who wants every core calls it before their first JAX operation. It changes nothing when JAX has already started or when the user chose a CPU device count
(``jax_num_cpu_devices`` or ``--xla_force_host_platform_device_count``). On a machine whose default devices
are GPUs the engine splits over the GPUs; the CPU count set here only concerns JAX's CPU backend there.
``STRESSGEN_CPU_DEVICES=n`` asks for n instead (empty means unset). Work that is not split keeps running on
the default device, as before.
"""

from __future__ import annotations

import operator
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import ConfigError

__all__ = ["ENV", "WORLDS", "use_cpu_cores", "n_devices", "world_mesh", "worlds_sharding"]

ENV = "STRESSGEN_CPU_DEVICES"
WORLDS = "worlds"  # the mesh axis that worlds are split along


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

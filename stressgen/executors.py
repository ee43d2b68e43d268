"""Executors: where a run's chunk tasks execute (in this process, a local process pool, or a Ray cluster).

Why: a chunk task is a pure function of (spec text, chunk index) that writes its own file, so it can run
anywhere that sees the chunk directory. The pipeline only needs a `concurrent.futures.Executor` to submit
it to; this module builds the ones that `stressgen run --executor` names. Any other Executor works too.

`RayExecutor` adapts Ray to that interface: each `submit` is a Ray task with `max_retries` (Ray reruns a
task whose worker process or node died; an exception raised by the task itself is not retried, it reaches
the caller through the future). Ray is imported only when a RayExecutor is built, so ``import stressgen``
never pays for it and Ray stays an optional extra (``pip install 'stressgen[ray]'``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import logging
import multiprocessing
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, final

from .errors import ConfigError

__all__ = ["EXECUTORS", "RayExecutor", "executor_for"]

EXECUTORS: Final = ("local", "processes", "ray")
CONNECT_TIMEOUT_S: Final = 5.0  # Ray itself keeps retrying an unreachable head for minutes
_INSTALL = "pip install 'stressgen[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"executor 'ray': Ray is not installed ({exc}); {_INSTALL}") from None
    return ray


def _check_reachable(address: str) -> None:
    """Refuse quickly an address whose host:port does not accept a connection ('auto' is left to Ray)."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"Ray address {address!r}: cannot connect ({exc}); expected the head node's "
                          "host:port of a running cluster (`ray start --head` prints it)") from None


def _call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    # Ray makes remote functions of plain functions only; other callables (partials, bound methods,
    # instances with __call__) ride through this one as an argument
    return fn(*args, **kwargs)


@final
class RayExecutor(cf.Executor):
    """Runs each submitted call as a Ray task, retried up to `max_retries` times if its worker dies.

    If Ray is not initialised in this process, the constructor connects to `address` (None: start a Ray
    instance on this machine; ``"auto"``: the cluster this node belongs to) and `shutdown` disconnects.
    If Ray is initialised already (a test's cluster, a notebook's session), it is used as it is, `address`
    is ignored, and `shutdown` leaves it running. `num_cpus` and `num_gpus` are what Ray reserves for each
    task; a fraction of a GPU (0.25: four tasks share one) is how several JAX processes share a GPU, and a
    task that asks for no GPU may be shown none (Ray versions differ), so GPU runs must ask.

    Raises:
        ConfigError: Ray is not installed, the arguments are out of range, or `address` is unreachable.
    """

    def __init__(self, *, address: str | None = None, max_retries: int = 3, num_cpus: float = 1.0,
                 num_gpus: float = 0.0):
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"RayExecutor(max_retries={max_retries!r}): expected an integer >= 0")
        for field, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"RayExecutor({field}={value!r}): expected a number >= 0")
        ray = _import_ray()
        self._ray = ray
        self._options = {"max_retries": max_retries, "num_cpus": num_cpus, "num_gpus": num_gpus,
                         "retry_exceptions": False}
        self._remote: dict[Callable[..., Any], Any] = {}  # fn -> its remote function, built once
        self._pending: dict[cf.Future, Any] = {}  # future -> ObjectRef, held until the result arrives
        self._lock = threading.Lock()
        self._closed = False
        self._owns = not ray.is_initialized()
        if self._owns:
            target = address if address is not None else os.environ.get("RAY_ADDRESS") or None
            if target is not None:  # None and no RAY_ADDRESS: Ray joins `ray start`'s cluster or starts one
                _check_reachable(target)
            try:
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=False)  # task failures arrive as exceptions; worker logs stay in Ray's
            except (ConnectionError, ValueError) as exc:  # no cluster there, or not an address at all
                raise ConfigError(f"Ray address {target!r}: cannot connect ({exc})") from None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        if not inspect.isfunction(fn):
            fn, args = _call, (fn, *args)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            remote = self._remote.get(fn)
            if remote is None:  # building one exports the function to the cluster: once per function
                remote = self._remote[fn] = self._ray.remote(fn).options(**self._options)
            ref = remote.remote(*args, **kwargs)
            future = ref.future()
            self._pending[future] = ref
        future.add_done_callback(self._forget)
        return future

    def _cancel(self, pending: dict[cf.Future, Any], *, again: bool) -> None:
        """Cancel the tasks of `pending` not finished yet; with `again`, repeat until each is done.

        Why repeat: Ray can miss a cancel that races with the task's dispatch to a worker (ray-project/ray
        issues 24359 and 52703). It was seen here once, under load: the failed run then waited for its whole
        task. Bounded: after `_CANCEL_TRIES` rounds of half a second, the caller's wait takes over.
        """
        for _ in range(_CANCEL_TRIES if again else 1):
            live = [f for f in pending if not f.done()]
            if not live:
                return
            for future in live:
                # force: end the worker process now rather than at its next Python bytecode (a task in a
                # long XLA call would not see the interrupt); stressgen's tasks write atomically, so a
                # killed one leaves no partial file
                with contextlib.suppress(Exception):  # finished meanwhile, or its node is gone
                    self._ray.cancel(pending[future], force=True)
            if again:
                cf.wait(live, timeout=0.5)

    def _forget(self, future: cf.Future) -> None:
        with self._lock:
            self._pending.pop(future, None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; `cancel_futures` cancels the Ray tasks not finished yet, `wait` waits for
        the rest. Disconnects from Ray if this executor connected (which ends its unfinished tasks)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = dict(self._pending)
        if cancel_futures:
            self._cancel(pending, again=wait)
        if wait:
            cf.wait(pending)
        self._remote.clear()
        if self._owns:
            self._ray.shutdown()


_CANCEL_TRIES = 60  # rounds of cancels of half a second each (`RayExecutor._cancel`): 30 s at most


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (taskset, cpusets)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def executor_for(name: str, *, address: str | None = None,
                 workers: int | None = None) -> Iterator[cf.Executor | None]:
    """The executor that ``--executor NAME`` asks for, shut down on exit (pending tasks are cancelled when
    the block raises). Yields None for ``"local"``: the caller runs the chunks in its own process.

    `address` is the Ray cluster's (``"ray"`` only); `workers` the process count (``"processes"`` only,
    default one per usable core).

    Raises:
        ConfigError: unknown name, an option the executor does not take, or a RayExecutor's errors.
    """
    if name not in EXECUTORS:
        raise ConfigError(f"executor {name!r}: expected one of {', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise ConfigError(f"address {address!r} is for executor 'ray' only, not {name!r}")
    if workers is not None and name != "processes":
        raise ConfigError(f"workers={workers!r} is for executor 'processes' only, not {name!r} "
                          "(Ray schedules on the cluster's CPUs)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers={workers!r}: expected a positive integer")
    if name == "local":
        yield None
        return
    executor: cf.Executor
    if name == "processes":
        # spawn, not fork: a forked child inherits a copy of JAX's runtime (its thread pools, locks held
        # by threads that do not exist in the child), which is not fork-safe and can deadlock
        executor = cf.ProcessPoolExecutor(max_workers=workers or _cores(),
                                          mp_context=multiprocessing.get_context("spawn"))
    else:
        executor = RayExecutor(address=address)
    ok = False
    try:
        yield executor
        ok = True
    finally:
        executor.shutdown(wait=True, cancel_futures=not ok)

"""Toy tasks for tests/test_executors.py, in their own light module: Ray workers and spawned processes
import it by name (Ray ships a function of an importable module by reference), so it must not import
pytest, JAX or the test module."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def checksum(n: int, seed: int = 0) -> int:
    """Some arithmetic whose result depends on every step (a 64-bit LCG): equal results mean equal work."""
    x = seed
    for i in range(n):
        x = (6364136223846793005 * x + 1442695040888963407 + i) % (1 << 64)
    return x


def die_once(marker: str, n: int) -> int:
    """SIGKILLs its own process the first time (when `marker` does not exist yet), like a lost worker."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return checksum(n)


def fail_counting(log: str) -> None:
    """Appends a line per attempt to `log`, then fails the way a bug in a task would."""
    with open(log, "a") as fh:
        fh.write("attempt\n")
    raise ValueError("task failed on purpose")


def nap(seconds: float) -> float:
    """Sleeps: a task still running when its executor is shut down."""
    import time

    time.sleep(seconds)
    return seconds

"""A small bounded cache for the engine's per-process memos (look-ahead proofs, library
checks, placed inputs).

Why bounded: each memo is keyed by a strategy's structure and shapes (or an input's bytes), so a long-lived
process (a notebook, a parameter sweep over static fields, a server) would otherwise keep every key it ever
saw. Least recently used entries go first; a dropped entry only costs its check or placement again.

Thread-safe: the run backtests several strategies at once in threads (`devices.parallel_map`), so every
read and write holds a lock; a value is computed outside it (two threads may compute the same entry once
each, which only costs time).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["LRU"]


class LRU:
    """At most `maxsize` entries; `get_or_compute` and `put` make an entry the most recently used."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value of `key`, or `compute()` stored under it (values may be None)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

"""A bounded, thread-safe memo where each distinct key is computed once ("single flight").

Why: hosts of a fleet mostly share files and state, so the Dovecot edit, the master.cf
edit and most diffs are the same computation on the same bytes. With 50 hosts planned at
once, their facts arrive together: a plain check-then-store cache let every thread miss
and compute the same thing (the Dovecot tree was parsed ~8 times per host). Here the
first thread computes and the others wait for its result.

Keys must hold digests, not contents, and values must be immutable (bytes, str, tuples).
When the computing thread fails, each waiting thread computes for itself, so every
host reports its own error exactly as it would without the memo.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedMemo(Generic[T]):
    """`get(key, compute)`: the memoized value, computed by exactly one thread per key."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Future[T]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            pending = self._entries.get(key)
            if pending is None:
                if len(self._entries) >= self._max:
                    self._entries.clear()
                pending = self._entries[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            try:
                return pending.result()
            except Exception:  # the owner failed: compute (and fail) on our own
                return compute()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                if self._entries.get(key) is pending:
                    del self._entries[key]
            pending.set_exception(exc)
            raise
        pending.set_result(value)
        return value

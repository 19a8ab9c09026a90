"""SharedMemo: one computation per key even when many hosts ask at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailstate.engine.memo import SharedMemo


def test_concurrent_callers_share_one_computation() -> None:
    memo: SharedMemo[bytes] = SharedMemo(8)
    calls = 0
    gate = threading.Event()

    def compute() -> bytes:
        nonlocal calls
        calls += 1
        gate.wait(5)  # hold the first caller until all others are asking too
        return b"edited"

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(memo.get, "same-digest", compute) for _ in range(20)]
        time.sleep(0.2)
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [b"edited"] * 20
    assert calls == 1


def test_a_failed_computation_is_not_cached_and_waiters_get_their_own_result() -> None:
    memo: SharedMemo[str] = SharedMemo(8)
    started, release = threading.Event(), threading.Event()

    def failing() -> str:
        started.set()
        release.wait(5)
        raise ValueError("broken live file")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(memo.get, "k", failing)
        assert started.wait(5)
        waiter = pool.submit(memo.get, "k", lambda: "computed by the waiter")
        time.sleep(0.1)
        release.set()
        with pytest.raises(ValueError, match="broken live file"):
            first.result(timeout=10)
        assert waiter.result(timeout=10) == "computed by the waiter"
    assert memo.get("k", lambda: "fresh") == "fresh"  # the failure was not cached


def test_memo_is_bounded() -> None:
    memo: SharedMemo[int] = SharedMemo(3)
    for i in range(10):
        assert memo.get(i, lambda i=i: i * 2) == i * 2
    assert memo.get(0, lambda: -1) == -1  # evicted long ago: computed again

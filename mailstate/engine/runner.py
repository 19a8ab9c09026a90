"""Many hosts at once: a bounded thread pool, failure isolation, batches, Ctrl-C safety.

SSH work is I/O bound, so threads are the right tool; each host gets its own connection
and a failure on one host is its result, never an exception that stops the others: even
an exception nobody expected (a bug, a library error) becomes that host's result through
`crashed`, and the rest of the fleet goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mailstate.diagnostics import Diagnostic

T = TypeVar("T")
H = TypeVar("H")

DEFAULT_FORKS = 50


@dataclass
class RunOutcome(Generic[T]):
    """Results in inventory order, plus what was skipped and why."""

    results: list[T] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    stopped_reason: str = ""


def batches(items: Sequence[H], serial: int | None) -> list[Sequence[H]]:
    """Split hosts into rolling batches of `serial` (all at once when not set)."""
    if not serial or serial <= 0:
        return [items] if items else []
    return [items[i:i + serial] for i in range(0, len(items), serial)]


def unexpected(host: str, exc: BaseException) -> Diagnostic:
    """An exception nobody anticipated, as that host's error (never a traceback)."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Diagnostic("error", f"{host}: unexpected error: {what}", code="internal",
                      detail="the other hosts were not affected; this host's files are "
                             "whole (old or new, as the report says)",
                      fix="run `mailstate plan` for this host to see its state; if the "
                          "error repeats, report it with this message")


def run_hosts(hosts: Sequence[H], work: Callable[[H], T], *, name: Callable[[H], str],
              failed: Callable[[T], bool], crashed: Callable[[H, Exception], T],
              forks: int = DEFAULT_FORKS,
              serial: int | None = None, max_fail_percent: float | None = None,
              on_start: Callable[[H], None] | None = None,
              on_done: Callable[[H, T], None] | None = None) -> RunOutcome[T]:
    """Run `work` for every host; stop starting new batches once too many failed."""
    outcome: RunOutcome[T] = RunOutcome()
    by_name: dict[str, T] = {}
    stop = threading.Event()
    for batch in batches(hosts, serial):
        if stop.is_set() or outcome.stopped_reason:
            outcome.skipped += [name(h) for h in batch]
            continue
        done = _run_batch(batch, _Work(work, crashed), name, forks, stop, on_start, on_done,
                          outcome)
        by_name.update(done)
        batch_failed = sum(1 for r in done.values() if failed(r))
        if max_fail_percent is not None and batch and \
                100.0 * batch_failed / len(batch) > max_fail_percent:
            outcome.stopped_reason = (f"{batch_failed} of {len(batch)} hosts failed in a batch "
                                      f"(more than --max-fail {max_fail_percent:g}%)")
    outcome.results = [by_name[name(h)] for h in hosts if name(h) in by_name]
    return outcome


@dataclass(frozen=True)
class _Work(Generic[H, T]):
    """`work` for one host, with any exception turned into that host's result."""

    work: Callable[[H], T]
    crashed: Callable[[H, Exception], T]

    def __call__(self, host: H) -> T:
        try:
            return self.work(host)
        except Exception as exc:  # one host's surprise must not stop the fleet
            return self.crashed(host, exc)


def _run_batch(batch: Sequence[H], work: Callable[[H], T], name: Callable[[H], str],
               forks: int, stop: threading.Event, on_start: Callable[[H], None] | None,
               on_done: Callable[[H, T], None] | None, outcome: RunOutcome[T]) -> dict[str, T]:
    results: dict[str, T] = {}
    pending = list(batch)
    running: dict[Future[T], H] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(batch)))) as pool:
        try:
            while pending or running:
                while pending and len(running) < forks and not stop.is_set():
                    host = pending.pop(0)
                    if on_start:
                        on_start(host)
                    running[pool.submit(work, host)] = host
                if stop.is_set():
                    outcome.skipped += [name(h) for h in pending]
                    pending.clear()
                finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    host = running.pop(future)
                    results[name(host)] = future.result()
                    if on_done:
                        on_done(host, results[name(host)])
        except KeyboardInterrupt:
            # Hosts mid-apply finish (or roll back) on their own; start nothing new.
            stop.set()
            outcome.interrupted = True
            outcome.skipped += [name(h) for h in pending]
            pending.clear()
            for future, host in running.items():
                results[name(host)] = future.result()
                if on_done:
                    on_done(host, results[name(host)])
    return results

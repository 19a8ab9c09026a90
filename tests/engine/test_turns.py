"""The workers of a run take turns for their pure computation (engine/turns.py).

A 100-host plan spends ~9 % less CPU when the hosts' facts parsing and plan building run
one after another instead of 50 threads taking the GIL from each other: this holds that
`plan_host` parses the facts and builds the plan under `COMPUTE`, and reads the host
without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstate.engine import hooks
from mailstate.engine.plan import HostPlan, plan_host
from mailstate.engine.turns import COMPUTE
from mailstate.inventory import HostSpec
from mailstate.model import load_state
from mailstate.transport.base import Result
from mailstate.transport.local import LocalConnection

REPO = Path(__file__).resolve().parents[2]


class _Noting(LocalConnection):
    """This machine's files, noting when the facts command has been answered."""

    def __init__(self) -> None:
        super().__init__("local")
        self.read = threading.Event()

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        result = super().run(command, stdin, timeout)
        self.read.set()
        return result


@pytest.fixture
def facts_read() -> Iterator[tuple[threading.Event, threading.Event]]:
    """(reached, go on): the worker stops at the `facts-read` point until told to."""
    reached, go_on = threading.Event(), threading.Event()

    def point(name: str, host: str) -> None:
        if name == "facts-read":
            reached.set()
            assert go_on.wait(20)

    hooks.register(point=point)
    try:
        yield reached, go_on
    finally:
        hooks._POINTS.remove(point)


def _plan_in_thread(conn: LocalConnection) -> tuple[threading.Thread, list[HostPlan]]:
    state = load_state([REPO / "states" / "hardened.yaml"]).state
    out: list[HostPlan] = []
    worker = threading.Thread(
        target=lambda: out.append(plan_host(HostSpec("local", "local"), state, conn)))
    worker.start()
    return worker, out


def test_the_facts_are_parsed_in_turn_and_read_without_waiting(
        facts_read: tuple[threading.Event, threading.Event]) -> None:
    reached, go_on = facts_read
    go_on.set()
    conn = _Noting()
    with COMPUTE:  # another worker is computing
        worker, out = _plan_in_thread(conn)
        assert conn.read.wait(20)  # the host is read meanwhile
        assert not reached.wait(0.5)  # its facts wait for their turn to be parsed
    worker.join(20)
    assert reached.is_set() and out and out[0].host == "local"


def test_the_plan_is_built_in_turn(facts_read: tuple[threading.Event, threading.Event]
                                   ) -> None:
    reached, go_on = facts_read
    worker, out = _plan_in_thread(_Noting())
    assert reached.wait(20)  # facts read and parsed
    with COMPUTE:  # another worker is computing
        go_on.set()
        worker.join(0.5)
        assert worker.is_alive() and not out  # the plan waits for its turn
    worker.join(20)
    assert out and out[0].host == "local"

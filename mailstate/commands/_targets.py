"""What plan, apply and rollback share: which hosts, with which state, over which SSH.

Options are declared once here so every host-facing command reads the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mailstate.diagnostics import Diagnostic, MailstateError, error

if TYPE_CHECKING:
    from mailstate.inventory import HostSpec, Inventory
    from mailstate.model import MailState
    from mailstate.transport.base import Connection, Result, RunningCommand
    from mailstate.transport.ssh import SshOptions

RETRY_FILE = "mailstate.retry"
T = TypeVar("T")


def add_target_args(parser: argparse.ArgumentParser, inventory_required: bool = True) -> None:
    """-i/--limit/vault options (mailstate.inventory.cli), --forks/--json, SSH switches."""
    from mailstate.inventory.cli import add_inventory_args

    add_inventory_args(parser)
    parser.add_argument("-f", "--forks", type=int, default=50, metavar="N",
                        help="hosts worked on at once (default 50)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--accept-new", action="store_true",
                        help="trust and record host keys not yet in known_hosts "
                             "(a CHANGED key is always refused)")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for a host to answer (default 10)")
    parser.add_argument("-K", "--ask-become-pass", action="store_true",
                        help="ask once for the sudo password (hosts with ansible_become)")


@dataclass
class Target:
    """One host with its merged desired state (or the error that prevented merging)."""

    host: HostSpec
    state: MailState | None
    problems: list[Diagnostic]
    inventory: Inventory | None = None

    def place(self, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        """Give each diagnostic about a key of the state (extra `state_path`, no location)
        the file:line where the host's states write that key.

        Why here: plan and apply merge states without positions (indexing them costs
        ~0.5 ms a host); only a host that fails on a state key pays for them, once.
        """
        unplaced = [d for d in diagnostics if d.location is None and d.extra.get("state_path")]
        if not unplaced or self.inventory is None:
            return diagnostics
        from dataclasses import replace

        from mailstate.inventory.states import resolve_state

        try:
            resolved = resolve_state(self.host, self.inventory)
        except MailstateError:
            return diagnostics
        return [replace(d, location=resolved.locate(tuple(d.extra["state_path"])))
                if d in unplaced else d for d in diagnostics]


def load_targets(args: argparse.Namespace) -> tuple[Inventory, list[Target]]:
    """Inventory -> selected hosts -> merged, validated state per host."""
    inventory, hosts = select_hosts(args)
    return inventory, merge_states(inventory, hosts)


def select_hosts(args: argparse.Namespace) -> tuple[Inventory, list[HostSpec]]:
    """The inventory and the hosts --limit selects (no state yet: no pydantic import)."""
    from mailstate.inventory.cli import inventory_from_args

    inventory = inventory_from_args(args)
    hosts = inventory.select(args.limit)
    if not hosts:
        raise error("no host matched", fix="check --limit against the inventory")
    return inventory, hosts


def early_connections(inventory: Inventory, hosts: list[HostSpec], options: SshOptions,
                      count: int) -> EarlyConnections:
    """The first `count` hosts connected, each running the facts command its state
    files tell (`_prefetch`), while this thread imports the models and merges states."""
    from mailstate.commands._prefetch import first_commands

    return EarlyConnections(hosts, options, count,
                            lambda chosen: first_commands(inventory, chosen))


def merge_states(inventory: Inventory, hosts: list[HostSpec]) -> list[Target]:
    """Each host's merged, validated state; a host whose state fails carries its errors."""
    from mailstate.inventory import shared_state

    targets = []
    for host in hosts:
        try:
            targets.append(Target(host, shared_state(host, inventory), [], inventory))
        except MailstateError as exc:
            targets.append(Target(host, None, exc.diagnostics))
    return targets


class EarlyConnections:
    """SSH connections opened, and first commands started, while the models import.

    Why: a run's first ~0.15 s are imports (pydantic and the models, the engine) and
    state merging, all CPU in this process, while an SSH handshake and the facts command
    are mostly work and waiting on the host. So the hosts the runner starts first
    (`count`: min(forks, batch, hosts)) are connected in background threads right after
    the inventory is read, each runs at once the facts command its state files say it
    will need (`first`, see `_prefetch`; it only reads), and a worker `take`s its host's
    connection instead of connecting. Same errors, same order of events for the host;
    what changes is only when the handshake and the first read happen. A host whose
    state then fails to merge gets a connection that is closed unused, so nothing but
    an SSH login (and that read) reaches it. Not used with --accept-new (a host key must
    not be recorded for a host that the run then refuses) or for a host whose
    connection variables are already known to be wrong.
    """

    def __init__(self, hosts: list[HostSpec], options: SshOptions, count: int,
                 first: Callable[[list[HostSpec]], dict[str, str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, _Opening] = {}
        if count <= 0 or options.accept_new:
            return
        # What a connect imports, imported here: an import inside a thread while the
        # main thread imports the models could meet a cycle (and Python's deadlock
        # detection would fail one of them).
        import encodings.idna  # noqa: F401  (socket's hostname encoding)

        from mailstate import inputs  # noqa: F401  (key and known_hosts reads)
        from mailstate.transport.ssh import connect

        chosen = [h for h in hosts if not h.problems][:count]
        commands = first(chosen) if first is not None else {}
        for host in chosen:
            opening = _Opening(host.name)
            self._pending[host.name] = opening
            command = commands.get(host.name)
            # daemon: a host that never answers must not hold the process at exit
            threading.Thread(target=opening.run, args=(connect, host, options, command),
                             daemon=True, name=f"mailstate-connect-{host.name}").start()

    def take(self, host: HostSpec) -> Connection | None:
        """The host's connection (its connect error raised here), or None: connect now."""
        with self._lock:
            opening = self._pending.pop(host.name, None)
        return opening.result() if opening is not None else None

    def close(self) -> None:
        """Close every connection nobody took (the host's state failed, or Ctrl-C)."""
        with self._lock:
            left, self._pending = list(self._pending.values()), {}
        for opening in left:
            opening.abandon()

    def __enter__(self) -> EarlyConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Opening:
    """One connection being opened (and its first command run) in its own thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._conn: Connection | None = None
        self._error: BaseException | None = None

    def run(self, connect: Callable[[HostSpec, SshOptions], Connection], host: HostSpec,
            options: SshOptions, command: str | None) -> None:
        try:
            conn: Connection = connect(host, options)
        except BaseException as exc:  # raised again in the worker that takes it
            self._error = exc
            self._done.set()
            return
        if command is not None:
            try:
                outcome: Result | BaseException = conn.run(command)
            except BaseException as exc:  # the worker that sends the same command gets it
                outcome = exc
            conn = EarlyFirst(conn, command, outcome)
        with self._lock:
            if self._abandoned:
                with contextlib.suppress(Exception):
                    conn.close()
            else:
                self._conn = conn
        self._done.set()

    def result(self) -> Connection:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._conn is not None
        return self._conn

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class EarlyFirst:
    """A connection whose first command already ran, as soon as it was open.

    `run` of exactly that command (no stdin) answers with what the host answered to it,
    once; any other command runs as usual. The early command is read-only (the facts),
    so when the engine asks for another one nothing was changed on the host.
    """

    def __init__(self, conn: Connection, command: str, outcome: Result | BaseException
                 ) -> None:
        self._conn = conn
        self.name = conn.name
        self._early: tuple[str, Result | BaseException] | None = (command, outcome)

    @property
    def round_trips(self) -> int:
        return self._conn.round_trips

    @round_trips.setter
    def round_trips(self, value: int) -> None:
        self._conn.round_trips = value

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        early, self._early = self._early, None
        if early is not None and early[0] == command and not stdin:
            if isinstance(early[1], BaseException):
                raise early[1]
            return early[1]
        return self._conn.run(command, stdin, timeout)

    def start(self, command: str, stdin: bytes = b"") -> RunningCommand:
        self._early = None
        return self._conn.start(command, stdin)

    def close(self) -> None:
        self._conn.close()


def on_connection(target: Target, options: SshOptions,
                  work: Callable[[MailState, Connection], T],
                  failed: Callable[[list[Diagnostic]], T],
                  early: EarlyConnections | None = None) -> T:
    """Connect, run `work`, disconnect. A state that did not merge, a host that cannot
    be reached, or any exception at all becomes that host's own result (via `failed`),
    never an exception that stops the rest of the fleet."""
    state = target.state
    if state is None:
        return failed(target.problems)
    return with_connection(target, options, lambda conn: work(state, conn), failed, early)


def with_connection(target: Target, options: SshOptions, work: Callable[[Connection], T],
                    failed: Callable[[list[Diagnostic]], T],
                    early: EarlyConnections | None = None) -> T:
    """Connect (or take the connection `early` opened), run `work`, disconnect; every
    failure is the host's result (see above)."""
    from mailstate.engine.runner import unexpected
    from mailstate.transport.ssh import connect

    try:
        conn = early.take(target.host) if early is not None else None
        if conn is None:
            conn = connect(target.host, options)
    except MailstateError as exc:
        return failed(exc.diagnostics)
    except Exception as exc:  # a library error while connecting: this host's result
        return failed([unexpected(target.host.name, exc)])
    try:
        return work(conn)
    except MailstateError as exc:
        return failed(exc.diagnostics)
    except Exception as exc:
        return failed([unexpected(target.host.name, exc)])
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def ssh_options(args: argparse.Namespace, targets: Sequence[Target | HostSpec]) -> SshOptions:
    from mailstate.transport.ssh import SshOptions

    hosts = [t.host if isinstance(t, Target) else t for t in targets]
    password = None
    if args.ask_become_pass and any(h.become for h in hosts):
        password = getpass.getpass("BECOME password: ")
    return SshOptions(accept_new=args.accept_new, connect_timeout=args.connect_timeout,
                      become_password=password)


def write_retry(failed: list[str], stream_note: bool = True) -> str | None:
    """Failed hosts go to a retry file so `--limit @mailstate.retry` reruns only them."""
    path = Path(RETRY_FILE)
    if not failed:
        if path.exists():
            path.unlink()
        return None
    path.write_text("".join(f"{name}\n" for name in failed))
    if stream_note:
        sys.stderr.write(f"failed hosts written to {path} (rerun: --limit @{path})\n")
    return str(path)

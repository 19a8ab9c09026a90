"""What plan, apply and rollback share: which hosts, with which state, over which SSH.

Options are declared once here so every host-facing command reads the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mailstate.diagnostics import Diagnostic, MailstateError, error

if TYPE_CHECKING:
    from mailstate.inventory import HostSpec, Inventory
    from mailstate.model import MailState
    from mailstate.transport.base import Connection
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


def load_targets(args: argparse.Namespace) -> tuple[Inventory, list[Target]]:
    """Inventory -> selected hosts -> merged, validated state per host."""
    from mailstate.inventory import shared_state
    from mailstate.inventory.cli import inventory_from_args

    inventory = inventory_from_args(args)
    targets = []
    for host in inventory.select(args.limit):
        try:
            targets.append(Target(host, shared_state(host, inventory), []))
        except MailstateError as exc:
            targets.append(Target(host, None, exc.diagnostics))
    if not targets:
        raise error("no host matched", fix="check --limit against the inventory")
    return inventory, targets


def on_connection(target: Target, options: SshOptions,
                  work: Callable[[MailState, Connection], T],
                  failed: Callable[[list[Diagnostic]], T]) -> T:
    """Connect, run `work`, disconnect. A state that did not merge, a host that cannot
    be reached, or any exception at all becomes that host's own result (via `failed`),
    never an exception that stops the rest of the fleet."""
    state = target.state
    if state is None:
        return failed(target.problems)
    return with_connection(target, options, lambda conn: work(state, conn), failed)


def with_connection(target: Target, options: SshOptions, work: Callable[[Connection], T],
                    failed: Callable[[list[Diagnostic]], T]) -> T:
    """Connect, run `work`, disconnect; every failure is the host's result (see above)."""
    from mailstate.engine.runner import unexpected
    from mailstate.transport.ssh import connect

    try:
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


def ssh_options(args: argparse.Namespace, targets: list[Target]) -> SshOptions:
    from mailstate.transport.ssh import SshOptions

    password = None
    if args.ask_become_pass and any(t.host.become for t in targets):
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

"""`mailstate audit`: prove from the network that hosts are what their state says.

Admins want to verify hardening from outside rather than trust the configuration: this
probes every mail port of each host (as the guide's nmap scan does, in pure Python),
checks localhost-only listeners on the host itself with `ss -ltnH` over SSH, and
compares both with what the host's desired state implies. Exit 0 when everything
matches, 1 on any error-level finding.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailstate.audit.runner import Target
    from mailstate.inventory import HostSpec
    from mailstate.model import MailState
    from mailstate.transport.ssh import SshOptions

EPILOG = """\
examples:
  mailstate audit -i inventory/lab.yaml                 every host, against its state
  mailstate audit -i inventory/lab.yaml --limit h1 --cafile lab-ca.pem --json
  mailstate audit 10.231.0.11 --state hardened          one address, no SSH

exit codes: 0 everything matches, 1 any error-level finding
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "audit", help="probe mail ports from the network and compare with the state",
        description="Probe ports 25, 110, 143, 465, 587, 993, 995 (and any the state "
                    "names): open/closed, SMTP EHLO/STARTTLS/AUTH, IMAP/POP3 plaintext "
                    "login, TLS protocol/cipher/certificate; compare with the desired state.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("addresses", nargs="*", metavar="ADDRESS",
                        help="probe these addresses instead of an inventory's hosts")
    from mailstate.inventory.cli import add_inventory_args

    add_inventory_args(parser)
    parser.add_argument("--state", metavar="STATE",
                        help="with ADDRESS: compare with this state (name in states/ or file)")
    parser.add_argument("--cafile", metavar="FILE",
                        help="CA certificates to verify the servers' certificates against")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds per network operation of a probe (default 5)")
    parser.add_argument("--concurrency", type=int, default=16, metavar="N",
                        help="probes running at once, over all hosts (default 16)")
    parser.add_argument("--no-ssh", action="store_true",
                        help="do not run `ss -ltnH` on the hosts (localhost listeners unchecked)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--accept-new", action="store_true",
                        help="trust and record SSH host keys not yet in known_hosts")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for SSH (default 10)")
    parser.add_argument("-K", "--ask-become-pass", action="store_true",
                        help="ask once for the sudo password (hosts with ansible_become)")


def run(args: argparse.Namespace) -> int:
    from mailstate.audit.results import ProbeOptions
    from mailstate.audit.runner import audit
    from mailstate.diagnostics import error

    if args.cafile and not Path(args.cafile).is_file():
        raise error(f"CA file not found: {args.cafile}", file=args.cafile)
    if args.timeout <= 0 or args.concurrency < 1:
        raise error("--timeout must be > 0 and --concurrency >= 1")
    if args.addresses:
        targets = address_targets(args.addresses, args.state)
    else:
        targets = inventory_targets(args)
    options = ProbeOptions(timeout=args.timeout, cafile=args.cafile,
                           concurrency=args.concurrency)
    reports = audit(targets, options)
    show(reports, args.json)
    return 0 if all(r.ok for r in reports) else 1


def show(reports: list[Any], as_json: bool) -> None:
    from mailstate.audit.view import render_plain, render_rich, report_json
    from mailstate.console import emit_json, use_color

    if as_json:
        emit_json(report_json(reports))
    elif use_color(sys.stdout):
        render_rich(reports, sys.stdout)
    else:
        render_plain(reports, sys.stdout)


def address_targets(addresses: list[str], state_name: str | None) -> list[Target]:
    from mailstate.audit.runner import Target
    from mailstate.expectations import expected_listeners

    expectations: tuple[Any, ...] = ()
    if state_name:
        expectations = tuple(expected_listeners(load_state(state_name)))
    return [Target(a, a, expectations, state_known=bool(state_name)) for a in addresses]


def load_state(name: str) -> MailState:
    """A state file by path, or by name from ./states/NAME.yaml (validated like `lint`)."""
    from mailstate.diagnostics import error
    from mailstate.model.loader import load_state as load_state_files

    path = Path(name)
    if not path.is_file():
        path = Path("states") / f"{name}.yaml"
    if not path.is_file():
        raise error(f"state not found: {name}", fix="give a state file or a name in states/")
    return load_state_files([path]).state


def inventory_targets(args: argparse.Namespace) -> list[Target]:
    from mailstate.audit.runner import Target
    from mailstate.commands._targets import load_targets, ssh_options
    from mailstate.expectations import expected_listeners

    _inventory, selected = load_targets(args)
    options = None if args.no_ssh else ssh_options(args, selected)
    targets = []
    for t in selected:
        expectations = tuple(expected_listeners(t.state)) if t.state is not None else ()
        listeners = ss_over_ssh(t.host, options) if options is not None else None
        targets.append(Target(t.host.name, t.host.address, expectations,
                              state_known=t.state is not None, listeners=listeners,
                              problems=tuple(t.problems)))
    return targets


def ss_over_ssh(host: HostSpec, options: SshOptions) -> Callable[[], str]:
    """A callable that runs `ss -ltnH` on the host over one short SSH session."""

    def listeners() -> str:
        from mailstate.audit.runner import SS_COMMAND
        from mailstate.diagnostics import error
        from mailstate.transport.ssh import connect

        conn = connect(host, options)
        try:
            result = conn.run(SS_COMMAND, timeout=options.connect_timeout)
        finally:
            conn.close()
        if result.rc != 0:
            raise error(f"`{SS_COMMAND}` failed (exit {result.rc}): {result.error_text()}")
        return result.text()

    return listeners

"""`mailstate audit`: prove from the network that hosts are what their state says.

Admins want to verify hardening from outside rather than trust the configuration: this
probes every mail port of each host (as the guide's nmap scan does, in pure Python),
checks localhost-only listeners on the host itself with `ss -ltnH` over SSH, and
compares both with what the host's desired state implies. Certificates are checked
against the name clients use: the host variable `mail_hostname`, else the inventory
host name (an address given on the command line stands for itself). Exit 0 when
everything matches, 1 on any error-level finding.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailstate.audit.runner import Target
    from mailstate.diagnostics import Diagnostic
    from mailstate.inventory import HostSpec
    from mailstate.model import MailState
    from mailstate.transport.ssh import SshOptions

MAIL_HOSTNAME = "mail_hostname"  # host/group variable: the name on the certificate

EPILOG = """\
examples:
  mailstate audit -i inventory/lab.yaml                 every host, against its state
  mailstate audit -i inventory/lab.yaml --limit h1 --cafile lab-ca.pem --json
  mailstate audit 10.231.0.11 --state hardened          one address, no SSH
  mailstate audit mx1.example.com                       certificate checked for that name
  mailstate audit 203.0.113.5 --mail-hostname mx1.example.com   by address, named

certificates must name the host variable mail_hostname, else the inventory host name;
TLS versions below 1.2 and anonymous/export/NULL/RC4/3DES ciphers are errors where TLS
is mandatory (465, 993, 995, submission with encrypt) and information on port 25

exit codes: 0 everything matches, 1 any error-level finding
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "audit", help="probe mail ports from the network and compare with the state",
        description="Probe ports 25, 110, 143, 465, 587, 993, 995 (and any the state "
                    "names): open/closed, SMTP EHLO/STARTTLS/AUTH, IMAP/POP3 plaintext "
                    "login, every TLS version and weak cipher class accepted, the "
                    "certificate (chain, expected name, expiry); compare with the "
                    "desired state.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("addresses", nargs="*", metavar="ADDRESS",
                        help="probe these addresses instead of an inventory's hosts")
    from mailstate.inventory.cli import add_inventory_args

    add_inventory_args(parser)
    parser.add_argument("--state", metavar="STATE",
                        help="with ADDRESS: compare with this state (file, or name: ./states/, "
                             "then the shipped profiles)")
    parser.add_argument("--cafile", metavar="FILE",
                        help="CA certificates to verify the servers' certificates against")
    parser.add_argument("--mail-hostname", metavar="NAME",
                        help="with ADDRESS: the name certificates must carry (default: "
                             "ADDRESS itself); inventory hosts use their mail_hostname")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds per network operation of a probe (default 5)")
    parser.add_argument("--concurrency", type=int, default=16, metavar="N",
                        help="probes running at once, over all hosts (default 16)")
    parser.add_argument("--no-tls-scan", action="store_true",
                        help="skip the per-version and weak-cipher handshakes (6-9 short "
                             "connections per TLS port; fail2ban in aggressive mode may "
                             "count them as failed sessions)")
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
    if args.mail_hostname is not None and not args.addresses:
        raise error("--mail-hostname goes with ADDRESS arguments",
                    fix="in an inventory set the host variable mail_hostname instead")
    if args.addresses:
        targets = address_targets(args.addresses, args.state, args.mail_hostname or "")
    else:
        targets = inventory_targets(args)
    options = ProbeOptions(timeout=args.timeout, cafile=args.cafile,
                           concurrency=args.concurrency, scan_tls=not args.no_tls_scan)
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


def address_targets(addresses: list[str], state_name: str | None,
                    mail_hostname: str = "") -> list[Target]:
    from mailstate.audit.runner import Target
    from mailstate.expectations import expected_listeners

    expectations: tuple[Any, ...] = ()
    if state_name:
        expectations = tuple(expected_listeners(load_state(state_name)))
    return [Target(a, a, expectations, state_known=bool(state_name),
                   expected_name=mail_hostname.strip()) for a in addresses]


def load_state(name: str) -> MailState:
    """A state file by path, or by name (./states/NAME.yaml, then the shipped profiles),
    validated like `lint`."""
    from mailstate.inventory import find_state
    from mailstate.model.loader import load_state as load_state_files

    return load_state_files([find_state(name)]).state


def inventory_targets(args: argparse.Namespace) -> list[Target]:
    from mailstate.audit.runner import Target
    from mailstate.commands._targets import load_targets, ssh_options
    from mailstate.expectations import expected_listeners
    from mailstate.transport.ssh import ssh_destination

    _inventory, selected = load_targets(args)
    options = None if args.no_ssh else ssh_options(args, selected)
    targets = []
    for t in selected:
        expectations = tuple(expected_listeners(t.state)) if t.state is not None else ()
        listeners = ss_over_ssh(t.host, options) if options is not None else None
        name, problems = certificate_name(t.host)
        # probed where ssh connects: an ssh alias's HostName, not a name DNS may not know
        address = ssh_destination(t.host, options)[0]
        targets.append(Target(t.host.name, address, expectations,
                              state_known=t.state is not None, listeners=listeners,
                              problems=(*t.problems, *problems), expected_name=name))
    return targets


def certificate_name(host: HostSpec) -> tuple[str, list[Diagnostic]]:
    """The name clients connect to: `mail_hostname`, else the inventory host name."""
    from mailstate.diagnostics import Diagnostic

    value = host.vars.get(MAIL_HOSTNAME)
    if value is None:
        return host.name, []
    if isinstance(value, str) and value.strip() and not any(c.isspace() for c in
                                                            value.strip()):
        return value.strip(), []
    return host.name, [Diagnostic(
        "error", f"{host.name}: {MAIL_HOSTNAME} must be one DNS name, got {value!r}"[:200],
        fix=f"{MAIL_HOSTNAME}: mail.example.com (the name on the certificate)",
        code="bad-variable")]


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

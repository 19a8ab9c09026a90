"""`mailstate lab`: start, inspect, reset and stop real mail hosts on this machine.

A new user needs something real to point mailstate at in the first minute, and every
server-facing test needs real servers; this command drives `mailstate.lab.Lab` for both.
`ssh` uses the system OpenSSH client with the lab key and strict known_hosts, i.e. the
very path mailstate's own transport takes (no nsenter shortcut hiding SSH problems).
"""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "lab", help="real sshd + Postfix + Dovecot hosts on this machine (root)",
        description="Real mail hosts in network namespaces on this machine (needs root).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  mailstate lab up            3 hosts, writes inventory/lab.yaml\n"
               "  mailstate lab ssh h1 -- postconf -n\n  mailstate lab reset\n"
               "  mailstate lab down")
    parser.add_argument("--instance", type=int,
                        default=int(os.environ.get("MAILSTATE_LAB_INSTANCE", "0")),
                        help="lab instance K: bridge msbrK, 10.231.K.0/24 (default 0)")
    lab_sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="start hosts h1..hN (idempotent)")
    up.add_argument("count", nargs="?", type=int, default=3, help="number of hosts (3)")
    up.add_argument("--no-mail", action="store_true",
                    help="start only sshd (scale tests); config files are still there")
    status = lab_sub.add_parser("status", help="address, daemons and listening ports per host")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    ssh = lab_sub.add_parser("ssh", help="ssh into a host (strict host key checking)")
    ssh.add_argument("host", help="h1, h2, ...")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND to run")
    reset = lab_sub.add_parser("reset", help="stock files back, services restarted")
    reset.add_argument("hosts", nargs="*", help="hosts to reset (default: all)")
    lab_sub.add_parser("down", help="stop everything; remove namespaces, links, bridge")
    # `--instance` is also accepted after the action (`mailstate lab up 3 --instance 2`).
    for action in (up, status, ssh, reset):
        action.add_argument("--instance", type=int, default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    down = lab_sub.choices["down"]
    down.add_argument("--instance", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from mailstate.lab import Lab

    if args.lab_command == "ssh":
        args.instance, args.remote = _instance_from_remote(args.instance, args.remote)
    lab = Lab(args.instance)
    action = args.lab_command
    if action == "up":
        return _up(lab, args.count, not args.no_mail)
    if action == "status":
        return _status(lab, args.json)
    if action == "ssh":
        return _ssh(lab, args.host, args.remote)
    if action == "reset":
        statuses = lab.reset(args.hosts or None)
        print(f"reset {len(statuses)} host(s): {', '.join(s.name for s in statuses)}")
        return 0
    lab.down()
    print(f"lab instance {lab.instance} is down")
    return 0


def _instance_from_remote(instance: int, remote: list[str]) -> tuple[int, list[str]]:
    """`lab ssh h1 --instance 2 -- CMD`: options after the host land in REMAINDER."""
    rest = list(remote)
    while rest and rest[0] != "--":
        if rest[0] == "--instance" and len(rest) > 1:
            instance, rest = int(rest[1]), rest[2:]
        elif rest[0].startswith("--instance="):
            instance, rest = int(rest[0].split("=", 1)[1]), rest[1:]
        else:
            break
    if rest and rest[0] == "--":
        rest = rest[1:]
    return instance, rest


def _up(lab: object, count: int, mail: bool) -> int:
    import time

    from mailstate.lab import Lab

    assert isinstance(lab, Lab)
    started = time.monotonic()
    hosts = lab.up(count, mail=mail)
    took = time.monotonic() - started
    kind = "sshd + postfix + dovecot" if mail else "sshd only"
    print(f"lab instance {lab.instance}: {len(hosts)} host(s) up ({kind}) in {took:.1f} s")
    for h in hosts:
        print(f"  {h.name}  {h.address}  log {h.log_path}")
    print(f"inventory:   {lab.inventory_path}")
    print(f"key:         {lab.key_path}")
    print(f"known_hosts: {lab.known_hosts_path}")
    print(f"try:         mailstate plan -i {lab.inventory_path}")
    return 0


def _status(lab: object, as_json: bool) -> int:
    from mailstate.console import emit_json
    from mailstate.lab import Lab

    assert isinstance(lab, Lab)
    statuses = lab.status()
    if as_json:
        emit_json({"instance": lab.instance, "inventory": str(lab.inventory_path),
                   "hosts": [s.to_json() for s in statuses]})
        return 0
    if not statuses:
        print(f"lab instance {lab.instance}: no hosts (mailstate lab up)")
        return 0

    def flag(ok: bool) -> str:
        return "up" if ok else "DOWN"

    print(f"{'host':<5} {'address':<14} {'sshd':<5} {'postfix':<8} {'dovecot':<8} ports")
    for s in statuses:
        if not s.running:
            print(f"{s.name:<5} {s.address:<14} not running")
            continue
        mail = (flag(s.postfix), flag(s.dovecot)) if s.mail else ("-", "-")
        print(f"{s.name:<5} {s.address:<14} {flag(s.sshd):<5} {mail[0]:<8} {mail[1]:<8} "
              f"{','.join(map(str, s.ports))}")
    return 0


def _ssh(lab: object, name: str, remote: list[str]) -> int:
    from mailstate.lab import Lab

    assert isinstance(lab, Lab)
    host = lab.host(name)
    argv = ["ssh", "-i", str(lab.key_path), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts_path}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR", f"root@{host.address}", *remote]
    sys.stdout.flush()
    os.execvp("ssh", argv)
    return 1  # not reached

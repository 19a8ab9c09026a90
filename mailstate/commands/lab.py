"""`mailstate lab`: start, inspect, reset and stop real mail hosts on this machine.

A new user needs something real to point mailstate at in the first minute, and every
server-facing test needs real servers; this command drives `mailstate.lab.Lab` for both.
Hosts run Debian 12 or 13 (a mixed fleet is one `--release` away), so a user sees one
state converge both releases.
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
               "  mailstate lab up 3 --release trixie            3 Debian 13 hosts\n"
               "  mailstate lab up --release bookworm,bookworm,trixie   a mixed fleet\n"
               "  mailstate lab status        release, Postfix/Dovecot versions, ports\n"
               "  mailstate lab ssh h1 -- postconf -n\n  mailstate lab reset\n"
               "  mailstate lab down")
    parser.add_argument("--instance", type=int,
                        default=int(os.environ.get("MAILSTATE_LAB_INSTANCE", "0")),
                        help="lab instance K: bridge msbrK, 10.231.K.0/24 (default 0)")
    lab_sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser(
        "up", help="start hosts h1..hN (idempotent)",
        description="Start hosts h1..hN: sshd, Postfix, Dovecot, Roundcube (port 8080)\n"
                    "and a mail user, alice. Hosts already running are kept as they are.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="releases (--release):\n"
               "  bookworm (debian12, 12)  Debian 12: Postfix 3.7, Dovecot 2.3\n"
               "  trixie (debian13, 13)    Debian 13: Postfix 3.10, Dovecot 2.4\n"
               "  The machine's own release runs natively; the other one from a root\n"
               "  filesystem built once with debootstrap (a few minutes; `mailstate lab\n"
               "  prepare` or `./run setup` builds it ahead) and cached in\n"
               "  /var/cache/mailstate/rootfs.\n"
               "examples:\n"
               "  mailstate lab up 3 --release trixie           h1..h3 on Debian 13\n"
               "  mailstate lab up --release bookworm,bookworm,trixie\n"
               "                                                h1, h2 Debian 12; h3 Debian 13")
    up.add_argument("count", nargs="?", type=int, default=None,
                    help="number of hosts (3, or as many as --release names)")
    up.add_argument("--release", metavar="RELEASE[,RELEASE...]",
                    help="one release for every host, or one per host in order h1,h2,...; "
                         "a running host of another release is rebuilt (default: keep "
                         "running hosts, start new ones on this machine's release)")
    up.add_argument("--no-mail", action="store_true",
                    help="start only sshd (scale tests); config files are still there")
    prepare = lab_sub.add_parser(
        "prepare", help="build the cached root filesystem of the other Debian release")
    prepare.add_argument("--release", action="append",
                         help="only this release (default: every supported one that is "
                              "not this machine's)")
    status = lab_sub.add_parser("status", help="address, daemons and listening ports per host")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    ssh = lab_sub.add_parser("ssh", help="ssh into a host (strict host key checking)")
    ssh.add_argument("host", help="h1, h2, ...")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND to run")
    reset = lab_sub.add_parser("reset", help="stock files back, services restarted")
    reset.add_argument("hosts", nargs="*", help="hosts to reset (default: all)")
    lab_sub.add_parser("down", help="stop everything; remove namespaces, links, bridge")
    # `--instance` is also accepted after the action (`mailstate lab up 3 --instance 2`).
    for action in (up, status, ssh, reset, prepare):
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
        return _up(lab, args.count, not args.no_mail, args.release)
    if action == "prepare":
        return _prepare(args.release)
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


def _up(lab: object, count: int | None, mail: bool, release: str | None) -> int:
    import time

    from mailstate.lab import Lab, releases

    assert isinstance(lab, Lab)
    wanted = {r for r in releases.parse_spec(release, count) if r is not None}
    for name in sorted(wanted):  # say so before a first build takes minutes
        target = releases.resolve(name, build=False)
        if not target.native and not (target.source / ".mailstate-complete").exists():
            print(f"building the {name} root filesystem once (debootstrap, a few minutes; "
                  f"cached in {target.source.parent})", flush=True)
    started = time.monotonic()
    hosts = lab.up(count, mail=mail, releases=release)
    took = time.monotonic() - started
    kind = "sshd + postfix + dovecot + roundcube" if mail else "sshd only"
    print(f"lab instance {lab.instance}: {len(hosts)} host(s) up ({kind}) in {took:.1f} s")
    for h in hosts:
        print(f"  {h.name}  {h.address:<13} {h.release:<9} log {h.log_path}")
    if mail:
        print(f"webmail:     {lab.webmail_url(hosts[0])} (h1; each host on its own address), "
              f"mail user {lab.mail_user.name}")
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

    def service(ok: bool, version: str | None) -> str:
        return f"{flag(ok)} {version or '?'}"

    print(f"{'host':<5} {'address':<13} {'release':<13} {'sshd':<5} {'postfix':<13} "
          f"{'dovecot':<14} {'webmail':<8} ports")
    for s in statuses:
        release = f"{s.release} ({s.debian})" if s.debian else s.release
        if not s.running:
            print(f"{s.name:<5} {s.address:<13} {release:<13} not running")
            continue
        v = s.versions
        mail = (service(s.postfix, v.get("postfix")), service(s.dovecot, v.get("dovecot")),
                flag(s.webmail)) if s.mail else ("-", "-", "-")
        print(f"{s.name:<5} {s.address:<13} {release:<13} {flag(s.sshd):<5} {mail[0]:<13} "
              f"{mail[1]:<14} {mail[2]:<8} {','.join(map(str, s.ports))}")
    return 0


def _prepare(only: list[str] | None) -> int:
    import time

    from mailstate.lab import preflight, releases, rootfs

    preflight.check()
    names = [rootfs.release_name(n) for n in only] if only else sorted(rootfs.RELEASES)
    for name in names:
        target = releases.resolve(name, build=False)
        if target.native:
            print(f"{name}: this machine's own release (hosts run natively)")
            continue
        started = time.monotonic()
        fresh = not (target.source / ".mailstate-complete").exists()
        if fresh:
            print(f"{name}: building {target.source} (debootstrap + Roundcube, a few "
                  "minutes)", flush=True)
        rootfs.ensure_rootfs(name)
        took = time.monotonic() - started
        print(f"{name}: ready in {target.source}" + (f" (built in {took:.0f} s)" if fresh
                                                       else " (cached)"))
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

"""`mailstate rollback`: put back the files of a backup made by apply, on request."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mailstate.commands._targets import Target, add_target_args
from mailstate.diagnostics import error

if TYPE_CHECKING:
    from mailstate.engine.rollback import HostBackups, RollbackOptions, RollbackResult
    from mailstate.transport.ssh import SshOptions

HELP = """\
Every apply backs up the files it replaces under /var/backups/mailstate/<time>-<run>/ on
the host. This restores one of those backups (the newest by default): it takes the host's
lock like apply (a lock left by an interrupted run is taken over, a live one refused),
puts every file back atomically, removes the files that change had created, reruns
postmap and reloads the services it had touched, and checks that the listeners of before
that change are back.

Without --yes it shows what it would restore and asks first.

exit codes: 0 every host restored (or listed), 1 any host failed

examples:
  mailstate rollback h1 -i inventory/lab.yaml --list
  mailstate rollback h1 -i inventory/lab.yaml                 newest backup, asks first
  mailstate rollback h1 -i inventory/lab.yaml --to 20261125T1402 --yes
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollback", help="restore a backup made by apply",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("host", help="inventory host name (or a --limit style pattern)")
    add_target_args(p)
    p.add_argument("--to", metavar="NAME", help="backup name prefix, e.g. a time "
                   "(default: the newest backup)")
    p.add_argument("--list", action="store_true", help="list the backups on the host")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--lock-wait", type=int, default=30, metavar="S",
                   help="seconds to wait for another run's lock on a host (default 30)")
    p.add_argument("--verify-seconds", type=int, default=15, metavar="S",
                   help="seconds the services get to come back after reload (default 15)")


def _listings(targets: list[Target], ssh: SshOptions, forks: int) -> list[HostBackups]:
    from mailstate.commands._targets import with_connection
    from mailstate.engine.rollback import HostBackups, list_backups
    from mailstate.engine.runner import run_hosts, unexpected

    def work(target: Target) -> HostBackups:
        return with_connection(
            target, ssh, lambda conn: HostBackups(target.host.name, list_backups(conn)),
            lambda problems: HostBackups(target.host.name, errors=problems))

    return run_hosts(targets, work, name=lambda t: t.host.name, failed=lambda b: bool(b.errors),
                     crashed=lambda t, exc: HostBackups(t.host.name, errors=[
                         unexpected(t.host.name, exc)]), forks=forks).results


def _confirm(args: argparse.Namespace, targets: list[Target], ssh: SshOptions,
             which: str) -> dict[str, str]:
    """Show what would be restored and ask; the exact backup per host, as confirmed."""
    from mailstate.views import render_rollback_plan

    if not sys.stdin.isatty():
        raise error("rollback needs confirmation and stdin is not a terminal",
                    fix="check `mailstate rollback HOST --list`, then rerun with --yes")
    listings = _listings(targets, ssh, args.forks)
    render_rollback_plan(listings, which)
    chosen = {b.host: c.name for b in listings if (c := b.chosen(which)) is not None}
    if not chosen:
        raise error("nothing to roll back on the selected hosts")
    if input("Roll back these hosts? Type 'yes': ").strip() != "yes":
        raise error("rollback cancelled: nothing was changed")
    return chosen


def _roll_back(target: Target, ssh: SshOptions, options: RollbackOptions) -> RollbackResult:
    from mailstate.commands._targets import with_connection
    from mailstate.engine.rollback import RollbackResult, rollback_host

    secrets = target.state.secret_values() if target.state is not None else set()
    return with_connection(target, ssh, lambda conn: rollback_host(conn, options, secrets),
                           lambda problems: RollbackResult(target.host.name, "failed",
                                                           messages=problems))


def run(args: argparse.Namespace) -> int:
    from mailstate.commands._targets import load_targets, ssh_options
    from mailstate.console import emit_json
    from mailstate.engine.rollback import RollbackOptions, RollbackResult
    from mailstate.engine.runner import run_hosts, unexpected
    from mailstate.views import render_backups, render_rollback

    args.limit = args.host
    _, targets = load_targets(args)
    ssh = ssh_options(args, targets)
    which = args.to or "latest"
    if args.list:
        listings = _listings(targets, ssh, args.forks)
        code = 1 if any(b.errors for b in listings) else 0
        if args.json:
            emit_json({"ok": code == 0, "exit_code": code,
                       "hosts": [b.to_json() for b in listings]})
        else:
            render_backups(listings, which)
        return code
    pinned: dict[str, str] = {}
    if not args.yes:
        if args.json:
            raise error("--json rollback needs --yes")
        pinned = _confirm(args, targets, ssh, which)
        targets = [t for t in targets if t.host.name in pinned]

    def work(target: Target) -> RollbackResult:
        options = RollbackOptions(which=pinned.get(target.host.name, which),
                                  lock_wait=args.lock_wait, verify_seconds=args.verify_seconds)
        return _roll_back(target, ssh, options)

    outcome = run_hosts(targets, work, name=lambda t: t.host.name, failed=lambda r: not r.ok,
                        crashed=lambda t, exc: RollbackResult(t.host.name, "failed", messages=[
                            unexpected(t.host.name, exc)]), forks=args.forks)
    results = outcome.results
    code = 0 if results and all(r.ok for r in results) and not outcome.interrupted else 1
    if args.json:
        emit_json({"ok": code == 0, "exit_code": code, "hosts": [r.to_json() for r in results],
                   "interrupted": outcome.interrupted})
    else:
        render_rollback(results)
    return code

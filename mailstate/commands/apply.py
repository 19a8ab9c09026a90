"""`mailstate apply`: converge hosts to the desired state, safely, in parallel."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mailstate.commands._targets import Target, add_target_args
from mailstate.diagnostics import error

if TYPE_CHECKING:
    from mailstate.commands._targets import EarlyConnections
    from mailstate.engine.apply import ApplyOptions, HostResult
    from mailstate.engine.runner import RunOutcome
    from mailstate.engine.savedplan import SavedPlan
    from mailstate.transport.ssh import SshOptions

HELP = """\
Per host: take a lock, re-check the live files, stage the candidates in a private dir on
the host, validate them with postconf / doveconf / php, back up the live files
(/var/backups/mailstate/), swap each one in atomically, run postmap, reload only the
services whose files changed, and check that they came back with the right listeners.
Anything wrong after the swap is rolled back on the host by itself.

Without --yes the plan is shown and you are asked first. With a saved plan (PLAN.json)
exactly that plan is applied, and a host whose files changed since is refused.

exit codes: 0 every host converged, 1 any host failed (the others are still done)

examples:
  mailstate apply -i inventory/lab.yaml --yes
  mailstate plan -i inventory/lab.yaml -o plan.json && mailstate apply plan.json
  mailstate apply -i prod.yaml --serial 5 --max-fail 0 --yes     rolling, stop on failure
  mailstate apply -i prod.yaml --limit @mailstate.retry --yes    only the hosts that failed
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("apply", help="make hosts match the desired state (plan, confirm, apply)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan_file", nargs="?", metavar="PLAN.json",
                   help="a plan saved with `mailstate plan -o`")
    add_target_args(p)
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--serial", type=int, metavar="N", help="apply in batches of N hosts")
    p.add_argument("--max-fail", type=float, metavar="PERCENT",
                   help="stop starting batches when more than PERCENT of a batch failed")
    p.add_argument("--lock-wait", type=int, default=30, metavar="S",
                   help="seconds to wait for another apply's lock on a host (default 30)")
    p.add_argument("--verify-seconds", type=int, default=15, metavar="S",
                   help="seconds the services get to come back after reload (default 15)")


def apply_target(target: Target, ssh: SshOptions, options: ApplyOptions,
                 early: EarlyConnections | None = None) -> HostResult:
    """Connect, apply, disconnect; every failure becomes the host's result."""
    from mailstate.commands._targets import on_connection
    from mailstate.engine.apply import HostResult, apply_host

    result = on_connection(target, ssh,
                           lambda state, conn: apply_host(target.host, state, conn, options),
                           lambda problems: HostResult(target.host.name, "failed",
                                                       messages=problems), early)
    result.messages = target.place(result.messages)
    return result


def crashed(target: Target, exc: Exception) -> HostResult:
    """The runner's last resort: an exception that escaped `apply_target` on this host."""
    from mailstate.engine.apply import HostResult
    from mailstate.engine.runner import unexpected

    return HostResult(target.host.name, "failed", messages=[unexpected(target.host.name, exc)])


def _load_saved(args: argparse.Namespace) -> SavedPlan:
    from mailstate.engine.savedplan import load_saved_plan

    saved = load_saved_plan(args.plan_file)
    args.inventory = args.inventory or saved.inventory
    if args.limit is None:
        args.limit = ",".join(saved.approved_hosts()) or None
    return saved


def _confirm(args: argparse.Namespace, targets: list[Target], ssh: SshOptions,
             early: EarlyConnections) -> SavedPlan:
    """Show the plan and ask; return it as a saved plan so apply refuses drift since."""
    from mailstate.commands.plan import plan_all
    from mailstate.engine.plan import saved_plan
    from mailstate.views import render_plan

    plans = plan_all(targets, ssh, args.forks, quiet=False, early=early)
    render_plan(plans)
    if not any(p.changed for p in plans):
        return saved_plan(plans, args.inventory, args.limit)
    if not sys.stdin.isatty():
        raise error("apply needs confirmation and stdin is not a terminal",
                    fix="review the plan above, then rerun with --yes (or apply a saved plan)")
    answer = input("Apply these changes? Type 'yes': ")
    if answer.strip() != "yes":
        raise error("apply cancelled: nothing was changed")
    return saved_plan(plans, args.inventory, args.limit)


def _apply_all(args: argparse.Namespace, targets: list[Target], ssh: SshOptions,
               saved: SavedPlan | None, early: EarlyConnections) -> RunOutcome[HostResult]:
    # Imported here, in the main thread, before any worker needs them.
    from mailstate.engine.apply import ApplyOptions
    from mailstate.engine.runner import run_hosts
    from mailstate.progress import Progress

    options = ApplyOptions(lock_wait=args.lock_wait, verify_seconds=args.verify_seconds,
                           saved=saved)
    with Progress(len(targets), "apply", quiet=args.json) as progress:
        return run_hosts(
            targets, lambda t: apply_target(t, ssh, options, early),
            name=lambda t: t.host.name, failed=lambda r: not r.ok, crashed=crashed,
            forks=args.forks, serial=args.serial, max_fail_percent=args.max_fail,
            on_start=lambda t: progress.started(t.host.name),
            on_done=lambda t, r: progress.finished(t.host.name, r.status, r.seconds))


def run(args: argparse.Namespace) -> int:
    from mailstate.commands._targets import (
        early_connections,
        merge_states,
        select_hosts,
        ssh_options,
        write_retry,
    )

    saved = _load_saved(args) if args.plan_file else None
    inventory, hosts = select_hosts(args)
    ssh = ssh_options(args, hosts)
    if saved is None and not args.yes and args.json:
        raise error("--json apply needs --yes or a saved plan")
    first = min(args.forks, args.serial or len(hosts), len(hosts))  # what the runner starts
    # The first hosts connect and read their files while the models import.
    with early_connections(inventory, hosts, ssh, first) as early:
        targets = merge_states(inventory, hosts)
        if saved is None and not args.yes:
            saved = _confirm(args, targets, ssh, early)
        outcome = _apply_all(args, targets, ssh, saved, early)

    from mailstate.console import emit_json
    from mailstate.views import render_apply

    results = outcome.results
    failed = [r.host for r in results if not r.ok] + outcome.skipped
    write_retry(failed, stream_note=not args.json)
    code = 1 if failed or outcome.interrupted else 0
    if args.json:
        emit_json({"ok": code == 0, "exit_code": code, "hosts": [r.to_json() for r in results],
                   "skipped": outcome.skipped, "stopped": outcome.stopped_reason,
                   "interrupted": outcome.interrupted})
    else:
        render_apply(results)
        if outcome.stopped_reason:
            print(f"stopped: {outcome.stopped_reason}; not started: {', '.join(outcome.skipped)}")
        if outcome.interrupted:
            print("interrupted: hosts already running finished; the rest were not started")
    return code

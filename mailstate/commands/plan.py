"""`mailstate plan`: fetch the live files of every host, show exactly what would change."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mailstate.commands._targets import Target, add_target_args

if TYPE_CHECKING:
    from mailstate.commands._targets import EarlyConnections
    from mailstate.engine.plan import HostPlan
    from mailstate.transport.ssh import SshOptions

HELP = """\
Reads every managed file of every host in one SSH round trip, computes the files the
desired state asks for, and prints unified diffs of the real bytes (secrets masked) and
the actions apply would run (postmap, reload or restart).

exit codes: 0 no changes, 2 changes pending, 1 any host failed

examples:
  mailstate plan -i inventory/lab.yaml
  mailstate plan -i inventory/lab.yaml --limit 'mx*,!mx3' --json
  mailstate plan -i inventory/lab.yaml -o plan.json && mailstate apply plan.json
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("plan", help="show what would change on each host (exit 2 = changes)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(p)
    p.add_argument("-o", "--out", metavar="FILE",
                   help="save the plan (sha256 digests, no file contents) for `apply FILE`")


def plan_target(target: Target, options: SshOptions,
                early: EarlyConnections | None = None) -> HostPlan:
    """Connect, plan, disconnect; every failure becomes the host's error."""
    from mailstate.commands._targets import on_connection
    from mailstate.engine.plan import HostPlan, plan_host

    plan = on_connection(target, options,
                         lambda state, conn: plan_host(target.host, state, conn),
                         lambda problems: HostPlan(target.host.name, error=problems), early)
    plan.error = target.place(plan.error)
    return plan


def _crashed(target: Target, exc: Exception) -> HostPlan:
    from mailstate.engine.plan import HostPlan
    from mailstate.engine.runner import unexpected

    return HostPlan(target.host.name, error=[unexpected(target.host.name, exc)])


def plan_all(targets: list[Target], options: SshOptions, forks: int,
             quiet: bool, early: EarlyConnections | None = None) -> list[HostPlan]:
    # Imported here, in the main thread, before any worker needs them.
    import mailstate.engine.plan  # noqa: F401
    from mailstate.engine.runner import run_hosts
    from mailstate.progress import Progress

    with Progress(len(targets), "plan", quiet=quiet) as progress:
        outcome = run_hosts(
            targets, lambda t: plan_target(t, options, early), name=lambda t: t.host.name,
            failed=lambda p: bool(p.error), crashed=_crashed, forks=forks,
            on_start=lambda t: progress.started(t.host.name),
            on_done=lambda t, p: progress.finished(
                t.host.name, "failed" if p.error else ("changes" if p.changed else "ok"),
                p.seconds))
    return outcome.results


def run(args: argparse.Namespace) -> int:
    from mailstate.commands._targets import (
        early_connections,
        merge_states,
        select_hosts,
        ssh_options,
        write_retry,
    )

    inventory, hosts = select_hosts(args)
    options = ssh_options(args, hosts)
    # The first hosts connect and read their files while the models import.
    with early_connections(inventory, hosts, options, min(args.forks, len(hosts))) as early:
        targets = merge_states(inventory, hosts)
        plans = plan_all(targets, options, args.forks, quiet=args.json, early=early)

    from mailstate.console import emit_json
    from mailstate.engine.plan import saved_plan
    from mailstate.inventory.cli import saved_sources
    from mailstate.views import render_plan

    if args.out:
        document = saved_plan(plans, saved_sources(args.inventory), args.limit).document()
        Path(args.out).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    failed = [p.host for p in plans if p.error]
    write_retry(failed, stream_note=not args.json)
    changed = any(p.changed for p in plans)
    code = 1 if failed else (2 if changed else 0)
    if args.json:
        emit_json({"ok": not failed, "changed": changed, "exit_code": code,
                   "hosts": [p.to_json() for p in plans]})
    else:
        render_plan(plans)
        if args.out:
            print(f"plan saved to {args.out}: apply it with `mailstate apply {args.out}`")
    return code

"""`mailstate rollback`: put back the files of a backup made by apply, on request."""

from __future__ import annotations

import argparse
import uuid

from mailstate.commands._targets import add_target_args

HELP = """\
Every apply backs up the files it replaces under /var/backups/mailstate/<time>-<run>/ on
the host. This restores one of those backups (the newest by default), reruns postmap and
reloads the services the change had touched.

examples:
  mailstate rollback h1 -i inventory/lab.yaml --list
  mailstate rollback h1 -i inventory/lab.yaml                 newest backup
  mailstate rollback h1 -i inventory/lab.yaml --to 20261125T1402
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rollback", help="restore a backup made by apply",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("host", help="inventory host name")
    add_target_args(p)
    p.add_argument("--to", metavar="TIMESTAMP", help="backup name prefix (default: newest)")
    p.add_argument("--list", action="store_true", help="list the backups on the host")


def run(args: argparse.Namespace) -> int:
    from mailstate.commands._targets import load_targets, ssh_options
    from mailstate.console import emit_json
    from mailstate.diagnostics import error
    from mailstate.engine.apply import BACKUP_ROOT, remote_script
    from mailstate.transport.base import sh_command
    from mailstate.transport.ssh import connect

    args.limit = args.host
    _, targets = load_targets(args)
    conn = connect(targets[0].host, ssh_options(args, targets))
    which = "list" if args.list else (args.to or "latest")
    try:
        out = conn.run(sh_command(remote_script("restore.sh"),
                                  [BACKUP_ROOT, which, uuid.uuid4().hex[:12]]))
    finally:
        conn.close()
    lines = out.text().splitlines()
    if args.list:
        backups = [line.split(" ", 2)[1:] for line in lines if line.startswith("B ")]
        if args.json:
            emit_json({"host": args.host, "backups": [
                {"name": b[0], "files": b[1].split() if len(b) > 1 else []} for b in backups]})
        else:
            for b in backups:
                print(f"{b[0]}  {b[1] if len(b) > 1 else ''}")
        return 0
    failures = [line[5:] for line in lines if line.startswith(("FAIL ", "LOCKED "))]
    if failures or "DONE ok" not in lines:
        raise error(f"{args.host}: rollback failed", detail="\n".join(failures) or out.error_text())
    if args.json:
        emit_json({"host": args.host, "ok": True, "lines": lines})
    else:
        print("\n".join(lines))
    return 0

"""`mailstate inventory`: what mailstate resolved from an inventory, as ansible-inventory
prints it (--list, --graph, --host), so the two can be diffed. Secrets are masked.

Exit status: 0, or 1 on an error (unreadable inventory, unknown host). Problems of
single hosts (a port that is not a number, an unsupported become method, ...) are
printed as warnings on stderr and make the exit status 1 with --check.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailstate.inventory.load import Inventory

EXAMPLES = """\
examples:
  mailstate inventory -i inventory/ --list          compare: ansible-inventory -i inventory/ --list
  mailstate inventory -i hosts.ini --graph mail
  mailstate inventory -i hosts.ini --host mx1       one host's variables
  mailstate inventory -i hosts.ini --list --limit 'mail:!mx3'
  mailstate inventory -i hosts.ini --check          every host usable? (exit 1 if not)
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mailstate.inventory.cli import add_inventory_args

    parser = sub.add_parser(
        "inventory", help="show the inventory as mailstate reads it (ansible-inventory's shape)",
        description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="groups and host variables as JSON "
                      "(the default)")
    mode.add_argument("--graph", nargs="?", const="all", metavar="GROUP",
                      help="the group tree (from GROUP, default all)")
    mode.add_argument("--host", metavar="HOST", help="one host's variables as JSON")
    mode.add_argument("--check", action="store_true",
                      help="list each host's connection settings and problems")
    parser.add_argument("--vars", action="store_true", help="with --graph: show variables")
    add_inventory_args(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from mailstate.diagnostics import error
    from mailstate.inventory import view
    from mailstate.inventory.cli import inventory_from_args

    inventory = inventory_from_args(args)
    if not args.check:  # what plan/apply would refuse for a host, said here too
        for host in inventory.hosts.values():
            for diag in host.problems:
                sys.stderr.write(diag.format() + "\n")
    if args.host:
        names = [h for h in inventory.evaluate([args.host]) if h in inventory.hosts]
        if len(names) != 1:
            raise error(f"--host {args.host!r} names {len(names)} hosts, not one",
                        fix="give one inventory host name")
        text = view.dump(view.host_variables(inventory, names[0]))
    elif args.graph:
        if args.graph not in inventory.groups:
            raise error(f"--graph {args.graph!r}: no such group",
                        fix="groups: " + ", ".join(inventory.groups))
        text = "\n".join(view.graph_lines(inventory, args.graph, args.vars))
    elif args.check:
        return _check(inventory, args.limit)
    else:
        text = view.dump(view.list_document(inventory, args.limit))
    sys.stdout.write(text + "\n")
    return 0


def _check(inventory: Inventory, limit: str | None) -> int:
    import sys

    failed = 0
    for host in inventory.select(limit):
        port = host.port if host.port is not None else "ssh default"
        user = host.user or "ssh default"
        become = f" become {host.become_method}" if host.become else ""
        sys.stdout.write(f"{host.name}: {host.address} port {port} user {user}{become} "
                         f"states {', '.join(host.states) or '(none)'}\n")
        for diag in host.problems:
            failed += 1
            sys.stdout.write("  " + diag.format().replace("\n", "\n  ") + "\n")
    return 1 if failed else 0

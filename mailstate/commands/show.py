"""`mailstate show HOST`: the merged desired state of a host and where each value came from.

Secrets are always masked. A table on a terminal, `path = value  # file:line` lines
otherwise, or `--json`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("show", help="print a host's merged desired state and its sources")
    parser.add_argument("host", metavar="HOST", help="host name from the inventory")
    from mailstate.inventory.cli import add_inventory_args

    add_inventory_args(parser, limit=False)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _print_plain(header: list[str], rows: list[Any]) -> None:
    import sys

    for line in header:
        sys.stdout.write(f"# {line}\n")
    width = min(72, max((len(f"{r.path} = {r.value}") for r in rows), default=0))
    for row in rows:
        text = f"{row.path} = {row.value}"
        sys.stdout.write(f"{text:<{width}}  # {row.source or '?'}\n")


def _print_table(header: list[str], rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="\n".join(header), title_justify="left")
    for column in ("setting", "value", "source"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.path, row.value, str(row.source or "?"))
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    from mailstate.console import emit_json, use_color
    from mailstate.inventory import resolve_state
    from mailstate.inventory.cli import inventory_from_args
    from mailstate.model.rows import state_rows
    from mailstate.transport.ssh import ssh_destination

    inventory = inventory_from_args(args)
    host = inventory.host(args.host)
    resolved = resolve_state(host, inventory)
    rows = state_rows(resolved)
    address, port = ssh_destination(host)  # as ssh resolves it (~/.ssh/config)
    if args.json:
        emit_json({
            "host": host.name, "address": address, "port": port,
            "states": resolved.files,
            "settings": [{"path": r.path, "value": r.value,
                          "source": str(r.source) if r.source else None} for r in rows],
        })
        return 0
    header = [f"host {host.name} ({address}:{port})",
              "states: " + (" < ".join(resolved.files) or "(none)")]
    if use_color():
        _print_table(header, rows)
    else:
        _print_plain(header, rows)
    return 0

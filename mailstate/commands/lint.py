"""`mailstate lint`: check desired states (files or an inventory's hosts), no SSH.

Exit status: 0 clean or warnings only, 1 any error (an invalid state counts as errors).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "lint", help="check desired states for mistakes (no SSH)",
        description="Validate state files and run the lint rules over them. STATE is a "
                    "file or a state name (./states/NAME.yaml, then the shipped profiles: "
                    "`mailstate profiles`). "
                    "With -i, every selected host's merged state is checked. With "
                    "--target, also what that release's Postfix and Dovecot refuse.",
        epilog="examples:\n  mailstate lint hardened --target debian13\n"
               "  mailstate lint -i inventory/prod.yaml --target postfix=3.10,dovecot=2.4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from mailstate.inventory.cli import add_inventory_args

    parser.add_argument("states", nargs="*", metavar="STATE", help="state files or names")
    add_inventory_args(parser)
    parser.add_argument("--merge", action="store_true",
                        help="merge the STATE files in order and lint the result once")
    parser.add_argument("--target", metavar="RELEASE",
                        help="also check against a release: debian12, debian13 (bookworm, "
                             "trixie) or versions such as postfix=3.10,dovecot=2.4")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _targets(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(name, thunk returning ResolvedState) for everything to lint."""
    from mailstate.diagnostics import error
    from mailstate.inventory import find_state, resolve_state
    from mailstate.inventory.cli import inventory_from_args
    from mailstate.model.loader import load_state

    targets: list[tuple[str, Any]] = []
    if args.states:
        paths = [find_state(s) for s in args.states]
        if args.merge:
            targets.append((" + ".join(map(str, paths)), lambda: load_state(paths)))
        else:
            targets += [(str(p), lambda p=p: load_state([p])) for p in paths]
    if args.inventory:
        inventory = inventory_from_args(args)
        selected = inventory.select(args.limit)
        if not selected:
            raise error("no host of the inventory matched --limit" if args.limit else
                        "the inventory has no hosts",
                        fix=f"check --limit {args.limit!r} against `mailstate inventory "
                            "--graph`" if args.limit else "add hosts to the inventory")
        for host in selected:
            targets.append((host.name, lambda h=host: resolve_state(h, inventory)))
    if not targets:
        raise error("nothing to lint: give STATE files or -i INVENTORY",
                    fix="mailstate lint hardened   or   mailstate lint -i "
                        "inventory/lab.yaml")
    return targets


def _check(thunk: Any, target: Any = None) -> tuple[list[Any], list[str]]:
    from mailstate.diagnostics import MailstateError
    from mailstate.lint import lint
    from mailstate.model.masking import mask_text

    try:
        resolved = thunk()
    except MailstateError as exc:
        return exc.diagnostics, []
    secrets = resolved.state.secret_values()
    found = []
    for diag in lint(resolved, target=target):
        found.append(type(diag)(diag.severity, mask_text(diag.summary, secrets), diag.location,
                                mask_text(diag.detail, secrets), diag.fix, diag.reference,
                                diag.code, diag.extra))
    return found, resolved.files


def _print_human(results: list[tuple[str, list[Any]]]) -> None:
    import sys

    from mailstate.console import use_color

    console = None
    if use_color():
        from rich.console import Console

        console = Console(highlight=False)
    style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for name, diagnostics in results:
        if len(results) > 1:
            sys.stdout.write(f"== {name}\n")
        for diag in diagnostics:
            if console is None:
                sys.stdout.write(diag.format() + "\n")
                continue
            from rich.markup import escape

            head, _, rest = diag.format().partition(f"{diag.severity}")
            console.print(escape(head) + f"[{style[diag.severity]}]{diag.severity}[/]"
                          + escape(rest))
    counts = {s: sum(d.severity == s for _, ds in results for d in ds)
              for s in ("error", "warning", "info")}
    sys.stdout.write(f"{counts['error']} error(s), {counts['warning']} warning(s), "
                     f"{counts['info']} info in {len(results)} state(s)\n")


def run(args: argparse.Namespace) -> int:
    from mailstate.console import emit_json

    target = None
    if args.target:
        from mailstate.releases.catalog import parse_target

        target = parse_target(args.target)
    results: list[tuple[str, list[Any]]] = []
    documents = []
    for name, thunk in _targets(args):
        diagnostics, files = _check(thunk, target)
        results.append((name, diagnostics))
        documents.append({"target": name, "files": files,
                          "findings": [d.to_json() for d in diagnostics]})
    failed = any(d.severity == "error" for _, ds in results for d in ds)
    if args.json:
        emit_json({"ok": not failed, "targets": documents})
    else:
        _print_human(results)
    return 1 if failed else 0

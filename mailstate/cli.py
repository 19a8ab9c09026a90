"""Command-line entry point: `mailstate <command>`.

Each command lives in `mailstate/commands/<name>.py` with `add_parser(subparsers)` and
`run(args) -> int`. Command modules import heavy libraries inside `run`, so `--help`
and start-up stay fast.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from typing import NoReturn

from mailstate import __version__
from mailstate.diagnostics import MailstateError

COMMANDS = ("plan", "apply", "rollback", "show", "lint", "audit", "inventory", "schema",
            "profiles", "lab", "demo", "completion")

EPILOG = """\
typical use:
  mailstate lint -i inventory/lab.yaml          check the desired state, no SSH
  mailstate plan -i inventory/lab.yaml          show exact diffs (exit 2 = changes pending)
  mailstate plan -i inventory/lab.yaml -o p.json  save the plan
  mailstate apply p.json                        apply exactly that plan
  mailstate apply -i inventory/lab.yaml --yes   plan and apply in one go

exit codes: 0 ok / no changes, 1 error, 2 changes pending (plan)
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree; with `only`, the tree of that one command (start-up: the
    other eleven command modules and their parsers cost ~20 ms that `plan` never uses)."""
    parser = argparse.ArgumentParser(
        prog="mailstate",
        description="Declarative state for Postfix, Dovecot and Roundcube, over SSH.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mailstate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is None or name == only:
            module = importlib.import_module(f"mailstate.commands.{name}")
            module.add_parser(sub)
    return parser


# Commands that parse their own arguments (the demo: its options are mailstate/demo.py's).
OWN_ARGUMENTS = ("demo",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["__complete"]:  # hidden: shell completion asks for candidates
        from mailstate.commands.completion import complete

        return complete(argv[1:])
    if argv[:1] and argv[0] in OWN_ARGUMENTS:
        args = argparse.Namespace(command=argv[0], arguments=argv[1:], json=False)
    else:
        # `mailstate plan ...` needs only plan's parser: argparse hands every word after
        # the command to that command's subparser, whose usage, help and errors are the
        # same either way. Anything else (`--help`, a typo) gets the whole tree.
        parser = build_parser(argv[0] if argv[:1] and argv[0] in COMMANDS else None)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 1
    module = importlib.import_module(f"mailstate.commands.{args.command}")
    try:
        return int(module.run(args))
    except MailstateError as exc:
        from mailstate.console import emit_json, print_diagnostics

        if getattr(args, "json", False):
            emit_json({"ok": False, "errors": [d.to_json() for d in exc.diagnostics]})
        else:
            print_diagnostics(exc.diagnostics)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        # `mailstate show h1 | head`: the reader left; not an error worth a traceback.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def entry() -> NoReturn:
    """The installed `mailstate` command and `python -m mailstate`: `main`, then exit.

    Why not a plain `sys.exit(main())`: tearing the interpreter down after the work is
    done (every module's objects freed one at a time: pydantic's validators, paramiko
    and cryptography, the release tables) cost ~90 ms of CPU, a fifth of a 3-host plan.
    What a normal exit does that anyone can observe still happens, in Python's order:
    non-daemon threads are waited for, atexit handlers run (logging, thread pools,
    `weakref.finalize`), stdout and stderr are flushed. A flush that fails (a closed
    pipe) takes the normal exit, which reports it as before.
    """
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    atexit._clear()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)

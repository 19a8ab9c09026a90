"""`mailstate demo`: the demo from an installed mailstate, the very steps of `./run demo`.

The steps live in mailstate/demo.py only (its `main`); this command hands every argument
to it (cli.OWN_ARGUMENTS), so a change to the demo is one change for both ways of
starting it. Unlike `./run demo` it installs nothing: the lab needs root and the Debian
packages that `mailstate lab up` names when they are missing.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # Listed in `mailstate --help`; the arguments never reach this parser (cli.main).
    sub.add_parser("demo", add_help=False,
                   help="lab hosts, lint, plan + apply the hardened profile, audit (root; "
                        "`mailstate demo --help`)")


def run(args: argparse.Namespace) -> int:
    from mailstate import demo

    return demo.main(list(args.arguments), prog="mailstate demo")

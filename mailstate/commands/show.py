"""`mailstate show` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub.add_parser("show", help="(not yet available)")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("mailstate show: not implemented yet")

"""`mailstate schema` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub.add_parser("schema", help="(not yet available)")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("mailstate schema: not implemented yet")

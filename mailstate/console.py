"""Terminal and JSON output shared by every command: the engine never prints."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from mailstate.diagnostics import Diagnostic


def emit_json(document: Any, stream: TextIO | None = None) -> None:
    """Write one stable JSON document (sorted keys, trailing newline)."""
    out = stream or sys.stdout
    json.dump(document, out, indent=2, sort_keys=True, default=str)
    out.write("\n")


def print_diagnostics(diagnostics: list[Diagnostic], stream: TextIO | None = None) -> None:
    """Human form of diagnostics: one block per problem, errors first."""
    out = stream or sys.stderr
    order = {"error": 0, "warning": 1, "info": 2}
    for diag in sorted(diagnostics, key=lambda d: order[d.severity]):
        out.write(diag.format() + "\n")


def use_color(stream: TextIO | None = None) -> bool:
    out = stream or sys.stdout
    return bool(getattr(out, "isatty", lambda: False)())

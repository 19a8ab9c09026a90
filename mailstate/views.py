"""Human views of plans, apply and rollback results (JSON views are the objects' `to_json`).

Colour only on a terminal; piped output stays plain text, one line per fact, so it can be
grepped and diffed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from mailstate.diagnostics import Diagnostic
    from mailstate.engine.apply import HostResult
    from mailstate.engine.plan import HostPlan
    from mailstate.engine.rollback import HostBackups, RollbackResult

RESET, BOLD, RED, GREEN, CYAN, YELLOW = "\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[36m", \
    "\x1b[33m"


class Painter:
    """ANSI colours when the stream is a terminal, nothing otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.on = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, text: str, *codes: str) -> str:
        return "".join(codes) + text + RESET if self.on and codes else text

    def diff_line(self, line: str) -> str:
        if line.startswith(("+++", "---")):
            return self(line, BOLD)
        if line.startswith("@@"):
            return self(line, CYAN)
        if line.startswith("+"):
            return self(line, GREEN)
        if line.startswith("-"):
            return self(line, RED)
        return line


def _diagnostic(paint: Painter, diag: Diagnostic, *colour: str) -> str:
    """One diagnostic, indented under its host: its first line (which names the
    severity) in `colour`, if any."""
    head, _, rest = diag.format().partition("\n")
    text = "  " + paint(head, *colour)
    return text + ("\n  " + rest.replace("\n", "\n  ") if rest else "")


def render_plan(plans: Sequence[HostPlan], stream: TextIO | None = None) -> None:
    """Every host: its diffs, its actions, a summary line; then the run's summary.

    One write per host: a 100-host plan is ~17,000 lines, and a write per line cost
    0.2 s of the run."""
    out = stream or sys.stdout
    paint = Painter(out)
    for plan in plans:
        parts = [paint(f"== {plan.host}", BOLD)]
        # a diagnostic's text names its severity: `FILE:LINE: error [code]: ...`
        parts.extend(_diagnostic(paint, diag, RED) for diag in plan.error)
        parts.extend(_diagnostic(paint, diag, YELLOW) for diag in plan.warnings)
        for change in plan.changes:
            lines = change.diff.splitlines()
            parts.extend(map(paint.diff_line, lines) if paint.on else lines)
        parts.extend(paint(f"  action: {action.describe()}", CYAN) for action in plan.actions)
        parts.append(f"  {host_summary(plan)}")
        out.write("\n".join(parts) + "\n")
    changed = sum(1 for p in plans if p.changed and not p.error)
    failed = sum(1 for p in plans if p.error)
    out.write(paint(f"plan: {len(plans)} hosts, {changed} to change, "
                    f"{len(plans) - changed - failed} unchanged, {failed} failed", BOLD) + "\n")


def host_summary(plan: HostPlan) -> str:
    if plan.error:
        return "failed"
    if not plan.changed:
        return f"no changes ({plan.seconds:.2f}s)"
    files = ", ".join(c.path for c in plan.changes) or "no files"
    return f"{len(plan.changes)} file(s) to change: {files} ({plan.seconds:.2f}s)"


def render_apply(results: Sequence[HostResult], stream: TextIO | None = None) -> None:
    """One block per host with its messages, then a summary table."""
    out = stream or sys.stdout
    paint = Painter(out)
    colours = {"applied": GREEN, "unchanged": "", "failed": RED, "rolled-back": RED,
               "refused": YELLOW}
    for result in results:
        head = f"== {result.host}: {result.status}"
        out.write(paint(head, BOLD, colours.get(result.status, "")) + "\n")
        for path in result.written:
            out.write(f"  wrote {path}\n")
        if result.plan:
            for action in result.plan.actions if result.status == "applied" else []:
                out.write(f"  ran {action.describe()}\n")
        if result.backup:
            out.write(f"  backup: {result.backup}\n")
        for diag in result.messages:
            out.write(_diagnostic(paint, diag) + "\n")
    out.write(summary_table(results))


def summary_table(results: Sequence[HostResult]) -> str:
    """host | result | files written | actions run | seconds, as aligned plain text.

    What happened, not what was planned: a host refused before the swap wrote nothing and
    ran nothing, and a rolled-back host's files were put back (its written count says how
    far the swap got)."""
    rows = [("host", "result", "written", "ran", "seconds")]
    for r in results:
        ran = [a.describe() for a in r.plan.actions] if r.plan and r.status == "applied" else []
        rows.append((r.host, r.status, str(len(r.written)), ", ".join(ran) or "-",
                     f"{r.seconds:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in rows]
    ok = sum(1 for r in results if r.ok)
    lines.append(f"apply: {len(results)} hosts, {ok} converged, {len(results) - ok} failed")
    return "\n".join(lines) + "\n"


def render_backups(listings: Sequence[HostBackups], which: str = "latest",
                   stream: TextIO | None = None) -> None:
    """Every host's backups, oldest first; `*` marks the one a rollback would restore."""
    out = stream or sys.stdout
    paint = Painter(out)
    for listing in listings:
        out.write(paint(f"== {listing.host}", BOLD) + "\n")
        for diag in listing.errors:
            out.write(_diagnostic(paint, diag, RED) + "\n")
        if not listing.backups and not listing.errors:
            out.write("  no backups\n")
        chosen = listing.chosen(which)
        for backup in listing.backups:
            mark = "*" if backup is chosen else " "
            out.write(f"  {mark} {backup.name}  {' '.join(backup.files)}"
                      + (f"  (created: {' '.join(backup.absent)})" if backup.absent else "")
                      + "\n")


def render_rollback_plan(listings: Sequence[HostBackups], which: str,
                         stream: TextIO | None = None) -> None:
    """What a rollback is about to do on each host (shown before asking)."""
    out = stream or sys.stdout
    paint = Painter(out)
    for listing in listings:
        chosen = listing.chosen(which)
        if listing.errors or chosen is None:
            out.write(f"== {listing.host}: nothing to restore\n")
            for diag in listing.errors:
                out.write(_diagnostic(paint, diag) + "\n")
            continue
        out.write(f"== {listing.host}: restore backup {chosen.name}\n")
        out.writelines(f"  put back {path}\n" for path in chosen.files)
        out.writelines(f"  remove {path} (it did not exist before)\n" for path in chosen.absent)


def render_rollback(results: Sequence[RollbackResult], stream: TextIO | None = None) -> None:
    """One block per host: the backup, each file put back or not, the messages."""
    out = stream or sys.stdout
    paint = Painter(out)
    for result in results:
        colour = GREEN if result.ok else RED
        out.write(paint(f"== {result.host}: {result.status}", BOLD, colour) + "\n")
        if result.backup:
            out.write(f"  backup: {result.backup}\n")
        out.writelines(f"  put back {path}\n" for path in result.restored)
        out.writelines(f"  removed {path}\n" for path in result.removed)
        out.writelines(paint(f"  NOT back {path}: {why}", RED) + "\n"
                       for path, why in result.not_back.items())
        for diag in result.messages:
            out.write(_diagnostic(paint, diag) + "\n")
    ok = sum(1 for r in results if r.ok)
    out.write(paint(f"rollback: {len(results)} hosts, {ok} restored, {len(results) - ok} failed",
                    BOLD) + "\n")

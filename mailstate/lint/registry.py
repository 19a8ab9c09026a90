"""The lint rule registry: each rule is a small function with an id, a severity and a
reference, yielding `Finding`s that `run` turns into located `Diagnostic`s."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailstate.diagnostics import Diagnostic, Location, Severity
from mailstate.lint.view import StateView


@dataclass(frozen=True)
class Finding:
    """What a rule found: a message, the state path it is about, and how to fix it."""

    message: str
    path: tuple[str | int, ...] = ()
    fix: str = ""
    severity: Severity | None = None  # None: the rule's own severity
    location: Location | None = None  # None: located through the state's sources


Check = Callable[[StateView], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    reference: str
    check: Check


RULES: list[Rule] = []


def rule(rule_id: str, severity: Severity, title: str, reference: str) -> Callable[[Check], Check]:
    """Register a check function under `rule_id`."""

    def register(check: Check) -> Check:
        if any(r.id == rule_id for r in RULES):
            raise ValueError(f"duplicate lint rule id {rule_id}")
        RULES.append(Rule(rule_id, severity, title, reference, check))
        return check

    return register


def run(view: StateView, rules: Iterable[Rule] | None = None) -> list[Diagnostic]:
    """Every finding of every rule, as diagnostics in file/line order."""
    diagnostics = []
    for item in rules if rules is not None else RULES:
        for finding in item.check(view):
            diagnostics.append(Diagnostic(
                finding.severity or item.severity, finding.message,
                finding.location or view.locate(finding.path),
                fix=finding.fix, reference=item.reference, code=item.id,
            ))

    def order(d: Diagnostic) -> tuple[str, int, int, str]:
        loc = d.location or Location("")
        return (loc.file, loc.line or 0, loc.column or 0, d.code)

    return sorted(diagnostics, key=order)

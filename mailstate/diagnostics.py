"""One error/finding type for the whole project.

Parse errors, invalid states, lint findings and runtime failures all become
`Diagnostic`s, so the CLI renders them one way (human or JSON) and nothing needs a
traceback to be understood.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and, when known, 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


@dataclass(frozen=True)
class Diagnostic:
    """A problem or finding, with enough context to fix it without reading code."""

    severity: Severity
    summary: str
    location: Location | None = None
    detail: str = ""
    fix: str = ""
    reference: str = ""
    code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def format(self) -> str:
        """Render as `file:line:col: severity: summary` plus indented detail/fix/reference."""
        head = f"{self.location}: " if self.location else ""
        code = f" [{self.code}]" if self.code else ""
        lines = [f"{head}{self.severity}{code}: {self.summary}"]
        for label, text in (("", self.detail), ("fix: ", self.fix), ("see: ", self.reference)):
            if text:
                lines.extend(f"  {label}{part}" for part in text.splitlines())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            data.pop("extra")
        return data


class MailstateError(Exception):
    """Any failure the user can act on. Carries one or more diagnostics."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]) -> None:
        self.diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__("\n".join(d.format() for d in self.diagnostics))


def error(summary: str, file: str | None = None, line: int | None = None,
          column: int | None = None, **kwargs: Any) -> MailstateError:
    """Shorthand: build a one-diagnostic MailstateError."""
    location = Location(file, line, column) if file is not None else None
    return MailstateError(Diagnostic("error", summary, location, **kwargs))


class ParseError(MailstateError):
    """A file could not be parsed: names file, line, column, what was expected and found."""

    def __init__(self, file: str, line: int, column: int, expected: str, found: str) -> None:
        self.file, self.line, self.column = file, line, column
        self.expected, self.found = expected, found
        super().__init__(Diagnostic(
            "error", f"expected {expected}, found {found}", Location(file, line, column),
            code="parse",
        ))

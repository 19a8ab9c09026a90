"""Lossless editor for Postfix main.cf.

Postfix reads logical lines: `name = value`, continued by lines that start with
whitespace; lines whose first non-blank character is `#` and blank lines are skipped
(also between continuation lines). The last definition of a name wins. We keep the raw
lines and an index of definitions, so rendering untouched text is byte-exact and an edit
replaces only the lines of one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mailstate.diagnostics import Diagnostic, Location
from mailstate.formats._text import (
    WHITESPACE,
    LineDocument,
    bad_char,
    body,
    insert_lines,
    is_blank,
    parse_error,
    replace_lines,
    starts_with_space,
)

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a main.cf parameter name (a transport's `name-x_limit` may
    hold '-' and '.'), or None."""
    if not _NAME.fullmatch(name):
        return "a parameter name of letters, digits, '_', '-' and '.'"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be written as a main.cf value postconf reads back exactly."""
    bad = bad_char(value)
    if bad:
        return f"a main.cf value on one line, without tabs or control characters ({bad})"
    if value != value.strip(WHITESPACE):
        return "a main.cf value without blanks around it (Postfix strips them)"
    return macro_problem(value)


_MACRO_NAME = re.compile(r"[A-Za-z0-9_]")


def macro_problem(value: str) -> str | None:
    """Why Postfix's macro parser (mac_parse) would stop at `value`, or None."""
    i = value.find("$")
    while i >= 0:
        after = value[i + 1:i + 2]
        if after in ("{", "("):
            close = _closing(value, i + 1)
            if close is None:
                return (f"a '$' reference that is closed: '${after}' at character {i + 1} "
                        f"has no matching '{'}' if after == '{' else ')'}'")
            inner = value[i + 2:close]
            if not inner or inner[0] in "?:":
                return f"a parameter name inside '${after}...' at character {i + 1}"
            cut = min((inner.find(c) for c in "?:" if c in inner), default=-1)
            if cut > 0 and inner[0] != "{":  # ${name?text}: text is parsed too
                problem = macro_problem(inner[cut + 1:])
                if problem:
                    return problem
            i = value.find("$", close + 1)
        elif after == "$" or _MACRO_NAME.fullmatch(after):
            i = value.find("$", i + 2)
        else:
            return (f"a '$' followed by a parameter name, {{name}}, (name) or '$' "
                    f"(a lone '$' at character {i + 1}; write '$$' for a '$')")
    level = 0
    for c in value:
        level += c == "{"
        level -= c == "}" and level > 0
    return "a value whose every '{' is closed by a '}'" if level else None


def _closing(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at `start` (same kind, nested), or None."""
    if start < 0:
        return None
    opening = text[start]
    closing = "}" if opening == "{" else ")"
    level = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            level += 1
        elif text[i] == closing:
            level -= 1
            if level == 0:
                return i
    return None


@dataclass(frozen=True)
class Definition:
    """One `name = value` definition: lines [start, end) of the file (0-based)."""

    name: str
    value: str
    start: int
    end: int
    separator: str  # the text between name and value, e.g. " = "


def is_comment(line: str) -> bool:
    return body(line).lstrip(WHITESPACE).startswith("#")


def split_definition(text: str, path: str, number: int) -> tuple[str, str, str]:
    """`name = value` -> (name, separator, value) of one head line."""
    eq = text.find("=")
    if eq < 0:
        word = text.split()[0]
        raise parse_error(path, number, len(word) + 1, "'=' after parameter name",
                          text[len(word):])
    name = text[:eq].rstrip(WHITESPACE)
    if not name or any(c in WHITESPACE for c in name):
        raise parse_error(path, number, 1, "one parameter name before '='", text)
    rest = text[eq + 1:]
    value = rest.strip(WHITESPACE)
    separator = text[len(name): eq + 1] + rest[: len(rest) - len(rest.lstrip(WHITESPACE))]
    return name, separator, value


def scan(lines: list[str], path: str) -> list[Definition]:
    """Index the definitions of a main.cf given as raw lines."""
    defs: list[Definition] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if is_blank(line) or is_comment(line) or starts_with_space(line):
            i += 1  # a stray leading continuation: postconf warns and skips it
            continue
        name, separator, value = split_definition(body(line), path, i + 1)
        parts = [value] if value else []
        end = j = i + 1
        while j < len(lines) and (starts_with_space(lines[j]) or is_comment(lines[j])
                                  or is_blank(lines[j])):
            if not (is_comment(lines[j]) or is_blank(lines[j])):
                parts.append(body(lines[j]).strip(WHITESPACE))
                end = j + 1
            j += 1
        defs.append(Definition(name, " ".join(parts), i, end, separator))
        i = end
    return defs


class MainCf(LineDocument[Definition]):
    """A parsed main.cf. `render(parse(b)) == b`; edits touch only their definition."""

    default_path = "main.cf"
    scan = staticmethod(scan)

    def _all(self, key: str) -> list[Definition]:
        return [d for d in self._items if d.name == key]

    def get(self, key: str) -> str | None:
        found = self._all(key)
        return found[-1].value if found else None

    def keys(self) -> list[str]:
        return list(dict.fromkeys(d.name for d in self._items))

    def line_of(self, key: str) -> int | None:
        found = self._all(key)
        return found[-1].start + 1 if found else None

    def set(self, key: str, value: str) -> list[Diagnostic]:
        """Set `key` at its effective definition (or append); warn about earlier ones."""
        value = value.strip(WHITESPACE)
        problem = name_problem(key) or value_problem(value)
        if problem:  # the model refuses these first; this guards the file itself
            raise ValueError(f"main.cf {key}: expected {problem}")
        found = self._all(key)
        if not found:
            at = len(self._lines)
            insert_lines(self._lines, at, [f"{key} = {value}"])
            self._reindex_from(at)
        elif found[-1].value != value:
            last = found[-1]
            replace_lines(self._lines, last.start, last.end, [f"{key}{last.separator}{value}"])
            if last.end - last.start == 1:
                # one line for one line: what follows a definition up to the next one is
                # comments and blanks, so a rescan would find every other definition where
                # it was (~0.5 ms a plan per host for the stock main.cf)
                at = next(i for i, d in enumerate(self._items) if d is last)
                self._items[at] = replace(last, value=value)
            else:
                self._reindex_from(last.start)
        return [self._duplicate(d, len(found)) for d in found[:-1]]

    def _reindex_from(self, line: int) -> None:
        """Re-index after an edit at `line`: definitions that end before it are untouched
        (an edit never reaches back into an earlier definition), the rest are scanned
        again. Appending a key costs one line, not the whole file."""
        keep = [d for d in self._items if d.end <= line]
        tail = scan(self._lines[line:], self.path)
        self._items = keep + [replace(d, start=d.start + line, end=d.end + line) for d in tail]

    def _duplicate(self, d: Definition, count: int) -> Diagnostic:
        return Diagnostic(
            "warning", f"{d.name} is defined {count} times; only the last definition counts",
            Location(self.path, d.start + 1),
            fix=f"remove the earlier definition of {d.name}", code="duplicate-parameter")

    def unset(self, key: str) -> None:
        """Remove every definition of `key` with its continuation lines."""
        found = self._all(key)
        for d in reversed(found):
            del self._lines[d.start: d.end]
        if found:
            self._rescan()

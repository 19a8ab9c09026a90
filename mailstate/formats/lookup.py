"""Lossless editor for Postfix lookup-table sources (the text postmap reads).

`key value` lines (key and value separated by whitespace), `#` comment lines, blank lines,
and continuation lines that start with whitespace. postmap lowercases keys and keeps the
first of duplicate keys, so keys compare case-insensitively (full Unicode case folding,
as postmap folds UTF-8 keys) and the first definition is the effective one. Raw lines
are kept; edits replace only the lines of one entry.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mailstate.formats._text import (
    WHITESPACE,
    LineDocument,
    bad_char,
    body,
    encode,
    insert_lines,
    is_blank,
    parse_error,
    replace_lines,
    starts_with_space,
)

_ENTRY = re.compile(r"(\S+)([ \t]+)(.*)")
PATTERN_TYPES = frozenset({"regexp", "pcre"})


def key_problem(key: str, table_type: str = "hash") -> str | None:
    """Why `key` cannot be written as one key of a `table_type` table, or None."""
    bad = bad_char(key)
    if bad:
        return f"a key without control characters ({bad})"
    if not key:
        return "a key that is not empty"
    if any(c in WHITESPACE for c in key):
        return ("a key without blanks (postmap ends the key at the first blank"
                + ("; write \\s or [ ] in a pattern" if table_type in PATTERN_TYPES else "")
                + ")")
    if key.startswith("#"):
        return "a key that does not start with '#' (postmap reads that line as a comment)"
    if _open_quote(key):
        return ("a key whose '\"' quotes are closed and that does not end in a lone '\\' "
                "(postmap reads on into the value, or ignores the line)")
    if table_type in PATTERN_TYPES and (key.lstrip("!")[:1].isalnum() or key == "!"):
        return "a pattern between delimiters such as /^user@example\\.com$/"
    if table_type == "cidr":
        try:
            ipaddress.ip_network(key.replace("[", "").replace("]", ""), strict=False)
        except ValueError:
            return "an address or network such as 192.0.2.0/24 or 2001:db8::/32"
    return None


def _open_quote(key: str) -> bool:
    """A `"` left open, or a last `\\` that escapes what follows the key, as postmap
    scans keys (a backslash escapes the next character)."""
    quoted, i = False, 0
    while i < len(key):
        if key[i] == "\\":
            if i + 1 == len(key):
                return True  # it would escape the blank after the key
            i += 1
        elif key[i] == '"':
            quoted = not quoted
        i += 1
    return quoted


def value_problem(value: str) -> str | None:
    """Why `value` cannot be written as one lookup table value postmap reads back exactly."""
    bad = bad_char(value, "\t")
    if bad:
        return f"a value on one line, without control characters ({bad})"
    if not value.strip(WHITESPACE):
        return "a value that is not empty (postmap skips a key without a value)"
    if value != value.strip(WHITESPACE):
        return "a value without blanks around it (postmap strips them)"
    return None


@dataclass(frozen=True)
class Entry:
    """One `key value` entry: lines [start, end) of the file (0-based)."""

    key: str
    value: str
    start: int
    end: int
    separator: str


def is_comment(line: str) -> bool:
    return body(line).lstrip(WHITESPACE).startswith("#")


def scan(lines: list[str], path: str) -> list[Entry]:
    """Index the entries of a lookup-table source given as raw lines."""
    entries: list[Entry] = []
    i = 0
    while i < len(lines):
        if is_blank(lines[i]) or is_comment(lines[i]) or starts_with_space(lines[i]):
            i += 1  # a stray continuation line: postmap warns and skips it
            continue
        logical, end, j = body(lines[i]), i + 1, i + 1
        while j < len(lines) and (starts_with_space(lines[j]) or is_comment(lines[j])
                                  or is_blank(lines[j])):
            if not (is_comment(lines[j]) or is_blank(lines[j])):
                logical += body(lines[j])
                end = j + 1
            j += 1
        m = _ENTRY.fullmatch(logical)
        if m is None or not m.group(3).strip(WHITESPACE):
            key = logical.split()[0]
            raise parse_error(path, i + 1, len(key) + 1, "whitespace and a value after the key",
                              logical[len(key):])
        entries.append(Entry(m.group(1), m.group(3).strip(WHITESPACE), i, end, m.group(2)))
        i = end
    return entries


def _check_entry(key: str, value: str) -> None:
    """The model refuses these first; this guards the file itself (values never shown)."""
    problem = key_problem(key) or value_problem(value)
    if problem:
        raise ValueError(f"lookup table entry: expected {problem}")


class LookupTable(LineDocument[Entry]):
    """A parsed lookup-table source. `render(parse(b)) == b`."""

    default_path = "table"
    scan = staticmethod(scan)

    @classmethod
    def from_entries(cls, entries: dict[str, str], header: str = "") -> LookupTable:
        """A whole file owned by a state: optional header text, then `key value` lines."""
        for key, value in entries.items():
            _check_entry(key, value)
        text = header if not header or header.endswith("\n") else header + "\n"
        text += "".join(f"{k} {v}\n" for k, v in entries.items())
        return cls.parse(encode(text), "table")

    def _all(self, key: str) -> list[Entry]:
        folded = key.casefold()
        return [e for e in self._items if e.key.casefold() == folded]

    def get(self, key: str) -> str | None:
        found = self._all(key)
        return found[0].value if found else None

    def entries(self) -> dict[str, str]:
        """Effective entries, keys spelled as in their first definition."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        for e in self._items:
            if e.key.casefold() not in seen:
                seen.add(e.key.casefold())
                out[e.key] = e.value
        return out

    def set(self, key: str, value: str) -> None:
        """Set the effective entry of `key` in place, or append `key value`."""
        value = value.strip(WHITESPACE)
        _check_entry(key, value)
        found = self._all(key)
        if not found:
            sep = self._items[-1].separator if self._items else " "
            insert_lines(self._lines, len(self._lines), [f"{key}{sep}{value}"])
        elif found[0].value != value:
            e = found[0]
            replace_lines(self._lines, e.start, e.end, [f"{e.key}{e.separator}{value}"])
        self._rescan()

    def remove(self, key: str) -> None:
        """Remove every entry of `key` (any case) with its continuation lines."""
        for e in reversed(self._all(key)):
            del self._lines[e.start: e.end]
        self._rescan()

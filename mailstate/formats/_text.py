"""Shared helpers for the line-based lossless formats.

Every format keeps the file as a list of raw lines (each with its own line ending, the
last one possibly without). Rendering joins them, so untouched lines come back byte for
byte; edits replace whole lines. Bytes that are not UTF-8 survive through
`surrogateescape`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, Self, TypeVar

from mailstate.diagnostics import ParseError

Item = TypeVar("Item")

WHITESPACE = " \t"


def decode(data: bytes) -> str:
    """Bytes -> str without losing bytes that are not UTF-8."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    """Inverse of `decode`."""
    return text.encode("utf-8", "surrogateescape")


def split_lines(text: str) -> list[str]:
    """Split keeping each line's ending (`\\n` or `\\r\\n`); a last line may have none."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def body(line: str) -> str:
    """A line without its line ending."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def ending(line: str) -> str:
    """The line ending of a line ('' for a last line without one)."""
    return line[len(body(line)):]


def newline_of(lines: list[str]) -> str:
    """The file's line ending: the one of its first terminated line, else `\\n`."""
    for line in lines:
        end = ending(line)
        if end:
            return end
    return "\n"


def is_blank(line: str) -> bool:
    return not body(line).strip(WHITESPACE)


def starts_with_space(line: str) -> bool:
    return line[:1] in (" ", "\t")


def indent_of(line: str) -> str:
    text = body(line)
    return text[: len(text) - len(text.lstrip(WHITESPACE))]


def replace_lines(lines: list[str], start: int, end: int, bodies: Iterable[str]) -> None:
    """Replace lines[start:end] by new line bodies, keeping the file's line endings.

    The last new line takes the ending of the last replaced line, so a file without a
    final newline keeps that property.
    """
    new = list(bodies)
    nl = newline_of(lines)
    last_end = ending(lines[end - 1]) if end > start else nl
    out = [b + nl for b in new]
    if out:
        out[-1] = new[-1] + last_end
    lines[start:end] = out


def insert_lines(lines: list[str], at: int, bodies: Iterable[str]) -> None:
    """Insert new line bodies before index `at` (at == len(lines): append).

    Appending to a file without a final newline terminates the old last line and leaves
    the new last line unterminated, so the file keeps its missing final newline.
    """
    new = list(bodies)
    if not new:
        return
    nl = newline_of(lines)
    out = [b + nl for b in new]
    if at == len(lines) and lines and not ending(lines[-1]):
        lines[-1] += nl
        out[-1] = new[-1]
    lines[at:at] = out


# Characters no config file of ours carries literally: C0/C1 controls (NUL, newline, CR,
# ESC, ...), Unicode line/paragraph separators, bidi overrides (they make a diff read
# differently from the bytes) and lone surrogates (bytes that were not UTF-8).
_UNWRITABLE = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CHAR_NAMES = {"\n": "a newline", "\r": "a carriage return", "\x00": "a NUL byte",
               "\t": "a tab"}
_BAD_CACHE: dict[str, re.Pattern[str]] = {}


def bad_char(text: str, allowed: str = "") -> str | None:
    """Where `text` holds a character a config line cannot carry, named for a message.

    `allowed` lists characters the caller's format does carry (a tab, a PHP newline).
    The message names the character and its position only, never the text itself: the
    text may be a secret.
    """
    pattern = _BAD_CACHE.get(allowed)
    if pattern is None:
        chars = "".join(f"\\x{ord(c):02x}" for c in allowed)
        pattern = re.compile(f"(?![{chars}])[{_UNWRITABLE}]" if chars else f"[{_UNWRITABLE}]")
        _BAD_CACHE[allowed] = pattern
    m = pattern.search(text)
    if m is None:
        return None
    c = m.group()
    return f"{_CHAR_NAMES.get(c, f'the character U+{ord(c):04X}')} at character {m.start() + 1}"


def shown(text: str) -> str:
    """Found text for an error message: quoted, shortened, or `end of line`."""
    if not text:
        return "end of line"
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_error(path: str, line: int, column: int, expected: str, found: str) -> ParseError:
    """A ParseError whose `found` is the offending text, shown short and quoted."""
    return ParseError(path, line, column, expected, shown(found))


class LineDocument(Generic[Item]):
    """A file kept as its exact lines plus an index of what they define.

    Subclasses give `scan(lines, path)`; the lines are the truth, the index is rebuilt
    after every edit with `_rescan`, and `render` joins the lines back unchanged.
    """

    default_path = "file"

    def __init__(self, lines: list[str], path: str) -> None:
        self._lines = lines
        self.path = path
        self._items: list[Item] = self.scan(lines, path)

    @staticmethod
    def scan(lines: list[str], path: str) -> list[Item]:
        raise NotImplementedError

    @classmethod
    def parse(cls, data: bytes, path: str | None = None) -> Self:
        return cls(split_lines(decode(data)), path or cls.default_path)

    def render(self) -> bytes:
        return encode("".join(self._lines))

    def _rescan(self) -> None:
        self._items = self.scan(self._lines, self.path)

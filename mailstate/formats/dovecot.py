"""Lossless editor for a Dovecot 2.3 configuration tree.

Dovecot reads `key = value` lines, `name [title] {` sections closed by a lone `}`,
`#` comments (outside quoted values), `\\` line continuation, and `!include` /
`!include_try` (globs, relative to the including file). Named sections merge across
files and the last definition of a setting wins. We keep every file as raw lines plus an
index of its items, walk the include tree to find where each setting lives, and edit
only the lines of that setting in that file.

What names and values can hold (`section_name_problem`, `value_problem`): Dovecot ends a
value at the newline and knows no escape for one, strips blanks around a value even when
quoted, and ends a quoted section name at the next `"` (no escapes there: `"a\"b"` is a
fatal error). A value that starts with `<` makes Dovecot read the file it names; that is
the model's business (`model.dovecot`), since only some settings should ever do it.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mailstate.formats._text import (
    WHITESPACE,
    bad_char,
    body,
    decode,
    encode,
    indent_of,
    insert_lines,
    parse_error,
    replace_lines,
    split_lines,
)

Path = tuple[str, ...]
_SETTING = re.compile(r"([^\s=\"'{}]+)([ \t]*=[ \t]*)(.*)")
_MAX_DEPTH = 20
SECTION_TYPE = re.compile(r"[A-Za-z0-9_-]+")
SETTING_NAME = re.compile(r"[A-Za-z0-9_]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_./@:*+,!%-]+")  # no '=': `type = {` is a setting
FILE_PREFIX = "<"  # `key = <path`: Dovecot reads the value from that file


def section_name_problem(name: str) -> str | None:
    """Why `name` cannot be written as the name of a section (`type name {`), or None."""
    bad = bad_char(name)
    if bad:
        return f"a section name without control characters ({bad})"
    if not name or name != name.strip(WHITESPACE):
        return "a section name without blanks around it"
    if '"' in name or "\\" in name:
        return "a section name without '\"' or '\\' (Dovecot has no escapes there)"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be written as a value doveconf reads back exactly, or None."""
    bad = bad_char(value, "\t")
    if bad:
        return f"a value on one line, without control characters ({bad})"
    if value != value.strip(WHITESPACE):
        return "a value without blanks around it (Dovecot strips them, even in quotes)"
    return None


@dataclass(frozen=True)
class Item:
    """One logical line of a file: lines [start, end) (0-based)."""

    kind: str  # "setting", "open", "close" or "include"
    start: int
    end: int
    key: str = ""  # setting key, section key ("type" or "type name"), include pattern
    value: str = ""  # raw setting value (quotes kept)
    prefix: str = ""  # head-line text before the value
    suffix: str = ""  # head-line text after the value (trailing comment), single line only
    try_: bool = False


@dataclass(frozen=True)
class Setting:
    path: Path
    file: str
    item: Item


@dataclass(frozen=True)
class Section:
    path: Path  # path of section keys including this one
    file: str
    open: Item
    close: int  # 0-based line of its `}`


def comment_start(text: str) -> int:
    """Index of the `#` starting a comment outside quotes, or len(text)."""
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote and c == "\\" and quote == '"':
            i += 2
            continue
        if c in "\"'" and (not quote or quote == c):
            quote = "" if quote else c
        elif c == "#" and not quote:
            return i
        i += 1
    return len(text)


def unquote(text: str) -> str:
    """A value as Dovecot reads it: quotes of either kind removed, `\\x` read as `x`."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def quote_value(value: str, top_level: bool = False) -> str:
    """Render a value, quoted only when Dovecot would otherwise read it differently.

    Unquoted top-level values expand `$name`, so there a `$` needs quotes too. Quotes
    anywhere in a line change where Dovecot sees a comment, so a value with a quote or a
    `#` is always quoted.
    """
    problem = value_problem(value)
    if problem:  # the model refuses these first; this guards the file itself
        raise ValueError(f"Dovecot value: expected {problem}")
    plain = not any(c in value for c in "#\"'") and not (top_level and "$" in value)
    if plain and not value.endswith("\\"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logical_lines(lines: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, text without comment) for every non-blank, non-comment logical line."""
    out = []
    i = 0
    while i < len(lines):
        start, text = i, body(lines[i]).strip(WHITESPACE)
        i += 1
        if not text or text.startswith("#"):
            continue
        while text.endswith("\\") and i < len(lines):
            text = text[:-1].rstrip(WHITESPACE) + " " + body(lines[i]).strip(WHITESPACE)
            i += 1
        out.append((start, i, text[: comment_start(text)].rstrip(WHITESPACE)))
    return out


def section_key(head: str, path: str, line: int, column: int) -> str:
    words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', head)
    if not words or len(words) > 2:
        raise parse_error(path, line, column, "'type {' or 'type name {'", head + " {")
    return " ".join(unquote(w) for w in words)


def parse_item(lines: list[str], start: int, end: int, text: str, path: str) -> Item:
    line = lines[start]
    column = len(indent_of(line)) + 1
    if text == "}":
        return Item("close", start, end)
    if text.startswith("!include"):
        word, _, pattern = text.partition(" ")
        if word not in ("!include", "!include_try") or not pattern.strip():
            raise parse_error(path, start + 1, column, "!include FILE or !include_try FILE", text)
        return Item("include", start, end, unquote(pattern.strip()), try_=word == "!include_try")
    m = _SETTING.fullmatch(text)
    if m:
        raw = body(line)
        prefix_end = len(indent_of(line)) + len(m.group(1)) + len(m.group(2))
        suffix = raw[prefix_end + len(m.group(3)):] if end == start + 1 else ""
        return Item("setting", start, end, m.group(1), m.group(3), raw[:prefix_end], suffix)
    if text.endswith("{"):
        return Item("open", start, end, section_key(text[:-1], path, start + 1, column))
    if "{" in text:
        where = text.index("{")
        raise parse_error(path, start + 1, column + where, "end of line after '{'",
                          text[where + 1:])
    raise parse_error(path, start + 1, column, "'key = value', 'section {' or '}'", text)


def parse_file(lines: list[str], path: str) -> list[Item]:
    """Index one file's items; sections must be balanced within the file."""
    items: list[Item] = []
    depth = 0
    for start, end, text in logical_lines(lines):
        item = parse_item(lines, start, end, text, path)
        depth += {"open": 1, "close": -1}.get(item.kind, 0)
        if depth < 0:
            raise parse_error(path, start + 1, len(indent_of(lines[start])) + 1,
                              "a setting or section (no section is open)", "}")
        items.append(item)
    if depth:
        raise parse_error(path, len(lines) + 1, 1, f"'}}' closing {depth} open section(s)", "")
    return items


class DovecotConfig:
    """A Dovecot include tree, editable in place. `render(p) == files[p]` until edited."""

    def __init__(self, files: Mapping[str, bytes], root: str) -> None:
        self.root = root
        self._original = dict(files)
        self._lines: dict[str, list[str]] = {}
        self._items: dict[str, list[Item]] = {}
        self._walk()

    @classmethod
    def load(cls, files: Mapping[str, bytes],
             root: str = "/etc/dovecot/dovecot.conf") -> DovecotConfig:
        return cls(files, root)

    # ---- include tree -------------------------------------------------------------
    def _doc(self, path: str) -> list[Item]:
        if path not in self._items:
            self._lines[path] = split_lines(decode(self._original[path]))
            self._items[path] = parse_file(self._lines[path], path)
        return self._items[path]

    def _resolve(self, file: str, item: Item) -> list[str]:
        pattern = posixpath.normpath(posixpath.join(posixpath.dirname(file), item.key))
        if any(c in pattern for c in "*?["):
            found = sorted(p for p in self._original if posixpath.dirname(p)
                           == posixpath.dirname(pattern) and fnmatch.fnmatchcase(
                               posixpath.basename(p), posixpath.basename(pattern)))
        else:
            found = [pattern] if pattern in self._original else []
        if not found and not item.try_:
            column = len(indent_of(self._lines[file][item.start])) + len("!include ") + 1
            raise parse_error(file, item.start + 1, column, "an existing file to include",
                              item.key)
        return found

    def _walk(self) -> None:
        self._order: list[str] = []
        self._settings: list[Setting] = []
        self._sections: list[Section] = []
        self._walk_file(self.root, (), 0)

    def _walk_file(self, file: str, stack: Path, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise parse_error(file, 1, 1, "an include depth below 20", "an include loop")
        if file not in self._order:
            self._order.append(file)
        opened: list[tuple[Path, Item]] = []
        for item in self._doc(file):
            if item.kind == "setting":
                self._settings.append(Setting((*stack, item.key), file, item))
            elif item.kind == "open":
                stack = (*stack, item.key)
                opened.append((stack, item))
            elif item.kind == "close":
                path, open_item = opened.pop()
                self._sections.append(Section(path, file, open_item, item.start))
                stack = stack[:-1]
            else:
                for included in self._resolve(file, item):
                    self._walk_file(included, stack, depth + 1)

    # ---- reading ------------------------------------------------------------------
    def files(self) -> list[str]:
        return list(self._order)

    def render(self, path: str) -> bytes:
        if path in self._lines:
            return encode("".join(self._lines[path]))
        return self._original[path]

    def changed(self) -> dict[str, bytes]:
        out = {}
        for path in self._lines:
            data = self.render(path)
            if data != self._original[path]:
                out[path] = data
        return out

    def definitions(self) -> list[Setting]:
        """Every setting definition of the tree, in include order (read-only)."""
        return list(self._settings)

    def sections(self) -> list[Section]:
        """Every section of the tree with its file and lines (read-only)."""
        return list(self._sections)

    def _defs(self, path: Path) -> list[Setting]:
        return [s for s in self._settings if s.path == path]

    def get(self, path: Path) -> str | None:
        """The effective value (the last definition; top-level `$name` expanded)."""
        value: str | None = None
        seen: dict[str, str] = {}
        for s in self._settings:
            raw = s.item.value
            if len(s.path) == 1:
                expanded = self._expand(raw, seen)
                seen[s.path[0]] = expanded
            if s.path == path:
                value = expanded if len(s.path) == 1 else unquote(raw)
        return value

    @staticmethod
    def _expand(raw: str, seen: dict[str, str]) -> str:
        """Top-level `$setting` words expand to the value so far ('' if never set)."""
        if raw.startswith(("\"", "'")) or "$" not in raw:
            return unquote(raw)
        return re.sub(r"\$([A-Za-z0-9_]+)", lambda m: seen.get(m.group(1), ""), raw)

    # ---- editing ------------------------------------------------------------------
    def _reparse(self, file: str) -> None:
        self._items[file] = parse_file(self._lines[file], file)
        self._walk()

    def set(self, path: Path, value: str) -> None:
        """Set a setting in place, or add it in the deepest existing section."""
        if not path:
            raise ValueError("empty setting path")
        defs = self._defs(path)
        if defs:
            if self.get(path) != value:
                s = defs[-1]
                text = s.item.prefix + quote_value(value, len(path) == 1) + s.item.suffix
                replace_lines(self._lines[s.file], s.item.start, s.item.end, [text])
                self._reparse(s.file)
            return
        self._add(path, value)

    def _add(self, path: Path, value: str) -> None:
        for depth in range(len(path) - 1, 0, -1):
            found = [s for s in self._sections if s.path == path[:depth]]
            if found:
                section = found[-1]
                lines = self._lines[section.file]
                outer = indent_of(lines[section.open.start])
                inner = self._child_indent(section, outer)
                new = nested_lines(path[depth:], value, inner, inner[len(outer):] or "  ")
                insert_lines(lines, section.close, new)
                self._reparse(section.file)
                return
        insert_lines(self._lines[self.root], len(self._lines[self.root]),
                     nested_lines(path, value, "", "  "))
        self._reparse(self.root)

    def _child_indent(self, section: Section, outer: str) -> str:
        for item in self._items[section.file]:
            if section.open.start < item.start < section.close:
                return indent_of(self._lines[section.file][item.start])
        return outer + "  "

    def unset(self, path: Path) -> None:
        """Remove every definition of the setting, in every file."""
        for s in reversed(self._defs(path)):
            del self._lines[s.file][s.item.start: s.item.end]
            self._reparse(s.file)


def nested_lines(path: Path, value: str, indent: str, unit: str) -> list[str]:
    """Lines for `a { b { key = value } }` opened at `indent`, one `unit` per level."""
    if len(path) == 1:
        return [f"{indent}{path[0]} = {quote_value(value, not indent)}"]
    inner = nested_lines(path[1:], value, indent + unit, unit)
    return [f"{indent}{section_head(path[0])} {{", *inner, f"{indent}}}"]


def section_head(key: str) -> str:
    """`type` or `type name`, the name quoted unless it is one plain word."""
    kind, _, name = key.partition(" ")
    problem = (None if SECTION_TYPE.fullmatch(kind) else "a section type") or (
        section_name_problem(name) if name else None)
    if problem:  # the model refuses these first; this guards the file itself
        raise ValueError(f"Dovecot section {kind}: expected {problem}")
    if name and not _PLAIN_NAME.fullmatch(name):
        name = f'"{name}"'
    return f"{kind} {name}" if name else kind

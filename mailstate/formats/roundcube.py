"""Lossless editor for Roundcube's config.inc.php.

Roundcube reads `$config['key'] = expr;` statements. We tokenize the PHP (see `_php`),
find the span of every top-level assignment's expression, and replace exactly that span
(or append / delete one statement), so everything else stays byte for byte.
Python values become PHP literals with `php_literal`: lists and dicts use the short
array syntax `[...]` (what Roundcube 1.6's own sample config uses).

Keys are read as PHP reads the string literal (`'a\\'b'` is `a'b`), so a key is found
again on the next run. A new statement goes where PHP runs it: after the last
assignment, but before a `?>` that ends PHP code on that line, or before the last `?>`
of a file without assignments; text after a `?>` is printed to every web client.
What a value can hold (`literal_problem`): PHP strings carry any text, but mailstate
refuses control characters other than tab and newline (they would reach terminals
through diffs), integers beyond PHP's 64-bit range (PHP makes them floats) and floats
that are not finite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailstate.formats._php import Token, tokenize
from mailstate.formats._text import bad_char, decode, encode

PhpValue = str | int | float | bool | None | list[Any] | dict[Any, Any]
_NO_VALUE = object()
PHP_INT_MAX = 2**63 - 1
MAX_DEPTH = 32
_DQ_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f",
               "\\": "\\", "$": "$", '"': '"'}
# Keys whose value is a credential, at any depth of `$config` (`des_key`, `smtp_pass`,
# `bind_pass`, `oauth_client_secret`, ...); Roundcube's placeholders (`%p`: the user's
# own password) are not secrets themselves.
# credentials by key name; `dsn`, `dsnw`, `dsnr`: database URLs with the password in them
# (`db_dsnw = 'mysql://roundcube:PASS@localhost/roundcube'`, password_db_dsn)
SECRET_KEY = re.compile(r"(des_key|pass|passwd|password|_pw|secret|token|api_key|dsn[rw]?)$",
                        re.I)
PLACEHOLDER = re.compile(r"%[a-zA-Z]")
_DQ_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]+)\}|(.))", re.S)


def is_secret_key(key: str) -> bool:
    """A key whose value is a credential."""
    return bool(SECRET_KEY.search(key))


def literal_problem(value: Any, depth: int = 0) -> str | None:
    """Why `value` cannot be written as a PHP literal that PHP reads back exactly."""
    if depth > MAX_DEPTH:
        return f"at most {MAX_DEPTH} nested lists or mappings"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -PHP_INT_MAX - 1 <= value <= PHP_INT_MAX else (
            "an integer within PHP's 64-bit range")
    if isinstance(value, float):
        return None if math.isfinite(value) else "a finite number"
    if isinstance(value, str):
        bad = bad_char(value, "\t\n")
        return f"text without control characters other than tab and newline ({bad})" \
            if bad else None
    if isinstance(value, list):
        return next((p for p in (literal_problem(v, depth + 1) for v in value) if p), None)
    if isinstance(value, dict):
        for key, item in value.items():
            bad = bad_char(key) if isinstance(key, str) else "a key that is not text"
            if bad:
                return f"mapping keys without control characters ({bad})"
            problem = literal_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "a string, number, yes/no, null, list or mapping"


def string_value(token: str) -> str | None:
    """The value of a PHP string literal token; None if it interpolates variables."""
    quote, inner = token[0], token[1:-1]
    if quote == "'":
        return re.sub(r"\\([\\'])", r"\1", inner)
    if quote != '"' or re.search(r"(?<!\\)(\\\\)*\$[A-Za-z_{]", inner):
        return None

    def escape(m: re.Match[str]) -> str:
        octal, hexa, code, other = m.groups()
        if octal:
            return chr(int(octal, 8) & 0xFF)
        if hexa:
            return chr(int(hexa, 16))
        if code:
            return chr(int(code, 16))
        return _DQ_ESCAPES.get(other, "\\" + other)

    return _DQ_ESCAPE.sub(escape, inner)


@dataclass(frozen=True)
class Assignment:
    """`$config['key'] = expr;`: statement span [start, end) and expression span."""

    key: str
    start: int
    end: int  # just after the `;`
    expr_start: int
    expr_end: int


def php_literal(value: PhpValue) -> str:
    """A Python value as a PHP literal: 'str', 42, true, null, [a, b], ['k' => v]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("PHP has no literal for a float that is not finite")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(php_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{php_literal(k)} => {php_literal(v)}"
                               for k, v in value.items()) + "]"
    raise TypeError(f"no PHP literal for {type(value).__name__}")


def statements(tokens: list[Token]) -> list[list[Token]]:
    """Top-level statements: token runs ended by `;` (or a close tag) at depth 0."""
    out: list[list[Token]] = []
    current: list[Token] = []
    for tok in tokens:
        if tok.kind in ("open_tag", "close_tag"):
            current = []
            continue
        current.append(tok)
        if tok.depth == 0 and tok.text in (";", "}"):
            out.append(current)
            current = []
    return out


def assignment_of(stmt: list[Token]) -> Assignment | None:
    texts = [t.text for t in stmt[:5]]
    if len(stmt) < 7 or texts[0] != "$config" or texts[1] != "[" or texts[3] != "]":
        return None
    if stmt[2].kind != "str" or texts[4] != "=" or stmt[-1].text != ";":
        return None
    key = string_value(stmt[2].text)
    if key is None:
        return None
    return Assignment(key, stmt[0].start, stmt[-1].end, stmt[5].start, stmt[-2].end)


_LINE_END = re.compile(r"[ \t]*\r?\n")
_CLOSED_COMMENT = re.compile(r"/\*.*?\*/")


def _only_comments(rest: str) -> bool:
    """`rest` of a line is blanks and comments that end on it (a `//` or `#` one runs
    to the line's end)."""
    rest = _CLOSED_COMMENT.sub("", rest).strip()
    return not rest or rest.startswith(("//", "#"))


class PhpConfig:
    """A parsed config.inc.php. `render(parse(b)) == b`."""

    def __init__(self, text: str, path: str) -> None:
        self._text, self.path = text, path
        self._index: list[Assignment] | None = None
        self._tags: list[Token] = []
        self._scan()

    def _scan(self) -> None:
        tokens = tokenize(self._text, self.path)
        self._tags = [t for t in tokens if t.kind in ("open_tag", "close_tag")]
        found = (assignment_of(s) for s in statements(tokens))
        self._index = [a for a in found if a is not None]

    def _insertion_point(self) -> tuple[int, str, str]:
        """Where a new statement goes (offset, text before it, text after it).

        After the line of the last assignment, unless a `?>` ends PHP code on that line:
        then right after the assignment's `;`. Without assignments: before the last `?>`
        (PHP code ends there), else at the end of the file.
        """
        nl = "\r\n" if "\r\n" in self._text else "\n"
        assignments = self._assignments
        if assignments:
            end = assignments[-1].end
            line_end = self._text.find("\n", end)
            stop = len(self._text) if line_end < 0 else line_end
            if any(t.kind == "close_tag" and end <= t.start < stop for t in self._tags):
                return end, nl, ""
            if line_end < 0:
                return len(self._text), nl, ""
            if not _only_comments(self._text[end:stop]):
                # the line goes on with a comment or statement that ends on a later line:
                # after the line would be inside it (a comment PHP skips, an array)
                return end, nl, ""
            return line_end + 1, "", nl
        at = len(self._text)
        if self._tags and self._tags[-1].kind == "close_tag":
            at = self._tags[-1].start
        lead = "" if not self._text[:at] or self._text[:at].endswith("\n") else nl
        return at, lead, nl

    @property
    def _assignments(self) -> list[Assignment]:
        """The statement index, re-tokenized only when read after an edit (the last edit
        before `render` then costs no tokenizing: this is most of a plan's CPU per host)."""
        if self._index is None:
            self._scan()
        assert self._index is not None
        return self._index

    @classmethod
    def parse(cls, data: bytes, path: str = "config.inc.php") -> PhpConfig:
        return cls(decode(data), path)

    def render(self) -> bytes:
        return encode(self._text)

    def _last(self, key: str) -> Assignment | None:
        found = [a for a in self._assignments if a.key == key]
        return found[-1] if found else None

    def keys(self) -> list[str]:
        return list(dict.fromkeys(a.key for a in self._assignments))

    def get_source(self, key: str) -> str | None:
        a = self._last(key)
        return self._text[a.expr_start:a.expr_end] if a else None

    def set(self, key: str, value: PhpValue) -> None:
        """Replace the expression of the last assignment of `key`, or append one."""
        literal = php_literal(value)
        a = self._last(key)
        if a is not None:
            if self._text[a.expr_start:a.expr_end] != literal:
                self._splice(a.expr_start, a.expr_end, literal)
            return
        line = f"$config[{php_literal(key)}] = {literal};"
        self._insert_statement(line)

    def _insert_statement(self, line: str) -> None:
        at, lead, trail = self._insertion_point()
        self._splice(at, at, lead + line + trail)

    def remove(self, key: str) -> None:
        """Delete every `$config['key'] = …;` statement (its whole line when alone)."""
        for a in reversed([a for a in self._assignments if a.key == key]):
            self._splice(*self._removal_span(a), "")

    def _removal_span(self, a: Assignment) -> tuple[int, int]:
        start, end = a.start, a.end
        line_start = self._text.rfind("\n", 0, start) + 1
        m = _LINE_END.match(self._text, end)
        if not self._text[line_start:start].strip() and (m or end == len(self._text)):
            start, end = line_start, m.end() if m else end
        return start, end

    def update(self, changes: Mapping[str, PhpValue | None]) -> None:
        """Set several keys at once (None removes one); tokenizes once, not per key.

        The result equals calling `set`/`remove` key by key in order: replaced and removed
        spans are computed on the current index and spliced from the end of the text
        backwards (so the others' offsets hold), then the new keys are appended together
        after the last assignment. Where edits would interact (two on one line, or new
        keys after a last assignment that is removed), they are made one by one.
        """
        batch = self._batch(changes)
        if batch is None:
            for key, value in changes.items():
                if value is None:
                    self.remove(key)
                else:
                    self.set(key, value)
            return
        splices, new_lines = batch
        # where `_insert_statement` would put new keys: after every splice (they are
        # all inside or before the last assignment), so only shifted by them
        at, lead, trail = self._insertion_point() if new_lines else (0, "", "")
        if splices:
            text = self._text
            for start, end, replacement in sorted(splices, reverse=True):
                text = text[:start] + replacement + text[end:]
                at += len(replacement) - (end - start)
            self._text, self._index = text, None
        if new_lines:
            nl = "\r\n" if "\r\n" in self._text else "\n"
            self._splice(at, at, lead + nl.join(new_lines) + trail)

    def _batch(self, changes: Mapping[str, PhpValue | None]
               ) -> tuple[list[tuple[int, int, str]], list[str]] | None:
        """The splices and new statement lines of `changes`, or None when they interact."""
        splices: list[tuple[int, int, str]] = []
        new_lines: list[str] = []
        for key, value in changes.items():
            if value is None:
                splices += [(*self._removal_span(a), "") for a in self._assignments
                            if a.key == key]
                continue
            literal, a = php_literal(value), self._last(key)
            if a is None:
                new_lines.append(f"$config[{php_literal(key)}] = {literal};")
            elif self._text[a.expr_start:a.expr_end] != literal:
                splices.append((a.expr_start, a.expr_end, literal))
        lines = [self._text.rfind("\n", 0, start) for start, _, _ in splices]
        if len(set(lines)) < len(lines):
            return None  # removing one statement changes the span of the other
        last = self._assignments[-1] if self._assignments else None
        if new_lines and last is not None and changes.get(last.key, "") is None:
            return None
        return splices, new_lines

    def _splice(self, start: int, end: int, text: str) -> None:
        self._text = self._text[:start] + text + self._text[end:]
        self._index = None

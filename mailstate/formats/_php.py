"""A small PHP tokenizer: just enough to find statement spans in Roundcube's config.

It knows strings ('…', "…", `…` with escapes), comments (`//`, `#`, `/* */`),
heredoc/nowdoc, variables, words, numbers, operators and bracket nesting. Whitespace and
comments are skipped; every other token carries its span in the source text.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import NamedTuple

from mailstate.formats._text import parse_error

_OPS = re.compile(r"=>|===|!==|==|!=|<=|>=|->|::|\?\?=|\?\?|&&|\|\||[.+\-*/%]=|\S")
# A PHP name: [A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*, written as the
# complement of the ASCII it excludes: the same characters (a test checks every code
# point), but compiled in 0.2 ms instead of ~6 ms of every run's start-up (re builds a
# table for a range up to U+10FFFF).
_NAME_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_NAME_REST = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_WORD = re.compile(r"\$?" + _NAME_START + _NAME_REST + r"*|[0-9][0-9A-Za-z_.]*")
_HEREDOC = re.compile(r"<<<[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1\r?\n")
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_SPACE = re.compile(r"\s+")
# a whole quoted string, escapes included (one regex match, not a Python loop per char)
_STRING = {q: re.compile(q + r"(?:[^" + q + r"\\]|\\.)*" + q, re.S) for q in "'\"`"}


class Token(NamedTuple):
    kind: str  # "str", "heredoc", "word", "op", "open_tag", "close_tag"
    start: int
    end: int
    text: str
    depth: int  # bracket nesting before this token


class Scanner:
    """Tokenize PHP source; raise ParseError for unterminated or unbalanced structure."""

    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path
        self.tokens: list[Token] = []
        self.stack: list[tuple[str, int]] = []

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def fail(self, pos: int, expected: str, found: str) -> Exception:
        line, column = self.where(pos)
        return parse_error(self.path, line, column, expected, found)

    def run(self) -> list[Token]:
        pos = self.text.find("<?php")
        if pos < 0 or self.text[:pos].strip():
            raise self.fail(0, "'<?php' at the start", self.text[:20].split("\n")[0])
        self.add("open_tag", pos, pos + 5)
        pos, size, space = pos + 5, len(self.text), _SPACE.match
        while pos < size:
            gap = space(self.text, pos)  # a run of whitespace in one match
            if gap is not None:
                pos = gap.end()
                if pos >= size:
                    break
            pos = self.step(pos)
        if self.stack:
            opener, at = self.stack[-1]
            raise self.fail(at, f"'{_CLOSE[opener]}' closing this '{opener}'", "")
        return self.tokens

    def add(self, kind: str, start: int, end: int) -> int:
        self.tokens.append(Token(kind, start, end, self.text[start:end], len(self.stack)))
        return end

    def step(self, pos: int) -> int:
        text = self.text
        c = text[pos]  # never whitespace: `run` skips each run of it in one match
        if text.startswith(("//", "#"), pos):
            return self.line_comment(pos)
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.fail(pos, "'*/' closing this comment", "")
            return end + 2
        if c in "'\"`":
            return self.add("str", pos, self.string_end(pos))
        if text.startswith("<<<", pos):
            return self.add("heredoc", pos, self.heredoc_end(pos))
        if text.startswith("?>", pos):
            return self.inline_html(pos)
        m = _WORD.match(text, pos)
        if m:
            return self.add("word", pos, m.end())
        return self.op(pos)

    def line_comment(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        end = len(self.text) if end < 0 else end
        close = self.text.find("?>", pos, end)
        return close if close >= 0 else end

    def string_end(self, pos: int) -> int:
        m = _STRING[self.text[pos]].match(self.text, pos)
        if m is None:
            raise self.fail(pos, f"{self.text[pos]} closing this string", "")
        return m.end()

    def heredoc_end(self, pos: int) -> int:
        m = _HEREDOC.match(self.text, pos)
        if m is None:
            raise self.fail(pos, "a heredoc label after '<<<'", self.text[pos:pos + 20])
        close = re.compile(r"^[ \t]*" + m.group(2) + r"\b", re.M).search(self.text, m.end())
        if close is None:
            raise self.fail(pos, f"'{m.group(2)}' closing this heredoc", "")
        return close.end()

    def inline_html(self, pos: int) -> int:
        self.add("close_tag", pos, pos + 2)
        again = self.text.find("<?php", pos + 2)
        if again < 0:
            return len(self.text)
        self.add("open_tag", again, again + 5)
        return again + 5

    def op(self, pos: int) -> int:
        m = _OPS.match(self.text, pos)
        assert m is not None
        c = m.group()
        if c in _CLOSE:
            self.add("op", pos, m.end())
            self.stack.append((c, pos))
            return m.end()
        if c in ")]}":
            if not self.stack or _CLOSE[self.stack[-1][0]] != c:
                expected = f"'{_CLOSE[self.stack[-1][0]]}'" if self.stack else "a statement"
                raise self.fail(pos, expected, c)
            self.stack.pop()
        return self.add("op", pos, m.end())


_RECENT: OrderedDict[str, tuple[Token, ...]] = OrderedDict()
_RECENT_SIZE = 128  # texts: a plan has each host's live and new config in flight
_RECENT_LOCK = threading.Lock()


def tokenize(text: str, path: str) -> list[Token]:
    """The tokens of `text`. A plan tokenizes each host's live config twice (to edit it,
    then to mask the diff's old side), so the last texts' tokens are kept: the tokens
    do not depend on `path` (only an error names it, and errors are not kept)."""
    with _RECENT_LOCK:
        tokens = _RECENT.get(text)
        if tokens is not None:
            _RECENT.move_to_end(text)
            return list(tokens)
    tokens = tuple(Scanner(text, path).run())
    with _RECENT_LOCK:
        _RECENT[text] = tokens
        if len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return list(tokens)

"""`--limit ~regex` matched in linear time: no pattern can make it hang.

Python's `re` backtracks: `~(a+)+$` against a long name takes exponential time, and
caps on lengths or a ban on nested quantifiers only move the cliff (`\\w*\\w*\\w*\\w*!`
is already polynomial with a large exponent). So the pattern is parsed by Python's own
regex parser (syntax and error messages are Python's, as in Ansible, which calls
`re.compile(...).match`), then compiled into a Thompson NFA and simulated: every name
costs at most len(name) x states steps. Limits: the pattern is at most MAX_PATTERN
characters and MAX_STATES NFA states (counted repeats expand), and one selection at
most MAX_STEPS steps. Backreferences, lookarounds, atomic groups and possessive
repeats need backtracking and are refused with a clear error; so are inline flags
other than `(?i)`, `(?s)`, `(?x)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:  # Python 3.11+: the parser behind re.compile
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11 is not supported
    import sre_constants as C
    import sre_parse as P

MAX_PATTERN = 1024
MAX_STATES = 4096
MAX_STEPS = 20_000_000

_ALLOWED_FLAGS = re.IGNORECASE | re.DOTALL | re.VERBOSE | re.UNICODE


class RegexRefused(ValueError):
    """A pattern that is invalid, too large, or needs backtracking."""


@dataclass
class _State:
    kind: str  # "char" | "split" | "assert" | "match"
    test: Callable[[str], bool] | None = None
    at: object | None = None
    out: list[int] = field(default_factory=list)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


_CATEGORIES: dict[object, Callable[[str], bool]] = {
    C.CATEGORY_DIGIT: str.isdecimal,
    C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    C.CATEGORY_SPACE: str.isspace,
    C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    C.CATEGORY_WORD: _is_word,
    C.CATEGORY_NOT_WORD: lambda c: not _is_word(c),
}


class SafeRegex:
    """A compiled pattern with `match(text) -> bool` (a match at the start, as re.match)."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN:
            raise RegexRefused(f"regular expression longer than {MAX_PATTERN} characters")
        try:
            parsed = P.parse(pattern)
        except re.error as exc:
            raise RegexRefused(f"invalid regular expression: {exc}") from None
        except (RecursionError, OverflowError):
            raise RegexRefused("regular expression nested too deeply") from None
        flags = parsed.state.flags
        if flags & ~_ALLOWED_FLAGS:
            raise RegexRefused("only the (?i), (?s) and (?x) flags are supported")
        self.icase = bool(flags & re.IGNORECASE)
        self.dotall = bool(flags & re.DOTALL)
        self.states: list[_State] = []
        match = self._new(_State("match"))
        self.start = self._seq(list(parsed), match)
        self.steps = 0

    # -- construction (continuation style: compile(item, next) -> start) ----------------
    def _new(self, state: _State) -> int:
        if len(self.states) >= MAX_STATES:
            raise RegexRefused(f"regular expression too large (more than {MAX_STATES} "
                               "states; large {m,n} repeats?)")
        self.states.append(state)
        return len(self.states) - 1

    def _seq(self, items: list[tuple[Any, Any]], nxt: int) -> int:
        for op, av in reversed(items):
            nxt = self._item(op, av, nxt)
        return nxt

    def _char(self, test: Callable[[str], bool], nxt: int) -> int:
        return self._new(_State("char", test=test, out=[nxt]))

    def _item(self, op: Any, av: Any, nxt: int) -> int:
        if op is C.LITERAL:
            return self._char(self._literal(int(av)), nxt)
        if op is C.NOT_LITERAL:
            same = self._literal(int(av))
            return self._char(lambda c: not same(c), nxt)
        if op is C.ANY:
            return self._char((lambda c: True) if self.dotall else (lambda c: c != "\n"), nxt)
        if op is C.IN:
            return self._char(self._set(av), nxt)
        if op is C.AT:
            return self._new(_State("assert", at=av, out=[nxt]))
        if op is C.BRANCH:
            _, alternatives = av
            outs = [self._seq(list(alt), nxt) for alt in alternatives]
            return self._new(_State("split", out=outs))
        if op is C.SUBPATTERN:
            _, add, remove, sub = av
            if add or remove:
                raise RegexRefused("inline flags inside a group are not supported")
            return self._seq(list(sub), nxt)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, sub = av
            return self._repeat(int(low), int(high), list(sub), nxt)
        names = {C.GROUPREF: "backreferences", C.GROUPREF_EXISTS: "conditional groups",
                 C.ASSERT: "lookahead/lookbehind", C.ASSERT_NOT: "lookahead/lookbehind"}
        for extra in ("ATOMIC_GROUP", "POSSESSIVE_REPEAT"):
            if hasattr(C, extra):
                names[getattr(C, extra)] = "atomic groups and possessive repeats"
        what = names.get(op, str(op).lower())
        raise RegexRefused(f"{what} cannot be used in --limit (they need backtracking)")

    def _repeat(self, low: int, high: int, sub: list[tuple[Any, Any]], nxt: int) -> int:
        unbounded = high == C.MAXREPEAT
        if unbounded:
            loop = self._new(_State("split"))
            self.states[loop].out = [self._seq(sub, loop), nxt]
            tail = loop
        else:
            tail = nxt
            for _ in range(high - low):
                optional = self._new(_State("split"))
                self.states[optional].out = [self._seq(sub, tail), nxt]
                tail = optional
        for _ in range(low):
            tail = self._seq(sub, tail)
        return tail

    def _literal(self, code: int) -> Callable[[str], bool]:
        char = chr(code)
        if self.icase:
            low = char.lower()
            return lambda c: c.lower() == low
        return lambda c: c == char

    def _set(self, items: list[tuple[Any, Any]]) -> Callable[[str], bool]:
        negate = False
        tests: list[Callable[[str], bool]] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                tests.append(self._literal(int(av)))
            elif op is C.RANGE:
                lo, hi = av
                tests.append(self._range(int(lo), int(hi)))
            elif op is C.CATEGORY:
                if av not in _CATEGORIES:
                    raise RegexRefused(f"character class {av} is not supported")
                tests.append(_CATEGORIES[av])
            else:
                raise RegexRefused(f"{op} inside [...] is not supported")

        def test(c: str) -> bool:
            return any(t(c) for t in tests) != negate

        return test

    def _range(self, lo: int, hi: int) -> Callable[[str], bool]:
        if self.icase:
            return lambda c: any(lo <= ord(x) <= hi for x in {c, c.lower(), c.upper()}
                                 if len(x) == 1)
        return lambda c: lo <= ord(c) <= hi

    # -- simulation ----------------------------------------------------------------
    def _holds(self, at: object, text: str, pos: int) -> bool:
        if at in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            return pos == 0
        if at == C.AT_END:
            return pos == len(text) or (pos == len(text) - 1 and text[pos] == "\n")
        if at == C.AT_END_STRING:
            return pos == len(text)
        before = pos > 0 and _is_word(text[pos - 1])
        after = pos < len(text) and _is_word(text[pos])
        if at == C.AT_BOUNDARY:
            return before != after
        if at == C.AT_NON_BOUNDARY:
            return before == after
        raise RegexRefused(f"anchor {at} is not supported")

    def _closure(self, starts: list[int], text: str, pos: int) -> set[int]:
        seen: set[int] = set()
        todo = list(starts)
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            state = self.states[index]
            passes = state.kind == "assert" and self._holds(state.at, text, pos)
            if state.kind == "split" or passes:
                todo.extend(state.out)
        self.steps += len(seen)
        if self.steps > MAX_STEPS:
            raise RegexRefused("regular expression too costly for this inventory")
        return seen

    def match(self, text: str) -> bool:
        current = self._closure([self.start], text, 0)
        for pos, char in enumerate(text):
            if 0 in current:  # state 0 is MATCH
                return True
            moved = [state.out[0] for state in (self.states[i] for i in current)
                     if state.kind == "char" and state.test is not None and state.test(char)]
            if not moved:
                return False
            current = self._closure(moved, text, pos + 1)
        return 0 in current

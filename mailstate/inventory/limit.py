"""`--limit`: Ansible's host pattern grammar, evaluated as ansible.inventory.manager does.

A limit is split on `,` when it has one, else on `:` (outside `[...]`, and not when the
whole text is one address such as `web[1:3]` or `host:22`). Each pattern: `!` excludes,
`&` intersects, else adds; they apply in the order regular, `&`, `!` (only `!`/`&`:
from all hosts). One pattern is an exact host name, or matches group names and (for a
glob or `~regex`, or when no group matched) host names: `*?[]` globs, `~regex` (a match
at the start: `~x1` does not select `smx1`), with an optional subscript on the hosts of
non-regex patterns (`mail[0]`, `mail[-1]`, `mail[1:]`, `mail[0:2]`). `@FILE` (at the top
level, as in Ansible) adds one pattern per line. A pattern that matches nothing is a
warning, as in Ansible, not an error.

Bounded: a limit is at most MAX_LIMIT characters and MAX_PATTERNS patterns, an @FILE at
most MAX_FILE bytes (any kind of file, /dev/zero included), regexes run in linear time
(saferegex.py). Lines of an @FILE are never shown in a message (`--limit @/etc/shadow`
must not print the file): they are named by file and line number.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inputs import read_capped
from mailstate.inventory.data import InventoryData
from mailstate.inventory.hostnames import MAX_PATTERN, parse_address
from mailstate.inventory.saferegex import RegexRefused, SafeRegex

MAX_LIMIT = 64 * 1024
MAX_PATTERNS = 100_000
MAX_FILE = 4 * 1024 * 1024
LOCALHOST = ("127.0.0.1", "localhost", "::1")
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]", re.S)
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


@dataclass(frozen=True)
class Pattern:
    """One host pattern and where it came from (a file line is never shown)."""

    text: str
    file: str | None = None
    line: int = 0

    def shown(self) -> str:
        return f"line {self.line} of {self.file}" if self.file else repr(self.text)


def _error(summary: str, fix: str = "", file: str | None = None) -> MailstateError:
    return MailstateError(Diagnostic("error", summary, Location(file) if file else None,
                                     fix=fix, code="limit"))


def split_patterns(limit: str) -> list[str]:
    """Ansible's split_host_pattern."""
    if "," in limit:
        parts = limit.split(",")
    elif parse_address(limit, allow_ranges=True) is not None:
        parts = [limit]
    else:
        parts = _COLON_TERMS.findall(limit)
    return [p.strip() for p in parts if p.strip()]


def patterns_of(limit: str) -> list[Pattern]:
    """The patterns of a `--limit` value, `@FILE`s read (bounded)."""
    if len(limit) > MAX_LIMIT:
        raise _error(f"--limit is longer than {MAX_LIMIT} characters",
                     fix="put the hosts in a file, one per line, and pass --limit @FILE")
    result: list[Pattern] = []
    for text in split_patterns(limit):
        if text.startswith("@"):
            result += _file_patterns(text[1:])
        else:
            result.append(Pattern(text))
        if len(result) > MAX_PATTERNS:
            raise _error(f"--limit has more than {MAX_PATTERNS} patterns")
    return result


def _file_patterns(name: str) -> list[Pattern]:
    path = Path(name)
    if not path.exists():
        raise _error(f"--limit @{name}: no such file", file=name,
                     fix="mailstate writes mailstate.retry after a run with failed hosts")
    data = read_capped(path, "--limit file", MAX_FILE)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(f"--limit @{name}: not UTF-8 text (a retry file lists host names, one "
                     "per line)", file=name) from None
    lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), 1)]
    if not any(line for _, line in lines):
        raise _error(f"--limit @{name}: the file is empty", file=name,
                     fix="Ansible would select every host here; mailstate refuses: "
                         "an empty retry file means nothing failed")
    return [Pattern(line, name, n) for n, line in lines]


class Selector:
    """Evaluates patterns against one inventory graph."""

    def __init__(self, inv: InventoryData) -> None:
        self.inv = inv
        self.warnings: list[Diagnostic] = []
        self._cache: dict[str, list[str]] = {}

    def evaluate(self, patterns: list[Pattern]) -> list[str]:
        """Ansible's _evaluate_patterns: host names, in pattern order, each once."""
        regular = [p for p in patterns if p.text and p.text[0] not in "!&"]
        ordered = (regular or [Pattern("all")]) + \
            [p for p in patterns if p.text[:1] == "&"] + [p for p in patterns if p.text[:1] == "!"]
        hosts: list[str] = []
        for pattern in ordered:
            text = pattern.text
            if text in self.inv.hosts:
                if text not in hosts:
                    hosts.append(text)
                continue
            found = self.one(pattern)
            if text[0] == "!":
                drop = set(found)
                hosts = [h for h in hosts if h not in drop]
            elif text[0] == "&":
                keep = set(found)
                hosts = [h for h in hosts if h in keep]
            else:
                have = set(hosts)
                hosts += [h for h in dict.fromkeys(found) if h not in have]
        return hosts

    def one(self, pattern: Pattern) -> list[str]:
        text = pattern.text[1:] if pattern.text[0] in "!&" else pattern.text
        if not text:
            return []
        key = f"{pattern.file}:{pattern.line}:{text}" if pattern.file else text
        if key not in self._cache:
            expr, subscript = _split_subscript(text)
            hosts = self._enumerate(expr, pattern)
            if subscript is not None and hosts:
                hosts = _apply(hosts, subscript, pattern)
            self._cache[key] = hosts
        return self._cache[key]

    def _matcher(self, expr: str, pattern: Pattern) -> SafeRegex | re.Pattern[str]:
        if len(expr) > MAX_PATTERN:
            raise _error(f"--limit pattern {pattern.shown()} is longer than {MAX_PATTERN} "
                         "characters", file=pattern.file)
        if expr.startswith("~"):
            try:
                return SafeRegex(expr[1:])
            except RegexRefused as exc:
                shown = pattern.shown() if pattern.file else repr(expr)
                raise _error(f"--limit {shown}: {exc}", file=pattern.file,
                             fix="~ starts a Python regular expression matched at the start "
                                 "of host and group names, e.g. ~mx[0-9]+") from None
        return re.compile(fnmatch.translate(expr))

    def _enumerate(self, expr: str, pattern: Pattern) -> list[str]:
        matcher = self._matcher(expr, pattern)
        groups = [g for g in self.inv.groups if matcher.match(g)]
        results: list[str] = []
        for group in groups:
            results += self.inv.group_hosts(group)
        if not groups or expr[0] == "~" or any(c in expr for c in ".?*["):
            results += [h for h in self.inv.hosts if matcher.match(h)]
        if not results and not groups and expr != "all" and expr not in LOCALHOST:
            shown = pattern.shown() if pattern.file else repr(expr)
            self.warnings.append(Diagnostic(
                "warning", f"--limit: {shown} matches no host or group, ignored",
                Location(pattern.file, pattern.line) if pattern.file else None,
                fix=self._suggest(expr) if not pattern.file else "", code="limit"))
        return results

    def _suggest(self, expr: str) -> str:
        import difflib

        known = list(self.inv.hosts) + [g for g in self.inv.groups if g != "ungrouped"]
        close = difflib.get_close_matches(expr, known, n=3, cutoff=0.6)
        return ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""


def _split_subscript(text: str) -> tuple[str, tuple[int, int | None] | None]:
    if text[0] == "~":
        return text, None
    match = _SUBSCRIPT.fullmatch(text)
    if not match:
        return text, None
    expr, index, start, _sep, end = match.groups()
    if index:
        return expr, (int(index), None)
    return expr, (int(start), int(end) if end else -1)


def _apply(hosts: list[str], subscript: tuple[int, int | None], pattern: Pattern) -> list[str]:
    start, end = subscript
    try:
        if end:
            stop = len(hosts) - 1 if end == -1 else end
            return hosts[start:stop + 1]
        return [hosts[start]]
    except IndexError:
        raise _error(f"--limit {pattern.shown()}: no host at that position (the pattern "
                     f"matches {len(hosts)})", file=pattern.file) from None

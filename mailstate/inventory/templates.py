"""Render the Jinja templates that connection variables commonly hold, and no more.

`ansible_port: "{{ ssh_port }}"`, `ansible_user: "{{ admin | default('root') }}"`,
`ansible_host: "{{ inventory_hostname }}.mgmt.example"`: references to other variables
(themselves templates, followed to a bounded depth), string/number literals and the
`default`/`d` filter (with its `boolean` argument). Anything else (other filters,
arithmetic, tests, `{% %}` blocks) raises TemplateError: mailstate cannot evaluate it
the way Ansible would, and guessing a host's address or port is not an option.

A template that is one `{{ ... }}` keeps the value's type (Ansible's native rendering);
text around it makes a string. A secret stays a secret through rendering.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mailstate.inventory.values import Secret, Unsafe

MAX_DEPTH = 20
MAX_TEMPLATE = 4096
_TOKEN = re.compile(r"""\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>'[^'\\]*'|"[^"\\]*")|"""
                    r"""(?P<num>-?[0-9]+)|(?P<sym>[|(),]))""")
_LITERALS = {"true": True, "True": True, "false": False, "False": False, "none": None,
             "None": None}


class TemplateError(ValueError):
    """A template mailstate will not evaluate, or a reference it cannot resolve."""


class _Undefined:
    def __init__(self, name: str) -> None:
        self.name = name


def is_template(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, Unsafe) and (
        "{{" in value or "{%" in value or "{#" in value)


class Renderer:
    """Renders templates against one host's variables (`lookup(name)` or _Undefined)."""

    def __init__(self, lookup: Callable[[str], Any]) -> None:
        self._lookup = lookup
        self._stack: list[str] = []

    def variable(self, name: str) -> Any:
        value = self._lookup(name)
        if value is _MISSING:
            return _Undefined(name)
        if is_template(value):
            if name in self._stack or len(self._stack) >= MAX_DEPTH:
                chain = " -> ".join([*self._stack, name])
                raise TemplateError(f"variables refer to each other in a loop: {chain}")
            self._stack.append(name)
            try:
                return self.render(value)
            finally:
                self._stack.pop()
        return value

    def render(self, text: str) -> Any:
        if len(text) > MAX_TEMPLATE:
            raise TemplateError("template longer than 4096 characters")
        if "{%" in text or "{#" in text:
            raise TemplateError("{% %} and {# #} blocks are not supported here")
        parts: list[Any] = []
        rest = text
        while "{{" in rest:
            head, _, after = rest.partition("{{")
            inner, closed, rest = after.partition("}}")
            if not closed:
                raise TemplateError("a {{ without its }}")
            if head:
                parts.append(head)
            value = self.expression(inner)
            if isinstance(value, _Undefined):
                raise TemplateError(f"'{value.name}' is undefined")
            parts.append(value)
        if rest:
            parts.append(rest)
        if len(parts) == 1 and text.startswith("{{") and text.endswith("}}"):
            return parts[0]
        secret = any(isinstance(p, Secret) for p in parts)
        joined = "".join(_text(p) for p in parts)
        return Secret(joined) if secret else joined

    def expression(self, inner: str) -> Any:
        tokens = _tokens(inner)
        value, pos = self._chain(tokens, 0)
        if pos != len(tokens):
            raise TemplateError("only variable names, quoted text, numbers and the default "
                                "filter are supported")
        return value

    def _chain(self, tokens: list[tuple[str, str]], pos: int) -> tuple[Any, int]:
        value, pos = self._primary(tokens, pos)
        while pos < len(tokens) and tokens[pos] == ("sym", "|"):
            kind, name = tokens[pos + 1] if pos + 1 < len(tokens) else ("", "")
            if kind != "name" or name not in ("default", "d"):
                raise TemplateError(f"filter {name or '?'!r} is not supported (only default)")
            pos += 2
            fallback: Any = ""
            boolean = False
            if pos < len(tokens) and tokens[pos] == ("sym", "("):
                fallback, pos = self._chain(tokens, pos + 1)
                if pos < len(tokens) and tokens[pos] == ("sym", ","):
                    flag, pos = self._primary(tokens, pos + 1)
                    boolean = bool(flag) and not isinstance(flag, _Undefined)
                if pos >= len(tokens) or tokens[pos] != ("sym", ")"):
                    raise TemplateError("default(...) is not closed")
                pos += 1
            if isinstance(value, _Undefined) or (boolean and not value):
                value = fallback
        return value, pos

    def _primary(self, tokens: list[tuple[str, str]], pos: int) -> tuple[Any, int]:
        if pos >= len(tokens):
            raise TemplateError("an empty expression")
        kind, text = tokens[pos]
        if kind == "str":
            return text[1:-1], pos + 1
        if kind == "num":
            return int(text), pos + 1
        if kind == "name":
            if text in _LITERALS:
                return _LITERALS[text], pos + 1
            return self.variable(text), pos + 1
        raise TemplateError(f"unexpected {text!r}")


_MISSING = object()
MISSING = _MISSING


def _tokens(inner: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = inner.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if not match:
            bad = stripped[pos:].strip()[:1]
            raise TemplateError(f"{bad!r} is not supported (only variable names, quoted "
                                "text, numbers and | default(...))")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _text(value: Any) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if value is None:
        return ""
    return str(value)

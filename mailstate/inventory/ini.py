"""Ansible's INI inventory format (Ansible's default), read as its ini plugin reads it.

Lines before any section are hosts of `ungrouped`; `[g]` lists hosts, `[g:children]`
child groups (which may be declared later), `[g:vars]` one `key=value` per line. Host
lines are split like a shell (`shlex`, `#` comments), then each `key=value` value, like
every `:vars` value, goes through Python's `ast.literal_eval` when it can (so `23` is a
number, `"x y"` text, `[1, 2]` a list) and stays text otherwise: Ansible's rules.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from mailstate.diagnostics import Location
from mailstate.inventory.data import InventoryData, inventory_error
from mailstate.inventory.hostnames import RangeError, host_key
from mailstate.inventory.values import Secret, VarSource

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?")
MAX_LITERAL = 64 * 1024


def literal(text: str) -> Any:
    """A value as Ansible's INI plugin types it (Python literal, else the text)."""
    if len(text) > MAX_LITERAL:
        return text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _coerce(value)


def _coerce(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return [_coerce(v) for v in value]
    if isinstance(value, dict):
        return {k: _coerce(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


class IniInventory:
    def __init__(self, text: str, file: str, inv: InventoryData, secret: bool = False) -> None:
        self.lines = text.splitlines()
        self.file = file
        self.inv = inv
        self.secret = secret  # a vaulted INI file: every value is a secret
        self.lineno = 0

    def where(self, line: int | None = None) -> Location:
        return Location(self.file, line or self.lineno)

    def fail(self, summary: str, fix: str = "") -> Exception:
        return inventory_error(summary, self.where(), fix)

    def value(self, text: str) -> Any:
        value = literal(text)
        return Secret(value) if self.secret and isinstance(value, str) else value

    def read(self) -> None:
        group, state = "ungrouped", "hosts"
        pending: dict[str, dict[str, Any]] = {}
        for raw in self.lines:
            self.lineno += 1
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            section = _SECTION.fullmatch(line)
            if section:
                group, state = section.group(1), section.group(2) or "hosts"
                self.section(group, state, pending)
                continue
            if line.startswith("[") and line.endswith("]"):
                raise self.fail(f"invalid section {line[:100]!r}",
                                fix="write [group], [group:vars] or [group:children], "
                                    "without spaces")
            if state == "hosts":
                self.host_line(line, group)
            elif state == "vars":
                key, sep, value = line.partition("=")
                if not sep:
                    raise self.fail(f"[{group}:vars]: expected key=value, found a line "
                                    "without '='")
                self.inv.set_group_var(self.inv.groups[group], key.strip(),
                                       self.value(value.strip()),
                                       VarSource(self.file, self.lineno))
            else:
                self.child_line(line, group, pending)
        for name, decl in pending.items():
            if decl["state"] == "vars":
                raise inventory_error(f"[{name}:vars] is for a group that is never declared",
                                      self.where(decl["line"]),
                                      fix=f"add a [{name}] section (it may be empty)")
            raise inventory_error(
                f"[{decl['parents'][-1]}:children] names group {name!r}, which is never "
                "declared", self.where(decl["line"]), fix=f"add a [{name}] section")

    def section(self, group: str, state: str, pending: dict[str, dict[str, Any]]) -> None:
        if state not in ("hosts", "children", "vars"):
            raise self.fail(f"section [{group}:{state}]: unknown type {state!r}",
                            fix="use :vars or :children")
        if group not in self.inv.groups:
            if state == "vars" and group not in pending:
                pending[group] = {"line": self.lineno, "state": state}
            self.inv.add_group(group, self.where())
        if group in pending and state != "vars":
            if pending[group]["state"] == "children":
                self._resolve(group, pending)
            else:
                del pending[group]

    def _resolve(self, group: str, pending: dict[str, dict[str, Any]]) -> None:
        decl = pending.pop(group)
        for parent in decl["parents"]:
            self.inv.link(parent, group, self.where(decl["line"]))
            if parent in pending and pending[parent]["state"] == "children":
                self._resolve(parent, pending)

    def child_line(self, line: str, group: str, pending: dict[str, dict[str, Any]]) -> None:
        match = _GROUP_NAME.fullmatch(line)
        if not match:
            raise self.fail(f"[{group}:children]: expected a group name, found {line[:100]!r}")
        child = match.group(1)
        if child in self.inv.groups:
            self.inv.link(group, child, self.where())
        elif child in pending:
            pending[child].setdefault("parents", []).append(group)
        else:
            pending[child] = {"line": self.lineno, "state": "children", "parents": [group]}

    def host_line(self, line: str, group: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"cannot split this host line: {exc}") from None
        if not tokens:
            return
        pattern = tokens[0]
        try:
            names, port = host_key(pattern)
        except RangeError as exc:
            raise self.fail(f"host {pattern[:200]!r}: {exc}") from None
        if pattern.endswith(":") and port is None:
            raise self.fail(f"host {pattern[:200]!r} ends in ':' without a port")
        if any(n.strip() == "---" for n in names):
            raise self.fail("'---' as a host name: is this a YAML file?")
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep:
                raise self.fail(f"host {pattern[:200]!r}: expected key=value after the host "
                                f"name, found {token[:100]!r}")
            variables[key] = self.value(value)
        for name in names:
            host = self.inv.add_host(name, group, port, self.file, self.where())
            for key, value in variables.items():
                self.inv.set_host_var(host, key, value, VarSource(self.file, self.lineno))

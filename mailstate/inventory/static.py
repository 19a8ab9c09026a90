"""Structured inventory files: Ansible's YAML/JSON form, TOML, and script JSON.

YAML/JSON (`all: {hosts, vars, children}`) and TOML follow Ansible's yaml and toml
plugins; the script form (`{"group": {"hosts": [...], "vars": {...}, "children": [...]},
"_meta": {"hostvars": ...}}`) is what `ansible-inventory --list --export` and inventory
scripts print. Where Ansible only warns and skips part of a file (an unknown key in a
group, a group that is not a mapping), mailstate refuses with the file and line: a
skipped `childen:` would silently move hosts out of their groups, and so give them
another desired state.
"""

from __future__ import annotations

from typing import Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inventory.data import InventoryData, inventory_error
from mailstate.inventory.hostnames import RangeError, host_key
from mailstate.inventory.values import VarSource
from mailstate.inventory.yamlload import Loaded

SECTIONS = ("vars", "children", "hosts")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "text" if isinstance(value, str) else type(value).__name__


class YamlInventory:
    """Ansible's YAML inventory plugin over one loaded file."""

    def __init__(self, loaded: Loaded, inv: InventoryData) -> None:
        self.loaded = loaded
        self.inv = inv
        self.file = loaded.file
        self.errors: list[Diagnostic] = []

    def collect(self, error: MailstateError) -> None:
        self.errors.extend(error.diagnostics)
        if len(self.errors) > 50:
            raise MailstateError(self.errors)

    def read(self) -> None:
        data = self.loaded.data
        if not isinstance(data, dict):
            raise inventory_error(
                f"expected a mapping of groups such as all: {{hosts: ...}}, found {_kind(data)}",
                self.loaded.location(()))
        for name, body in data.items():
            try:
                self.group(name, body, (name,))
            except MailstateError as exc:
                self.collect(exc)
        if self.errors:
            raise MailstateError(self.errors)

    def source(self, path: tuple[Any, ...]) -> VarSource:
        line_col = self.loaded.keys.get(path)
        line, column = line_col if line_col else (None, None)
        node = self.loaded.nodes.get(path)
        return VarSource(self.file, line, column, path, self.loaded.vaulted,
                         {"node": node} if node is not None else {})

    def group(self, name: Any, body: Any, path: tuple[Any, ...]) -> str:
        where = self.loaded.location(path)
        if not isinstance(name, str) or not name:
            raise inventory_error(f"expected a group name (text), found {name!r}", where)
        if body is not None and not isinstance(body, dict):
            raise inventory_error(
                f"group {name!r}: expected a mapping with hosts:, vars:, children:, found "
                f"{_kind(body)}", where)
        group = self.inv.add_group(name, where)
        for key, value in (body or {}).items():
            sub = (*path, key)
            if key not in SECTIONS:
                self.collect(inventory_error(f"group {name!r}: unknown key {key!r}",
                                             self.loaded.location(sub),
                                             fix="a group has only hosts:, vars: and children:"))
                continue
            if isinstance(value, str):  # `hosts: web1` means `hosts: {web1: }` (Ansible)
                value = {value: None}
            if value is None:
                continue
            if not isinstance(value, dict):
                raise inventory_error(f"group {name!r}: {key}: expected a mapping, found "
                                      f"{_kind(value)}", self.loaded.location(sub))
            if key == "vars":
                for var, item in value.items():
                    _check_var_name(var, self.loaded.location((*sub, var)))
                    self.inv.set_group_var(group, var, item, self.source((*sub, var)))
            elif key == "children":
                for child, child_body in value.items():
                    child_name = self.group(child, child_body, (*sub, child))
                    self.inv.link(name, child_name, self.loaded.location((*sub, child)))
            else:
                for pattern, host_vars in value.items():
                    try:
                        self.hosts(name, pattern, host_vars, (*sub, pattern))
                    except MailstateError as exc:
                        self.collect(exc)
        return name

    def hosts(self, group: str, pattern: Any, host_vars: Any, path: tuple[Any, ...]) -> None:
        where = self.loaded.location(path)
        if not isinstance(pattern, str) or not pattern:
            raise inventory_error(f"host {pattern!r} must be text: quote numbers", where)
        names, port = _expand(pattern, where)
        if not host_vars:
            host_vars = {}
        if not isinstance(host_vars, dict):
            raise inventory_error(f"host {pattern!r}: expected a mapping of variables, found "
                                  f"{_kind(host_vars)}", where)
        for host_name in names:
            host = self.inv.add_host(host_name, group, port, self.file, where)
            for var, value in host_vars.items():
                _check_var_name(var, self.loaded.location((*path, var)))
                self.inv.set_host_var(host, var, value, self.source((*path, var)))


def _expand(pattern: str, where: Location) -> tuple[list[str], int | None]:
    try:
        return host_key(pattern)
    except RangeError as exc:
        raise inventory_error(f"host {pattern[:200]!r}: {exc}", where) from None


def _check_var_name(name: Any, where: Location) -> None:
    if not isinstance(name, str) or not name:
        raise inventory_error(f"expected a variable name (text), found {name!r}", where)


def read_toml(data: dict[str, Any], file: str, inv: InventoryData) -> None:
    """Ansible's toml plugin: like YAML, but `children` is a list of names."""
    where = Location(file)
    if not data:
        raise inventory_error("empty TOML inventory", where)
    if data.get("plugin"):
        raise inventory_error("a TOML plugin configuration is not a static inventory", where)
    for name, body in data.items():
        _toml_group(name, body, file, inv)


def _toml_group(name: str, body: Any, file: str, inv: InventoryData) -> None:
    where = Location(file)
    if body is not None and not isinstance(body, dict):
        raise inventory_error(f"group {name!r}: expected a table, found {_kind(body)}", where)
    group = inv.add_group(name, where)
    for key, value in (body or {}).items():
        wanted = {"vars": dict, "children": list, "hosts": dict}.get(key)
        if wanted is None or not isinstance(value, wanted):
            raise inventory_error(f"group {name!r}: {key} must be "
                                  + {"vars": "a table", "children": "a list",
                                     "hosts": "a table"}.get(key, "vars, children or hosts"),
                                  where)
        if key == "vars":
            for var, item in value.items():
                inv.set_group_var(group, var, item, VarSource(file))
        elif key == "children":
            for child in value:
                if not isinstance(child, str):
                    raise inventory_error(f"group {name!r}: child {child!r} is not a name",
                                          where)
                _toml_group(child, {}, file, inv)
                inv.link(name, child, where)
        else:
            for pattern, host_vars in value.items():
                names, port = _expand(pattern, where)
                if not isinstance(host_vars, dict):
                    raise inventory_error(f"host {pattern!r}: expected a table", where)
                for host_name in names:
                    host = inv.add_host(host_name, name, port, file, where)
                    for var, item in host_vars.items():
                        inv.set_host_var(host, var, item, VarSource(file))


def read_script_json(data: Any, file: str, inv: InventoryData) -> None:
    """The JSON of an inventory script or of `ansible-inventory --list [--export]`."""
    where = Location(file)
    if not isinstance(data, dict):
        raise inventory_error("inventory JSON: expected an object of groups", where)
    meta = data.get("_meta") or {}
    hostvars = meta.get("hostvars") or {} if isinstance(meta, dict) else {}
    groups = {k: v for k, v in data.items() if k != "_meta"}
    for name in groups:
        inv.add_group(name, where)
    for name, body in groups.items():
        if isinstance(body, list):
            body = {"hosts": body}
        if not isinstance(body, dict):
            raise inventory_error(f"inventory JSON: group {name!r} is not an object", where)
        grp = inv.groups[name]
        for host_name in body.get("hosts") or []:
            inv.add_host(str(host_name), name, None, file, where)
        for child in body.get("children") or []:
            inv.add_group(child, where)
            inv.link(name, child, where)
        for var, value in (body.get("vars") or {}).items():
            inv.set_group_var(grp, var, value, VarSource(file))
    if not isinstance(hostvars, dict):
        raise inventory_error("inventory JSON: _meta.hostvars is not an object", where)
    for host_name, variables in hostvars.items():
        host = inv.add_host(str(host_name), None, None, file, where)
        for var, value in (variables or {}).items():
            inv.set_host_var(host, var, value, VarSource(file))

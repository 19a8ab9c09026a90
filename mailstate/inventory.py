"""Ansible-compatible YAML inventories: hosts, nested groups, variables, `--limit`.

An existing Ansible YAML inventory (`all: {hosts, vars, children}`, `ansible_host`,
`ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, `ansible_become`,
`group_vars/` and `host_vars/` next to it) works unchanged. mailstate adds two host or
group variables: `mailstate_states` (state names or paths, merged in order) and
`mailstate_overrides` (a state fragment merged last), plus `mailstate_known_hosts_file`.

Variable precedence follows Ansible: `all` < parent groups < child groups (by depth, then
name) < host; a variable replaces (no dict merge).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.model.layers import VARIABLE
from mailstate.model.loader import ResolvedState, StateLayer, build_state, read_state_file
from mailstate.model.loader import state_layer as _state_layer
from mailstate.model.yamlsource import DocPath, SourceDoc, load_yaml

if TYPE_CHECKING:
    from mailstate.model import MailState

__all__ = ["HostSpec", "Inventory", "ResolvedState", "load_inventory", "resolve_state",
           "shared_state"]

GROUP_KEYS = ("hosts", "vars", "children")
SHIPPED_STATES = Path(__file__).resolve().parent.parent / "states"


@dataclass(frozen=True)
class HostSpec:
    """How to reach one host and which desired state applies to it."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    known_hosts_file: str | None = None
    become: bool = False
    states: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    var_docs: dict[str, tuple[SourceDoc, DocPath]] = field(default_factory=dict)
    location: Location | None = None


@dataclass
class _Parsed:
    doc: SourceDoc
    groups: dict[str, Group] = field(default_factory=dict)
    host_order: list[str] = field(default_factory=list)
    host_vars: dict[str, dict[str, tuple[Any, SourceDoc, DocPath]]] = field(
        default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)


def _err(summary: str, location: Location | None, fix: str = "") -> Diagnostic:
    return Diagnostic("error", summary, location, fix=fix, code="inventory")


def _expand(name: str) -> list[str]:
    """Ansible host ranges: `web[01:03]` -> web01, web02, web03; `db[a:c]`."""
    match = re.search(r"\[([0-9a-z]+):([0-9a-z]+)(?::(\d+))?\]", name)
    if not match:
        return [name]
    start, end, step = match.group(1), match.group(2), int(match.group(3) or 1)
    head, tail = name[: match.start()], name[match.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    else:
        items = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    return [x for item in items for x in _expand(head + item + tail)]


class _Reader:
    """Walks the inventory document into groups and host variables."""

    def __init__(self, doc: SourceDoc) -> None:
        self.p = _Parsed(doc)

    def group(self, name: str, body: Any, path: DocPath) -> None:
        doc = self.p.doc
        group = self.p.groups.setdefault(name, Group(name, location=doc.locate(path, key=True)))
        if body is None:
            return
        if not isinstance(body, dict):
            self.p.errors.append(_err(f"group {name!r}: expected a mapping with hosts, vars, "
                                      "children", doc.locate(path)))
            return
        for key in body:
            if key not in GROUP_KEYS:
                self.p.errors.append(_err(
                    f"group {name!r}: unknown key {key!r}", doc.locate((*path, key), key=True),
                    fix="a group has only hosts:, vars: and children:"))
        self._hosts(group, body.get("hosts"), (*path, "hosts"))
        self._vars(group, body.get("vars"), (*path, "vars"))
        children = body.get("children") or {}
        if not isinstance(children, dict):
            self.p.errors.append(_err(f"group {name!r}: children: expected a mapping",
                                      doc.locate((*path, "children"))))
            return
        for child, child_body in children.items():
            if child not in group.children:
                group.children.append(child)
            self.group(child, child_body, (*path, "children", child))

    def _hosts(self, group: Group, hosts: Any, path: DocPath) -> None:
        if hosts is None:
            return
        if not isinstance(hosts, dict):
            self.p.errors.append(_err(f"group {group.name!r}: hosts: expected a mapping of "
                                      "host names", self.p.doc.locate(path)))
            return
        for pattern, host_vars in hosts.items():
            if host_vars is not None and not isinstance(host_vars, dict):
                self.p.errors.append(_err(f"host {pattern!r}: expected a mapping of variables",
                                          self.p.doc.locate((*path, pattern))))
                continue
            for name in _expand(pattern):
                if name not in self.p.host_order:
                    self.p.host_order.append(name)
                if name not in group.hosts:
                    group.hosts.append(name)
                slot = self.p.host_vars.setdefault(name, {})
                for key, value in (host_vars or {}).items():
                    slot[key] = (value, self.p.doc, (*path, pattern, key))

    def _vars(self, group: Group, variables: Any, path: DocPath) -> None:
        if variables is None:
            return
        if not isinstance(variables, dict):
            self.p.errors.append(_err(f"group {group.name!r}: vars: expected a mapping",
                                      self.p.doc.locate(path)))
            return
        for key, value in variables.items():
            group.vars[key] = value
            group.var_docs[key] = (self.p.doc, (*path, key))


def _find_cycle(groups: dict[str, Group]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for child in groups[name].children:
            if state.get(child) == 1:
                return [*stack[stack.index(child):], child]
            if child in groups and child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in groups:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def _vars_file(directory: Path, name: str) -> list[Path]:
    """`group_vars/NAME.yml|.yaml|NAME` or every YAML file in `group_vars/NAME/`."""
    files = [directory / f"{name}{ext}" for ext in (".yml", ".yaml", "")]
    found = [f for f in files if f.is_file()]
    folder = directory / name
    if folder.is_dir():
        found += sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml"))
    return [f for f in found if not f.read_bytes().startswith(b"$ANSIBLE_VAULT")]


class Inventory:
    """Hosts and groups of one inventory file; `select` applies a `--limit`."""

    def __init__(self, path: Path, parsed: _Parsed) -> None:
        self.path = path
        self.doc = parsed.doc
        self.groups = parsed.groups
        self._order = parsed.host_order
        self._host_vars = parsed.host_vars
        self._layers: dict[Path, StateLayer] = {}
        self.shared_states: dict[tuple[object, ...], MailState] = {}  # see shared_state()
        self.hosts: dict[str, HostSpec] = {name: self._spec(name) for name in self._order}

    # -- variables ---------------------------------------------------------------
    def _depth(self, name: str, seen: frozenset[str] = frozenset()) -> int:
        parents = [g for g in self.groups.values() if name in g.children and g.name not in seen]
        return 1 + max((self._depth(p.name, seen | {name}) for p in parents), default=-1)

    def groups_of(self, host: str) -> list[str]:
        """Every group the host belongs to, directly or through children, by precedence."""
        direct = {g.name for g in self.groups.values() if host in g.hosts}
        result = set(direct) | {"all"}
        frontier = set(direct)
        while frontier:
            parents = {g.name for g in self.groups.values() if frontier & set(g.children)}
            frontier = parents - result
            result |= parents
        return sorted(result, key=lambda g: (0 if g == "all" else self._depth(g), g))

    def var_origins(self, host: str) -> dict[str, tuple[Any, SourceDoc, DocPath]]:
        """Effective variables of a host with the document and path that set each."""
        merged: dict[str, tuple[Any, SourceDoc, DocPath]] = {}
        for name in self.groups_of(host):
            group = self.groups.get(name)
            if group is not None:
                for key, value in group.vars.items():
                    doc, path = group.var_docs[key]
                    merged[key] = (value, doc, path)
            for file in _vars_file(self.path.parent / "group_vars", name):
                merged.update(_file_vars(file))
        merged.update(self._host_vars.get(host, {}))
        for file in _vars_file(self.path.parent / "host_vars", host):
            merged.update(_file_vars(file))
        return merged

    def _spec(self, name: str) -> HostSpec:
        variables = {k: v for k, (v, _, _) in self.var_origins(name).items()}
        variables.setdefault("inventory_hostname", name)
        states = variables.get("mailstate_states") or []
        if isinstance(states, str):
            states = [s.strip() for s in states.split(",") if s.strip()]
        key_file = variables.get("ansible_ssh_private_key_file")
        known = variables.get("mailstate_known_hosts_file")
        return HostSpec(
            name=name,
            address=str(variables.get("ansible_host") or name),
            port=int(variables.get("ansible_port") or variables.get("ansible_ssh_port") or 22),
            user=variables.get("ansible_user") or variables.get("ansible_ssh_user"),
            key_file=str(self._relative(key_file)) if key_file else None,
            known_hosts_file=str(self._relative(known)) if known else None,
            become=_truthy(variables.get("ansible_become", False)),
            states=[str(s) for s in states],
            vars=variables,
        )

    def _relative(self, value: Any) -> Path:
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else (self.path.parent / path).absolute()

    # -- selection ---------------------------------------------------------------
    def host(self, name: str) -> HostSpec:
        if name not in self.hosts:
            raise _unknown([name], self)
        return self.hosts[name]

    def select(self, limit: str | None = None) -> list[HostSpec]:
        """Hosts matching an Ansible-style `--limit` (None: every host), in file order."""
        names = _select_names(self, limit)
        return [self.hosts[n] for n in self._order if n in names]

    def group_hosts(self, name: str) -> set[str]:
        group = self.groups[name]
        result = set(group.hosts)
        for child in group.children:
            if child in self.groups:
                result |= self.group_hosts(child)
        return result

    def match(self, term: str) -> set[str] | None:
        """Hosts named by one limit term (name, group, glob, ~regex); None if nothing."""
        if term in ("all", "*"):
            return set(self._order)
        if term in self.groups:
            return self.group_hosts(term)
        if term in self.hosts:
            return {term}
        if term.startswith("~"):
            regex = re.compile(term[1:])
            names = {h for h in self._order if regex.search(h)}
            for group in (g for g in self.groups if regex.search(g)):
                names |= self.group_hosts(group)
        elif any(c in term for c in "*?["):
            names = set(fnmatch.filter(self._order, term))
            for group in fnmatch.filter(list(self.groups), term):
                names |= self.group_hosts(group)
        else:
            return None
        return names or None

    # -- states ------------------------------------------------------------------
    def state_paths(self, name: str) -> list[Path]:
        """Where a state name may live, in search order."""
        if "/" in name or name.endswith((".yaml", ".yml")):
            return [self._relative(name)]
        base = self.path.parent
        return [d / f"{name}{ext}" for d in (base.parent / "states", base / "states",
                                             SHIPPED_STATES) for ext in (".yaml", ".yml")]

    def layer(self, path: Path) -> StateLayer:
        """A parsed state file, cached (fresh copy of data per call is not needed:
        merging never mutates a layer's data)."""
        key = path.resolve()
        if key not in self._layers:
            self._layers[key] = read_state_file(path)
        return self._layers[key]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1", "y")
    return bool(value)


def _file_vars(path: Path) -> dict[str, tuple[Any, SourceDoc, DocPath]]:
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        return {}
    return {k: (v, doc, (k,)) for k, v in doc.data.items()}


def _unknown(names: list[str], inventory: Inventory) -> MailstateError:
    import difflib

    known = list(inventory.hosts) + list(inventory.groups)
    diags = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        diags.append(_err(
            f"no host or group named {name!r} in the inventory", Location(str(inventory.path)),
            fix=("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else
            "hosts: " + ", ".join(inventory.hosts) + "; groups: " + ", ".join(inventory.groups)))
    return MailstateError(diags)


def _limit_terms(limit: str) -> list[str]:
    terms: list[str] = []
    for item in (t.strip() for t in limit.split(",")):
        if item.startswith(("@", "!@", "&@")) or "[" in item or item.count(":") > 1:
            terms.append(item)
        else:
            terms.extend(t.strip() for t in item.split(":"))
    return [t for t in terms if t]


def _retry_file(term: str) -> list[str]:
    path = Path(term.lstrip("!&")[1:])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MailstateError(_err(f"--limit {term}: cannot read {path}: {exc.strerror}",
                                  Location(str(path)))) from None
    prefix = term[: len(term) - len(term.lstrip("!&"))]
    return [prefix + line.strip() for line in lines if line.strip()]


def _select_names(inventory: Inventory, limit: str | None) -> set[str]:
    """Ansible limit semantics: union of terms, then `&` intersections, then `!` excludes."""
    if not limit or not limit.strip():
        return set(inventory.hosts)
    terms: list[str] = []
    for term in _limit_terms(limit):
        terms.extend(_retry_file(term) if term.lstrip("!&").startswith("@") else [term])
    include: set[str] = set()
    positive = False
    intersections: list[set[str]] = []
    exclude: set[str] = set()
    unknown: list[str] = []
    for term in terms:
        bare = term.lstrip("!&")
        names = inventory.match(bare)
        if names is None:
            unknown.append(bare)
            continue
        if term.startswith("!"):
            exclude |= names
        elif term.startswith("&"):
            intersections.append(names)
        else:
            include |= names
            positive = True
    if unknown:
        raise _unknown(unknown, inventory)
    selected = include if positive else set(inventory.hosts)
    for names in intersections:
        selected &= names
    return selected - exclude


def load_inventory(path: str | Path) -> Inventory:
    """Parse an inventory file; every problem is one diagnostic with file:line:col."""
    inv_path = Path(path)
    doc = load_yaml(inv_path)
    if not isinstance(doc.data, dict):
        raise MailstateError(_err("expected a mapping of groups such as all: {hosts: ...}",
                                  doc.locate(())))
    reader = _Reader(doc)
    for name, body in doc.data.items():
        reader.group(name, body, (name,))
    groups = reader.p.groups
    all_group = groups.setdefault("all", Group("all", location=Location(str(inv_path), 1, 1)))
    for name in list(groups):
        if name != "all" and not any(name in g.children for g in groups.values()):
            all_group.children.append(name)
    cycle = _find_cycle(groups)
    if cycle:
        reader.p.errors.append(_err(
            "group cycle: " + " -> ".join(cycle), groups[cycle[-2]].location,
            fix="a group cannot be its own descendant; remove one of the children: links"))
    if reader.p.errors:
        raise MailstateError(reader.p.errors)
    return Inventory(inv_path, reader.p)


def resolve_state(host: HostSpec, inventory: Inventory) -> ResolvedState:
    """Merge the host's `mailstate_states` in order, then its `mailstate_overrides`."""
    layers, files, _ = _state_inputs(host, inventory)
    return build_state(layers, host.vars, files)


def shared_state(host: HostSpec, inventory: Inventory) -> MailState:
    """`resolve_state(host, inventory).state`, built once per distinct input.

    Why: hosts of a fleet mostly share their states and differ only in variables the
    states never use (ansible_host, keys, ...); merging and validating took ~0.8 ms per
    host, i.e. 80 ms of a 100-host plan. The key holds the state files, the overrides'
    content and the values of exactly the variables the states reference (followed
    through variables that reference others). Failures are not cached: every host
    reports its own.
    """
    layers, files, overrides = _state_inputs(host, inventory)
    key = (tuple(files), overrides, _used_variables(layers, host.vars))
    state = inventory.shared_states.get(key)
    if state is None:
        state = inventory.shared_states[key] = build_state(layers, host.vars, files).state
    return state


def _state_inputs(host: HostSpec, inventory: Inventory
                  ) -> tuple[list[StateLayer], list[str], str]:
    """The host's state layers in merge order, their files, and the overrides as JSON."""
    origins = inventory.var_origins(host.name)
    layers: list[StateLayer] = []
    files: list[str] = []
    for name in host.states:
        candidates = inventory.state_paths(name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            _, doc, path = origins.get("mailstate_states", (None, inventory.doc, ()))
            raise MailstateError(_err(
                f"host {host.name}: state {name!r} not found", doc.locate(path),
                fix="looked in: " + ", ".join(str(p) for p in candidates)))
        layers.append(inventory.layer(found))
        files.append(str(found))
    overrides = ""
    if "mailstate_overrides" in origins:
        value, doc, path = origins["mailstate_overrides"]
        if value is not None:
            layers.append(_state_layer(doc.subtree(path)))
            files.append(doc.file)
            overrides = json.dumps(value, sort_keys=True, default=str)
    return layers, files, overrides


def _used_variables(layers: list[StateLayer], host_vars: dict[str, Any]
                    ) -> tuple[tuple[str, str], ...]:
    """(name, value as JSON) of every variable the layers' values reference."""
    env: dict[str, Any] = {}
    for layer in layers:
        env.update(layer.variables)
    env.update(host_vars)
    todo = set().union(*(_references(layer.doc.data) for layer in layers))
    used: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in used:
            continue
        value = env.get(name, _MISSING)
        used[name] = json.dumps(value, sort_keys=True, default=str)
        todo |= _references(value) - used.keys()
    return tuple(sorted(used.items()))


_MISSING = "\0undefined"


def _references(value: Any) -> set[str]:
    """Names inside `{{ name }}` anywhere in a value (the same pattern `substitute` uses)."""
    if isinstance(value, str):
        return set(VARIABLE.findall(value)) if "{{" in value else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()

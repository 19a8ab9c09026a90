"""The inventory graph every source form is read into: groups, hosts, inline variables.

It keeps Ansible's rules (ansible.inventory.data): `all` and `ungrouped` always exist;
a group nobody claims becomes a child of `all`; a host in no group but `all` lands in
`ungrouped`; a group's depth is its longest path from `all`; a host's groups include
every ancestor; variables set twice on the same group or host: the later one wins;
`ansible_group_priority` is a group's priority, not a variable. A child link that would
close a loop is refused with the loop spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inventory.values import VarSource


def inventory_error(summary: str, location: Location | None, fix: str = "") -> MailstateError:
    return MailstateError(Diagnostic("error", summary, location, fix=fix, code="inventory"))


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, VarSource] = field(default_factory=dict)
    priority: int = 1
    location: Location | None = None


@dataclass
class Host:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, VarSource] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct memberships
    source_file: str | None = None  # the inventory file where it was first seen
    location: Location | None = None


class InventoryData:
    """Groups and hosts in the order they were first met."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.hosts: dict[str, Host] = {}
        self.warnings: list[Diagnostic] = []
        self.link("all", "ungrouped", None)
        self._depths: dict[str, int] | None = None

    def add_group(self, name: str, location: Location | None = None) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, location=location)
            self._depths = None
        return group

    def add_host(self, name: str, group: str | None, port: int | None,
                 source_file: str | None, location: Location | None = None) -> Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, source_file=source_file, location=location)
            if port is not None:  # Ansible applies a key's :port only to a new host
                self.set_host_var(host, "ansible_port", port,
                                  VarSource(location.file if location else source_file or "",
                                            location.line if location else None))
        if group is not None:
            target = self.groups[group]
            if name not in target.hosts:
                target.hosts.append(name)
                host.groups.append(group)
        return host

    def link(self, parent: str, child: str, location: Location | None) -> None:
        """Make `child` (a group) a child of `parent`; refuse a loop."""
        if parent == child or parent in self.descendants(child):
            loop = " -> ".join([*(self._path(child, parent) or [child]), child])
            raise inventory_error(
                f"group cycle: {loop}", location,
                fix="a group cannot be its own descendant; remove one of the children: links")
        group, kid = self.groups[parent], self.groups[child]
        if child not in group.children:
            group.children.append(child)
        if parent not in kid.parents:
            kid.parents.append(parent)
        self._depths = None

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A child path from `start` down to `goal` (for the cycle message)."""
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            name, path = stack.pop()
            if name == goal:
                return path
            if name in seen:
                continue
            seen.add(name)
            stack.extend((c, [*path, c]) for c in self.groups[name].children)
        return None

    def descendants(self, name: str) -> list[str]:
        """Child groups below `name`, breadth first, each once (Ansible's host order)."""
        order: list[str] = []
        seen = {name}
        frontier = [name]
        while frontier:
            nxt: list[str] = []
            for group in frontier:
                for child in self.groups[group].children:
                    if child not in seen:
                        seen.add(child)
                        order.append(child)
                        nxt.append(child)
            frontier = nxt
        return order

    def ancestors(self, name: str) -> set[str]:
        result: set[str] = set()
        todo = list(self.groups[name].parents)
        while todo:
            group = todo.pop()
            if group not in result:
                result.add(group)
                todo.extend(self.groups[group].parents)
        return result

    # -- variables -------------------------------------------------------------
    def set_group_var(self, group: Group, key: str, value: Any, source: VarSource) -> None:
        if key == "ansible_group_priority":
            try:
                group.priority = int(value)
            except (TypeError, ValueError):
                raise inventory_error(
                    f"group {group.name}: ansible_group_priority must be a number",
                    source.location()) from None
            return
        group.vars[key] = value
        group.sources[key] = source

    def set_host_var(self, host: Host, key: str, value: Any, source: VarSource) -> None:
        host.vars[key] = value
        host.sources[key] = source

    # -- after every source ----------------------------------------------------
    def reconcile(self) -> None:
        """Ansible's post-processing: orphan groups under `all`, lone hosts in
        `ungrouped` (and out of it when they have another group)."""
        for name in list(self.groups):
            if name != "all" and not self.groups[name].parents:
                self.link("all", name, None)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            others = [g for g in host.groups if g not in ("all", "ungrouped")]
            if "ungrouped" in host.groups and others:
                host.groups.remove("ungrouped")
                ungrouped.hosts.remove(host.name)
            elif not others and "ungrouped" not in host.groups:
                ungrouped.hosts.append(host.name)
                host.groups.append("ungrouped")
        for name in set(self.groups) & set(self.hosts):
            self.warnings.append(Diagnostic(
                "warning", f"found both a group and a host named {name!r}", code="inventory"))

    def depth(self, name: str) -> int:
        """Longest path from `all` (Ansible's group depth)."""
        if self._depths is None:
            self._depths = {}
        depths = self._depths
        if name in depths:
            return depths[name]
        # iterative longest-path over parents (the graph is acyclic)
        order: list[str] = []
        stack = [(name, False)]
        while stack:
            current, done = stack.pop()
            if current in depths:
                continue
            if done:
                parents = self.groups[current].parents
                depths[current] = 1 + max((depths[p] for p in parents), default=-1)
                order.append(current)
                continue
            stack.append((current, True))
            stack.extend((p, False) for p in self.groups[current].parents if p not in depths)
        return depths[name]

    def host_groups(self, host: str) -> list[str]:
        """Every group of a host but `all`, in Ansible's order: depth, priority, name."""
        names: set[str] = set()
        for group in self.hosts[host].groups:
            names.add(group)
            names |= self.ancestors(group)
        names.discard("all")
        return sorted(names, key=lambda g: (self.depth(g), self.groups[g].priority, g))

    def group_hosts(self, name: str) -> list[str]:
        """Hosts of a group and its descendants, in Ansible's order, each once."""
        result: list[str] = []
        seen: set[str] = set()
        for group in [name, *self.descendants(name)]:
            for host in self.groups[group].hosts:
                if host not in seen:
                    seen.add(host)
                    result.append(host)
        return result

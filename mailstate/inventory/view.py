"""What mailstate resolved, in the shape of `ansible-inventory --list / --graph / --host`.

So users can diff the two: `_meta.hostvars` holds each host's merged variables (Ansible's
precedence, magic variables left out as ansible-inventory does), groups their direct
hosts and children. Secrets are masked: `!secret` and values from vaulted files print
as `***`, inline `!vault` values as Ansible prints them (`{"__ansible_vault":
ciphertext}`, which reveals nothing), `!unsafe` text as `{"__ansible_unsafe": text}`.
`reveal=True` is for the differential tests only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mailstate.inventory.values import MASK, Secret, Unsafe, Vaulted, masked

if TYPE_CHECKING:
    from mailstate.inventory.load import Inventory


def _plain(value: Any, reveal: bool) -> Any:
    if isinstance(value, Vaulted):
        return {"__ansible_vault": value.ciphertext}
    if isinstance(value, Unsafe):
        return {"__ansible_unsafe": str(value)}
    if reveal and isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {str(k): _plain(v, reveal) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, reveal) for v in value]
    return masked(value)


def host_variables(inventory: Inventory, host: str, reveal: bool = False) -> dict[str, Any]:
    """Merged variables; every value from a vaulted file masked whole (numbers too)."""
    values, sources = inventory.variables(host)
    return {k: MASK if (k in sources and sources[k].vaulted_file and not reveal)
            else _plain(v, reveal) for k, v in values.items()}


def list_document(inventory: Inventory, limit: str | None = None,
                  reveal: bool = False) -> dict[str, Any]:
    """ansible-inventory --list (without --export)."""
    available = set(inventory.select_names(limit))
    result: dict[str, Any] = {}
    seen: set[str] = set()

    def group(name: str) -> None:
        entry: dict[str, Any] = {}
        if name != "all":
            entry["hosts"] = [h for h in inventory.groups[name].hosts if h in available]
        entry["children"] = list(inventory.groups[name].children)
        result[name] = entry
        for child in inventory.groups[name].children:
            if child not in seen:
                seen.add(child)
                group(child)
        for key in ("hosts", "children"):
            if key in entry and not entry[key]:
                del entry[key]
        if not entry:
            del result[name]

    group("all")
    hostvars = {}
    for host in inventory.select_names(limit):
        variables = host_variables(inventory, host, reveal)
        if variables:
            hostvars[host] = variables
    result["_meta"] = {"hostvars": hostvars, "profile": "inventory_legacy"}
    return result


def graph_lines(inventory: Inventory, start: str = "all", show_vars: bool = False) -> list[str]:
    """ansible-inventory --graph [GROUP] [--vars]."""

    def name(text: str, depth: int) -> str:
        return ("  |" * depth + "--" + text) if depth else text

    def variables(values: dict[str, Any], depth: int) -> list[str]:
        return [name(f"{{{k} = {v}}}", depth) for k, v in sorted(values.items())]

    def group(group_name: str, depth: int) -> list[str]:
        lines = [name(f"@{group_name}:", depth)]
        for child in inventory.groups[group_name].children:
            lines += group(child, depth + 1)
        if group_name != "all":
            for host in inventory.groups[group_name].hosts:
                lines.append(name(host, depth + 1))
                if show_vars:
                    lines += variables(host_variables(inventory, host), depth + 2)
        if show_vars:
            own = inventory.groups[group_name]
            lines += variables({k: _plain(v, False) for k, v in own.vars.items()}, depth + 1)
        return lines

    return group(start, 0)


def dump(document: Any) -> str:
    return json.dumps(document, sort_keys=True, indent=4)

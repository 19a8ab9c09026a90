"""Ansible inventories as Ansible reads them, and the desired state of each host.

Every static form (YAML, JSON, INI, TOML, directories of them, `-i a,b,` host lists,
several `-i`), group_vars/host_vars in every file form, Ansible's variable precedence,
Vault, `--limit` with Ansible's whole pattern grammar; plugin and script inventories
through `ansible-inventory` when it is installed. mailstate adds three host or group
variables: `mailstate_states` (state names or paths, merged in order),
`mailstate_overrides` (a state fragment merged last) and `mailstate_known_hosts_file`.

Modules: sources (which form each -i is) -> yamlload/ini/static (reading) -> data (the
graph) -> varsfiles + load (precedence) -> connection (HostSpec) -> limit (--limit) ->
states (the host's MailState). The pydantic model is imported only by states.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailstate.inventory.connection import HostSpec
    from mailstate.inventory.load import Inventory, load_inventory
    from mailstate.inventory.states import (
        SHIPPED_STATES,
        find_state,
        resolve_state,
        shared_state,
        shipped_profiles,
        state_paths,
    )
    from mailstate.model.loader import ResolvedState

__all__ = ["SHIPPED_STATES", "HostSpec", "Inventory", "ResolvedState", "find_state",
           "load_inventory", "resolve_state", "shared_state", "shipped_profiles", "state_paths"]

# Loaded on first use: every command imports mailstate.inventory.cli to declare its
# options, and that must not cost the readers (or the pydantic model: ResolvedState).
_HOME = {"HostSpec": "connection", "Inventory": "load", "load_inventory": "load",
         "SHIPPED_STATES": "states", "resolve_state": "states", "shared_state": "states",
         "state_paths": "states", "find_state": "states", "shipped_profiles": "states"}


def __getattr__(name: str) -> Any:
    if name == "ResolvedState":
        from mailstate.model.loader import ResolvedState

        return ResolvedState
    if name in _HOME:
        return getattr(importlib.import_module(f"mailstate.inventory.{_HOME[name]}"), name)
    raise AttributeError(name)

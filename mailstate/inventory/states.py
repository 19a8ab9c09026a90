"""From a host to its desired state: its `mailstate_states` files, then `mailstate_overrides`.

This is the only module of the inventory package that imports the pydantic model, and
only when a state is built. Inventory secrets (`!secret`, `!vault`, vaulted files) enter
the model as `SecretStr`, so the model masks them everywhere; a vault value is
decrypted only when a state actually uses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mailstate.diagnostics import Location, MailstateError
from mailstate.inventory.connection import HostSpec
from mailstate.inventory.data import inventory_error
from mailstate.inventory.values import Secret, Unsafe, VarSource, Vaulted
from mailstate.inventory.yamlload import MAX_NODES

if TYPE_CHECKING:
    from mailstate.inventory.load import Inventory
    from mailstate.model import MailState
    from mailstate.model.loader import ResolvedState, StateLayer
    from mailstate.model.yamlsource import SourceDoc

SHIPPED_STATES = Path(__file__).resolve().parent.parent.parent / "states"
_MISSING = "\0undefined"


def state_paths(inventory: Inventory, name: str, host: str | None = None) -> list[Path]:
    """Where a state name may live, in search order (the one place that decides it).

    A path (with `/` or a .yaml/.yml suffix) is relative to the host's inventory
    directory; a name is looked up in `states/` above and beside that directory, in the
    project directory, then in mailstate's shipped states."""
    base = inventory.path if inventory.path.is_dir() else inventory.path.parent
    if host is not None and host in inventory.hosts:
        folder = inventory.hosts[host].vars.get("inventory_dir")
        base = Path(folder) if folder else inventory.project_dir
    if "/" in name or name.endswith((".yaml", ".yml")):
        path = Path(name).expanduser()
        return [path if path.is_absolute() else (base / path).absolute()]
    folders = [base.parent / "states", base / "states", inventory.project_dir / "states",
               SHIPPED_STATES]
    unique = list(dict.fromkeys(f.absolute() for f in folders))
    return [d / f"{name}{ext}" for d in unique for ext in (".yaml", ".yml")]


def resolve_state(host: HostSpec, inventory: Inventory) -> ResolvedState:
    """Merge the host's `mailstate_states` in order, then its `mailstate_overrides`."""
    from mailstate.model.loader import build_state

    layers, files, _ = _state_inputs(host, inventory)
    return build_state(layers, _state_variables(host, layers), files)


def shared_state(host: HostSpec, inventory: Inventory) -> MailState:
    """`resolve_state(host, inventory).state`, built once per distinct input.

    Why: hosts of a fleet mostly share their states and differ only in variables the
    states never use (ansible_host, keys, ...); merging and validating took ~0.8 ms per
    host, i.e. 80 ms of a 100-host plan. The key holds the state files, the overrides'
    content and the values of exactly the variables the states reference (followed
    through variables that reference others). Failures are not cached: every host
    reports its own.
    """
    from mailstate.model.loader import build_state

    layers, files, overrides = _state_inputs(host, inventory)
    key = (tuple(files), overrides, _used_variables(layers, host.vars))
    state = inventory.shared_states.get(key)
    if state is None:
        state = build_state(layers, _state_variables(host, layers), files).state
        inventory.shared_states[key] = state
    return state


def _state_inputs(host: HostSpec, inventory: Inventory
                  ) -> tuple[list[StateLayer], list[str], str]:
    """The host's state layers in merge order, their files, and the overrides' key."""
    from mailstate.model.loader import state_layer

    if host.problems:
        raise MailstateError(list(host.problems))
    values, sources = inventory.variables(host.name)
    layers: list[StateLayer] = []
    files: list[str] = []
    for name in host.states:
        candidates = state_paths(inventory, name, host.name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            where = sources.get("mailstate_states")
            raise inventory_error(
                f"host {host.name}: state {name!r} not found",
                _state_location(where, name) if where else Location(str(inventory.path)),
                fix="looked in: " + ", ".join(str(p) for p in candidates))
        layers.append(inventory.layer(found))
        files.append(str(found))
    overrides = ""
    value = values.get("mailstate_overrides")
    if value is not None:
        source = sources.get("mailstate_overrides", VarSource(str(inventory.path)))
        layers.append(state_layer(_overrides_doc(value, source)))
        files.append(source.file)
        overrides = _fingerprint(value)
    return layers, files, overrides


def _state_location(source: VarSource, name: str) -> Location:
    """The position of one name inside a `mailstate_states` list, when known."""
    node = source.extra.get("node")
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.value == name:
                return Location(source.file, item.start_mark.line + 1,
                                item.start_mark.column + 1)
    return source.location()


def _overrides_doc(value: Any, source: VarSource) -> SourceDoc:
    """`mailstate_overrides` as a state document: with positions and the state file
    rules (`0660` stays text) when it was written in YAML, else plain."""
    from mailstate.model.yamlsource import SourceDoc, _Builder

    node = source.extra.get("node")
    if isinstance(node, yaml.Node):
        builder = _Builder(source.file)
        data = builder.build(_secret_tags(node, _vaulted_in(value, {}), [0]), ())
        if builder.errors:
            raise MailstateError(builder.errors)
        doc = builder.doc
        doc.data = data
        return doc
    return SourceDoc(source.file, _model_value(value), {(): source.location()})


def _secret_tags(node: yaml.Node, vaulted: dict[str, Vaulted], count: list[int]
                 ) -> yaml.Node:
    """A copy of a YAML tree with `!vault` values decrypted into `!secret` ones."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise inventory_error("mailstate_overrides expands to too many values", None)
    if isinstance(node, yaml.MappingNode):
        return yaml.MappingNode(node.tag, [(_secret_tags(k, vaulted, count),
                                            _secret_tags(v, vaulted, count))
                                           for k, v in node.value],
                                node.start_mark, node.end_mark, node.flow_style)
    if isinstance(node, yaml.SequenceNode):
        return yaml.SequenceNode(node.tag, [_secret_tags(v, vaulted, count) for v in node.value],
                                 node.start_mark, node.end_mark, node.flow_style)
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "!vault" and node.value in vaulted:
        plain = vaulted[node.value].reveal()
        return yaml.ScalarNode("!secret", plain, node.start_mark, node.end_mark, node.style)
    if node.tag == "!unsafe":
        return yaml.ScalarNode("tag:yaml.org,2002:str", node.value, node.start_mark,
                               node.end_mark, node.style)
    return node


def _vaulted_in(value: Any, found: dict[str, Vaulted]) -> dict[str, Vaulted]:
    if isinstance(value, Vaulted):
        found[value.ciphertext] = value
    elif isinstance(value, dict):
        for item in value.values():
            _vaulted_in(item, found)
    elif isinstance(value, list):
        for item in value:
            _vaulted_in(item, found)
    return found


def _model_value(value: Any) -> Any:
    """Inventory data as the model takes it: secrets become pydantic SecretStr."""
    from pydantic import SecretStr

    if isinstance(value, Secret):
        return SecretStr(value.reveal())
    if isinstance(value, Unsafe):
        return str(value)
    if isinstance(value, dict):
        return {k: _model_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_model_value(v) for v in value]
    return value


def _state_variables(host: HostSpec, layers: list[StateLayer]) -> dict[str, Any]:
    """The host's variables for `{{ name }}` in its states: every variable the states
    reference (transitively) converted for the model; other secrets left out, so a
    vault value no state uses is never decrypted."""
    used = {name for name, _ in _used_variables(layers, host.vars)}
    result: dict[str, Any] = {}
    for name, value in host.vars.items():
        if name in used:
            result[name] = _model_value(value)
        elif not _has_secret(value):
            result[name] = value
    return result


def _has_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _fingerprint(value: Any) -> str:
    """JSON of a value for cache keys: secrets by digest (vault by ciphertext), so two
    hosts with different secrets never share a state, and nothing is decrypted."""
    import hashlib

    def plain(item: Any) -> Any:
        if isinstance(item, Vaulted):
            return {"vault": item.ciphertext}
        if isinstance(item, Secret):
            return {"secret": hashlib.sha256(item.reveal().encode()).hexdigest()}
        if isinstance(item, dict):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, list):
            return [plain(v) for v in item]
        return item

    return json.dumps(plain(value), sort_keys=True, default=str)


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
        used[name] = _fingerprint(value)
        todo |= _references(value) - used.keys()
    return tuple(sorted(used.items()))


def _references(value: Any) -> set[str]:
    """Names inside `{{ name }}` anywhere in a value (the same pattern `substitute` uses)."""
    from mailstate.model.layers import VARIABLE

    if isinstance(value, str):
        return set(VARIABLE.findall(value)) if "{{" in value else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()

"""From a host to its desired state: its `mailstate_states` files, then `mailstate_overrides`.

This is the only module of the inventory package that imports the pydantic model, and
only when a state is built. Inventory secrets (`!secret`, `!vault`, vaulted files) enter
the model as `SecretStr`, so the model masks them everywhere; a vault value is
decrypted only when a state actually uses it.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inventory.connection import HostSpec
from mailstate.inventory.data import inventory_error
from mailstate.inventory.values import Secret, Unsafe, VarSource, Vaulted, has_secret
from mailstate.inventory.yamlload import MAX_NODES

if TYPE_CHECKING:
    from mailstate.inventory.load import Inventory
    from mailstate.model import MailState
    from mailstate.model.loader import ResolvedState, StateLayer
    from mailstate.model.yamlsource import SourceDoc

# The profiles mailstate ships: package data, so a wheel, pipx or editable install finds
# them (the repo's `states/` is a symlink to this folder, for people and scripts).
SHIPPED_STATES = Path(__file__).resolve().parent.parent / "profiles"
STATE_SUFFIXES = (".yaml", ".yml")
_MISSING = "\0undefined"


def is_state_path(name: str) -> bool:
    """A path (has `/` or a .yaml/.yml suffix), not a name to look up."""
    return "/" in name or name.endswith(STATE_SUFFIXES)


def shipped_profiles() -> dict[str, Path]:
    """{name: file} of the shipped profiles, by name."""
    return {p.stem: p for p in sorted(SHIPPED_STATES.glob("*.yaml")) if p.is_file()}


def state_dirs(inventory: Inventory | None, host: str | None = None) -> tuple[Path, list[Path]]:
    """(the base explicit relative paths start from, the `states/` folders searched).

    With an inventory: the host's inventory directory; `states/` above and beside it,
    then in the project directory (cwd or --playbook-dir). Without one (`mailstate lint
    FILE`, `audit --state`): the current directory and its `states/`. The shipped
    profiles come after these folders (see `state_paths`)."""
    if inventory is None:
        base = Path.cwd()
        return base, [base / "states"]
    base = inventory.path if inventory.path.is_dir() else inventory.path.parent
    if host is not None and host in inventory.hosts:
        folder = inventory.hosts[host].vars.get("inventory_dir")
        base = Path(folder) if folder else inventory.project_dir
    folders = [base.parent / "states", base / "states", inventory.project_dir / "states"]
    return base, list(dict.fromkeys(f.absolute() for f in folders))


def state_paths(inventory: Inventory | None, name: str, host: str | None = None) -> list[Path]:
    """Where a state name may live, in search order: the one place that decides it.

    1. A path (with `/` or a .yaml/.yml suffix) is taken as it is, relative to the host's
       inventory directory (to the current directory without an inventory).
    2. A name is looked up as NAME.yaml / NAME.yml in the project's own `states/`
       folders (`state_dirs`): a project's file of the same name wins over a profile.
    3. Then in the profiles mailstate ships (`mailstate profiles`)."""
    base, folders = state_dirs(inventory, host)
    if is_state_path(name):
        path = Path(name).expanduser()
        return [path if path.is_absolute() else (base / path).absolute()]
    searched = [*folders, SHIPPED_STATES]
    return [d / f"{name}{ext}" for d in searched for ext in STATE_SUFFIXES]


def find_state(name: str, inventory: Inventory | None = None, host: str | None = None,
               location: Location | None = None) -> Path:
    """The file a state name or path means (`state_paths`), or an error that lists what
    exists: the folders looked in and the shipped profiles by name."""
    who = f"host {host}: " if host else ""
    if not name.strip():
        raise MailstateError(Diagnostic("error", f"{who}an empty state name", location,
                                        code="state-not-found",
                                        fix="name a state (e.g. hardened) or a file"))
    candidates = state_paths(inventory, name, host)
    found = next((p for p in candidates if _is_file(p)), None)
    if found is not None:
        return found
    if is_state_path(name):
        raise MailstateError(Diagnostic(
            "error", f"{who}state file {name!r} not found", location, code="state-not-found",
            fix=f"no file {candidates[0]}; a name without `/` or .yaml is looked up in "
                "states/ folders, then in the shipped profiles"))
    shipped = sorted(shipped_profiles())
    folders = list(dict.fromkeys(str(p.parent) for p in candidates
                                 if p.parent != SHIPPED_STATES))
    close = difflib.get_close_matches(name, [*shipped, *_names_in(candidates)], n=1)
    fix = (f"did you mean {close[0]!r}? " if close else "") + (
        f"looked for {name}.yaml (or .yml) in: " + ", ".join(folders) +
        f"; shipped profiles (`mailstate profiles`): {', '.join(shipped) or 'none'}")
    raise MailstateError(Diagnostic("error", f"{who}state {name!r} not found", location,
                                    code="state-not-found", fix=fix))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name with NUL, an unreadable folder
        return False


def _names_in(candidates: list[Path]) -> list[str]:
    """State names that do exist in the folders looked in (for "did you mean")."""
    names: list[str] = []
    for folder in dict.fromkeys(p.parent for p in candidates):
        try:
            names += [p.stem for p in folder.iterdir() if p.suffix in STATE_SUFFIXES]
        except OSError:
            continue
    return names


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
    used = _used_variables(layers, host.vars)
    key = (tuple(files), overrides, used)
    state = inventory.shared_states.get(key)
    if state is None:
        state = build_state(layers, _state_variables(host, layers, used), files,
                            provenance=False).state
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
        where = sources.get("mailstate_states")
        found = find_state(name, inventory, host.name, _state_location(where, name)
                           if where else Location(str(inventory.path)))
        layers.append(inventory.layer(found))
        files.append(str(found))
    overrides = ""
    value = values.get("mailstate_overrides")
    if value is not None:
        source = sources.get("mailstate_overrides", VarSource(str(inventory.path)))
        if isinstance(value, dict) and "allow_paths" in value:
            raise MailstateError(Diagnostic(
                "error", f"host {host.name}: mailstate_overrides may not widen allow_paths",
                source.location(), code="outside-path",
                fix="list a file outside its kind's directory under allow_paths in a state "
                    "file: the one place a reviewer reads to see every such file"))
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


def _state_variables(host: HostSpec, layers: list[StateLayer],
                     used_variables: tuple[tuple[str, str], ...] | None = None
                     ) -> dict[str, Any]:
    """The host's variables for `{{ name }}` in its states: every variable the states
    reference (transitively) converted for the model; other secrets left out, so a
    vault value no state uses is never decrypted. (`used_variables`: what
    `_used_variables` gave for these layers, when the caller has it already.)"""
    if used_variables is None:
        used_variables = _used_variables(layers, host.vars)
    used = {name for name, _ in used_variables}
    result: dict[str, Any] = {}
    for name, value in host.vars.items():
        if name in used:
            result[name] = _model_value(value)
        elif not has_secret(value):
            result[name] = value
    return result


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
    from mailstate.model.layers import references

    env: dict[str, Any] = {}
    for layer in layers:
        env.update(layer.variables)
    env.update(host_vars)
    todo = set().union(*(layer.references for layer in layers))
    used: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in used:
            continue
        value = env.get(name, _MISSING)
        used[name] = _fingerprint(value)
        todo |= references(value) - used.keys()
    return tuple(sorted(used.items()))

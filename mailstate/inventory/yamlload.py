"""YAML and JSON files read the way Ansible's loader reads them, with positions.

Scalars resolve as YAML 1.1 (PyYAML's safe rules, as Ansible: `0660` is 432, `yes` is
true); JSON is tried first for text that looks like JSON, `{"__ansible_vault": ...}`
included. Tags: `!vault` (inline vault value), `!unsafe` (text never templated) and
mailstate's `!secret`. A whole vaulted file is decrypted first and every value in it is
a secret. Bounded: the caller reads the file with a size cap, and alias expansion stops
at MAX_NODES (a "billion laughs" document is refused, not expanded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inventory.values import Secret, Unsafe, Vaulted
from mailstate.inventory.vault import is_vaulted

if TYPE_CHECKING:
    from mailstate.inventory.vault import VaultKeys

MAX_NODES = 500_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
Path_ = tuple[Any, ...]


@dataclass
class Loaded:
    """Data of one file plus where each mapping key was written (path -> line, column)."""

    file: str
    data: Any
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    nodes: dict[Path_, yaml.Node] = field(default_factory=dict)
    vaulted: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)

    def location(self, path: Path_) -> Location:
        for depth in range(len(path), -1, -1):
            found = self.keys.get(path[:depth])
            if found is not None:
                return Location(self.file, *found)
        return Location(self.file)


def _error(summary: str, location: Location, fix: str = "") -> MailstateError:
    return MailstateError(Diagnostic("error", summary, location, fix=fix, code="inventory"))


class _Builder:
    def __init__(self, loaded: Loaded, vault: VaultKeys | None, keep_nodes: frozenset[str]):
        self.loaded = loaded
        self.vault = vault
        self.keep = keep_nodes
        self.count = 0
        self.ctor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _error(f"YAML expands to more than {MAX_NODES} values (aliases?)",
                         self._loc(node), fix="an inventory is small: remove the alias chain")
        if isinstance(node, yaml.MappingNode):
            self._plain_tag(node, "map")
            self.ctor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.key(key_node)
                sub = (*path, key)
                if key in result:
                    self.loaded.warnings.append(Diagnostic(
                        "warning", f"key {key!r} written twice: the later one wins",
                        self._loc(key_node), code="inventory"))
                mark = key_node.start_mark
                self.loaded.keys[sub] = (mark.line + 1, mark.column + 1)
                if isinstance(key, str) and key in self.keep:
                    self.loaded.nodes[sub] = value_node
                result[key] = self.build(value_node, sub)
            return result
        if isinstance(node, yaml.SequenceNode):
            self._plain_tag(node, "seq")
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.loaded.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def _plain_tag(self, node: yaml.Node, kind: str) -> None:
        if not node.tag.startswith(_STD):
            raise _error(f"tag {node.tag} on a mapping or list is not supported",
                         self._loc(node), fix="tag single values only (!vault, !unsafe)")

    def key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise _error("a mapping or list cannot be a key", self._loc(node))
        return self.scalar(node, key=True)

    def scalar(self, node: yaml.ScalarNode, key: bool = False) -> Any:
        tag, text = node.tag, node.value
        if tag == "!vault":
            where = str(self._loc(node))
            if self.vault is None:
                raise _error("a !vault value where no vault can be read", self._loc(node))
            return Vaulted(text, self.vault.decrypt_text, where)
        if tag == "!unsafe":
            return Unsafe(text)
        if tag == "!secret":
            return Secret(text)
        if not tag.startswith(_STD) and tag != "!":
            raise _error(f"unknown tag {tag}", self._loc(node),
                         fix="Ansible inventories know !vault and !unsafe (mailstate: !secret)")
        try:
            value = self.ctor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _error(f"invalid value: {getattr(exc, 'problem', None) or exc}",
                         self._loc(node)) from None
        if self.loaded.vaulted and isinstance(value, str) and not key:
            return Secret(value)
        return value


def _json_hook(pairs: list[tuple[str, Any]], vault: VaultKeys | None, file: str) -> Any:
    if len(pairs) == 1 and pairs[0][0] in ("__ansible_vault", "__ansible_unsafe"):
        name, value = pairs[0]
        if isinstance(value, str):
            if name == "__ansible_unsafe":
                return Unsafe(value)
            if vault is not None:
                return Vaulted(value, vault.decrypt_text, file)
    return dict(pairs)


def _looks_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def parse_text(text: str, file: str, vault: VaultKeys | None,
               keep_nodes: frozenset[str] = frozenset(), vaulted: bool = False) -> Loaded:
    """Parse YAML or JSON text (JSON first when it looks like JSON, as Ansible)."""
    loaded = Loaded(file, None, vaulted=vaulted)
    if _looks_json(text):
        try:
            loaded.data = json.loads(text, object_pairs_hook=lambda p: _json_hook(p, vault, file))
            if vaulted:
                loaded.data = _secrets(loaded.data)
            return loaded
        except (ValueError, RecursionError):
            pass
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise _error(f"invalid YAML: {exc.problem or exc.context or 'syntax error'}",
                     where) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _error(f"invalid YAML: {type(exc).__name__}", Location(file)) from None
    if node is None:
        return loaded
    try:
        loaded.data = _Builder(loaded, vault, keep_nodes).build(node, ())
    except RecursionError:
        raise _error("YAML nested too deeply", Location(file)) from None
    return loaded


def _secrets(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Secret):
        return Secret(value)
    if isinstance(value, dict):
        return {k: _secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secrets(v) for v in value]
    return value


def decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(f"expected UTF-8 text, found byte {exc.object[exc.start]:#x} at offset "
                     f"{exc.start}", Location(file)) from None


def load_bytes(data: bytes, file: str, vault: VaultKeys | None,
               keep_nodes: frozenset[str] = frozenset()) -> Loaded:
    """A YAML/JSON file's bytes (decrypted first when the whole file is vaulted)."""
    vaulted = is_vaulted(data)
    if vaulted:
        if vault is None:
            raise _error("a vault-encrypted file where no vault can be read", Location(file))
        data = vault.decrypt(decode(data, file), file)
    return parse_text(decode(data, file), file, vault, keep_nodes, vaulted)

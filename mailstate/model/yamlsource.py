"""YAML with positions: every key and value remembers its file, line and column.

PyYAML's constructors throw the marks away, so a validation error could only say
*what* is wrong, never *where*. We compose the node graph ourselves and build plain
Python data next to two maps (path -> Location of the key, path -> Location of the value).
Scalars are resolved conservatively for a config language: only decimal integers become
ints (`0660`, `1:20`, `3.10` stay text, as the daemons read them), YAML 1.1 booleans
(`yes`/`no`) become bools, and `!secret VALUE` makes a `SecretStr`. Duplicate keys are
recorded (later wins) instead of being silently dropped, so lint can report them.

Aliases are bounded: building stops with an error at file:line once more than
`MAX_NODES` values have been built (a "billion laughs" document composes in
microseconds but would expand to 10^9 values), past `MAX_DEPTH` levels of nesting, or at
an alias that refers to a node containing it (`a: &a [*a]`). Merge keys (`<<: *base`)
are resolved without copying: each merged key appears once.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inputs import MAX_INPUT_BYTES, read_capped  # noqa: F401 (re-exported)

DocPath = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_TAG = "tag:yaml.org,2002:"
MAX_NODES = 200_000  # a large state has a few thousand; a 10k-host inventory ~100k
MAX_DEPTH = 64
Pairs = list[tuple[yaml.Node, yaml.Node]]


@dataclass(frozen=True)
class Duplicate:
    """A mapping key written twice: `first` is overridden by `second`."""

    path: DocPath
    first: Location
    second: Location


@dataclass
class SourceDoc:
    """Plain data of one YAML document plus where each node was written."""

    file: str
    data: Any
    values: dict[DocPath, Location] = field(default_factory=dict)
    keys: dict[DocPath, Location] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def locate(self, path: DocPath, key: bool = False) -> Location:
        """Location of a node (its key when `key`), else of its nearest written ancestor."""
        for depth in range(len(path), -1, -1):
            sub = path[:depth]
            found = (self.keys.get(sub) if key else None) or self.values.get(sub)
            if found is not None:
                return found
        return Location(self.file)

    def subtree(self, path: DocPath) -> SourceDoc:
        """The node at `path` as a document of its own (positions re-rooted)."""
        data: Any = self.data
        for part in path:
            data = data[part]
        data = copy.deepcopy(data)
        n = len(path)
        return SourceDoc(
            self.file, data,
            {p[n:]: loc for p, loc in self.values.items() if p[:n] == path},
            {p[n:]: loc for p, loc in self.keys.items() if p[:n] == path and len(p) > n},
            [Duplicate(d.path[n:], d.first, d.second)
             for d in self.duplicates if d.path[:n] == path],
        )


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.doc = SourceDoc(file, None)
        self.errors: list[Diagnostic] = []
        self.count = 0
        self.building: set[int] = set()  # ids of the collections being built (cycles)
        self.merged: dict[int, Pairs] = {}

    def refuse(self, node: yaml.Node, problem: str, fix: str = "") -> MailstateError:
        return MailstateError(Diagnostic("error", problem, _loc(self.doc.file, node.start_mark),
                                         fix=fix, code="yaml"))

    def build(self, node: yaml.Node, path: DocPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.refuse(node, f"expected at most {MAX_NODES} values once aliases are "
                              "expanded, found more (aliases that repeat aliases?)",
                              "write the values out, or nest fewer aliases (*name)")
        if len(path) > MAX_DEPTH:
            raise self.refuse(node, f"expected at most {MAX_DEPTH} levels of nesting, "
                              "found more")
        self.doc.values[path] = _loc(self.doc.file, node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if not node.tag.startswith(_TAG):
            self.errors.append(Diagnostic(
                "error", f"expected a tag on a plain value only, found {node.tag} on a "
                "mapping or list", _loc(self.doc.file, node.start_mark), code="yaml"))
        if id(node) in self.building:
            raise self.refuse(node, "expected an alias to a node outside itself, found an "
                              "alias (*name) inside the node it names")
        self.building.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.building.discard(id(node))

    def _pairs(self, node: yaml.MappingNode, outer: frozenset[int] = frozenset()) -> Pairs:
        """The key/value pairs of a mapping with `<<` merge keys resolved (YAML 1.1: own
        keys win, then the first mapping that has the key), each key once."""
        cached = self.merged.get(id(node))
        if cached is not None:
            return cached
        if id(node) in outer:
            raise self.refuse(node, "expected a merge (<<) of other mappings, found a "
                              "mapping that merges itself")
        own: Pairs = []
        merged: Pairs = []
        for key_node, value_node in node.value:
            if key_node.tag != _TAG + "merge":
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [
                value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise self.refuse(source, "expected a mapping or a list of mappings "
                                      "after '<<'")
                merged += self._pairs(source, outer | {id(node)})
        keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        pairs: Pairs = []
        for key_node, value_node in merged:
            if key_node.value not in keys:
                keys.add(key_node.value)
                pairs.append((key_node, value_node))
        pairs += own
        self.merged[id(node)] = pairs
        return pairs

    def _mapping(self, node: yaml.MappingNode, path: DocPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(Diagnostic(
                    "error", "expected a plain key, found a mapping or list as key",
                    _loc(self.doc.file, key_node.start_mark), code="yaml"))
                continue
            key = str(key_node.value)
            sub = (*path, key)
            here = _loc(self.doc.file, key_node.start_mark)
            if key in result:
                self.doc.duplicates.append(Duplicate(sub, self.doc.keys[sub], here))
                for table in (self.doc.keys, self.doc.values):
                    for stale in [p for p in table if p[: len(sub)] == sub]:
                        del table[stale]
            self.doc.keys[sub] = here
            result[key] = self.build(value_node, sub)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        text, tag = node.value, node.tag
        if tag == "!secret":
            return SecretStr(text)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return text.lower() in ("yes", "true", "on", "y")
        if tag == _TAG + "int" and _INT.fullmatch(text):
            return int(text)
        if tag.startswith(_TAG) or tag == "!":
            return text
        self.errors.append(Diagnostic(
            "error", f"expected a plain value or !secret, found tag {tag}",
            _loc(self.doc.file, node.start_mark), code="yaml"))
        return text


# libyaml's composer keeps the same marks (line/column) and is ~10x faster than the pure
# Python one: a 100-host inventory took ~0.3 s to compose without it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, file: str) -> SourceDoc:
    """Parse one YAML document; syntax errors become a `MailstateError` at file:line:col."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = _loc(file, mark) if mark else Location(file)
        problem = exc.problem or exc.context or "invalid YAML"
        raise MailstateError(Diagnostic(
            "error", f"invalid YAML: {problem}", location,
            detail=exc.context or "", code="yaml")) from None
    except yaml.YAMLError as exc:
        raise MailstateError(Diagnostic(
            "error", f"invalid YAML: {exc}", Location(file), code="yaml")) from None
    builder = _Builder(file)
    if node is None:
        builder.doc.data = {}
        builder.doc.values[()] = Location(file, 1, 1)
        return builder.doc
    builder.doc.data = builder.build(node, ())
    if builder.errors:
        raise MailstateError(builder.errors)
    return builder.doc


def load_yaml(path: str | Path, what: str = "file") -> SourceDoc:
    """Read (size-capped, see `mailstate.inputs`) and parse a YAML file."""
    name = str(path)
    data = read_capped(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MailstateError(Diagnostic(
            "error", f"expected UTF-8 text, found byte {exc.object[exc.start]:#x}",
            Location(name), code="yaml")) from None
    return parse_yaml(text, name)

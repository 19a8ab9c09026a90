"""From state files on disk to a validated `MailState` with provenance.

`read_state_file` parses one file (positions kept, `vars:` split off, Dovecot keys
nested); `build_state` merges layers, substitutes variables, validates, and returns a
`ResolvedState` whose `sources` maps each dotted setting path to the file:line it came
from. Every problem is collected into one `MailstateError` (one diagnostic per problem).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.model.errors import to_diagnostics
from mailstate.model.layers import merge, normalize_dovecot, references, substitute
from mailstate.model.paths import dotted
from mailstate.model.state import MailState
from mailstate.model.yamlsource import Duplicate, SourceDoc, load_yaml


@dataclass(frozen=True)
class ResolvedState:
    """The merged, validated state of one host and where each setting was written."""

    state: MailState
    sources: dict[str, Location]
    files: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Location] = field(default_factory=dict)  # every node, for locate()

    def locate(self, path: str | tuple[str | int, ...]) -> Location | None:
        """Location of a dotted path, or of its nearest ancestor that has one."""
        from mailstate.model.paths import split_dotted

        parts = split_dotted(path) if isinstance(path, str) else path
        for depth in range(len(parts), 0, -1):
            key = dotted(parts[:depth])
            found = self.sources.get(key) or self.nodes.get(key)
            if found is not None:
                return found
        return Location(self.files[-1]) if self.files else None


@dataclass
class StateLayer:
    """One parsed state file (or an inventory override fragment) before merging."""

    doc: SourceDoc
    variables: dict[str, Any]

    @cached_property
    def references(self) -> frozenset[str]:
        """The variables its values use, found once: every host of a fleet asks, and
        merging never changes a layer's data."""
        return frozenset(references(self.doc.data))


def read_state_file(path: str | Path) -> StateLayer:
    return state_layer(load_yaml(path))


def state_layer(doc: SourceDoc) -> StateLayer:
    """Split `vars:` off a parsed document and nest its Dovecot keys."""
    errors: list[Diagnostic] = []
    if not isinstance(doc.data, dict):
        raise MailstateError(Diagnostic(
            "error", "expected a mapping with postfix:, dovecot:, roundcube:, vars:, "
            f"found {type(doc.data).__name__}", doc.locate(()), code="invalid-state"))
    variables = doc.data.pop("vars", None) or {}
    if not isinstance(variables, dict):
        errors.append(Diagnostic("error", "vars: expected a mapping of names to values",
                                 doc.locate(("vars",)), code="invalid-state"))
        variables = {}
    doc.values = {p: v for p, v in doc.values.items() if p[:1] != ("vars",)}
    doc.keys = {p: v for p, v in doc.keys.items() if p[:1] != ("vars",)}
    normalize_dovecot(doc, errors)
    if errors:
        raise MailstateError(errors)
    return StateLayer(doc, variables)


def _leaf_sources(doc: SourceDoc) -> dict[str, Location]:
    sources: dict[str, Location] = {}

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, (*path, key))
        elif path:
            sources[dotted(path)] = doc.locate(path)

    walk(doc.data, ())
    return sources


def build_state(layers: Sequence[StateLayer], overrides: Mapping[str, Any] | None = None,
                files: Sequence[str] = (), provenance: bool = True) -> ResolvedState:
    """Merge layers in order, substitute `{{ vars }}` (state vars < `overrides`), validate.

    `provenance=False` leaves `sources` and `nodes` empty: plan and apply need only the
    state, and indexing every setting's file:line cost ~0.5 ms a host."""
    if not layers:
        return ResolvedState(MailState(), {}, list(files))
    first = layers[0].doc
    merged = SourceDoc(first.file, first.data, dict(first.values), dict(first.keys),
                       list(first.duplicates))
    variables: dict[str, Any] = dict(layers[0].variables)
    for layer in layers[1:]:
        merged = merge(merged, layer.doc)
        variables.update(layer.variables)
    variables.update(overrides or {})
    errors = substitute(merged, variables)
    if errors:
        raise MailstateError(errors)
    try:
        state = MailState.model_validate(merged.data)
    except ValidationError as exc:
        raise MailstateError(to_diagnostics(exc, merged)) from None
    if not provenance:
        return ResolvedState(state, {}, list(files), list(merged.duplicates), variables)
    nodes = {dotted(p): loc for p, loc in merged.values.items() if p}
    return ResolvedState(state, _leaf_sources(merged), list(files), list(merged.duplicates),
                         variables, nodes)


def load_state(paths: Sequence[str | Path],
               variables: Mapping[str, Any] | None = None) -> ResolvedState:
    """Load state files (merged in order) without an inventory: `mailstate lint FILE`."""
    layers = [read_state_file(p) for p in paths]
    return build_state(layers, variables, [str(p) for p in paths])

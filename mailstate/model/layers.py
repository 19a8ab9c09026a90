"""Layering of state documents: dovecot key normalisation, deep merge, `{{ var }}` substitution.

All three work on `SourceDoc`s so every value keeps the file:line it came from through
the merge: that is what `mailstate show` prints as provenance and what lint and
validation errors point at. Merge rule: mappings merge key by key, anything else
(scalars, lists, null) in a later layer replaces the earlier value.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from mailstate.diagnostics import Diagnostic, Location
from mailstate.mapmerge import merge_plain
from mailstate.model.dovecot import split_flat_key
from mailstate.model.paths import dotted
from mailstate.model.yamlsource import DocPath, Duplicate, SourceDoc

DOVECOT_SETTINGS: DocPath = ("dovecot", "settings")


def normalize_dovecot(doc: SourceDoc, errors: list[Diagnostic],
                      root: DocPath = DOVECOT_SETTINGS) -> None:
    """Rewrite flat `a/b/c` keys under `root` into nested sections, moving positions."""
    node = _get(doc.data, root)
    if not isinstance(node, dict):
        return
    values = {p: loc for p, loc in doc.values.items() if p[: len(root)] != root or p == root}
    keys = {p: loc for p, loc in doc.keys.items() if p[: len(root)] != root or p == root}
    nested = _nest(doc, node, root, root, values, keys, errors)
    _set(doc.data, root, nested)
    doc.values, doc.keys = values, keys


def _nest(doc: SourceDoc, node: dict[str, Any], old: DocPath, new: DocPath,
          values: dict[DocPath, Location], keys: dict[DocPath, Location],
          errors: list[Diagnostic]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        key_loc = doc.keys.get((*old, key), doc.locate((*old, key)))
        try:
            parts = split_flat_key(key, isinstance(value, dict))
        except ValueError as exc:
            errors.append(Diagnostic(
                "error", f"{dotted((*old, key))}: expected {exc}, found {key!r}", key_loc,
                code="invalid-state"))
            continue
        target, path = result, new
        for part in parts[:-1]:
            path = (*path, part)
            target = target.setdefault(part, {})
            keys.setdefault(path, key_loc)
            values.setdefault(path, key_loc)
        path = (*path, parts[-1])
        keys[path] = key_loc
        values[path] = doc.values.get((*old, key), key_loc)
        if isinstance(value, dict):
            inner = _nest(doc, value, (*old, key), path, values, keys, errors)
            existing = target.get(parts[-1])
            target[parts[-1]] = merge_plain(existing, inner)
        else:
            target[parts[-1]] = value
    return result


def _get(data: Any, path: DocPath) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _set(data: Any, path: DocPath, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def merge(base: SourceDoc, over: SourceDoc) -> SourceDoc:
    """Deep-merge `over` onto `base` (later wins, lists replace), positions included."""
    replaced: list[DocPath] = []
    data = _merge(base.data, over.data, (), replaced)

    def stale(path: DocPath) -> bool:
        return any(path[: len(r)] == r for r in replaced)

    values = {p: loc for p, loc in base.values.items() if not stale(p)}
    keys = {p: loc for p, loc in base.keys.items() if not stale(p)}
    values.update(over.values)
    keys.update(over.keys)
    duplicates: list[Duplicate] = [*base.duplicates, *over.duplicates]
    return SourceDoc(over.file, data, values, keys, duplicates)


def _merge(base: Any, over: Any, path: DocPath, replaced: list[DocPath]) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value, (*path, key), replaced)
        return merged
    replaced.append(path)
    return over


VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")  # {{ name }}


def references(value: Any) -> set[str]:
    """Names inside `{{ name }}` anywhere in a value (the pattern `substitute` uses)."""
    if isinstance(value, str):
        return set(VARIABLE.findall(value)) if "{{" in value else set()
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


def substitute(doc: SourceDoc, variables: dict[str, Any]) -> list[Diagnostic]:
    """Replace `{{ name }}` in every string value in place; returns undefined-variable errors."""
    errors: list[Diagnostic] = []
    doc.data = _subst(doc, doc.data, (), resolve_variables(variables), errors)
    return errors


def resolve_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """Expand `{{ name }}` inside variable values themselves (as Ansible does), a few
    levels deep; a reference that cannot be resolved is left for `substitute` to report."""
    resolved = dict(variables)
    for _ in range(8):
        changed = False
        for name, value in resolved.items():
            if isinstance(value, str) and "{{" in value:
                refs = VARIABLE.findall(value)
                if all(r in resolved and r != name for r in refs):
                    whole = VARIABLE.fullmatch(value.strip())
                    new = (resolved[whole.group(1)] if whole else
                           VARIABLE.sub(lambda m: _as_text(resolved[m.group(1)]), value))
                    changed = changed or new != value
                    resolved[name] = new
        if not changed:
            break
    return resolved


def _subst(doc: SourceDoc, value: Any, path: DocPath, variables: dict[str, Any],
           errors: list[Diagnostic]) -> Any:
    if isinstance(value, dict):
        return {k: _subst(doc, v, (*path, k), variables, errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_subst(doc, v, (*path, i), variables, errors) for i, v in enumerate(value)]
    if not isinstance(value, str) or "{{" not in value:
        return value
    names = VARIABLE.findall(value)
    missing = [n for n in names if n not in variables]
    for name in missing:
        errors.append(Diagnostic(
            "error", f"{dotted(path)}: expected a defined variable, found {{{{ {name} }}}}",
            doc.locate(path), fix=f"define '{name}' under vars: in a state file or as an "
            "inventory host/group variable", code="undefined-variable"))
    if missing:
        return value
    whole = VARIABLE.fullmatch(value.strip())
    if whole:
        return variables[whole.group(1)]
    secret = any(isinstance(variables[n], SecretStr) for n in names)
    text = VARIABLE.sub(lambda m: _as_text(variables[m.group(1)]), value)
    return SecretStr(text) if secret else text


def _as_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)

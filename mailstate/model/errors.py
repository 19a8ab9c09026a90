"""Pydantic validation errors -> one `Diagnostic` per problem at `file:line:column`.

Each diagnostic names the path inside the document (`postfix.main.smtpd_tls_security_level`),
what was expected and what was found. Unknown keys get a "did you mean" hint from the
names valid at that place (for `postfix.main`: every parameter of a supported Postfix). Validators
that check a whole subtree (Dovecot settings, master options) report several problems at
once through `model.problems.raise_problems`, whose sub-paths are resolved here.

This module only reads errors; the models raise them through `model.problems`, so the
models never import this module (no import cycle).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from mailstate.diagnostics import Diagnostic
from mailstate.model.paths import dotted
from mailstate.model.postfix import NOT_PARAMETERS
from mailstate.model.postfix_params import KINDS
from mailstate.model.state import MailState
from mailstate.model.yamlsource import DocPath, SourceDoc

_EXPECTED = {
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "string_type": "a string", "int_type": "an integer",
    "int_parsing": "an integer", "bool_type": "yes or no", "bool_parsing": "yes or no",
    "missing": "this key to be present", "frozen_instance": "no change",
}


def describe(value: Any) -> str:
    """What was found, for a message: never a secret, never a whole subtree."""
    if isinstance(value, SecretStr):
        return "a secret value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
    return str(value)


def _doc_path(data: Any, loc: Sequence[str | int]) -> tuple[DocPath, bool]:
    """The part of a pydantic `loc` that exists in the document; True if it ends in a key."""
    path: list[str | int] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            break
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
            path.append(part)
    return tuple(path), is_key


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class whose field names are valid at `loc` (for did-you-mean)."""
    current: Any = MailState
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                by_alias = {f.alias: f for f in current.model_fields.values() if f.alias}
                field = by_alias.get(str(part))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif typing.get_origin(current) is dict:
            current = _unwrap(typing.get_args(current)[1])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _unknown_key(doc: SourceDoc, loc: Sequence[str | int], path: DocPath) -> Diagnostic:
    name = str(path[-1]) if path else str(loc[-1])
    model = _model_at(loc[:-1])
    known = [f.alias or n for n, f in model.model_fields.items()] if model else []
    if tuple(loc[:-1]) == ("postfix", "main"):
        known = list(KINDS)  # validated with a model of the used names only
    where = dotted(path[:-1]) or "the top level"
    fix = ""
    if tuple(loc[:2]) == ("postfix", "main") and name in NOT_PARAMETERS:
        fix = NOT_PARAMETERS[name]
    else:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.75)
        if close:
            fix = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif tuple(loc[:2]) == ("postfix", "main"):
            fix = ("not a parameter of Postfix 3.7 or 3.10; if your Postfix has it, put it under "
                   "postfix.main_extra")
        elif len(known) <= 12:
            fix = "valid keys here: " + ", ".join(known)
    return Diagnostic(
        "error", f"{dotted(path)}: unknown key {name!r} in {where}",
        doc.locate(path, key=True), fix=fix, code="invalid-state",
        extra={"path": dotted(path), "expected": "a known key", "found": repr(name)},
    )


def _diagnostic(doc: SourceDoc, path: DocPath, expected: str, found: Any,
                is_key: bool, fix: str = "") -> Diagnostic:
    shown = dotted(path) or "(document)"
    what = "key" if is_key else "value"
    return Diagnostic(
        "error", f"{shown}: expected {expected}, found {describe(found)}",
        doc.locate(path, key=is_key), detail=f"invalid {what} at {shown}", fix=fix,
        code="invalid-state",
        extra={"path": shown, "expected": expected, "found": describe(found)},
    )


def to_diagnostics(exc: ValidationError, doc: SourceDoc,
                   prefix: DocPath = ()) -> list[Diagnostic]:
    """Map every error of a validation of `doc.data[prefix]` to a diagnostic."""
    result: list[Diagnostic] = []
    seen: set[tuple[DocPath, str]] = set()
    for err in exc.errors(include_url=False):
        loc = (*prefix, *err["loc"])
        path, is_key = _doc_path(doc.data, loc)
        ctx = err.get("ctx") or {}
        if err["type"] == "extra_forbidden":
            result.append(_unknown_key(doc, loc, path))
            continue
        if err["type"] == "mailstate_multi":
            for problem in ctx["problems"]:
                sub, _ = _doc_path(doc.data, (*loc, *problem["path"]))
                result.append(_diagnostic(doc, sub, problem["expected"], problem["input"],
                                          bool(problem.get("key")), problem.get("fix", "")))
            continue
        if err["type"] == "missing":
            name = str(err["loc"][-1])
            result.append(_diagnostic(doc, path, f"key {name!r}", "nothing", False))
            continue
        expected = str(ctx.get("expected") or _EXPECTED.get(err["type"]) or err["msg"])
        if err["type"] in ("enum", "literal_error") and "expected" in ctx:
            expected = "one of " + str(ctx["expected"])
        if (path, expected) in seen:
            continue
        seen.add((path, expected))
        result.append(_diagnostic(doc, path, expected, err.get("input"), is_key))
    return result

"""A resolved state as rows of (dotted path, printable value, source location).

This is what `mailstate show` prints, human or JSON: every setting the state manages,
rendered the way the daemon will see it, secrets masked, with the file:line that set it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mailstate.diagnostics import Location
from mailstate.model.loader import ResolvedState
from mailstate.model.masking import mask_text, masked
from mailstate.model.paths import dotted
from mailstate.model.state import MailState
from mailstate.model.values import render

REMOVE = "(remove)"


@dataclass(frozen=True)
class Row:
    path: str
    value: str
    source: Location | None


def _postfix(state: MailState) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    postfix = state.postfix
    if postfix is None:
        return
    section = {name: "main" for name in postfix.main_values()}
    section.update({name: "main_extra" for name in postfix.main_extra})
    for name, value in postfix.main_values().items():
        raw = postfix.main_extra.get(name) if section[name] == "main_extra" else value
        yield ("postfix", section[name], name), raw
    for key, service in postfix.master.items():
        base = ("postfix", "master", key)
        if service.absent:
            yield (*base, "absent"), True
            continue
        for field, value in service.fields().items():
            yield (*base, field), value
        for option, setting in service.options.items():
            yield (*base, "options", option), setting
    for path, table in postfix.maps.items():
        base = ("postfix", "maps", path)
        yield (*base, "type"), table.type
        kind = "entries" if table.entries is not None else "content"
        values: dict[str, Any] = {**(table.entries or table.content or {})}
        for key, value in values.items():
            yield (*base, kind, key), value


def _items(state: MailState) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    for index, allowed in enumerate(state.allow_paths):  # files outside their kind's dir
        yield ("allow_paths", index), allowed
    yield from _postfix(state)
    if state.dovecot is not None:
        from mailstate.model.dovecot import iter_settings

        for path, value in iter_settings(state.dovecot.settings):
            yield ("dovecot", "settings", *path), value
    if state.roundcube is not None:
        yield ("roundcube", "path"), state.roundcube.path
        for key, value in state.roundcube.config.items():
            yield ("roundcube", "config", key), value


def _printable(value: Any, secrets: set[str]) -> str:
    if value is None:
        return REMOVE
    if isinstance(value, dict | list):
        return json.dumps(masked(value, secrets), sort_keys=True)
    shown = masked(value, secrets)
    return mask_text(str(render(shown)), secrets)


def state_rows(resolved: ResolvedState) -> list[Row]:
    """Every managed setting with its masked value and where it was written."""
    secrets = resolved.state.secret_values()
    return [Row(dotted(path), _printable(value, secrets), resolved.locate(path))
            for path, value in _items(resolved.state)]

"""`MailState`: the whole desired state of one mail host, and its secret handling.

Secrets stay wrapped in `SecretStr` everywhere (dumps print `**********`); the engine
calls `reveal()` only to render file contents, and masks with `secret_values()` anything
it shows (diffs, logs, JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from mailstate.model.dovecot import DovecotState
from mailstate.model.postfix import PostfixState
from mailstate.model.roundcube import RoundcubeState


class MailState(BaseModel):
    """Desired state of Postfix, Dovecot and Roundcube on one host; a part left out
    (None) is not managed at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    postfix: PostfixState | None = Field(None, description="/etc/postfix")
    dovecot: DovecotState | None = Field(None, description="/etc/dovecot")
    roundcube: RoundcubeState | None = Field(None, description="Roundcube config.inc.php")

    def secret_values(self) -> set[str]:
        """Every secret string in the state (non-empty), to mask in any output."""
        return set(_derived(self)[1])

    def reveal(self) -> MailState:
        """A copy with every `SecretStr` unwrapped to `str`: only for writing files."""
        return _derived(self)[0]


# Hosts of a fleet share one state object (inventory.shared_state), and plan/apply ask it
# for both of these per host: walking the models cost ~0.5 ms each time. The object is
# frozen, so what is derived from it is cached by identity (the entry keeps it alive, so
# the id cannot be reused); a handful of states per run, bounded anyway.
_DERIVED: dict[int, tuple[MailState, MailState, frozenset[str]]] = {}
_DERIVED_MAX = 64


def _derived(state: MailState) -> tuple[MailState, frozenset[str]]:
    entry = _DERIVED.get(id(state))
    if entry is None or entry[0] is not state:
        secrets = frozenset(s.get_secret_value() for s in _secrets(state)
                            if s.get_secret_value())
        entry = (state, _unwrap(state), secrets)
        if len(_DERIVED) >= _DERIVED_MAX:
            _DERIVED.clear()
        _DERIVED[id(state)] = entry
    return entry[1], entry[2]


def _secrets(value: Any) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets(item)


def _unwrap(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        update = {name: _unwrap(getattr(value, name)) for name in type(value).model_fields}
        fields_set = set(value.model_fields_set)
        copy = value.model_copy(update=update)
        object.__setattr__(copy, "__pydantic_fields_set__", fields_set)
        return copy
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value

"""`MailState`: the whole desired state of one mail host, and its secret handling.

Secrets stay wrapped in `SecretStr` everywhere (dumps print `**********`); the engine
calls `reveal()` only to render file contents, and masks with `secret_values()` anything
it shows (diffs, logs, JSON). A secret is secret by declaration: `!secret`, a `secret:
true` map, a Roundcube credential key at any depth. `file_secrets(path, service)` says,
for one file, which names hold such values, so a diff masks them on both sides even
when the old value is not in the state.

Which files a state may write is checked here too (see `mailstate.filepaths`): maps under
/etc/postfix, Roundcube's config under /etc/roundcube, anything else only when listed
exactly under `allow_paths`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mailstate.filepaths import (
    ALLOW_FIX,
    POSTFIX_DIR,
    ROUNDCUBE_DIR,
    is_under,
    owner_problem,
    path_problem,
)
from mailstate.formats.masks import FileSecrets
from mailstate.model.dovecot import DovecotState, iter_settings
from mailstate.model.postfix import PostfixState
from mailstate.model.problems import Problem, fail, raise_problems
from mailstate.model.roundcube import RoundcubeState


class MailState(BaseModel):
    """Desired state of Postfix, Dovecot and Roundcube on one host; a part left out
    (None) is not managed at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    postfix: PostfixState | None = Field(None, description="/etc/postfix")
    dovecot: DovecotState | None = Field(None, description="/etc/dovecot")
    roundcube: RoundcubeState | None = Field(None, description="Roundcube config.inc.php")
    allow_paths: list[str] = Field(
        default_factory=list,
        description="files outside their kind's directory (maps: /etc/postfix, Roundcube: "
                    "/etc/roundcube) that this state may write; exact paths, reviewed")

    @field_validator("allow_paths")
    @classmethod
    def _plain_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            problem = path_problem(path)
            if problem:
                fail(problem)
        return paths

    @model_validator(mode="after")
    def _owned_paths(self) -> MailState:
        """Each file a state writes is its kind's, or listed under allow_paths."""
        allowed = set(self.allow_paths)
        problems: list[Problem] = []
        for path in self.postfix.maps if self.postfix else ():
            problem = owner_problem(path, POSTFIX_DIR, "a Postfix lookup table", allowed)
            if problem:
                problems.append(Problem(("postfix", "maps", path), problem, path,
                                        at_key=True, fix=ALLOW_FIX))
        if self.roundcube is not None:
            problem = owner_problem(self.roundcube.path, ROUNDCUBE_DIR,
                                    "Roundcube's config.inc.php", allowed)
            if problem:
                problems.append(Problem(("roundcube", "path"), problem, self.roundcube.path,
                                        fix=ALLOW_FIX))
        if problems:
            raise_problems(problems)
        return self

    def outside_paths(self) -> list[str]:
        """The files this state writes outside their kind's directory (via allow_paths)."""
        maps = list(self.postfix.maps) if self.postfix else []
        paths = [p for p in maps if not is_under(p, POSTFIX_DIR)]
        if self.roundcube is not None and not is_under(self.roundcube.path, ROUNDCUBE_DIR):
            paths.append(self.roundcube.path)
        return paths

    def secret_values(self) -> set[str]:
        """Every secret string in the state (non-empty), to mask in any output."""
        return set(_derived(self)[1])

    def reveal(self) -> MailState:
        """A copy with every `SecretStr` unwrapped to `str`: only for writing files."""
        return _derived(self)[0]

    def file_secrets(self, path: str, service: str) -> FileSecrets:
        """Which values of the file `path` are secret (a plan's `service` of the file:
        postfix, map, dovecot or roundcube)."""
        if service == "map":
            spec = self.postfix.maps.get(path) if self.postfix else None
            if spec is None:
                return FileSecrets("map")
            values = {**(spec.entries or {}), **(spec.content or {})}
            return FileSecrets("map", frozenset(k for k, v in values.items()
                                                if isinstance(v, SecretStr)), spec.secret)
        if service == "postfix":
            kind = "master.cf" if path.endswith("/master.cf") else "main.cf"
            return FileSecrets(kind, _declared(self)[kind])
        if service in ("dovecot", "roundcube"):
            return FileSecrets(service, _declared(self)[service])
        return FileSecrets("other")


# Hosts of a fleet share one state object (inventory.shared_state), and plan/apply ask it
# for both of these per host: walking the models cost ~0.5 ms each time. The object is
# frozen, so what is derived from it is cached by identity (the entry keeps it alive, so
# the id cannot be reused); a handful of states per run, bounded anyway.
_DERIVED: dict[int, tuple[MailState, MailState, frozenset[str],
                          dict[str, frozenset[str]]]] = {}
_DERIVED_MAX = 64


def _derived(state: MailState) -> tuple[MailState, frozenset[str]]:
    entry = _entry(state)
    return entry[1], entry[2]


def _declared(state: MailState) -> dict[str, frozenset[str]]:
    return _entry(state)[3]


def _entry(state: MailState) -> tuple[MailState, MailState, frozenset[str],
                                       dict[str, frozenset[str]]]:
    entry = _DERIVED.get(id(state))
    if entry is None or entry[0] is not state:
        secrets = frozenset(s.get_secret_value() for s in _secrets(state)
                            if s.get_secret_value())
        entry = (state, _unwrap(state), secrets, _secret_names(state))
        if len(_DERIVED) >= _DERIVED_MAX:
            _DERIVED.clear()
        _DERIVED[id(state)] = entry
    return entry


def _secret_names(state: MailState) -> dict[str, frozenset[str]]:
    """Per file kind, the names whose values the state declares secret."""
    main: set[str] = set()
    master: set[str] = set()
    if state.postfix is not None:
        main = {k for k, v in state.postfix.main_extra.items() if isinstance(v, SecretStr)}
        master = {name for service in state.postfix.master.values()
                  for name, value in service.options.items() if isinstance(value, SecretStr)}
    dovecot = {path[-1] for path, value in iter_settings(state.dovecot.settings)
               if isinstance(value, SecretStr)} if state.dovecot else set()
    roundcube: set[str] = set()
    if state.roundcube is not None:
        for key, value in state.roundcube.config.items():
            _nearest_secret_keys(key, value, roundcube)
    return {"main.cf": frozenset(main), "master.cf": frozenset(master),
            "dovecot": frozenset(dovecot), "roundcube": frozenset(roundcube)}


def _nearest_secret_keys(key: str, value: Any, found: set[str]) -> None:
    """Keys (at any depth) whose value holds a `SecretStr`."""
    if isinstance(value, SecretStr):
        found.add(key)
    elif isinstance(value, dict):
        for sub, item in value.items():
            _nearest_secret_keys(str(sub), item, found)
    elif isinstance(value, list):
        for item in value:
            _nearest_secret_keys(key, item, found)


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

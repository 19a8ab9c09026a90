"""Desired state of Dovecot: settings addressed by section path.

A setting lives at a path of sections and a name, the same tuple `formats.dovecot`
edits: `("service imap-login", "inet_listener imap", "port")`. State files may write it
nested or flat:

    settings:
      service imap-login:
        inet_listener imap: {port: 0}
      "service pop3-login/inet_listener pop3/port": 0

Flat-key rule: a key is split at each `/`, except inside a section name that begins
with `/` (an absolute path, e.g. `unix_listener /var/spool/postfix/private/auth`): such a
name runs to the end of the key when the value is a mapping (a section), or up to the last
`/` when the value is a setting. So `service auth/unix_listener /var/spool/postfix/private/
auth/mode: "0660"` works; the nested form always works. Everything is stored nested.

Values are typed where Dovecot's meaning is known (ports, addresses, ssl, protocols, ...);
other settings take any scalar, since Dovecot and its plugins have hundreds of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from mailstate.model.values import (
    choice,
    fail,
    render,
    to_addresses,
    to_bool,
    to_mode,
    to_port,
    to_words,
)

SettingPath = tuple[str, ...]

_SECTION = re.compile(r"[A-Za-z0-9_-]+( \S.*)?")
_SETTING = re.compile(r"[A-Za-z0-9_]+")

SSL_PROTOCOLS = ("ANY", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _int(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    fail("a non-negative integer")


def _top_ssl(value: Any) -> str:
    if value == "required":
        return str(value)
    try:
        return "yes" if to_bool(value) else "no"
    except PydanticCustomError:
        fail("yes, no or required")


def _yes_no(value: Any) -> str:
    return "yes" if to_bool(value) else "no"


# setting name -> validator returning the canonical value
TYPED: dict[str, Callable[[Any], Any]] = {
    "port": to_port,
    "address": to_addresses,
    "listen": to_addresses,
    "ssl_min_protocol": choice(SSL_PROTOCOLS),
    "protocols": to_words,
    "auth_mechanisms": to_words,
    "mode": to_mode,
    "disable_plaintext_auth": _yes_no,
    "auth_allow_cleartext": _yes_no,
    "ssl_prefer_server_ciphers": _yes_no,
    "haproxy": _yes_no,
    "reuse_port": _yes_no,
    "verbose_ssl": _yes_no,
    "auth_verbose": _yes_no,
    "auth_debug": _yes_no,
    "mail_debug": _yes_no,
    "process_limit": _int,
    "client_limit": _int,
    "service_count": _int,
    "process_min_avail": _int,
    "mail_max_userip_connections": _int,
}


def split_flat_key(key: str, is_section: bool) -> list[str]:
    """Split a flat key by the rule in the module docstring; raises ValueError if malformed."""
    parts: list[str] = []
    rest = key.strip()
    while rest:
        slash = rest.find("/")
        if slash < 0:
            parts.append(rest)
            break
        if slash > 0 and rest[slash - 1] == " ":  # a section name that is a path
            if is_section:
                parts.append(rest)
                break
            last = rest.rfind("/")
            if last == slash:
                raise ValueError("a setting name after the path section, e.g. .../auth/mode")
            parts.extend([rest[:last], rest[last + 1:]])
            break
        parts.append(rest[:slash])
        rest = rest[slash + 1:]
    parts = [" ".join(p.split()) for p in parts]
    if not parts or any(not p for p in parts) or rest.endswith("/"):
        raise ValueError("section names and a setting name separated by '/'")
    for section in parts[:-1] if not is_section else parts:
        if not _SECTION.fullmatch(section):
            raise ValueError(f"a section 'type' or 'type name', not {section!r}")
    if not is_section and not _SETTING.fullmatch(parts[-1]):
        raise ValueError(f"a setting name of letters, digits and '_', not {parts[-1]!r}")
    return parts


def nest_settings(settings: Any) -> dict[str, Any]:
    """Flat and nested keys -> one nested dict (idempotent on nested input)."""
    if not isinstance(settings, dict):
        return settings  # type: ignore[no-any-return]  # pydantic reports the type
    result: dict[str, Any] = {}
    for key, value in settings.items():
        is_section = isinstance(value, dict)
        try:
            parts = split_flat_key(str(key), is_section)
        except ValueError as exc:
            raise PydanticCustomError("mailstate", "expected {expected}",
                                      {"expected": str(exc)}) from None
        target = result
        for section in parts[:-1]:
            target = target.setdefault(section, {})
        if is_section:
            merged = target.setdefault(parts[-1], {})
            merged.update(nest_settings(value))
        else:
            target[parts[-1]] = value
    return result


def _check(settings: dict[str, Any], path: SettingPath,
           problems: list[tuple[SettingPath, str, Any]]) -> None:
    for name, value in list(settings.items()):
        here = (*path, name)
        if isinstance(value, dict):
            _check(value, here, problems)
            continue
        if value is None:
            continue
        if isinstance(value, list) and name not in TYPED:
            value = " ".join(str(v) for v in value)
        if not isinstance(value, str | int | bool | SecretStr | list):
            problems.append((here, "a scalar value or a section mapping", value))
            continue
        check = _top_ssl if name == "ssl" and not path else TYPED.get(name)
        if name == "ssl" and path:
            check = _yes_no
        if check is None:
            settings[name] = value if isinstance(value, SecretStr) else render(value)
            continue
        try:
            settings[name] = check(value)
        except PydanticCustomError as exc:
            problems.append((here, str((exc.context or {}).get("expected", exc)), value))


class DovecotState(BaseModel):
    """Dovecot settings by section path; `null` removes a setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="nested sections ({'service imap-login': {'inet_listener imap': "
                    "{'port': 0}}}) or flat 'section/section/setting' keys",
    )

    @field_validator("settings", mode="before")
    @classmethod
    def _nest(cls, value: Any) -> Any:
        return nest_settings(value)

    @field_validator("settings")
    @classmethod
    def _typed(cls, settings: dict[str, Any]) -> dict[str, Any]:
        problems: list[tuple[SettingPath, str, Any]] = []
        _check(settings, (), problems)
        if problems:
            from mailstate.model.errors import raise_problems

            raise_problems(problems)
        return settings

    def settings_flat(self) -> dict[SettingPath, str | None]:
        """Every setting as `(section, ..., name) -> value` as doveconf writes it."""
        return {path: render(value) for path, value in iter_settings(self.settings)}

    def get(self, *path: str) -> Any:
        """The typed value at a path, or None."""
        node: Any = self.settings
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def iter_settings(settings: dict[str, Any], path: SettingPath = ()
                  ) -> Iterator[tuple[SettingPath, Any]]:
    for name, value in settings.items():
        if isinstance(value, dict):
            yield from iter_settings(value, (*path, name))
        else:
            yield (*path, name), value

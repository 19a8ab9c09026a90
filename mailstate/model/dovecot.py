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
Every name and value must be one Dovecot can read back as written (`formats.dovecot`:
no control characters, no `"` or `\\` in a section name; blanks around a value are
dropped, as Dovecot drops them).

A value that starts with `<` makes Dovecot read the file it names (`ssl_cert =
</etc/ssl/certs/mail.pem`). That is allowed only for the settings that hold a certificate
or a key (`FILE_SETTINGS`), with a plain absolute path after the `<`; any other setting
refuses it, because `login_greeting: "</root/secret"` would put that file in the IMAP
banner. There is no way to write a literal leading `<` elsewhere: no stock setting needs
one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from mailstate.filepaths import path_problem
from mailstate.formats import dovecot as grammar
from mailstate.model.problems import Problem, raise_problems
from mailstate.model.values import (
    checked_line,
    choice,
    fail,
    render,
    reveal_text,
    to_addresses,
    to_bool,
    to_mode,
    to_port,
    to_words,
)

SettingPath = tuple[str, ...]

# Settings Dovecot 2.3 reads from a file when the value is `<path` (certificates, keys).
FILE_SETTINGS = frozenset({
    "ssl_cert", "ssl_key", "ssl_ca", "ssl_dh", "ssl_alt_cert", "ssl_alt_key",
    "ssl_client_cert", "ssl_client_key", "mail_crypt_global_private_key",
    "mail_crypt_global_public_key",
})

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
    rest = key.strip(" ")  # a tab or newline around a name is refused, not dropped
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
    parts = [re.sub(" +", " ", p).strip(" ") for p in parts]  # tabs, newlines: refused
    if not parts or any(not p for p in parts) or rest.endswith("/"):
        raise ValueError("section names and a setting name separated by '/'")
    for section in parts[:-1] if not is_section else parts:
        problem = section_problem(section)
        if problem:
            raise ValueError(problem)
    if not is_section and not grammar.SETTING_NAME.fullmatch(parts[-1]):
        raise ValueError(f"a setting name of letters, digits and '_', not {parts[-1]!r}")
    return parts


def section_problem(section: str) -> str | None:
    """Why `section` is not a section key `type` or `type name` Dovecot reads back."""
    kind, _, name = section.partition(" ")
    if not grammar.SECTION_TYPE.fullmatch(kind):
        return f"a section 'type' or 'type name' (type: letters, digits, '_', '-'), not {kind!r}"
    problem = grammar.section_name_problem(name) if name else None
    return f"{problem}, in section {kind!r}" if problem else None


def _file_reference(name: str, text: str) -> str:
    """`text` as written, or `<path` normalised; fails unless `name` may read a file."""
    if not text.startswith(grammar.FILE_PREFIX):
        return text
    if name not in FILE_SETTINGS:
        fail(f"a value that does not start with '<': Dovecot would read the file it names "
             f"into {name}; only " + ", ".join(sorted(FILE_SETTINGS)) + " may read a file")
    path = text[1:].strip(" \t")
    problem = path_problem(path)
    if problem:
        fail(f"'<' and {problem}")
    return grammar.FILE_PREFIX + path


def _free_text(name: str, value: Any) -> str | SecretStr:
    """An untyped setting: one line Dovecot reads back as written; `<` only for files."""
    text = value if isinstance(value, SecretStr) else str(render(value))
    line = checked_line(text, grammar.value_problem)
    plain = _file_reference(name, reveal_text(line))
    return SecretStr(plain) if isinstance(line, SecretStr) else plain


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


def _check(settings: dict[str, Any], path: SettingPath, problems: list[Problem]) -> None:
    for name, value in list(settings.items()):
        here = (*path, name)
        if isinstance(value, dict):
            _check(value, here, problems)
            continue
        if value is None:
            continue
        if isinstance(value, list) and name not in TYPED:
            if any(isinstance(v, SecretStr) for v in value):
                value = SecretStr(" ".join(str(render(v)) for v in value))
            else:
                value = " ".join(str(render(v)) for v in value)
        if not isinstance(value, str | int | bool | SecretStr | list):
            problems.append(Problem(here, "a scalar value or a section mapping", value))
            continue
        check = _top_ssl if name == "ssl" and not path else TYPED.get(name)
        if name == "ssl" and path:
            check = _yes_no
        try:
            settings[name] = check(value) if check else _free_text(name, value)
        except PydanticCustomError as exc:
            problems.append(Problem(here, str((exc.context or {}).get("expected", exc)),
                                    value))


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
        problems: list[Problem] = []
        _check(settings, (), problems)
        if problems:
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

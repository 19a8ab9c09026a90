"""Values an inventory can hold besides plain data: secrets, vaulted text, unsafe text.

Kept free of pydantic on purpose: parsing an inventory must stay cheap (the model is
imported only when a state is built, and `to_state_value` converts there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailstate.diagnostics import Location

MASK = "***"


class Secret:
    """A secret string: `!secret`, a value from a vaulted file, or (subclass) `!vault`.

    Prints as `***` (str, repr, f-strings) so no log, error or view can show it by
    accident; `reveal()` is the one way to the text.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"{type(self).__name__}('***')"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.reveal() == self.reveal()

    def __hash__(self) -> int:
        return hash(self.reveal())


class Vaulted(Secret):
    """An inline `!vault` value: decrypted on first use (a host whose states never read
    it needs no vault password), then remembered."""

    __slots__ = ("_decrypt", "ciphertext", "where")

    def __init__(self, ciphertext: str, decrypt: Callable[[str, str], str], where: str) -> None:
        super().__init__("")
        self.ciphertext = ciphertext
        self.where = where
        self._decrypt: Callable[[str, str], str] | None = decrypt

    def reveal(self) -> str:
        if self._decrypt is not None:
            self._text = self._decrypt(self.ciphertext, self.where)
            self._decrypt = None
        return self._text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vaulted) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class Unsafe(str):
    """`!unsafe` text: never rendered as a template (Ansible's meaning)."""

    __slots__ = ()


@dataclass(frozen=True)
class VarSource:
    """Where a variable was set: file and position, and for YAML its path in the
    document (so a state fragment such as `mailstate_overrides` keeps positions)."""

    file: str
    line: int | None = None
    column: int | None = None
    yaml_path: tuple[Any, ...] | None = None
    vaulted_file: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def location(self) -> Location:
        return Location(self.file, self.line, self.column)


def reveal_all(value: Any) -> Any:
    """Plain data with every Secret revealed (for comparing with Ansible's output)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_all(v) for v in value]
    return value


def has_secret(value: Any) -> bool:
    """Whether a value holds a vaulted or other secret anywhere inside it."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secret(v) for v in value)
    return False


def masked(value: Any) -> Any:
    """JSON-able data with secrets as `***` and inline vault values in Ansible's
    `{"__ansible_vault": ciphertext}` shape (the ciphertext reveals nothing)."""
    if isinstance(value, Vaulted):
        return {"__ansible_vault": value.ciphertext}
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)

"""Making state values safe to print: secrets become `***`, wherever they appear.

Used by every view of a state (`show`, `lint`, JSON): a `SecretStr` renders masked, and
any text that merely contains a secret value (e.g. substituted into a longer string)
is masked too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any

from pydantic import SecretStr

MASK = "***"


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret replaced (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def masked(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Plain JSON-able data with secrets masked (SecretStr, enums, nested containers)."""
    secrets = list(secrets)
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, secrets) for v in value]
    if isinstance(value, str):
        return mask_text(value, secrets)
    return value

"""Desired state of Roundcube: the `$config` keys of config.inc.php.

Values are anything `formats.roundcube.php_literal` can write (strings, numbers,
booleans, null, lists, mappings). Keys that hold credentials (`des_key`, `*_pass`,
`*password`, `*secret`, ...) become `SecretStr` so they never reach output.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from mailstate.model.values import fail

SECRET_KEY = re.compile(r"(des_key|pass|passwd|password|_pw|secret|token|api_key)$", re.I)
# Roundcube placeholders (%p = the user's own password) are not secrets themselves.
PLACEHOLDER = re.compile(r"%[a-zA-Z]")

DEFAULT_PATH = "/etc/roundcube/config.inc.php"


def _php_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _php_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_php_value(key, v) for v in value]
    if isinstance(value, str) and SECRET_KEY.search(key) and not PLACEHOLDER.fullmatch(value):
        return SecretStr(value)
    if value is None or isinstance(value, str | int | float | bool | SecretStr):
        return value
    fail("a string, number, yes/no, null, list or mapping")


class RoundcubeState(BaseModel):
    """Roundcube's config.inc.php: its path and the `$config` keys to set (null removes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(DEFAULT_PATH, description="config.inc.php on the host")
    config: dict[str, Any] = Field(default_factory=dict, description="$config keys")

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            fail("an absolute path such as " + DEFAULT_PATH)
        return path

    @field_validator("config")
    @classmethod
    def _values(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {key: _php_value(key, value) for key, value in config.items()}

"""Desired state of Roundcube: the `$config` keys of config.inc.php.

Values are anything `formats.roundcube.php_literal` writes and PHP reads back exactly
(strings, integers, booleans, null, lists, mappings; see `literal_problem`). Keys are
Roundcube's own names (letters, digits, `_ . -`). Keys that hold credentials (`des_key`,
`*_pass`, `*password`, `*secret`, `*token`, ...) at any depth, and everything below such
a key, become `SecretStr` so they never reach output; so does any `!secret` value.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from mailstate.filepaths import roundcube_path_problem
from mailstate.formats._text import bad_char
from mailstate.formats.roundcube import (
    MAX_DEPTH,
    PLACEHOLDER,
    SECRET_KEY,
    is_secret_key,
    literal_problem,
)
from mailstate.model.problems import Problem, raise_problems
from mailstate.model.values import fail

__all__ = ["DEFAULT_PATH", "PLACEHOLDER", "SECRET_KEY", "RoundcubeState", "is_secret_key"]
KEY = re.compile(r"[A-Za-z0-9_.-]+")

DEFAULT_PATH = "/etc/roundcube/config.inc.php"


def _php_value(key: str, value: Any, secret: bool = False) -> Any:
    secret = secret or is_secret_key(key)
    if isinstance(value, dict):
        return {str(k): _php_value(str(k), v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_php_value(key, v, secret) for v in value]
    if isinstance(value, str) and secret and not PLACEHOLDER.fullmatch(value):
        return SecretStr(value)
    if value is None or isinstance(value, str | int | float | bool | SecretStr):
        return value
    fail("a string, number, yes/no, null, list or mapping")


def _problems(path: tuple[str, ...], value: Any, depth: int, out: list[Problem]) -> None:
    """Every place below `path` PHP would not read back as written."""
    if depth > MAX_DEPTH:
        out.append(Problem(path, f"at most {MAX_DEPTH} nested lists or mappings", value))
    elif isinstance(value, dict):
        for key, item in value.items():
            bad = bad_char(key)
            if bad:
                out.append(Problem((*path, key), f"a key without control characters ({bad})",
                                   key, at_key=True))
            _problems((*path, key), item, depth + 1, out)
    elif isinstance(value, list):
        for item in value:  # list items are located at their list
            _problems(path, item, depth + 1, out)
    else:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        problem = literal_problem(text)
        if problem:
            out.append(Problem(path, problem, value))


class RoundcubeState(BaseModel):
    """Roundcube's config.inc.php: its path and the `$config` keys to set (null removes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(DEFAULT_PATH, description="config.inc.php on the host")
    config: dict[str, Any] = Field(default_factory=dict, description="$config keys")

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        problem = roundcube_path_problem(path, DEFAULT_PATH)
        if problem:
            fail(problem)
        return path

    @field_validator("config")
    @classmethod
    def _values(cls, config: dict[str, Any]) -> dict[str, Any]:
        result = {key: _php_value(key, value) for key, value in config.items()}
        problems: list[Problem] = []
        for key, value in result.items():
            if not KEY.fullmatch(key):
                problems.append(Problem((key,), "a Roundcube key of letters, digits and "
                                        "'_ . -'", key, at_key=True))
            _problems((key,), value, 1, problems)
        if problems:
            raise_problems(problems)
        return result

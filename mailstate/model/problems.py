"""How validators report a problem: the pydantic errors mailstate's models raise.

This is one half of what `model.errors` used to do; the other half (turning a whole
`ValidationError` into diagnostics at file:line:column) stays in `model.errors`. The split
keeps the models free of the diagnostics side: a model module imports this one (which
imports no model), and `model.errors` imports the models, never the other way round.

A problem carries what was expected and the input as found; `model.errors.describe`
decides how the input is shown (a `SecretStr` is never shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, NoReturn

from pydantic_core import PydanticCustomError


class Problem(NamedTuple):
    """One problem below the current field: where, what was expected, what was found."""

    path: tuple[str, ...]
    expected: str
    found: Any
    at_key: bool = False  # point at the key of `path` (a bad name), not at its value
    fix: str = ""


def fail(expected: str) -> NoReturn:
    """Raise the one validation error kind mailstate's error mapper understands."""
    raise PydanticCustomError("mailstate", "expected {expected}", {"expected": expected})


def raise_problems(
        problems: Sequence[Problem | tuple[tuple[str, ...], str, Any]]) -> NoReturn:
    """Report several problems below the current field as one pydantic error.

    Plain 3-tuples (path, expected, found) are accepted as problems at a value.
    """
    items = [Problem(*p) for p in problems]
    raise PydanticCustomError(
        "mailstate_multi", "{count} problems: {first}",
        {"count": len(items), "first": items[0].expected,
         "problems": [{"path": list(p.path), "expected": p.expected, "input": p.found,
                       "key": p.at_key, "fix": p.fix} for p in items]},
    )

"""Hook points for the test suite's fault injection: no-ops in every mailstate run.

The fault tests must stop the controller or a host script at exact steps of a plan or
an apply (after the first rename, during the reload, ...). Production code only calls
`point()` at those steps and sends every host script through `script()`; with nothing
registered, both do nothing. Nothing in the `mailstate` package registers a hook, and no environment
variable, file or option can: only the test suite's own entry point
(`python -m tests.faults.entry`, not part of the installed package) calls `register`
before it runs `mailstate.cli.main`.
"""

from __future__ import annotations

from collections.abc import Callable

PointHook = Callable[[str, str], None]
"""Called with (point, host) at a named step of plan or apply."""

ScriptHook = Callable[[str, str], str]
"""Called with (script name, text as it would be sent); returns the text to send."""

_POINTS: list[PointHook] = []
_SCRIPTS: list[ScriptHook] = []


def register(point: PointHook | None = None, script: ScriptHook | None = None) -> None:
    """Test-only: add hooks (see the module docstring)."""
    if point is not None:
        _POINTS.append(point)
    if script is not None:
        _SCRIPTS.append(script)


def point(name: str, host: str) -> None:
    """A named step of plan or apply on `host` (a no-op unless a test registered a hook).

    `facts-read` (plan and apply: the host's files were read, nothing compiled yet), then
    apply's `validated`, `after-first-write`, and the host scripts' timing marks."""
    for hook in _POINTS:
        hook(name, host)


def script(name: str, text: str) -> str:
    """The host script `name` as it will be sent (unchanged unless a test hooks it)."""
    for hook in _SCRIPTS:
        text = hook(name, text)
    return text

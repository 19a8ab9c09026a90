"""The one interface every transport offers: run a shell command with stdin, get bytes back."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Result:
    """What a remote command gave back."""

    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


class Connection(Protocol):
    """A live session to one host. `round_trips` counts the commands run (for tests)."""

    name: str
    round_trips: int

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        """Run `command` with `sh`, feed `stdin`, wait for it to finish."""
        ...

    def start(self, command: str) -> RunningCommand:
        """Start `command` and return at once; the caller writes stdin and reads lines."""
        ...

    def close(self) -> None: ...


class RunningCommand(Protocol):
    """A command still running on the host (the apply lock holder is one)."""

    def write(self, data: bytes) -> None: ...

    def readline(self, timeout: float | None = None) -> bytes: ...

    def close_stdin(self) -> None: ...

    def wait(self, timeout: float | None = None) -> Result: ...


def sh_command(script: str, args: list[str] | None = None) -> str:
    """Quote a POSIX sh script and its arguments into one command line (quoting in one place)."""
    words = ["sh", "-c", script, "mailstate", *list(args or [])]
    return " ".join(shlex.quote(w) for w in words)


def become_command(command: str, become: bool, user: str) -> str:
    """Wrap a command in sudo when the login user is not root and `become` is set."""
    if not become or user == "root":
        return command
    return "sudo -S -p '' sh -c " + shlex.quote(command)

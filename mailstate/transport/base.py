"""The one interface every transport offers: run a shell command with stdin, get bytes back."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailstate.diagnostics import Diagnostic, MailstateError


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


class CommandTimeout(MailstateError):
    """A remote command said nothing for longer than the caller would wait.

    Distinct from the end of its output (`readline` returns b"" for that): a timeout means
    the command may still be running on the host; an end means it is done or gone.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        super().__init__(Diagnostic("error", f"the host sent nothing for {seconds} s",
                                    code="timeout"))


class Connection(Protocol):
    """A live session to one host. `round_trips` counts the commands run (for tests)."""

    name: str
    round_trips: int

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        """Run `command` with `sh`, feed `stdin`, wait for it to finish."""
        ...

    def start(self, command: str, stdin: bytes = b"") -> RunningCommand:
        """Start `command`, write `stdin` (if any) and return at once; the caller writes
        more and reads lines."""
        ...

    def close(self) -> None: ...


class RunningCommand(Protocol):
    """A command still running on the host (the apply lock holder is one)."""

    def write(self, data: bytes) -> None: ...

    def readline(self, timeout: float | None = None) -> bytes:
        """The next line (with its newline); b"" at the end of the output; raises
        CommandTimeout when no whole line came within `timeout` seconds (what was read
        of a line is kept for the next call)."""
        ...

    def close_stdin(self) -> None: ...

    def wait(self, timeout: float | None = None) -> Result: ...


class LineReader:
    """Lines from a byte stream whose `recv(timeout)` returns b"" at the end and raises
    TimeoutError when nothing came in time: a timeout loses no byte and is not an end."""

    def __init__(self, recv: Callable[[float | None], bytes]) -> None:
        self._recv = recv
        self._buffer = b""
        self._ended = False

    def readline(self, timeout: float | None = None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer and not self._ended:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                chunk = self._recv(left)
            except TimeoutError as exc:
                raise CommandTimeout(timeout) from exc
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True
        line, newline, rest = self._buffer.partition(b"\n")
        self._buffer = rest
        return line + newline

    def pending(self) -> bytes:
        """What was received but not returned as a line yet (taken out of the buffer)."""
        data, self._buffer = self._buffer, b""
        return data

    def rest(self, timeout: float | None = None) -> bytes:
        """Everything not read yet, up to the end; CommandTimeout after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = [self.pending()]
        while not self._ended:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                chunk = self._recv(left)
            except TimeoutError as exc:
                raise CommandTimeout(timeout) from exc
            if not chunk:
                self._ended = True
            chunks.append(chunk)
        return b"".join(chunks)


def sh_command(script: str, args: list[str] | None = None) -> str:
    """Quote a POSIX sh script and its arguments into one command line (quoting in one place)."""
    words = ["sh", "-c", script, "mailstate", *list(args or [])]
    return " ".join(shlex.quote(w) for w in words)

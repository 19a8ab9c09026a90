"""The same interface as SSH, for commands on this machine (the controller itself, tests)."""

from __future__ import annotations

import os
import selectors
import subprocess

from mailstate.transport.base import LineReader, Result


class LocalConnection:
    """Runs commands with /bin/sh here; counts them like the SSH transport does."""

    def __init__(self, name: str = "localhost") -> None:
        self.name = name
        self.round_trips = 0

    def start(self, command: str, stdin: bytes = b"") -> LocalRunning:
        self.round_trips += 1
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running = LocalRunning(proc)
        if stdin:
            running.write(stdin)
        return running

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        self.round_trips += 1
        proc = subprocess.run(["/bin/sh", "-c", command], input=stdin, capture_output=True,
                              timeout=timeout, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def close(self) -> None:
        return None


class LocalRunning:
    """A local process with the RunningCommand interface (stdout read unbuffered, so a
    line's timeout is honoured and nothing read is lost)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stdin is not None
        self.proc = proc
        self._stdin = proc.stdin
        self._fd = proc.stdout.fileno()
        self._lines = LineReader(self._recv)

    def _recv(self, timeout: float | None) -> bytes:
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError
        return os.read(self._fd, 65536)

    def write(self, data: bytes) -> None:
        self._stdin.write(data)
        self._stdin.flush()

    def close_stdin(self) -> None:
        self._stdin.close()

    def readline(self, timeout: float | None = None) -> bytes:
        return self._lines.readline(timeout)

    def wait(self, timeout: float | None = None) -> Result:
        if not self._stdin.closed:
            self._stdin.close()
        self.proc.stdin = None  # closed above: communicate must not flush it
        pending = self._lines.pending()
        out, err = self.proc.communicate(timeout=timeout)
        return Result(self.proc.returncode, pending + out, err)

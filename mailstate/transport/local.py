"""The same interface as SSH, for commands on this machine (the controller itself, tests)."""

from __future__ import annotations

import subprocess

from mailstate.transport.base import Result


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
    """A local process with the RunningCommand interface."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def readline(self, timeout: float | None = None) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def wait(self, timeout: float | None = None) -> Result:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        out, err = self.proc.communicate(timeout=timeout)
        return Result(self.proc.returncode, out, err)

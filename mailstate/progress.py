"""Progress while hosts run: a rich bar on a terminal, one line per finished host otherwise.

Progress goes to stderr so stdout keeps only the plan/report (and `--json` stays clean).
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any, TextIO


class Progress:
    """Callbacks for the runner: `started(name)` and `finished(name, status)`."""

    def __init__(self, total: int, verb: str, quiet: bool = False,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.verb, self.quiet = total, verb, quiet
        self.done = 0
        self.lock = threading.Lock()
        self.rich: Any = None
        self.task: Any = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)() and total > 1:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self.rich = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                                     transient=True)
            self.task = self.rich.add_task(verb, total=total, last="")

    def __enter__(self) -> Progress:
        if self.rich is not None:
            self.rich.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.rich is not None:
            self.rich.stop()

    def started(self, name: str) -> None:
        if self.rich is not None:
            self.rich.update(self.task, last=f"{name} …")

    def finished(self, name: str, status: str, seconds: float) -> None:
        with self.lock:
            self.done += 1
            if self.rich is not None:
                self.rich.update(self.task, advance=1, last=f"{name}: {status}")
            elif not self.quiet:
                self.stream.write(f"[{self.done}/{self.total}] {name}: {status} "
                                  f"({seconds:.2f}s)\n")
                self.stream.flush()

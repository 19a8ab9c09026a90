"""When each phase of one `mailstate` run starts, in wall and CPU milliseconds.

Why: a start-up change is judged by what it moves off the critical path (what runs
before the first host is reached) and by the process's CPU, which on a 2-core machine
shared with the hosts is what a run mostly waits for. This runs `mailstate ARGS` once in
this process, from the tree given (a directory holding a `mailstate/` package), and
prints a mark when the heavy imports start and end, when the inventory is read, when
each socket connects, and when each host's facts and plan start and end:

    python bench/timeline.py . plan -i bench/results/work/mailstate-3.yaml
    python bench/timeline.py /tmp/base plan -i ...      (a copy of an older tree)

Times are since this script started (the interpreter's own start-up, ~25 ms of CPU,
comes before); `cpu` is the whole process's CPU time (every thread).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import io
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

T0 = time.perf_counter()
MARKS: list[tuple[float, float, str, str]] = []
# module -> functions whose calls are marked; the others are marked when imported
WATCH: dict[str, tuple[str, ...]] = {
    "mailstate.cli": ("build_parser",),
    "mailstate.commands._targets": ("select_hosts", "merge_states", "load_targets"),
    "mailstate.inventory.load": ("load_inventory",),
    "mailstate.engine.plan": ("gather", "build_plan"),
    "mailstate.engine.apply": ("apply_host",),
    "paramiko": (), "pydantic": (), "yaml": (), "mailstate.model": (),
    "mailstate.engine.compile": (),
}


def mark(what: str) -> None:
    MARKS.append(((time.perf_counter() - T0) * 1000, time.process_time() * 1000,
                  threading.current_thread().name, what))


def marked(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(name)
        try:
            return function(*args, **kwargs)
        finally:
            mark(f"{name} returned")
    return wrapper


class Watcher(importlib.abc.MetaPathFinder):
    """Marks the start and end of each watched import and wraps its functions."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in WATCH:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None and spec.loader is not None:
                    break
        else:
            return None
        loader = spec.loader
        execute = loader.exec_module  # type: ignore[union-attr]

        def exec_module(module: ModuleType) -> None:
            mark(f"import {fullname}")
            execute(module)
            mark(f"imported {fullname}")
            for name in WATCH[fullname]:
                if hasattr(module, name):
                    setattr(module, name, marked(getattr(module, name), name))

        loader.exec_module = exec_module  # type: ignore[union-attr,method-assign]
        return spec


def main() -> int:
    tree, argv = sys.argv[1], sys.argv[2:]
    connect = socket.socket.connect

    def connecting(sock: socket.socket, address: Any) -> None:
        mark("socket.connect")
        connect(sock, address)

    socket.socket.connect = connecting  # type: ignore[method-assign]
    sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
    sys.meta_path.insert(0, Watcher())
    sys.path.insert(0, tree)
    from mailstate import cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(argv)
    mark(f"main returned {code}")
    print("    wall      cpu  thread                       what")
    for wall, cpu, thread, what in MARKS:
        print(f"{wall:8.1f} {cpu:8.1f}  {thread[-28:]:28} {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

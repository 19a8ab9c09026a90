"""The fault tests' own entry point: `python -m tests.faults.entry FAULT -- ARGS...`.

mailstate itself has only no-op hook points (`mailstate.engine.hooks`); this module, which
lives in the test suite and is never installed, registers hooks that act out FAULT and
then runs the real CLI (`mailstate.cli.main(ARGS)`) in the same process. Production runs
cannot arm a fault: no variable, file or option reaches this code.

FAULT (one):
  kill-controller:POINT    the controller SIGKILLs itself when apply reaches POINT
                           (hold-staged, validated, after-first-write, swapped, ...)
  pause-controller:POINT:FILE   creates FILE at POINT and waits while it exists (60 s max)
  raise:HOST:POINT         a RuntimeError in the controller on HOST at POINT (one host's
                           surprise; the others must go on): facts-read (plan and apply,
                           the host's files read), validated, ... (apply),
                           rollback-restored, ... (rollback: its host script's marks)
  host-die:POINT           swap.sh kills its own process group at POINT
                           (after-first-write, during-reload)
  host-pause:POINT         a host script waits at POINT while the host file
                           /tmp/mailstate-fault-pause exists (after-first-write,
                           during-reload, before-rollback)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from mailstate.engine import hooks

NO_FAULT = "fault_at() { :; }"
HOST_PAUSE_FILE = "/tmp/mailstate-fault-pause"

# host-side fault bodies, run by `fault_at POINT` in the host scripts (once each)
HOST_DIE = {
    "after-first-write": "kill -9 0",
    # the actions start, then the whole process group dies half-way through them
    "during-reload": 'run_actions "$actions" & sleep 0.05; kill -9 0',
}
HOST_PAUSE = (f": > {HOST_PAUSE_FILE}; n=0; while [ -e {HOST_PAUSE_FILE} ] && "
              "[ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done")


def _host_fault(point: str, body: str) -> hooks.ScriptHook:
    definition = ("fault_at() { [ \"$1\" = " + point + " ] && [ -z \"${fault_done:-}\" ] "
                  "|| return 0; fault_done=1; " + body + "; }")

    def rewrite(_name: str, text: str) -> str:
        assert NO_FAULT in text, "the prelude's fault_at hook point is gone"
        return text.replace(NO_FAULT, definition, 1)
    return rewrite


def _kill_at(point: str) -> hooks.PointHook:
    def hook(name: str, _host: str) -> None:
        if name == point:
            os.kill(os.getpid(), signal.SIGKILL)
    return hook


def _pause_at(point: str, marker: Path) -> hooks.PointHook:
    def hook(name: str, _host: str) -> None:
        if name != point:
            return
        marker.touch()
        deadline = time.monotonic() + 60
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return hook


def _raise_at(host: str, point: str) -> hooks.PointHook:
    def hook(name: str, on: str) -> None:
        if name == point and on == host:
            raise RuntimeError(f"injected fault on {host} at {point}")
    return hook


def arm(fault: str) -> None:
    """Register the hooks that act out `fault` (see the module docstring)."""
    kind, _, rest = fault.partition(":")
    if kind == "kill-controller":
        hooks.register(point=_kill_at(rest))
    elif kind == "pause-controller":
        point, _, marker = rest.partition(":")
        hooks.register(point=_pause_at(point, Path(marker)))
    elif kind == "raise":
        host, _, point = rest.partition(":")
        hooks.register(point=_raise_at(host, point))
    elif kind == "host-die":
        hooks.register(script=_host_fault(rest, HOST_DIE[rest]))
    elif kind == "host-pause":
        hooks.register(script=_host_fault(rest, HOST_PAUSE))
    else:
        raise SystemExit(f"unknown fault {fault!r}")


def main(argv: list[str]) -> int:
    fault, separator, args = argv[0], argv[1], argv[2:]
    if separator != "--":
        raise SystemExit("usage: python -m tests.faults.entry FAULT -- MAILSTATE-ARGS...")
    arm(fault)
    from mailstate.cli import main as mailstate_main

    return mailstate_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

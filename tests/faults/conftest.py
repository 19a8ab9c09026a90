"""Helpers for the fault-injection tests: run the CLI with a fault armed, read a host's state.

A fault is armed only through the test suite's own entry point (tests/faults/entry.py),
which registers hooks and then runs `mailstate.cli.main`; nothing a user can set does.

Every test here works on lab host h1 (the others stay stock) and proves one promise of
docs/guarantees.md end to end: the real CLI in a fresh process, real sshd, real daemons.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.engine.conftest import REPO, Run, write_inventory

if TYPE_CHECKING:
    from mailstate.lab import Lab

HOST = "h1"
LOCK = "/var/lib/mailstate/lock"
BACKUPS = "/var/backups/mailstate"
PAUSE_FILE = "/tmp/mailstate-fault-pause"  # swap.sh waits while it exists (host-pause)
WORKDIR = Path(tempfile.mkdtemp(prefix="mailstate-faults-"))  # retry files land here
HARDENED_PORTS = {25, 465, 587, 995}


def _argv(args: tuple[str, ...], fault: str | None) -> list[str]:
    """The real CLI; with a fault, through the test suite's own entry point, which arms
    the fault's hooks first (tests/faults/entry.py; mailstate itself cannot)."""
    if fault:
        return [sys.executable, "-m", "tests.faults.entry", fault, "--", *args]
    return [sys.executable, "-m", "mailstate", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def cli(*args: str, fault: str | None = None, timeout: float = 180,
        cwd: Path | None = None) -> Run:
    """The real CLI in a fresh process; `fault` (test-only) see tests/faults/entry.py."""
    proc = subprocess.run(_argv(args, fault), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or WORKDIR, env=_env(), check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def start_cli(*args: str, fault: str | None = None,
              pause_file: Path | None = None) -> subprocess.Popen[str]:
    """Like `cli` but returns at once (for faults the test triggers from outside);
    with `pause_file`, `fault` is `pause-controller:POINT` and waits while it exists."""
    if pause_file is not None and fault is not None:
        fault = f"{fault}:{pause_file}"
    return subprocess.Popen(_argv(args, fault), cwd=WORKDIR, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Run:
    """Wait for a `start_cli` process."""
    out, err = proc.communicate(timeout=timeout)
    return Run(proc.returncode, out, err)


def no_traceback(run: Run) -> None:
    """A user-facing failure is a diagnostic, never a Python traceback."""
    assert "Traceback" not in run.stderr + run.stdout, run.stderr


def digests(lab: Lab, paths: list[str], host: str = HOST) -> dict[str, str | None]:
    """sha256 of each path on the host (None: the file does not exist)."""
    out = lab.run(host, "for p in " + " ".join(paths) + "; do "
                  "if [ -f $p ]; then sha256sum $p; else echo \"- $p\"; fi; done").stdout
    found = {line.split()[1]: line.split()[0] for line in out.splitlines() if line.strip()}
    return {p: (None if found.get(p) == "-" else found.get(p)) for p in paths}


def tree_digest(lab: Lab, host: str = HOST) -> str:
    """One line per file of every managed tree: any change anywhere shows up."""
    return lab.run(host, "find /etc/postfix /etc/dovecot /etc/roundcube -type f "
                         "-exec sha256sum {} + | sort -k2").stdout


def host_ports(lab: Lab, host: str = HOST) -> set[int]:
    out = lab.run(host, "ss -ltnH").stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def ls(lab: Lab, path: str, host: str = HOST) -> list[str]:
    return lab.run(host, f"ls -1A {path} 2>/dev/null").stdout.split()


def wait_until(check: Callable[[], bool], timeout: float = 30, step: float = 0.05) -> None:
    """Poll `check` until true; fail the test naming the timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)


def host_idle(lab: Lab, host: str = HOST) -> bool:
    """No mailstate process left on the host (an orphaned swap.sh has finished)."""
    script = (f"for p in holder worker; do pid=$(cat {LOCK}/$p 2>/dev/null) && "
              "kill -0 $pid 2>/dev/null && echo busy; done")
    return lab.run(host, script).stdout.strip() == ""


@dataclass
class Planned:
    """The plan of one host: before/after digest of every file that would change."""

    before: dict[str, str | None]
    after: dict[str, str]
    actions: list[str]

    @property
    def paths(self) -> list[str]:
        return sorted(self.after)


def plan_of(inventory: str, host: str = HOST) -> Planned:
    out = cli("plan", "-i", inventory, "--limit", host, "--json")
    assert out.code == 2, out.stdout + out.stderr
    doc: dict[str, Any] = out.json()["hosts"][0]
    return Planned({c["path"]: c["before_sha256"] for c in doc["changes"]},
                   {c["path"]: c["after_sha256"] for c in doc["changes"]}, doc["actions"])


@pytest.fixture
def hardened_inventory(clean_lab: Lab, tmp_path: Path) -> str:
    """A stock lab and an inventory giving every host the hardened profile."""
    return str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))

"""Helpers for engine tests on the lab: write states and inventories, run the real CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from mailstate.lab import Lab

REPO = Path(__file__).resolve().parents[2]
MANAGED = ("/etc/postfix/main.cf", "/etc/postfix/master.cf",
           "/etc/dovecot/conf.d/10-master.conf", "/etc/roundcube/config.inc.php")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def mailstate(*args: str, timeout: float = 180, cwd: Path | None = None) -> Run:
    """The real console entry point in a fresh process, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "mailstate", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or REPO, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write_inventory(lab: Lab, path: Path, states: list[str],
                    extra_hosts: dict[str, dict[str, Any]] | None = None) -> Path:
    """An inventory of the lab's hosts with the given state files."""
    document = lab.inventory()
    all_group = document["all"]
    assert isinstance(all_group, dict)
    all_group["vars"] = {"mailstate_states": states}
    all_group["hosts"].update(extra_hosts or {})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def host_digest(lab: Lab, name: str, paths: tuple[str, ...] = MANAGED) -> dict[str, str]:
    """sha256 of live files on a lab host, read through the host's own namespaces."""
    out = lab.run(name, "sha256sum " + " ".join(paths) + " 2>/dev/null").stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def listeners(lab: Lab, name: str) -> set[str]:
    """Local address:port of every TCP listener on a lab host."""
    out = lab.run(name, "ss -ltnH").stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def ports(lab: Lab, name: str) -> set[int]:
    return {int(addr.rsplit(":", 1)[1]) for addr in listeners(lab, name)}


@pytest.fixture
def state_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a state file into the test's tmp dir."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path

    return write


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

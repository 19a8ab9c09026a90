"""The real Ansible for the differential tests: ansible-core 2.19 in a test-only venv.

`.venv-ansible` (git-ignored, beside `.venv`) is created on first use by the
`ansible` fixture and reused afterwards; CI on a fresh clone creates it once per run
(~15 s, from PyPI). The tests never skip when it cannot be made: they fail, with pip's
message.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("MAILSTATE_ANSIBLE_VENV", ROOT / ".venv-ansible"))
REQUIREMENT = "ansible-core>=2.19,<2.20"
DRIVER = Path(__file__).with_name("ansible_driver.py")


class Ansible:
    """Runs ansible-core's command lines (see ansible_driver.py) in one batch."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.bin = venv / "bin"

    def run(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run([str(self.bin / "python"), str(DRIVER)], input=json.dumps(jobs),
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"ansible driver failed: {done.stderr[-2000:]}", pytrace=False)
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results


def _ensure_venv() -> None:
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text().strip() == REQUIREMENT:
        return
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(str(VENV) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text().strip() == REQUIREMENT:
            return
        steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
                 [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                  REQUIREMENT]]
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                pytest.fail(f"cannot create the Ansible test venv ({' '.join(argv[:3])}...):\n"
                            f"{done.stdout[-1500:]}{done.stderr[-1500:]}", pytrace=False)
        marker.write_text(REQUIREMENT + "\n")


@pytest.fixture(scope="session")
def ansible() -> Iterator[Ansible]:
    _ensure_venv()
    yield Ansible(VENV)

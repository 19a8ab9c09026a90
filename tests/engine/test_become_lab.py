"""`ansible_become`: a non-root login user reaches root through sudo, with or without a
password (the lab's hosts have users `deploy` (NOPASSWD) and `operator` (password))."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mailstate.lab import Lab
from mailstate.lab.build import LAB_SUDO_PASSWORD
from tests.engine.conftest import REPO, mailstate


def _inventory(lab: Lab, tmp_path: Path, user: str) -> str:
    document = lab.inventory()
    host = document["all"]["hosts"]["h1"]  # type: ignore[index]
    host["ansible_user"], host["ansible_become"] = user, True
    path = tmp_path / f"{user}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_become_without_password_plans_and_applies(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = _inventory(clean_lab, tmp_path, "deploy")
    applied = mailstate("apply", "-i", inventory, "--limit", "h1", "--yes", "--json")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert applied.json()["hosts"][0]["status"] == "applied"
    owner = clean_lab.run("h1", "stat -c '%U %a' /etc/postfix/main.cf "
                                "/etc/roundcube/config.inc.php")
    assert owner.stdout.split("\n")[:2] == ["root 644", "root 640"]
    assert mailstate("plan", "-i", inventory, "--limit", "h1").code == 0


def test_become_password_needed_says_how(clean_lab: Lab, tmp_path: Path) -> None:
    out = mailstate("plan", "-i", _inventory(clean_lab, tmp_path, "operator"), "--limit", "h1")
    assert out.code == 1
    assert "-K" in out.stdout and "Traceback" not in out.stderr


def test_become_password_asked_once_never_shown(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = _inventory(clean_lab, tmp_path, "operator")
    parent, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mailstate", "apply", "-i", inventory,
                             "--limit", "h1", "-K", "--yes", "--json"], cwd=REPO, stdin=child,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # the pty is its only terminal
    os.close(child)
    assert proc.stderr is not None
    prompt = ""
    while not prompt.endswith("password: "):  # getpass flushes input typed before it
        prompt += proc.stderr.read(1)
    time.sleep(0.1)
    os.write(parent, (LAB_SUDO_PASSWORD + "\n").encode())
    out, err = proc.communicate(timeout=120)
    echoed = b""
    with contextlib.suppress(OSError):
        echoed = os.read(parent, 65536)
    os.close(parent)
    assert proc.returncode == 0, out + err
    assert '"status": "applied"' in out
    assert prompt == "BECOME password: "  # asked once, before any host is contacted
    assert LAB_SUDO_PASSWORD not in out + err + echoed.decode(errors="replace")
